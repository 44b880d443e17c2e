/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A daemon job.  The thread does everything that blocks (libvirt and QMP
 * round trips, the placement scan, the move); the main thread only reads
 * the job's state under its mutex and receives marshalled callbacks.
 *
 * The steps from the memory map on are the move pipeline's (hv/move.c),
 * the same code `numashift migrate --direct` runs.  Two jobs on two
 * domains share nothing but the libvirt connection, which libvirt makes
 * thread-safe.
 */
#include "job.h"
#include "log.h"
#include "numashift/mainloop.h"

#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <urcu/urcu-memb.h>

#include "numashift/control.h"
#include "numashift/domain.h"
#include "numashift/engine-report.h"
#include "numashift/error.h"
#include "numashift/move.h"
#include "numashift/placement.h"
#include "numashift/radix.h"
#include "numashift/topology.h"

typedef enum {
    STATE_PREPARING,
    STATE_MOVING,
    STATE_DONE,
    STATE_NOTHING,
    STATE_FAILED,
} JobState;

/* Where a job's time goes before the pipeline's phases (ns_move_get_phase_us()). */
typedef enum {
    PHASE_OPEN,   /* the domain from libvirt */
    PHASE_MEMMAP, /* the guest's memory map (QMP, /proc/PID/maps) */
    PHASE_COUNT,
} JobPhase;

static const char *const phase_names[PHASE_COUNT] = { "open", "memmap" };

struct _NsJob {
    NsJobSpec spec;
    NsJobCallbacks cb;
    virConnectPtr conn;           /* NULL with a run function of the caller's */
    NsJobRunFunc run;             /* NULL: the real work (run()) */
    gpointer run_data;
    GMainContext *context;
    GThread *thread;
    gint refs;

    NsMove *move; /* the pipeline: made before the thread starts, freed with the job */

    GMutex lock; /* guards the fields below, shared with the job thread */
    gboolean detached;
    GError *cancel_reason; /* why it was cancelled, when not an operator's word */
    JobState state;
    NsEngineProgress progress;
    NsEngineReport *report;
    GError *error;
    JsonNode *decisions;
    gint64 phase_us[PHASE_COUNT]; /* -1: not reached */
    NsMemMap *memmap;             /* the map the job used; set once, before done */
    GArray *pinned_cpus;          /* its domain's pinned vCPUs' CPUs; set once, before done */
    NsLiveMap *live;              /* the placement map it writes; set once */
    gboolean memmap_cached;       /* it was the earlier one, rechecked */
    gboolean ran;                 /* the thread's run returned */
    gint64 started_us;            /* monotonic: when it was started */
    gint64 ended_us;              /* monotonic: when its run returned; 0 before */
    gboolean read_xml;            /* it read the domain's definition: the two below hold */
    gboolean has_metadata_priority;
    gint metadata_priority;       /* <numashift:policy priority='N'> of its metadata */

    gboolean done_delivered; /* main thread only */
};

static NsJob *
job_ref(NsJob *job)
{
    g_atomic_int_inc(&job->refs);
    return job;
}

static void
job_unref(gpointer p)
{
    NsJob *job = p;

    if (!g_atomic_int_dec_and_test(&job->refs))
        return;
    g_free(job->spec.uuid);
    g_free(job->spec.name);
    g_free(job->spec.trigger);
    g_free(job->spec.mode_override);
    g_free(job->spec.mode_override_source);
    g_free(job->spec.worker_cpus);
    if (job->spec.reserved_cpus != NULL)
        g_array_unref((GArray *)job->spec.reserved_cpus);
    g_clear_pointer(&job->pinned_cpus, g_array_unref);
    ns_memmap_free((NsMemMap *)job->spec.memmap);
    ns_memmap_free(job->memmap);
    ns_live_map_unref(job->spec.live);
    ns_live_map_unref(job->live);
    g_clear_pointer(&job->report, ns_engine_report_free);
    g_clear_error(&job->error);
    g_clear_error(&job->cancel_reason);
    g_clear_pointer(&job->decisions, json_node_unref);
    ns_move_free(job->move);
    g_mutex_clear(&job->lock);
    if (job->conn != NULL)
        virConnectClose(job->conn);
    g_main_context_unref(job->context);
    g_free(job);
}

/* ------------------------------------------------------ marshalling */

typedef enum { CALL_DECISION, CALL_PROGRESS, CALL_DONE } CallKind;

typedef struct {
    NsJob *job;
    CallKind kind;
    NsEngineProgress progress;
    JsonNode *decisions;
} Call;

static void
call_free(gpointer p)
{
    Call *c = p;

    g_clear_pointer(&c->decisions, json_node_unref);
    job_unref(c->job);
    g_free(c);
}

static gboolean
deliver(gpointer p)
{
    Call *c = p;
    NsJob *job = c->job;
    gboolean detached;

    g_mutex_lock(&job->lock);
    detached = job->detached;
    g_mutex_unlock(&job->lock);
    if (c->kind == CALL_DONE)
        job->done_delivered = TRUE;
    if (detached)
        return G_SOURCE_REMOVE;
    switch (c->kind) {
    case CALL_DECISION:
        if (job->cb.on_decision != NULL)
            job->cb.on_decision(job, c->decisions, job->cb.data);
        break;
    case CALL_PROGRESS:
        if (job->cb.on_progress != NULL)
            job->cb.on_progress(job, &c->progress, job->cb.data);
        break;
    case CALL_DONE:
        if (job->cb.on_done != NULL)
            job->cb.on_done(job, job->cb.data);
        break;
    }
    return G_SOURCE_REMOVE;
}

/* Queue @c for the owner's context (on_done may free this job). */
static void
post(NsJob *job, Call *c)
{
    c->job = job_ref(job);
    ns_main_post(job->context, deliver, c, call_free);
}

static void
on_engine_progress(const NsEngineProgress *progress, gpointer data)
{
    NsJob *job = data;
    Call *c = g_new0(Call, 1);

    g_mutex_lock(&job->lock);
    job->progress = *progress;
    if (job->state == STATE_PREPARING)
        job->state = STATE_MOVING;
    g_mutex_unlock(&job->lock);
    c->kind = CALL_PROGRESS;
    c->progress = *progress;
    post(job, c);
}

/* ------------------------------------------------------- the facts */

static JsonNode *
decisions_to_json(const GArray *decisions)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_array(b);
    for (guint i = 0; i < decisions->len; i++) {
        const NsPolicyDecision *d = &g_array_index(decisions, NsPolicyDecision, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "cell");
        json_builder_add_int_value(b, d->cell);
        json_builder_set_member_name(b, "home");
        json_builder_add_int_value(b, d->home);
        json_builder_set_member_name(b, "target");
        json_builder_add_int_value(b, d->target);
        json_builder_set_member_name(b, "bytes");
        json_builder_add_int_value(b, (gint64)d->bytes);
        json_builder_set_member_name(b, "remote_bytes");
        json_builder_add_int_value(b, (gint64)d->remote_bytes);
        json_builder_set_member_name(b, "reason");
        json_builder_add_string_value(b, ns_policy_reason_to_string(d->reason));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, d->message);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    return json_builder_get_root(b);
}

/* The pipeline's decisions: kept for describe() and sent to the owner. */
static void
on_decisions(const GArray *decisions, gpointer data)
{
    NsJob *job = data;
    Call *c = g_new0(Call, 1);

    c->kind = CALL_DECISION;
    c->decisions = decisions_to_json(decisions);
    g_mutex_lock(&job->lock);
    job->decisions = json_node_ref(c->decisions);
    g_mutex_unlock(&job->lock);
    post(job, c);
}

/* Where the workers run: the log says, the report's worker_* fields too. */
static void
on_workers(const char *line, gpointer data)
{
    NsJob *job = data;

    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, job->spec.name, job->spec.uuid, job->spec.serial,
                  "domain %s: job %" G_GUINT64_FORMAT ": %s",
                  job->spec.name != NULL ? job->spec.name : job->spec.uuid, job->spec.serial, line);
}

/* The earlier map if it still holds for this QEMU, else a fresh one (QMP). */
static NsMemMap *
load_memmap(NsJob *job, NsDomain *dom, GError **error)
{
    const NsMemMap *cached = job->spec.memmap;
    g_autoptr(GError) stale = NULL;
    NsMemMap *map = NULL;
    gboolean from_cache = FALSE;

    const NsProcess *qemu = ns_domain_get_process(dom);

    if (cached != NULL && cached->pid == ns_domain_get_pid(dom) &&
        cached->start_ticks == ns_process_get_start_ticks(qemu)) {
        map = ns_memmap_recheck(cached, NULL, &stale);
        from_cache = map != NULL;
        if (map == NULL)
            g_debug("domain %s: %s; reading it again", job->spec.uuid, stale->message);
    }
    if (map == NULL)
        map = ns_domain_load_memmap(dom, error);
    if (map == NULL)
        return NULL;
    g_mutex_lock(&job->lock);
    job->memmap = ns_memmap_copy(map);
    job->memmap_cached = from_cache;
    g_mutex_unlock(&job->lock);
    return map;
}

/* Records the time since *@since as @phase's and restarts the clock. */
static void
phase_end(NsJob *job, JobPhase phase, gint64 *since)
{
    gint64 now = g_get_monotonic_time();

    g_mutex_lock(&job->lock);
    job->phase_us[phase] = now - *since;
    g_mutex_unlock(&job->lock);
    *since = now;
}

static gboolean
run(NsJob *job, GError **error)
{
    gint64 clock = g_get_monotonic_time();
    g_autoptr(NsDomain) dom = ns_domain_open(job->conn, job->spec.uuid, error);

    if (dom == NULL)
        return FALSE;
    g_mutex_lock(&job->lock);
    job->read_xml = TRUE;
    job->has_metadata_priority = ns_domain_get_config(dom)->has_numashift_priority;
    job->metadata_priority = ns_domain_get_config(dom)->numashift_priority;
    g_mutex_unlock(&job->lock);
    phase_end(job, PHASE_OPEN, &clock);
    g_autoptr(NsMemMap) map = load_memmap(job, dom, error);

    if (map == NULL)
        return FALSE;
    phase_end(job, PHASE_MEMMAP, &clock);
    /* The domain's live map goes on while its QEMU does; a new QEMU
     * (restarted, or started again since) starts a new one. */
    g_autoptr(NsLiveMap) live =
        job->spec.live != NULL && ns_live_map_belongs_to(job->spec.live, map)
            ? ns_live_map_ref(job->spec.live)
            : ns_live_map_new(map->pid, error);

    if (live == NULL)
        return FALSE;
    /* A new live map takes the process's start time from its first map. */
    if (!ns_live_map_belongs_to(live, map)) {
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "pid %d: a live map of another process",
                    (int)map->pid);
        return FALSE;
    }
    g_mutex_lock(&job->lock);
    job->live = ns_live_map_ref(live);
    g_mutex_unlock(&job->lock);
    gboolean ok = ns_move_run(job->move, dom, map, live, error);

    g_mutex_lock(&job->lock);
    job->report = ns_move_get_report(job->move);
    if (ok && job->report == NULL)
        job->state = STATE_NOTHING;
    g_mutex_unlock(&job->lock);
    return ok;
}

static gpointer
job_thread(gpointer p)
{
    NsJob *job = p;
    GError *error = NULL;
    Call *c = g_new0(Call, 1);

    urcu_memb_register_thread();
    gboolean ok = job->run != NULL ? job->run(job, job->move, job->run_data, &error)
                                   : run(job, &error);
    if (job->run != NULL) {
        g_mutex_lock(&job->lock);
        job->report = ns_move_get_report(job->move);
        if (ok && job->report == NULL)
            job->state = STATE_NOTHING;
        g_mutex_unlock(&job->lock);
    }
    urcu_memb_unregister_thread();

    g_mutex_lock(&job->lock);
    job->ran = TRUE;
    job->ended_us = g_get_monotonic_time();
    if (ns_move_get_pinned_cpus(job->move) != NULL)
        job->pinned_cpus = g_array_copy((GArray *)ns_move_get_pinned_cpus(job->move));
    gboolean cancelled =
        ok && job->report != NULL && job->report->outcome == NS_ENGINE_OUTCOME_CANCELLED;

    /* An operator's cancel is an outcome (the report says "cancelled");
     * cancelled because its domain stopped, it is a failure and the client
     * is told why (numashift migrate exits 4, as with --direct). */
    if (cancelled && job->cancel_reason != NULL) {
        error = g_error_copy(job->cancel_reason);
        ok = FALSE;
    }
    if (!ok && job->report != NULL && job->report->outcome == NS_ENGINE_OUTCOME_NO_MEMORY) {
        /* A full target node is an outcome too: the job stopped cleanly and
         * its report says how far it got; the error says so in words. */
        job->state = STATE_DONE;
        job->error = error;
    } else if (!ok) {
        job->state = STATE_FAILED;
        job->error = error;
    } else if (job->state != STATE_NOTHING) {
        job->state = STATE_DONE;
    }
    g_mutex_unlock(&job->lock);
    c->kind = CALL_DONE;
    post(job, c);
    job_unref(job); /* the thread's own reference */
    return NULL;
}

/* ------------------------------------------------------------ public */

static NsJob *
job_start(virConnectPtr conn, NsJobRunFunc run_func, gpointer run_data, const NsJobSpec *spec,
          const NsJobCallbacks *callbacks)
{
    NsJob *job = g_new0(NsJob, 1);

    job->refs = 1;
    job->spec = *spec;
    job->spec.uuid = g_strdup(spec->uuid);
    job->spec.name = g_strdup(spec->name);
    job->spec.trigger = g_strdup(spec->trigger != NULL ? spec->trigger : "request");
    job->spec.mode_override = g_strdup(spec->mode_override);
    job->spec.mode_override_source = g_strdup(spec->mode_override_source);
    job->spec.worker_cpus = g_strdup(spec->worker_cpus);
    job->spec.reserved_cpus =
        spec->reserved_cpus != NULL ? g_array_copy((GArray *)spec->reserved_cpus) : NULL;
    job->spec.memmap = spec->memmap != NULL ? ns_memmap_copy(spec->memmap) : NULL;
    job->spec.live = spec->live != NULL ? ns_live_map_ref(spec->live) : NULL;
    job->cb = *callbacks;
    job->conn = conn;
    if (conn != NULL)
        virConnectRef(conn);
    job->run = run_func;
    job->run_data = run_data;
    job->context = g_main_context_ref_thread_default();
    g_mutex_init(&job->lock);
    job->state = STATE_PREPARING;
    job->started_us = g_get_monotonic_time();
    for (guint i = 0; i < PHASE_COUNT; i++)
        job->phase_us[i] = -1;

    g_autofree char *holder = g_strdup_printf("numashiftd (pid %d), job %" G_GUINT64_FORMAT
                                              " (trigger %s)",
                                              (int)getpid(), job->spec.serial, job->spec.trigger);
    NsMoveSpec move = {
        .kind = spec->kind == NS_JOB_REBALANCE ? NS_MOVE_REBALANCE : NS_MOVE_TO_NODE,
        .to = spec->to,
        .cell = spec->cell,
        .policy = &spec->policy,
        .mode_override = spec->mode_override,
        .mode_override_source = spec->mode_override_source,
        .sysfs_root = spec->sysfs_root,
        .sample_stride = spec->sample_stride,
        .fresh_us = spec->live_fresh_us,
        .rescan_bytes = spec->rescan_bytes,
        .held = spec->held,
        .holder = holder,
        .engine = {
            .workers = spec->workers,
            .rate_limit_mib_s = spec->rate_mib_s,
            .move_shared = spec->move_shared,
            .progress = on_engine_progress,
            .progress_data = job,
        },
        .worker_cpus = spec->worker_cpus,
        .reserved_cpus = job->spec.reserved_cpus,
        .ledger = spec->ledger,
        .ledger_owner = spec->serial,
        .hot_sample_us = (gint64)spec->hot_sample_ms * 1000,
        .on_decisions = on_decisions,
        .on_workers = on_workers,
        .data = job,
    };
    job->move = ns_move_new(&move);
    job->thread = g_thread_new("ns-job", job_thread, job_ref(job));
    return job;
}

NsJob *
ns_job_start(virConnectPtr conn, const NsJobSpec *spec, const NsJobCallbacks *callbacks)
{
    g_return_val_if_fail(conn != NULL, NULL);
    return job_start(conn, NULL, NULL, spec, callbacks);
}

NsJob *
ns_job_start_run(NsJobRunFunc run_func, gpointer run_data, const NsJobSpec *spec,
                 const NsJobCallbacks *callbacks)
{
    g_return_val_if_fail(run_func != NULL, NULL);
    return job_start(NULL, run_func, run_data, spec, callbacks);
}

void
ns_job_pause(NsJob *job)
{
    ns_move_pause(job->move);
}

void
ns_job_resume(NsJob *job)
{
    ns_move_resume(job->move);
}

void
ns_job_cancel(NsJob *job, const GError *reason)
{
    g_mutex_lock(&job->lock);
    if (reason != NULL && job->cancel_reason == NULL)
        job->cancel_reason = g_error_copy(reason);
    g_mutex_unlock(&job->lock);
    ns_move_cancel(job->move);
}

gboolean
ns_job_release(NsJob *job)
{
    gboolean waits;

    g_mutex_lock(&job->lock);
    waits = !job->ran;
    if (waits)
        ns_move_release(job->move);
    g_mutex_unlock(&job->lock);
    return waits;
}

gboolean
ns_job_is_held(NsJob *job)
{
    return ns_move_is_held(job->move);
}

gboolean
ns_job_is_done(NsJob *job)
{
    return job->done_delivered;
}

const GError *
ns_job_get_error(NsJob *job)
{
    return job->done_delivered ? job->error : NULL;
}

gboolean
ns_job_get_metadata_priority(NsJob *job, gboolean *ret_has, gint *ret_priority)
{
    g_mutex_lock(&job->lock);
    gboolean read = job->read_xml;

    if (read) {
        *ret_has = job->has_metadata_priority;
        *ret_priority = job->metadata_priority;
    }
    g_mutex_unlock(&job->lock);
    return read;
}

const GArray *
ns_job_get_pinned_cpus(NsJob *job)
{
    const GArray *cpus;

    g_mutex_lock(&job->lock);
    cpus = job->pinned_cpus;
    g_mutex_unlock(&job->lock);
    return cpus;
}

const NsMemMap *
ns_job_get_memmap(NsJob *job)
{
    const NsMemMap *map;

    g_mutex_lock(&job->lock);
    map = job->memmap;
    g_mutex_unlock(&job->lock);
    return map;
}

NsLiveMap *
ns_job_get_live(NsJob *job)
{
    NsLiveMap *live;

    g_mutex_lock(&job->lock);
    live = job->live;
    g_mutex_unlock(&job->lock);
    return live;
}

const NsJobSpec *
ns_job_get_spec(NsJob *job)
{
    return &job->spec;
}

static const char *
state_name(const NsJob *job)
{
    switch (job->state) {
    case STATE_PREPARING:
        return ns_move_is_held(job->move) ? "settling" : "preparing";
    case STATE_MOVING:
        return job->progress.paused || ns_move_is_paused(job->move) ? "paused" : "moving";
    case STATE_NOTHING:
        return "nothing-to-do";
    case STATE_FAILED:
        return "failed";
    case STATE_DONE:
        return job->report != NULL ? ns_engine_outcome_to_string(job->report->outcome) : "done";
    }
    return "unknown";
}

void
ns_job_add_progress(JsonBuilder *b, const NsEngineProgress *p)
{
    json_builder_set_member_name(b, "done_pages");
    json_builder_add_int_value(b, (gint64)p->done_pages);
    json_builder_set_member_name(b, "total_pages");
    json_builder_add_int_value(b, (gint64)p->total_pages);
    json_builder_set_member_name(b, "moved_bytes");
    json_builder_add_int_value(b, (gint64)p->moved_bytes);
    json_builder_set_member_name(b, "mib_per_s");
    json_builder_add_double_value(b, p->mib_per_s);
    json_builder_set_member_name(b, "eta_us");
    json_builder_add_int_value(b, p->eta_us);
}

JsonNode *
ns_job_describe(NsJob *job)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_mutex_lock(&job->lock);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "serial");
    json_builder_add_int_value(b, (gint64)job->spec.serial);
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, job->spec.uuid);
    json_builder_set_member_name(b, "domain");
    if (job->spec.name != NULL)
        json_builder_add_string_value(b, job->spec.name);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, job->spec.kind == NS_JOB_REBALANCE ? "rebalance" : "migrate");
    json_builder_set_member_name(b, "trigger");
    json_builder_add_string_value(b, job->spec.trigger);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, state_name(job));
    ns_job_add_progress(b, &job->progress);
    json_builder_set_member_name(b, "elapsed_us");
    json_builder_add_int_value(b, (job->ended_us != 0 ? job->ended_us : g_get_monotonic_time()) -
                                      job->started_us);
    json_builder_set_member_name(b, "phases_us");
    json_builder_begin_object(b);
    for (guint i = 0; i < PHASE_COUNT; i++) {
        if (job->phase_us[i] >= 0) {
            json_builder_set_member_name(b, phase_names[i]);
            json_builder_add_int_value(b, job->phase_us[i]);
        }
    }
    for (NsMovePhase i = 0; i < NS_MOVE_PHASE_COUNT; i++) {
        gint64 us = ns_move_get_phase_us(job->move, i);

        if (us >= 0) {
            json_builder_set_member_name(b, ns_move_phase_to_string(i));
            json_builder_add_int_value(b, us);
        }
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "memmap");
    json_builder_add_string_value(b, job->memmap == NULL ? "none"
                                     : job->memmap_cached ? "cached"
                                                          : "read");
    if (job->decisions != NULL) {
        json_builder_set_member_name(b, "decisions");
        json_builder_add_value(b, json_node_copy(job->decisions));
    }
    if (job->report != NULL) {
        json_builder_set_member_name(b, "report");
        json_builder_add_value(b, ns_engine_report_to_json(job->report));
    }
    if (job->error != NULL) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, job->error->message);
        json_builder_set_member_name(b, "error_code");
        json_builder_add_string_value(b, ns_control_error_code(job->error));
    }
    json_builder_end_object(b);
    g_mutex_unlock(&job->lock);
    return json_builder_get_root(b);
}

void
ns_job_free(NsJob *job)
{
    if (job == NULL)
        return;
    g_mutex_lock(&job->lock);
    job->detached = TRUE;
    g_mutex_unlock(&job->lock);
    g_thread_join(job->thread);
    job_unref(job);
}
