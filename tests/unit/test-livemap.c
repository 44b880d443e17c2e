/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live placement map (livemap.h) and the move pipeline's parts that
 * need no libvirt domain (move.h): a real child process stands in for
 * QEMU; ns_move_run() itself runs against real guests in the numa suite
 * (numa-numashift-migrate, numa-daemon-*).
 */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "ns-test-child.h"
#include "numashift/error.h"
#include "numashift/livemap.h"
#include "numashift/move.h"

static void
test_live_map_scan(void)
{
    NsTestChild child;
    g_autoptr(GError) error = NULL;

    ns_test_child_start(&child, 64, 4, 64, -1);
    g_autoptr(NsMemMap) map = ns_test_child_map(&child);
    NsLiveMap *live = ns_live_map_new(child.pid, &error);

    g_assert_no_error(error);
    g_assert_cmpint(ns_live_map_get_pid(live), ==, child.pid);
    g_assert_nonnull(ns_live_map_get_tree(live));
    /* Before the first scan: no map, no summary, never scanned. */
    g_assert_null(ns_live_map_dup_memmap(live));
    g_assert_null(ns_live_map_summarize(live));
    g_assert_cmpint(ns_live_map_get_scanned_us(live), ==, 0);

    gint64 before = g_get_monotonic_time();

    g_assert_true(ns_placement_scan(ns_live_map_get_tree(live), map, NULL, NULL, &error));
    g_assert_no_error(error);
    ns_live_map_set_scanned(live, map);
    g_assert_cmpint(ns_live_map_get_scanned_us(live), >=, before);
    g_autoptr(NsMemMap) copy = ns_live_map_dup_memmap(live);

    g_assert_nonnull(copy);
    g_assert_cmpint(copy->pid, ==, map->pid);
    g_assert_cmpuint(copy->ranges->len, ==, map->ranges->len);
    g_autoptr(NsPlacementSummary) s = ns_live_map_summarize(live);

    g_assert_nonnull(s);
    g_assert_cmpuint(s->all.total.pages, ==, 64 + 4 * 256 + 64);
    g_assert_cmpuint(s->all.absent.pages, ==, 64);
    g_assert_cmpuint(s->cells->len, ==, 2);

    /* A layout change: not fresh any more, still readable. */
    ns_live_map_invalidate(live);
    g_assert_cmpint(ns_live_map_get_scanned_us(live), ==, 0);
    g_autoptr(NsPlacementSummary) s2 = ns_live_map_summarize(live);
    g_assert_nonnull(s2);

    /* A reference outlives the creator's. */
    NsLiveMap *ref = ns_live_map_ref(live);

    ns_live_map_unref(live);
    g_assert_true(ns_live_map_get_tree(ref) != NULL);
    ns_live_map_unref(ref);
    ns_live_map_unref(NULL);
    urcu_memb_barrier();
    ns_test_child_stop(&child);
}

static void
test_live_map_clock(void)
{
    g_autoptr(NsLiveMap) live = ns_live_map_new(1, NULL);
    gint64 now = g_get_monotonic_time();

    /* Minute 0 means "never tried": the clock starts at 1 and saturates. */
    g_assert_cmpuint(ns_live_map_minute(live, now), ==, 1);
    g_assert_cmpuint(ns_live_map_minute(live, now + 59 * G_USEC_PER_SEC), ==, 1);
    g_assert_cmpuint(ns_live_map_minute(live, now + 61 * G_USEC_PER_SEC), ==, 2);
    g_assert_cmpuint(ns_live_map_minute(live, now + G_GINT64_CONSTANT(1000000) * 60 * 1000000),
                     ==, NS_PAGE_TRIED_MAX);
    g_assert_cmpuint(ns_live_map_minute(live, now - 10 * G_USEC_PER_SEC), ==, 1);

    /* A forgiveness is taken once. */
    g_assert_false(ns_live_map_is_forgiven(live));
    g_assert_false(ns_live_map_take_forgiveness(live));
    ns_live_map_forgive(live);
    ns_live_map_forgive(live);
    g_assert_true(ns_live_map_is_forgiven(live));
    g_assert_true(ns_live_map_is_forgiven(live)); /* a look leaves it pending */
    g_assert_true(ns_live_map_take_forgiveness(live));
    g_assert_false(ns_live_map_is_forgiven(live));
    g_assert_false(ns_live_map_take_forgiveness(live));
}

static void
test_move_controls(void)
{
    NsMoveSpec spec = { .kind = NS_MOVE_TO_NODE, .to = 0, .cell = -1, .holder = "test" };
    g_autoptr(NsMove) move = ns_move_new(&spec);

    /* Before a run: no report, no phase; pause and cancel are remembered. */
    g_assert_null(ns_move_get_report(move));
    for (NsMovePhase p = 0; p < NS_MOVE_PHASE_COUNT; p++)
        g_assert_cmpint(ns_move_get_phase_us(move, p), ==, -1);
    g_assert_false(ns_move_is_paused(move));
    ns_move_pause(move);
    g_assert_true(ns_move_is_paused(move));
    ns_move_resume(move);
    g_assert_false(ns_move_is_paused(move));
    ns_move_cancel(move);
    g_assert_cmpstr(ns_move_phase_to_string(NS_MOVE_PHASE_SAMPLE), ==, "sample");
    g_assert_cmpstr(ns_move_phase_to_string(NS_MOVE_PHASE_SCAN), ==, "scan");
    g_assert_cmpstr(ns_move_phase_to_string(NS_MOVE_PHASE_DECIDE), ==, "decide");
    g_assert_cmpstr(ns_move_phase_to_string(NS_MOVE_PHASE_ENGINE), ==, "engine");
    g_assert_cmpstr(ns_move_phase_to_string(NS_MOVE_PHASE_COUNT), ==, "unknown");
}

static guint64
map_bytes(const NsMemMap *map)
{
    guint64 n = 0;

    for (guint i = 0; i < map->ranges->len; i++)
        n += g_array_index(map->ranges, NsMemRange, i).size;
    return n;
}

/*
 * The background rescan, step by step on a real child (small 256 KiB at gpa
 * 0, a 4 MiB THP region at 2 MiB, 256 KiB untouched at 8 MiB): 2 MiB per
 * step covers it in three steps, never cutting the huge pages (the tree
 * holds them whole, as a full scan would); the sweep's completion dates the
 * map at its first step; an invalidation mid-sweep makes the sweep count
 * for nothing, and the next one counts again.
 */
static void
test_live_map_rescan_step(void)
{
    NsTestChild child;
    g_autoptr(GError) error = NULL;
    guint64 scanned = 0;

    ns_test_child_start(&child, 64, 4, 64, -1);
    g_autoptr(NsMemMap) map = ns_test_child_map(&child);
    NsLiveMap *live = ns_live_map_new(child.pid, &error);
    NsRadix *full = ns_radix_new();
    NsPlacementScanStats st;

    g_assert_true(ns_placement_scan(full, map, NULL, &st, &error));
    g_assert_no_error(error);

    gint64 t0 = g_get_monotonic_time();
    guint steps = 0;

    do {
        g_assert_true(ns_live_map_rescan_step(live, map, 2u << 20, NULL, &scanned, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(scanned, >, 0);
        steps++;
        g_assert_cmpuint(steps, <=, 4);
    } while (ns_live_map_get_scanned_us(live) == 0);
    gint64 t1 = g_get_monotonic_time();

    g_assert_cmpuint(steps, ==, 3);
    g_assert_cmpint(ns_live_map_get_scanned_us(live), >=, t0); /* the sweep's start */
    g_assert_cmpint(ns_live_map_get_scanned_us(live), <=, t1);
    g_autoptr(NsMemMap) described = ns_live_map_dup_memmap(live);

    g_assert_nonnull(described);
    g_assert_cmpuint(described->ranges->len, ==, map->ranges->len);
    /* The same entries as one full scan: huge pages whole. */
    g_assert_cmpuint(ns_radix_count(ns_live_map_get_tree(live)), ==, ns_radix_count(full));
    g_autoptr(NsPlacementSummary) s = ns_live_map_summarize(live);

    g_assert_cmpuint(s->all.total.pages, ==, 64 + 4 * 256 + 64);
    if (st.huge_entries > 0)
        g_assert_cmpuint(s->all.present.pages, ==, 64 + 4 * 256);

    /* Invalidated mid-sweep: that sweep does not make the map fresh. */
    ns_live_map_invalidate(live);
    g_assert_true(ns_live_map_rescan_step(live, map, 2u << 20, NULL, NULL, &error));
    ns_live_map_invalidate(live);
    for (guint i = 0; i < 2; i++)
        g_assert_true(ns_live_map_rescan_step(live, map, 2u << 20, NULL, NULL, &error));
    g_assert_cmpint(ns_live_map_get_scanned_us(live), ==, 0);
    /* The next full sweep counts; 0 bytes is no step at all. */
    g_assert_true(ns_live_map_rescan_step(live, map, 0, NULL, &scanned, &error));
    g_assert_cmpuint(scanned, ==, 0);
    g_assert_true(ns_live_map_rescan_step(live, map, 64u << 20, NULL, &scanned, &error));
    g_assert_cmpuint(scanned, ==, map_bytes(map));
    g_assert_cmpint(ns_live_map_get_scanned_us(live), >, 0);

    /* A dead process: the error, and the cursor stays. */
    ns_test_child_stop(&child);
    g_assert_false(ns_live_map_rescan_step(live, map, 2u << 20, NULL, NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING);
    ns_live_map_unref(live);
    ns_radix_destroy(full);
    urcu_memb_barrier();
}

/* ---- the running tally behind ns_live_map_summarize() -------------------- */

static void
assert_same_count(NsPlacementCount a, NsPlacementCount b)
{
    g_assert_cmpuint(a.pages, ==, b.pages);
    g_assert_cmpuint(a.bytes, ==, b.bytes);
}

static void
assert_same_stats(const NsPlacementStats *a, const NsPlacementStats *b)
{
    g_assert_cmpint(a->cell, ==, b->cell);
    assert_same_count(a->total, b->total);
    assert_same_count(a->huge, b->huge);
    assert_same_count(a->absent, b->absent);
    assert_same_count(a->present, b->present);
    assert_same_count(a->migrating, b->migrating);
    assert_same_count(a->failed, b->failed);
    for (guint k = 0; k < NS_UNMOVABLE_CAUSES; k++)
        assert_same_count(a->unmovable[k], b->unmovable[k]);
    g_assert_cmpuint(a->nodes->len, ==, b->nodes->len);
    for (guint n = 0; n < NS_PAGE_NODE_MAX + 1u && n <= a->nodes->len; n++) {
        assert_same_count(ns_placement_stats_node(a, n), ns_placement_stats_node(b, n));
        assert_same_count(ns_placement_stats_unmovable_on(a, n),
                          ns_placement_stats_unmovable_on(b, n));
    }
    g_assert_cmpuint(a->shared_nodes->len, ==, b->shared_nodes->len);
    for (guint n = 0; n < a->shared_nodes->len; n++)
        assert_same_count(g_array_index(a->shared_nodes, NsPlacementCount, n),
                          g_array_index(b->shared_nodes, NsPlacementCount, n));
}

/* What the live map answers at once is what a walk of its tree counts. */
static void
assert_tally_is_walk(NsLiveMap *live, const NsMemMap *map)
{
    g_autoptr(NsPlacementSummary) tally = ns_live_map_summarize(live);
    g_autoptr(NsPlacementSummary) walk = ns_placement_summarize(ns_live_map_get_tree(live), map);

    g_assert_nonnull(tally);
    assert_same_stats(&tally->all, &walk->all);
    g_assert_cmpuint(tally->cells->len, ==, walk->cells->len);
    for (guint c = 0; c < walk->cells->len; c++)
        assert_same_stats(g_ptr_array_index(tally->cells, c), g_ptr_array_index(walk->cells, c));
}

static void
add_range(NsMemMap *map, guint64 gpa, guint64 pages, gint cell)
{
    NsMemRange r = { .gpa = gpa, .size = pages << NS_GUEST_PAGE_SHIFT,
                     .hva = 0x7f0000000000ull + gpa, .page_size = NS_GUEST_PAGE_SIZE,
                     .backend = g_strdup_printf("ram-%d", cell), .cell = cell };

    g_array_append_val(map->ranges, r);
}

/* A random page entry: every state, orders 0 and 9, nodes up to 40 (past
 * the tally's first width), unmovable failures of every cause. */
static void *
random_page(GRand *rand)
{
    static const int errs[] = { EBUSY, EACCES, EFAULT, ENOMEM };
    NsPageInfo info = { .order = g_rand_int_range(rand, 0, 8) == 0 ? 9 : 0,
                        .node = (unsigned)g_rand_int_range(rand, 0, 41),
                        .target = NS_PAGE_NODE_NONE };

    switch (g_rand_int_range(rand, 0, 4)) {
    case 0:
        info.state = NS_PAGE_PRESENT;
        break;
    case 1:
        info.state = NS_PAGE_ABSENT;
        info.node = NS_PAGE_NODE_NONE;
        break;
    case 2:
        info.state = NS_PAGE_MIGRATING;
        info.target = 1;
        break;
    default:
        info.state = NS_PAGE_FAILED;
        info.error = (unsigned)errs[g_rand_int_range(rand, 0, 4)];
        info.strikes = (unsigned)g_rand_int_range(rand, 0, 3);
        break;
    }
    return ns_radix_mk_page(&info);
}

/*
 * The live map's counts are kept by the tree's observer, change by change,
 * instead of a walk per status request (which took 4.8 s for a 1 TiB guest
 * on 4 KiB pages).  Random inserts, stores, marker swaps and deletes, in
 * and outside the map's ranges (two cells, listed out of order, and one
 * range without a cell), before and after the first scan: after each burst
 * the answer equals a walk of the tree.  A map of another layout (cells
 * renumbered, a range gone) is counted afresh; the same layout keeps the
 * running counts.
 */
static void
test_live_map_tally(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261130);
    g_autoptr(NsMemMap) map = ns_memmap_new(4242);
    g_autoptr(NsMemMap) other = ns_memmap_new(4242);
    NsLiveMap *live = ns_live_map_new(4242, &error);
    NsRadix *tree = ns_live_map_get_tree(live);
    const guint64 span = 0x3000; /* gfns 0 .. 0x3000 and a little past */

    g_assert_no_error(error);
    add_range(map, 0x0, 0x1000, 1);
    add_range(map, 0x1000 << NS_GUEST_PAGE_SHIFT, 0x800, 0);
    add_range(map, 0x2000ull << NS_GUEST_PAGE_SHIFT, 0x1000, -1);
    add_range(other, 0x0, 0x1000, 0);
    add_range(other, 0x1000 << NS_GUEST_PAGE_SHIFT, 0x800, 1);

    for (guint i = 0; i < 2000; i++)
        g_assert_cmpint(ns_radix_store(tree, g_rand_int_range(rand, 0, span + 64),
                                       random_page(rand), NULL), ==, 0);
    g_assert_null(ns_live_map_summarize(live)); /* nothing before the first scan */
    ns_live_map_set_scanned(live, map);
    assert_tally_is_walk(live, map);

    for (guint burst = 0; burst < 40; burst++) {
        for (guint i = 0; i < 500; i++) {
            guint64 gfn = (guint64)g_rand_int_range(rand, 0, span + 64);
            void *old = NULL;

            switch (g_rand_int_range(rand, 0, 4)) {
            case 0:
                ns_radix_delete(tree, gfn);
                break;
            case 1:
                urcu_memb_read_lock();
                old = ns_radix_lookup(tree, gfn);
                urcu_memb_read_unlock();
                if (old != NULL && ns_radix_is_page(old) && !ns_radix_is_marker(old))
                    g_assert_cmpint(ns_radix_replace_if(tree, gfn, old,
                                                        ns_radix_mk_marker(old, 3)), ==, 0);
                break;
            default:
                g_assert_cmpint(ns_radix_store(tree, gfn, random_page(rand), NULL), ==, 0);
                break;
            }
        }
        assert_tally_is_walk(live, map);
        if (burst == 10)
            ns_live_map_set_scanned(live, map); /* same layout: counts carried on */
        if (burst == 20) {
            ns_live_map_set_scanned(live, other); /* another layout: counted afresh */
            assert_tally_is_walk(live, other);
            ns_live_map_set_scanned(live, map);
        }
    }
    ns_live_map_unref(live);
    urcu_memb_barrier();
}

typedef struct {
    NsLiveMap *live;
    guint64 pages;
    gint stop;
    gint reads; /* atomic */
} TallyReader;

/* Wait (at most 30 s, else fail saying so) until @r has read more than @seen times. */
static void
wait_for_read(TallyReader *r, gint seen, guint round)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    while (g_atomic_int_get(&r->reads) <= seen) {
        if (g_get_monotonic_time() > deadline)
            g_error("the tally reader made no read in 30 s during round %u", round);
        g_usleep(100);
    }
}

static void
assert_adds_up(const NsPlacementStats *s)
{
    guint64 on_nodes = 0;

    g_assert_cmpuint(s->present.pages + s->absent.pages + s->migrating.pages + s->failed.pages,
                     ==, s->total.pages);
    for (guint n = 0; n < s->nodes->len; n++)
        on_nodes += ns_placement_stats_node(s, n).pages;
    g_assert_cmpuint(on_nodes + s->absent.pages, ==, s->total.pages);
}

static gpointer
tally_reader(gpointer data)
{
    TallyReader *r = data;

    urcu_memb_register_thread();
    while (!g_atomic_int_get(&r->stop)) {
        g_autoptr(NsPlacementSummary) s = ns_live_map_summarize(r->live);
        guint64 cells = 0;

        g_assert_cmpuint(s->all.total.pages, ==, r->pages);
        assert_adds_up(&s->all);
        for (guint c = 0; c < s->cells->len; c++) {
            const NsPlacementStats *cell = g_ptr_array_index(s->cells, c);

            assert_adds_up(cell);
            cells += cell->total.pages;
        }
        g_assert_cmpuint(cells, ==, r->pages);
        g_atomic_int_inc(&r->reads);
    }
    urcu_memb_unregister_thread();
    return NULL;
}

/*
 * Readers without locks while a job writes: a reader thread summarises the
 * live map as fast as it can while this thread swaps pages to markers and
 * back to another node, as the engine does, and grows the node range (the
 * tally's widening).  Every answer adds up: the states to the total, the
 * nodes plus the absent pages to the total, the cells to the guest; a
 * torn read (half a change) would break one of them.
 */
static void
test_live_map_tally_readers(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsMemMap) map = ns_memmap_new(4242);
    TallyReader r = { .pages = 2 * 4096 };
    const guint64 n = r.pages;

    r.live = ns_live_map_new(4242, &error);
    NsRadix *tree = ns_live_map_get_tree(r.live);

    add_range(map, 0, n / 2, 0);
    add_range(map, (n / 2) << NS_GUEST_PAGE_SHIFT, n / 2, 1);
    for (guint64 i = 0; i < n; i++)
        g_assert_cmpint(ns_radix_insert(tree, i, ns_radix_mk_present(0, 0)), ==, 0);
    ns_live_map_set_scanned(r.live, map);
    GThread *reader = g_thread_new("tally-reader", tally_reader, &r);

    for (guint round = 1; round <= 24; round++) {
        /* Each round overlaps a read, however the threads are scheduled
         * (a loaded machine once ran all 24 rounds before the reader's
         * first: "r.reads > 0" failed with nothing wrong in the map). */
        gint seen = g_atomic_int_get(&r.reads);

        for (guint64 i = 0; i < n; i++) {
            if (i == n / 2)
                wait_for_read(&r, seen, round);
            void *page = NULL;

            urcu_memb_read_lock();
            page = ns_radix_lookup(tree, i);
            urcu_memb_read_unlock();
            void *marker = ns_radix_mk_marker(page, round);

            g_assert_cmpint(ns_radix_replace_if(tree, i, page, marker), ==, 0);
            g_assert_cmpint(ns_radix_replace_if(tree, i, marker, ns_radix_mk_present(round, 0)),
                            ==, 0);
        }
    }
    g_atomic_int_set(&r.stop, 1);
    g_thread_join(reader);
    g_test_message("%d reads during %u changes", g_atomic_int_get(&r.reads), 24 * 2 * (guint)n);
    g_assert_cmpint(g_atomic_int_get(&r.reads), >=, 24);
    g_autoptr(NsPlacementSummary) s = ns_live_map_summarize(r.live);

    g_assert_cmpuint(ns_placement_stats_node(&s->all, 24).pages, ==, n);
    ns_live_map_unref(r.live);
    urcu_memb_barrier();
}

/*
 * Issue #15: a live map was taken for a process's by PID alone, so a
 * QEMU that exited and a later process with its PID would have shared
 * one map.  Now the first map lends the live map its process's start
 * time and a map of the same PID with another start time is another
 * process's; a map copy carries the start time.
 */
static void
test_live_map_belongs_to(void)
{
    g_autoptr(NsLiveMap) live = ns_live_map_new(100, NULL);
    g_autoptr(NsMemMap) first = ns_memmap_new(100);
    g_autoptr(NsMemMap) unknown = ns_memmap_new(100);
    g_autoptr(NsMemMap) later = ns_memmap_new(100);
    g_autoptr(NsMemMap) other_pid = ns_memmap_new(101);

    first->start_ticks = 5000;
    later->start_ticks = 5001;
    other_pid->start_ticks = 5000;
    g_assert_true(ns_live_map_belongs_to(live, unknown)); /* no start time: by PID */
    g_assert_true(ns_live_map_belongs_to(live, first));   /* lends it 5000 */
    g_assert_false(ns_live_map_belongs_to(live, later));
    g_assert_false(ns_live_map_belongs_to(live, other_pid));
    g_assert_true(ns_live_map_belongs_to(live, first));
    g_assert_true(ns_live_map_belongs_to(live, unknown));

    g_autoptr(NsMemMap) copy = ns_memmap_copy(first);

    g_assert_cmpuint(copy->start_ticks, ==, 5000);
    g_assert_true(ns_live_map_belongs_to(live, copy));
}

int
main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    urcu_memb_register_thread();
    g_test_add_func("/livemap/scan", test_live_map_scan);
    g_test_add_func("/livemap/clock", test_live_map_clock);
    g_test_add_func("/livemap/rescan-step", test_live_map_rescan_step);
    g_test_add_func("/livemap/tally", test_live_map_tally);
    g_test_add_func("/livemap/belongs-to", test_live_map_belongs_to);
    g_test_add_func("/livemap/tally-readers", test_live_map_tally_readers);
    g_test_add_func("/move/controls", test_move_controls);
    rc = g_test_run();
    urcu_memb_unregister_thread();
    return rc;
}
