/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "numashift/engine-report.h"

#include <errno.h>

static void
add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

JsonNode *
ns_engine_report_to_json(const NsEngineReport *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "outcome");
    json_builder_add_string_value(b, ns_engine_outcome_to_string(r->outcome));
    add_int(b, "pid", r->pid);
    add_int(b, "workers", r->workers);
    json_builder_set_member_name(b, "worker_cpus");
    json_builder_add_string_value(b, r->worker_cpus);
    json_builder_set_member_name(b, "worker_class");
    json_builder_add_string_value(b, r->worker_background ? "idle" : "normal");
    if (r->hot_sample_us > 0) {
        /* Hot pages first (engine.h, hot_sample_us). */
        json_builder_set_member_name(b, "hot_first");
        json_builder_begin_object(b);
        add_int(b, "sample_ms", r->hot_sample_us / 1000);
        add_int(b, "hot_pages", (gint64)r->hot_pages);
        if (r->hot_errno != 0) {
            json_builder_set_member_name(b, "error");
            json_builder_add_string_value(b, g_strerror(r->hot_errno));
        }
        json_builder_end_object(b);
    }
    if (r->worker_floor_steps > 0) {
        /* The floor under a starved background worker (engine.h). */
        json_builder_set_member_name(b, "worker_floor");
        json_builder_begin_object(b);
        add_int(b, "steps", r->worker_floor_steps);
        add_int(b, "nice", r->worker_floor_nice);
        if (r->worker_floor_errno != 0) {
            json_builder_set_member_name(b, "error");
            json_builder_add_string_value(b, g_strerror(r->worker_floor_errno));
        }
        json_builder_end_object(b);
    }
    if (r->paced) {
        json_builder_set_member_name(b, "pacing");
        json_builder_begin_object(b);
        add_int(b, "vcpu_wait_baseline_permille", r->vcpu_wait_baseline_permille);
        add_int(b, "vcpu_wait_peak_permille", r->vcpu_wait_peak_permille);
        add_int(b, "backoffs", r->pace_backoffs);
        add_int(b, "slowest_level", r->pace_slowest_level);
        json_builder_end_object(b);
    }
    if (r->worker_bind_errno != 0) {
        json_builder_set_member_name(b, "worker_bind_error");
        json_builder_add_string_value(b, g_strerror(r->worker_bind_errno));
    }
    add_int(b, "total_pages", (gint64)r->total_pages);
    add_int(b, "planned_pages", (gint64)r->planned_pages);
    add_int(b, "moved_pages", (gint64)r->moved_pages);
    add_int(b, "moved_bytes", (gint64)r->moved_bytes);
    add_int(b, "moved_huge", (gint64)r->moved_huge);
    add_int(b, "in_place_pages", (gint64)r->in_place_pages);
    add_int(b, "absent_pages", (gint64)r->absent_pages);
    add_int(b, "failed_pages", (gint64)r->failed_pages);
    add_int(b, "gone_pages", (gint64)r->gone_pages);
    add_int(b, "unmovable_pages", (gint64)r->unmovable_pages);
    add_int(b, "split_huge", (gint64)r->split_huge);
    add_int(b, "skipped_pages", (gint64)r->skipped_pages);
    add_int(b, "remaining_pages", (gint64)r->remaining_pages);
    add_int(b, "retries", (gint64)r->retries);
    add_int(b, "calls", (gint64)r->calls);
    if (r->gigantic_calls != 0) {
        add_int(b, "gigantic_calls", (gint64)r->gigantic_calls);
        add_int(b, "gigantic_call_max_us", r->gigantic_call_max_us);
    }
    add_int(b, "passes", r->passes);
    add_int(b, "elapsed_us", r->elapsed_us);
    add_int(b, "first_move_us", r->first_move_us);
    json_builder_set_member_name(b, "failed_by_errno");
    json_builder_begin_object(b);
    for (guint e = 0; e < NS_ENGINE_ERRNO_SLOTS; e++) {
        if (r->failed_by_errno[e] != 0)
            add_int(b, g_strerror((int)e), (gint64)r->failed_by_errno[e]);
    }
    json_builder_end_object(b);
    if (r->failed_by_errno[EACCES] != 0) {
        /* Who else maps the pages left with EACCES ("" when no one by name). */
        json_builder_set_member_name(b, "shared_with");
        json_builder_add_string_value(b, r->shared_with);
        add_int(b, "shared_ksm_pages", (gint64)r->shared_ksm_pages);
    }
    if (r->kvm.valid) {
        json_builder_set_member_name(b, "kvm");
        json_builder_begin_object(b);
        add_int(b, "pages_4k", r->kvm.pages_4k);
        add_int(b, "pages_2m", r->kvm.pages_2m);
        add_int(b, "pages_1g", r->kvm.pages_1g);
        add_int(b, "remote_tlb_flush", r->kvm.remote_tlb_flush);
        add_int(b, "remote_tlb_flush_requests", r->kvm.remote_tlb_flush_requests);
        add_int(b, "mmu_shadow_zapped", r->kvm.mmu_shadow_zapped);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
