/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ns-scale-bench: the move pipeline on simulated guests of 1 GiB to 4 TiB
 * =======================================================================
 * The whole pipeline numashiftd runs for `numashift migrate --to 1`
 * (ns_move_run_on(): target checks, mover lock, plan, window by window scan
 * and move, the final full scan) on a guest that exists only in a fake
 * kernel (kernel.h's seam): pagemap answers "present" with contiguous PFNs,
 * kpageflags marks 2 MiB compound pages for a THP-backed guest, move_pages
 * answers node 0 to queries and the target to moves, at once.  So the
 * numbers are numashift's own costs, at sizes no test machine holds:
 *
 *   first_batch_ms   the run's start to its first move_pages() move call
 *   tree_B_per_4k    the live map's tree after the run (whole guest
 *                    scanned) per 4 KiB of guest memory: what freeing it
 *                    gives back to malloc (mallinfo2: arena + mmap bytes),
 *                    so the allocator's own overhead per node counts
 *   other_peak_MiB   the most malloc'd memory besides the tree at any move
 *                    call or progress call: in use less the baseline before
 *                    the run less the tree at that moment (its node count,
 *                    ns_radix_memory_used(), scaled by what a node really
 *                    cost at the end)
 *   run_s            the whole run, the final full scan included
 *   status_us        numashiftd's status answer for the guest: the live
 *                    map's running counts (ns_live_map_summarize(), kept
 *                    by the tree's observer), the mean of STATUS_READS
 *   walk_ms          its peer: one walk of the finished tree
 *                    (ns_placement_summarize()), what the answer cost
 *                    before the running counts
 *
 * Every scenario moves until MOVE_CAP_GIB of it moved, then cancels (a
 * cancelled move ends with the full scan, so the tree still ends up
 * describing the whole guest).  x_1GiB: the first batch's time against the
 * 1 GiB guest of the same page kind, in the same run.  Targets (issue #10): tree <= 9 B per 4 KiB page, <= 0.05 B per
 * 4 KiB of THP-backed memory, other <= 16 MiB, first batch within 2x.
 *
 *   ns-scale-bench [--quick | --smoke]
 *       --quick: the guests up to 64 GiB; --smoke: 1 GiB ones (a test that
 *       keeps the binary honest; its numbers mean nothing under sanitizers)
 */
#include <errno.h>
#include <linux/kernel-page-flags.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "numashift/domain.h"
#include "numashift/kernel.h"
#include "numashift/livemap.h"
#include "numashift/memmap.h"
#include "numashift/move.h"
#include "numashift/mover-lock.h"
#include "numashift/placement.h"
#include "numashift/radix.h"

#define GIB (G_GUINT64_CONSTANT(1) << 30)
#define STATUS_READS 1000u
#define PM_PRESENT (G_GUINT64_CONSTANT(1) << 63)
#define SIM_HVA G_GUINT64_CONSTANT(0x100000000000) /* 1 GiB aligned */
#define SIM_PFN0 (G_GUINT64_CONSTANT(1) << 40)
#define MOVE_CAP_GIB 4u

typedef struct {
    guint64 bytes;
    gboolean thp;
    guint64 *moved;  /* a bit per 4 KiB page: on the target (mmap'd: not malloc's) */
    gsize moved_len; /* bytes */
    NsMove *move;
    NsRadix *tree;
    size_t baseline;
    GMutex lock;
    gint64 start_us, first_move_us;
    guint64 moved_pages;
    gboolean cancelled;
    /* (in use - baseline, the tree's own count) at each sample */
    gsize n_samples;
    size_t (*samples)[2];
} Sim;

#define SAMPLES_MAX 65536u

struct NsKernelPages {
    Sim *sim;
};

static size_t
malloc_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/* Under the sim's lock. */
static void
note_memory_locked(Sim *sim)
{
    size_t now = malloc_in_use(), tree = ns_radix_memory_used(sim->tree);

    if (sim->n_samples < SAMPLES_MAX) {
        sim->samples[sim->n_samples][0] = now > sim->baseline ? now - sim->baseline : 0;
        sim->samples[sim->n_samples][1] = tree;
        sim->n_samples++;
    }
}

static long
sim_move_pages(gpointer data, pid_t pid, gulong count, void **pages, const int *nodes,
               int *status, int flags)
{
    Sim *sim = data;

    for (gulong i = 0; i < count; i++) {
        guint64 hva = (guint64)(uintptr_t)pages[i];

        if (hva < SIM_HVA || hva >= SIM_HVA + sim->bytes) {
            status[i] = -EFAULT;
            continue;
        }
        guint64 page = (hva - SIM_HVA) >> 12;

        if (nodes == NULL) {
            status[i] = (__atomic_load_n(&sim->moved[page / 64], __ATOMIC_RELAXED) >>
                         (page % 64)) & 1;
            continue;
        }
        /* The kernel moves a THP whole, whichever of its pages is named. */
        guint64 first = sim->thp ? page & ~G_GUINT64_CONSTANT(511) : page;
        guint64 n = sim->thp ? 512 : 1;

        for (guint64 p = first; p < first + n; p += 64 - p % 64) {
            guint64 bits = MIN(n - (p - first), 64 - p % 64);
            guint64 mask = bits == 64 ? G_MAXUINT64 : ((G_GUINT64_CONSTANT(1) << bits) - 1) << (p % 64);

            if (nodes[i] == 1)
                __atomic_fetch_or(&sim->moved[p / 64], mask, __ATOMIC_RELAXED);
            else
                __atomic_fetch_and(&sim->moved[p / 64], ~mask, __ATOMIC_RELAXED);
        }
        status[i] = nodes[i];
    }
    if (nodes != NULL && count > 0) {
        g_mutex_lock(&sim->lock);
        if (sim->first_move_us == 0)
            sim->first_move_us = g_get_monotonic_time();
        sim->moved_pages += count;
        note_memory_locked(sim);
        gboolean stop = !sim->cancelled && sim->moved_pages * 4096 >= MOVE_CAP_GIB * GIB;

        if (stop)
            sim->cancelled = TRUE;
        g_mutex_unlock(&sim->lock);
        if (stop)
            ns_move_cancel(sim->move);
    }
    return 0;
}

static gboolean
sim_check_node(gpointer data, guint node, GError **error)
{
    return node <= 1;
}

static NsKernelPages *
sim_pages_open(gpointer data, pid_t pid)
{
    NsKernelPages *pages = g_new(NsKernelPages, 1);

    pages->sim = data;
    return pages;
}

static gssize
sim_pagemap_read(NsKernelPages *pages, guint64 vpage, guint64 *out, gsize n)
{
    guint64 first = SIM_HVA >> 12, last = (SIM_HVA + pages->sim->bytes) >> 12;

    for (gsize i = 0; i < n; i++)
        out[i] = vpage + i >= first && vpage + i < last ? PM_PRESENT | (SIM_PFN0 + vpage + i - first)
                                                       : 0;
    return (gssize)n;
}

static gssize
sim_kpageflags_read(NsKernelPages *pages, guint64 pfn, guint64 *out, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        guint64 p = pfn + i;

        out[i] = !pages->sim->thp         ? 0
                 : (p & 511) == 0 ? G_GUINT64_CONSTANT(1) << KPF_COMPOUND_HEAD
                                  : G_GUINT64_CONSTANT(1) << KPF_COMPOUND_TAIL;
    }
    return (gssize)n;
}

static void
sim_pages_close(NsKernelPages *pages)
{
    g_free(pages);
}

static void
on_progress(const NsEngineProgress *progress, gpointer data)
{
    Sim *sim = data;

    g_mutex_lock(&sim->lock);
    note_memory_locked(sim);
    g_mutex_unlock(&sim->lock);
}

typedef struct {
    const char *name;
    guint64 gib;
    gboolean thp;
    double first_batch_ms, tree_b_per_4k, other_peak_mib, run_s, status_us, walk_ms;
} Scenario;

static void
run_scenario(Scenario *sc, const NsDomainConfig *config)
{
    Sim sim = { .bytes = sc->gib * GIB, .thp = sc->thp };
    g_autoptr(GError) error = NULL;
    g_autoptr(NsMemMap) map = ns_memmap_new(getpid());
    NsMemRange r = { .gpa = 0, .size = sim.bytes, .hva = SIM_HVA, .page_size = 4096,
                     .backend = g_strdup("ram-node0"), .offset = 0, .cell = 0 };
    NsKernel kernel = {
        .move_pages = sim_move_pages, .check_node = sim_check_node,
        .pages_open = sim_pages_open, .pagemap_read = sim_pagemap_read,
        .kpageflags_read = sim_kpageflags_read, .pages_close = sim_pages_close,
        .data = &sim,
    };
    NsMoveSpec spec = {
        .kind = NS_MOVE_TO_NODE, .to = 1, .cell = -1, .holder = "ns-scale-bench",
        .engine = { .kernel = &kernel, .progress = on_progress, .progress_data = &sim },
    };
    NsLiveMap *live;
    gint64 end_us;

    g_mutex_init(&sim.lock);
    sim.samples = mmap(NULL, SAMPLES_MAX * sizeof(*sim.samples), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sim.samples == MAP_FAILED)
        g_error("mmap: %s", g_strerror(errno));
    sim.moved_len = (gsize)(sim.bytes >> 12) / 8;
    sim.moved = mmap(NULL, sim.moved_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (sim.moved == MAP_FAILED)
        g_error("mmap of %zu bytes: %s", sim.moved_len, g_strerror(errno));
    g_array_append_val(map->ranges, r);
    live = ns_live_map_new(getpid(), &error);
    if (live == NULL)
        g_error("%s", error->message);
    sim.tree = ns_live_map_get_tree(live);
    sim.move = ns_move_new(&spec);
    malloc_trim(0);
    sim.baseline = malloc_in_use() - ns_radix_memory_used(sim.tree);
    sim.start_us = g_get_monotonic_time();
    if (!ns_move_run_on(sim.move, config, NULL, NULL, map, live, &error))
        g_error("%s: %s", sc->name, error->message);
    end_us = g_get_monotonic_time();
    g_mutex_lock(&sim.lock);
    note_memory_locked(&sim);
    g_mutex_unlock(&sim.lock);

    sc->first_batch_ms = (double)(sim.first_move_us - sim.start_us) / 1000.0;
    sc->run_s = (double)(end_us - sim.start_us) / 1e6;
    g_assert_cmpuint(ns_radix_count(sim.tree), ==, sim.thp ? sim.bytes >> 21 : sim.bytes >> 12);

    size_t reported = ns_radix_memory_used(sim.tree);
    gint64 walk0 = g_get_monotonic_time();
    g_autoptr(NsPlacementSummary) summary = ns_placement_summarize(sim.tree, map);

    sc->walk_ms = (double)(g_get_monotonic_time() - walk0) / 1000.0;
    g_assert_cmpuint(summary->all.total.pages, ==, sim.bytes >> 12);
    gint64 reads0 = g_get_monotonic_time();

    for (guint k = 0; k < STATUS_READS; k++) {
        g_autoptr(NsPlacementSummary) answer = ns_live_map_summarize(live);

        /* The running counts are the walk's, or the answer is worthless. */
        g_assert_cmpuint(answer->all.total.pages, ==, summary->all.total.pages);
        g_assert_cmpuint(answer->all.present.pages, ==, summary->all.present.pages);
        g_assert_cmpuint(ns_placement_stats_node(&answer->all, 1).pages, ==,
                         ns_placement_stats_node(&summary->all, 1).pages);
    }
    sc->status_us = (double)(g_get_monotonic_time() - reads0) / STATUS_READS;

    ns_move_free(sim.move);
    size_t with_tree = malloc_in_use();

    ns_live_map_unref(live);
    urcu_memb_barrier();
    size_t tree_true = with_tree - MIN(with_tree, malloc_in_use());
    double scale = (double)tree_true / (double)reported;
    double other_peak = 0;

    for (gsize i = 0; i < sim.n_samples; i++)
        other_peak = MAX(other_peak, (double)sim.samples[i][0] - scale * (double)sim.samples[i][1]);
    sc->tree_b_per_4k = (double)tree_true / (double)(sim.bytes / 4096);
    sc->other_peak_mib = other_peak / (1024.0 * 1024.0);
    g_mutex_clear(&sim.lock);
    munmap(sim.moved, sim.moved_len);
    munmap(sim.samples, SAMPLES_MAX * sizeof(*sim.samples));
}

int
main(int argc, char **argv)
{
    guint64 max_gib = argc < 2                          ? G_MAXUINT64
                      : g_str_equal(argv[1], "--quick") ? 64
                      : g_str_equal(argv[1], "--smoke") ? 1
                                                        : 0;
    g_autofree char *lockdir = g_dir_make_tmp("ns-scale-bench-XXXXXX", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(NsDomainConfig) config = ns_domain_config_parse(
        "<domain type='kvm'><name>sim</name><uuid>5ca1ab1e-0000-4000-8000-000000000001</uuid>"
        "<memory unit='KiB'>1048576</memory><vcpu>2</vcpu></domain>", &error);
    Scenario all[] = {
        { .name = "1 GiB, 4 KiB pages", .gib = 1, .thp = FALSE },
        { .name = "64 GiB, 4 KiB pages", .gib = 64, .thp = FALSE },
        { .name = "1 TiB, 4 KiB pages", .gib = 1024, .thp = FALSE },
        { .name = "1 GiB, 2 MiB THP", .gib = 1, .thp = TRUE },
        { .name = "4 TiB, 2 MiB THP", .gib = 4096, .thp = TRUE },
    };

    if (argc > 2 || max_gib == 0) {
        fprintf(stderr, "usage: ns-scale-bench [--quick | --smoke]\n");
        return 2;
    }
    if (config == NULL || lockdir == NULL)
        g_error("set-up failed");
    g_setenv(NS_MOVER_LOCK_DIR_ENV, lockdir, TRUE);
    urcu_memb_register_thread();

    printf("%-22s %14s %10s %14s %14s %9s %10s %10s\n", "guest", "first_batch_ms", "x_1GiB",
           "tree_B_per_4k", "other_peak_MiB", "run_s", "status_us", "walk_ms");
    double base_ms[2] = { 0, 0 }; /* the 1 GiB guest's, 4 KiB pages and THP */

    for (guint i = 0; i < G_N_ELEMENTS(all); i++) {
        Scenario *sc = &all[i];

        if (sc->gib > max_gib)
            continue;
        run_scenario(sc, config);
        if (sc->gib == 1)
            base_ms[sc->thp] = sc->first_batch_ms;
        printf("%-22s %14.2f %10.2f %14.3f %14.1f %9.1f %10.1f %10.1f\n", sc->name,
               sc->first_batch_ms, sc->first_batch_ms / base_ms[sc->thp], sc->tree_b_per_4k,
               sc->other_peak_mib, sc->run_s, sc->status_us, sc->walk_ms);
        fflush(stdout);
    }
    urcu_memb_unregister_thread();
    g_autoptr(GDir) dir = g_dir_open(lockdir, 0, NULL);

    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
        g_autofree char *path = g_build_filename(lockdir, name, NULL);

        g_unlink(path);
    }
    g_rmdir(lockdir);
    return 0;
}
