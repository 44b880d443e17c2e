/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The move pipeline's held runs (include/numashift/move.h: NsMoveSpec.held,
 * ns_move_release(), ns_move_settle(), ns_move_is_held()) on a guest that
 * exists only in a fake kernel: 16 MiB of 4 KiB pages, all on node 0 of a
 * two-node host written as a sysfs tree, its one vCPU pinned to node 1.
 *
 * Why held runs: numashiftd's reaction to a pinning change was debounce +
 * 121 ms in the test host (issue #10's target: + 20 ms), most of it the
 * domain lookup, the memory map, the sample and the host's facts.  None
 * depends on the new pinning, so the daemon's job now does them while the
 * debounce runs and waits; only the pinning, the policy and the move are
 * left when it is released.  These tests check the order (nothing decided,
 * locked or moved before the release; the pinning read after it) and that
 * a cancel while held ends the run with nothing moved.
 *
 * Every wait has its own deadline and fails naming what it waited for.
 */
#include <errno.h>
#include <glib.h>
#include <numaif.h>
#include <string.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#include "ns-test-sysfs.h"
#include "numashift/engine-report.h"
#include "numashift/kernel.h"
#include "numashift/ledger.h"
#include "numashift/livemap.h"
#include "numashift/move.h"
#include "numashift/mover-lock.h"
#include "numashift/placement.h"
#include "numashift/topology.h"

#define GUEST_HVA G_GUINT64_CONSTANT(0x100000000000)
#define GUEST_PAGES 4096u /* 16 MiB */
#define PM_PRESENT (G_GUINT64_CONSTANT(1) << 63)
#define WAIT_S 10

#define KPF_KSM (G_GUINT64_CONSTANT(1) << 21)

typedef struct _Fixture Fixture;

struct NsKernelPages {
    Fixture *f;
};

struct _Fixture {
    guint8 node[GUEST_PAGES]; /* atomic: the engine's workers write, the test reads */
    gboolean shared[GUEST_PAGES]; /* another process maps it too: EACCES (set before the run) */
    gboolean ksm[GUEST_PAGES];    /* and KSM merged it (kpageflags) */
    gint moves;               /* move_pages calls that moved (atomic) */
    gint pinning_calls;       /* atomic */
    char *sysfs;
    NsKernel kernel;
    NsDomainConfig *config;
    NsMemMap *map;
    NsLiveMap *live;
    NsMove *move;
    gboolean ok;
    GError *error;
};

static long
fake_move_pages(gpointer data, pid_t pid, gulong count, void **pages, const int *nodes,
                int *status, int flags)
{
    Fixture *f = data;

    for (gulong i = 0; i < count; i++) {
        guint64 hva = (guint64)(uintptr_t)pages[i];

        if (hva < GUEST_HVA || hva >= GUEST_HVA + (guint64)GUEST_PAGES * 4096) {
            status[i] = -EFAULT;
            continue;
        }
        guint64 page = (hva - GUEST_HVA) >> 12;

        if (nodes != NULL && f->shared[page] && !(flags & MPOL_MF_MOVE_ALL)) {
            status[i] = -EACCES;
        } else if (nodes != NULL) {
            __atomic_store_n(&f->node[page], (guint8)nodes[i], __ATOMIC_RELAXED);
            status[i] = nodes[i];
        } else {
            status[i] = __atomic_load_n(&f->node[page], __ATOMIC_RELAXED);
        }
    }
    if (nodes != NULL && count > 0)
        g_atomic_int_inc(&f->moves);
    return 0;
}

static gboolean
fake_check_node(gpointer data, guint node, GError **error)
{
    return node <= 1;
}

static NsKernelPages *
fake_pages_open(gpointer data, pid_t pid)
{
    NsKernelPages *pages = g_new0(NsKernelPages, 1);

    pages->f = data;
    return pages;
}

static gssize
fake_pagemap_read(NsKernelPages *pages, guint64 vpage, guint64 *out, gsize n)
{
    guint64 first = GUEST_HVA >> 12;

    for (gsize i = 0; i < n; i++)
        out[i] = vpage + i >= first && vpage + i < first + GUEST_PAGES
                     ? PM_PRESENT | (G_GUINT64_CONSTANT(1) << 30) | (vpage + i - first)
                     : 0;
    return (gssize)n;
}

static gssize
fake_kpageflags_read(NsKernelPages *pages, guint64 pfn, guint64 *out, gsize n)
{
    memset(out, 0, n * sizeof *out); /* base pages, no THP */
    for (gsize i = 0; i < n; i++) {
        guint64 page = (pfn + i) & ((G_GUINT64_CONSTANT(1) << 30) - 1);

        if (page < GUEST_PAGES && pages->f->ksm[page])
            out[i] = KPF_KSM;
    }
    return (gssize)n;
}

static void
fake_pages_close(NsKernelPages *pages)
{
    g_free(pages);
}

/* The one vCPU runs on node 1's CPUs (2-3). */
static GPtrArray *
fake_pinning(gpointer data, GError **error)
{
    Fixture *f = data;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);

    g_atomic_int_inc(&f->pinning_calls);
    g_ptr_array_add(out, ns_topology_parse_list("2-3", NS_TOPOLOGY_MAX_CPU, NULL));
    return out;
}

static void
write_host(const char *root)
{
    ns_test_sysfs_write(root, "possible", "0-1\n");
    ns_test_sysfs_write(root, "online", "0-1\n");
    ns_test_sysfs_write(root, "has_memory", "0-1\n");
    for (guint n = 0; n < 2; n++) {
        g_autofree char *cpus = g_strdup_printf("node%u/cpulist", n);
        g_autofree char *cpus_text = g_strdup_printf("%u-%u\n", 2 * n, 2 * n + 1);
        g_autofree char *dist = g_strdup_printf("node%u/distance", n);
        g_autofree char *mem = g_strdup_printf("node%u/meminfo", n);
        g_autofree char *mem_text = g_strdup_printf(
            "Node %u MemTotal: 8388608 kB\nNode %u MemFree: 4194304 kB\n", n, n);

        ns_test_sysfs_write(root, cpus, cpus_text);
        ns_test_sysfs_write(root, dist, n == 0 ? "10 20\n" : "20 10\n");
        ns_test_sysfs_write(root, mem, mem_text);
    }
}

static void
fixture_setup(Fixture *f, gconstpointer held)
{
    g_autoptr(GError) error = NULL;
    NsMemRange r = { .gpa = 0, .size = (guint64)GUEST_PAGES * 4096, .hva = GUEST_HVA,
                     .page_size = 4096, .backend = g_strdup("pc.ram"), .offset = 0,
                     .cell = -1 };

    f->sysfs = g_dir_make_tmp("ns-move-sysfs-XXXXXX", &error);
    g_assert_no_error(error);
    write_host(f->sysfs);
    f->kernel = (NsKernel){
        .move_pages = fake_move_pages, .check_node = fake_check_node,
        .pages_open = fake_pages_open, .pagemap_read = fake_pagemap_read,
        .kpageflags_read = fake_kpageflags_read, .pages_close = fake_pages_close,
        .data = f,
    };
    f->config = ns_domain_config_parse(
        "<domain type='kvm'><name>g</name><uuid>0e1d0000-0000-4000-8000-000000000001</uuid>"
        "<memory unit='MiB'>16</memory><vcpu>1</vcpu></domain>", &error);
    g_assert_no_error(error);
    f->map = ns_memmap_new(getpid());
    g_array_append_val(f->map->ranges, r);
    f->live = ns_live_map_new(getpid(), &error);
    g_assert_no_error(error);

    /* A live map scanned just now: the run decides on a sample. */
    const NsPlacementOptions opts = { .kernel = &f->kernel };

    g_assert_true(ns_placement_scan(ns_live_map_get_tree(f->live), f->map, &opts, NULL, &error));
    g_assert_no_error(error);
    ns_live_map_set_scanned(f->live, f->map);

    NsMoveSpec spec = {
        .kind = NS_MOVE_REBALANCE,
        .cell = -1,
        .sysfs_root = f->sysfs,
        .fresh_us = 600 * G_USEC_PER_SEC,
        .held = GPOINTER_TO_INT(held),
        .holder = "test-move",
        .engine = { .kernel = &f->kernel },
    };

    f->move = ns_move_new(&spec);
}

static void
fixture_teardown(Fixture *f, gconstpointer held)
{
    ns_move_free(f->move);
    ns_live_map_unref(f->live);
    ns_memmap_free(f->map);
    ns_domain_config_free(f->config);
    g_clear_error(&f->error);
    ns_test_sysfs_remove(f->sysfs);
    g_free(f->sysfs);
}

/* The run, on the calling thread (registered with liburcu). */
static void
run(Fixture *f)
{
    f->ok = ns_move_run_on(f->move, f->config, fake_pinning, f, f->map, f->live, &f->error);
}

static gpointer
run_thread(gpointer data)
{
    urcu_memb_register_thread();
    run(data);
    urcu_memb_unregister_thread();
    return NULL;
}

static guint
pages_on(Fixture *f, guint8 node)
{
    guint n = 0;

    for (guint i = 0; i < GUEST_PAGES; i++)
        n += __atomic_load_n(&f->node[i], __ATOMIC_RELAXED) == node;
    return n;
}

/* Wait until the run has read the host's facts (its last step before the wait). */
static void
wait_prepared(Fixture *f)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;

    while (ns_move_get_phase_us(f->move, NS_MOVE_PHASE_HOST) < 0) {
        if (g_get_monotonic_time() >= deadline)
            g_error("timed out after %d s waiting for the held run to read the host's facts",
                    WAIT_S);
        g_usleep(1000);
    }
}

/* Held: sample and host facts first; no pinning read, lock or move until released. */
static void
test_held_decides_after_release(Fixture *f, gconstpointer held)
{
    g_assert_true(ns_move_is_held(f->move));
    GThread *thread = g_thread_new("run", run_thread, f);

    wait_prepared(f);
    g_assert_cmpint(ns_move_get_phase_us(f->move, NS_MOVE_PHASE_SAMPLE), >=, 0);
    g_usleep(50 * 1000); /* time enough to go wrong, were the wait missing */
    g_assert_true(ns_move_is_held(f->move));
    g_assert_cmpint(g_atomic_int_get(&f->pinning_calls), ==, 0);
    g_assert_cmpint(g_atomic_int_get(&f->moves), ==, 0);
    g_assert_cmpint(ns_move_get_phase_us(f->move, NS_MOVE_PHASE_DECIDE), ==, -1);
    {
        /* The mover lock is free while the run waits: --direct is not refused. */
        g_autoptr(GError) error = NULL;
        g_autoptr(NsMoverLock) lock = ns_mover_lock_take(f->config->uuid, "test", &error);

        g_assert_no_error(error);
        g_assert_nonnull(lock);
    }

    ns_move_release(f->move);
    g_thread_join(thread);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    g_assert_false(ns_move_is_held(f->move));
    g_assert_cmpint(g_atomic_int_get(&f->pinning_calls), ==, 1);
    g_assert_cmpint(ns_move_get_phase_us(f->move, NS_MOVE_PHASE_SETTLE), >=, 0);
    g_assert_cmpint(ns_move_get_phase_us(f->move, NS_MOVE_PHASE_DECIDE), >=, 0);
    g_assert_cmpuint(pages_on(f, 1), ==, GUEST_PAGES);
    g_autoptr(NsEngineReport) report = ns_move_get_report(f->move);

    g_assert_nonnull(report);
    g_assert_cmpint(report->outcome, ==, NS_ENGINE_OUTCOME_DONE);
    /* What the run found pinned, for numashiftd's other domains: the vCPU's
     * CPUs 2-3, as far as this process may use them. */
    const GArray *pinned = ns_move_get_pinned_cpus(f->move);

    g_assert_nonnull(pinned);
    for (guint i = 0; i < pinned->len; i++)
        g_assert_cmpuint(g_array_index(pinned, guint, i), >=, 2);
}

/* Held and cancelled (the domain stopped, the daemon stops): nothing moves. */
static void
test_held_cancelled(Fixture *f, gconstpointer held)
{
    GThread *thread = g_thread_new("run", run_thread, f);

    wait_prepared(f);
    ns_move_cancel(f->move);
    g_thread_join(thread);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    g_assert_cmpint(g_atomic_int_get(&f->pinning_calls), ==, 0);
    g_assert_cmpint(g_atomic_int_get(&f->moves), ==, 0);
    g_assert_cmpuint(pages_on(f, 0), ==, GUEST_PAGES);
    g_autoptr(NsEngineReport) report = ns_move_get_report(f->move);

    g_assert_nonnull(report);
    g_assert_cmpint(report->outcome, ==, NS_ENGINE_OUTCOME_CANCELLED);
    g_assert_cmpuint(report->moved_pages, ==, 0);
    g_assert_false(ns_move_settle(f->move)); /* cancelled, not released */
}

/* Released before it reaches the wait: it does not wait at all. */
static void
test_held_released_early(Fixture *f, gconstpointer held)
{
    ns_move_release(f->move);
    g_assert_false(ns_move_is_held(f->move));
    run(f);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    g_assert_cmpuint(pages_on(f, 1), ==, GUEST_PAGES);
}

/* Not held: ns_move_settle() returns at once, no settle phase is recorded. */
static void
test_not_held(Fixture *f, gconstpointer held)
{
    g_assert_false(ns_move_is_held(f->move));
    g_assert_true(ns_move_settle(f->move));
    run(f);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    g_assert_cmpint(ns_move_get_phase_us(f->move, NS_MOVE_PHASE_SETTLE), ==, -1);
    g_assert_cmpint(ns_move_get_phase_us(f->move, NS_MOVE_PHASE_HOST), >=, 0);
    g_assert_cmpuint(pages_on(f, 1), ==, GUEST_PAGES);
}

/* KVM's counters as a VM would count them: each read, every counter one more per move call. */
static gboolean
fake_kvm_counters(gpointer data, NsKvmCounters *ret)
{
    Fixture *f = data;
    gint64 moves = g_atomic_int_get(&f->moves);

    *ret = (NsKvmCounters){ .pages_4k = 1000 - moves, .pages_2m = 10 + moves,
                            .remote_tlb_flush = 7 * moves, .remote_tlb_flush_requests = 9 * moves,
                            .mmu_shadow_zapped = 0 };
    return TRUE;
}

static gboolean
no_kvm_counters(gpointer data, NsKvmCounters *ret)
{
    return FALSE; /* TCG: query-stats answers an empty list */
}

/*
 * Issue #12: KVM's counters over the move, for every job (CLI and daemon
 * alike, through ns_move_run()): read right before the first move and
 * after the last, the difference in the report and its JSON; nothing
 * claimed when the counters cannot be read.
 */
static void
test_kvm_counters(Fixture *f, gconstpointer held)
{
    ns_move_set_kvm_counters(f->move, fake_kvm_counters, f);
    run(f);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    gint64 moves = g_atomic_int_get(&f->moves);
    g_autoptr(NsEngineReport) report = ns_move_get_report(f->move);

    g_assert_cmpint(moves, >, 0);
    g_assert_true(report->kvm.valid);
    g_assert_cmpint(report->kvm.pages_4k, ==, -moves);
    g_assert_cmpint(report->kvm.pages_2m, ==, moves);
    g_assert_cmpint(report->kvm.remote_tlb_flush, ==, 7 * moves);
    g_assert_cmpint(report->kvm.remote_tlb_flush_requests, ==, 9 * moves);
    g_autoptr(JsonNode) json = ns_engine_report_to_json(report);
    JsonObject *kvm = json_object_get_object_member(json_node_get_object(json), "kvm");

    g_assert_cmpint(json_object_get_int_member(kvm, "remote_tlb_flush"), ==, 7 * moves);

}

/* TCG: no counters (query-stats answers an empty list), nothing claimed. */
static void
test_kvm_counters_none(Fixture *f, gconstpointer held)
{
    ns_move_set_kvm_counters(f->move, no_kvm_counters, f);
    run(f);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    g_autoptr(NsEngineReport) report = ns_move_get_report(f->move);

    g_assert_nonnull(report);
    g_assert_cmpuint(report->moved_pages, >, 0);
    g_assert_false(report->kvm.valid);
    g_autoptr(JsonNode) json = ns_engine_report_to_json(report);

    g_assert_false(json_object_has_member(json_node_get_object(json), "kvm"));
}

/*
 * Pages other processes map come back EACCES: left where they are, counted
 * as shared, and those KSM merged counted as such (kpageflags KPF_KSM of
 * the frame each is on).  Nothing maps this guest's memory by name (it is
 * not mapped in this process at all): shared_with stays empty.
 */
static void
test_shared_and_ksm(Fixture *f, gconstpointer held)
{
    for (guint i = 10; i < 20; i++)
        f->shared[i] = TRUE;
    for (guint i = 10; i < 15; i++)
        f->ksm[i] = TRUE;
    run(f);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    g_autoptr(NsEngineReport) report = ns_move_get_report(f->move);

    g_assert_nonnull(report);
    g_assert_cmpuint(report->failed_by_errno[EACCES], ==, 10);
    g_assert_cmpuint(report->shared_ksm_pages, ==, 5);
    g_assert_cmpstr(report->shared_with, ==, "");
    g_assert_cmpuint(report->moved_pages, ==, GUEST_PAGES - 10);
    g_assert_cmpuint(__atomic_load_n(&f->node[12], __ATOMIC_RELAXED), ==, 0);
    g_autoptr(JsonNode) json = ns_engine_report_to_json(report);

    g_assert_cmpint(json_object_get_int_member(json_node_get_object(json), "shared_ksm_pages"), ==, 5);
}

/* A rebalance run of @f with @move_shared, on its live map: what a
 * numashiftd job of trigger reload or drift does. */
static void
run_rebalance(Fixture *f, gboolean move_shared)
{
    NsPolicyOptions policy;

    ns_policy_options_init(&policy);
    policy.reserve_mib = 0;
    policy.min_remote_mib = 1;
    policy.min_remote_percent = 10;
    NsMoveSpec spec = {
        .kind = NS_MOVE_REBALANCE,
        .cell = -1,
        .policy = &policy,
        .sysfs_root = f->sysfs,
        .fresh_us = 600 * G_USEC_PER_SEC,
        .holder = "test-move",
        .engine = { .kernel = &f->kernel, .move_shared = move_shared },
    };

    ns_move_free(f->move);
    f->move = ns_move_new(&spec);
    g_clear_error(&f->error);
    run(f);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
}

/*
 * CI, 2026-12-01 (numa-daemon-live-map, ASan build): `move-shared=true`
 * turned on by a reload left cell 0's shared 16 MiB on node 0; numashiftd
 * logged "all movable memory already there, 15.2 MiB elsewhere cannot
 * move (trigger reload)".  Cause: the policy weighed every page the live
 * map holds as unmovable as staying, although this job, with
 * MPOL_MF_MOVE_ALL, moves what was refused for being shared, and a
 * forgiven job tries every unmovable page again.  With the rest of the
 * memory home, nothing was planned, so nothing was tried.  (It passed in
 * the normal build of the same run, by an order of events not found.)  Now the policy is given only what the job itself leaves
 * alone.  If this comes back, the 4 MiB stay on node 0 in the second run
 * below, or the forgiven third run moves nothing.
 */
static void
test_unmovable_tried_again(Fixture *f, gconstpointer held)
{
    for (guint i = 0; i < GUEST_PAGES / 4; i++)
        f->shared[i] = TRUE;
    run_rebalance(f, FALSE);
    g_assert_cmpuint(pages_on(f, 1), ==, GUEST_PAGES - GUEST_PAGES / 4);
    g_autoptr(NsPlacementSummary) known = ns_live_map_summarize(f->live);
    g_assert_cmpuint(known->all.unmovable[NS_UNMOVABLE_SHARED].pages, ==, GUEST_PAGES / 4);

    /* Without move-shared and not forgiven: left alone (the backoff). */
    run_rebalance(f, FALSE);
    g_assert_cmpuint(pages_on(f, 0), ==, GUEST_PAGES / 4);
    g_assert_cmpint(g_atomic_int_get(&f->moves), >, 0);
    gint moves = g_atomic_int_get(&f->moves);

    /* move-shared: planned and moved, with the other process still mapping them. */
    run_rebalance(f, TRUE);
    g_assert_cmpuint(pages_on(f, 1), ==, GUEST_PAGES);
    g_assert_cmpint(g_atomic_int_get(&f->moves), >, moves);

    /* Back on node 0 but 1024 pages, which the next run finds shared... */
    for (guint i = 0; i < GUEST_PAGES; i++)
        __atomic_store_n(&f->node[i], (guint8)(i < GUEST_PAGES / 4 ? 0 : 1), __ATOMIC_RELAXED);
    g_autoptr(GError) error = NULL;
    const NsPlacementOptions opts = { .kernel = &f->kernel };
    g_assert_true(ns_placement_scan(ns_live_map_get_tree(f->live), f->map, &opts, NULL, &error));
    g_assert_no_error(error);
    ns_live_map_set_scanned(f->live, f->map);
    run_rebalance(f, FALSE);
    g_assert_cmpuint(pages_on(f, 0), ==, GUEST_PAGES / 4);
    /* ... until the other process goes and the map is forgiven (an
     * operator's rebalance, a pinning change): tried at once, and moved. */
    for (guint i = 0; i < GUEST_PAGES; i++)
        f->shared[i] = FALSE;
    ns_live_map_forgive(f->live);
    run_rebalance(f, FALSE);
    g_assert_cmpuint(pages_on(f, 1), ==, GUEST_PAGES);
    g_assert_false(ns_live_map_is_forgiven(f->live));
}

/* What the ledger held when the run announced its decisions. */
typedef struct {
    NsLedger *ledger;
    guint64 decided;  /* the decision's bytes */
    guint64 promised; /* to node 1 by every owner, then */
} LedgerSeen;

static void
on_decisions_read_ledger(const GArray *decisions, gpointer data)
{
    LedgerSeen *seen = data;

    g_assert_cmpuint(decisions->len, ==, 1);
    seen->decided = g_array_index(decisions, NsPolicyDecision, 0).bytes;
    ns_ledger_lock(seen->ledger);
    seen->promised = ns_ledger_promised(seen->ledger, 0, 1, 0);
    ns_ledger_unlock(seen->ledger);
}

/*
 * Issue #14: a numashiftd run decides from the host's ledger.  Another job
 * has promised node 1 all its 4 GiB of free memory but 8 MiB, so this run
 * moves 8 of the guest's 16 MiB (not the 16 that MemFree alone allows),
 * promises them while it runs, and leaves no promise when it ends; the
 * other job's promise stays.
 */
static void
test_ledger(Fixture *f, gconstpointer held)
{
    g_autoptr(NsLedger) ledger = ns_ledger_new();
    const guint64 mib = G_GUINT64_CONSTANT(1) << 20;
    const guint64 other = 4096 * mib - 8 * mib;
    LedgerSeen seen = { ledger, 0, 0 };
    NsPolicyOptions policy;

    ns_policy_options_init(&policy);
    policy.reserve_mib = 0;
    policy.min_remote_mib = 1;
    NsMoveSpec spec = {
        .kind = NS_MOVE_REBALANCE,
        .cell = -1,
        .policy = &policy,
        .sysfs_root = f->sysfs,
        .holder = "test-move",
        .engine = { .kernel = &f->kernel },
        .ledger = ledger,
        .ledger_owner = 2,
        .on_decisions = on_decisions_read_ledger,
        .data = &seen,
    };

    ns_move_free(f->move);
    f->move = ns_move_new(&spec);
    ns_ledger_lock(ledger);
    ns_ledger_promise(ledger, 1, 1, 0, other);
    ns_ledger_unlock(ledger);
    run(f);
    g_assert_no_error(f->error);
    g_assert_true(f->ok);
    g_assert_cmpuint(seen.decided, ==, 8 * mib);
    g_assert_cmpuint(seen.promised, ==, other + 8 * mib);
    g_assert_cmpuint(pages_on(f, 1), >, 0);
    g_assert_cmpuint(pages_on(f, 1), <=, 8 * mib / 4096);
    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, other);
    ns_ledger_unlock(ledger);
}

int
main(int argc, char **argv)
{
    g_autofree char *lockdir = g_dir_make_tmp("ns-move-lock-XXXXXX", NULL);
    int rc;

    g_test_init(&argc, &argv, NULL);
    g_assert_nonnull(lockdir);
    g_setenv(NS_MOVER_LOCK_DIR_ENV, lockdir, TRUE); /* before any thread */
    urcu_memb_register_thread();
#define MOVE_TEST(path, held, fn) \
    g_test_add(path, Fixture, GINT_TO_POINTER(held), fixture_setup, fn, fixture_teardown)
    MOVE_TEST("/move/held/decides-after-release", TRUE, test_held_decides_after_release);
    MOVE_TEST("/move/held/cancelled", TRUE, test_held_cancelled);
    MOVE_TEST("/move/held/released-early", TRUE, test_held_released_early);
    MOVE_TEST("/move/not-held", FALSE, test_not_held);
    MOVE_TEST("/move/kvm-counters", FALSE, test_kvm_counters);
    MOVE_TEST("/move/kvm-counters-none", FALSE, test_kvm_counters_none);
    MOVE_TEST("/move/shared-and-ksm", FALSE, test_shared_and_ksm);
    MOVE_TEST("/move/ledger", FALSE, test_ledger);
    MOVE_TEST("/move/unmovable-tried-again", FALSE, test_unmovable_tried_again);
    rc = g_test_run();
    ns_test_sysfs_remove(lockdir);
    return rc;
}
