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
    g_assert_false(ns_live_map_take_forgiveness(live));
    ns_live_map_forgive(live);
    ns_live_map_forgive(live);
    g_assert_true(ns_live_map_take_forgiveness(live));
    g_assert_false(ns_live_map_take_forgiveness(live));
}

static void
test_move_numatune(void)
{
    static const char *const xml =
        "<domain type='kvm'><name>db</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
        "<memory unit='KiB'>1048576</memory><vcpu>2</vcpu>"
        "<numatune><memory mode='%s' nodeset='%s'/></numatune></domain>";
    struct {
        const char *mode, *nodeset;
        guint node;
        gboolean ok;
    } cases[] = {
        { "strict", "0-1", 1, TRUE },     { "strict", "0-1", 2, FALSE },
        { "restrictive", "2", 0, FALSE }, { "restrictive", "2", 2, TRUE },
        { "preferred", "0", 3, TRUE },    { "interleave", "0", 3, TRUE },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = g_strdup_printf(xml, cases[i].mode, cases[i].nodeset);
        g_autoptr(GError) error = NULL;
        g_autoptr(NsDomainConfig) c = ns_domain_config_parse(text, &error);

        g_assert_no_error(error);
        g_assert_cmpint(ns_move_check_numatune(c, cases[i].node, &error), ==, cases[i].ok);
        if (!cases[i].ok) {
            g_assert_error(error, NS_ERROR, NS_ERROR_PERMISSION);
            g_assert_nonnull(strstr(error->message, "outside the nodes domain 'db' may use"));
        }
    }
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

int
main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    urcu_memb_register_thread();
    g_test_add_func("/livemap/scan", test_live_map_scan);
    g_test_add_func("/livemap/clock", test_live_map_clock);
    g_test_add_func("/livemap/rescan-step", test_live_map_rescan_step);
    g_test_add_func("/move/numatune", test_move_numatune);
    g_test_add_func("/move/controls", test_move_controls);
    rc = g_test_run();
    urcu_memb_unregister_thread();
    return rc;
}
