/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pacer (pacer.h): the baseline, the bound, the ladder down (workers,
 * budget, rests) and back up, and what it reports.  Pure: run delays are
 * made up here; the engine's use of it is /engine/fake/pacing.
 */
#include <glib.h>

#include "numashift/pacer.h"

#define MS G_GINT64_CONSTANT(1000)

/* Two vCPU threads, 11 and 12, that have waited @a and @b ms so far. */
static GArray *
waits2(guint64 a_ms, guint64 b_ms)
{
    GArray *w = g_array_new(FALSE, FALSE, sizeof(NsThreadWait));
    NsThreadWait t[] = { { 11, a_ms * 1000000 }, { 12, b_ms * 1000000 } };

    g_array_append_vals(w, t, 2);
    return w;
}

static void
assert_pace(const NsPacer *p, guint workers, gint64 budget_us, guint gap)
{
    NsPace pace = ns_pacer_get(p);

    g_assert_cmpuint(pace.workers, ==, workers);
    g_assert_cmpint(pace.budget_us, ==, budget_us);
    g_assert_cmpuint(pace.gap, ==, gap);
}

/* The baseline is the worst vCPU's wait over the time before the move. */
static void
test_baseline(void)
{
    g_autoptr(GArray) w0 = waits2(0, 0);
    g_autoptr(GArray) w1 = waits2(5, 20); /* over 200 ms: 25 and 100 per mille */
    g_autoptr(NsPacer) p = ns_pacer_new(w0, 0);
    g_autoptr(NsPacer) quick = ns_pacer_new(w0, 0);
    g_autoptr(NsPacer) blind = ns_pacer_new(NULL, 0);

    ns_pacer_begin(p, 2, 20 * MS, w1, 200 * MS);
    g_assert_cmpuint(ns_pacer_get_stats(p).baseline_permille, ==, 100);
    assert_pace(p, 2, 20 * MS, 0);
    /* Too short to tell (under NS_PACER_BASELINE_MIN_US), or nothing known: 0. */
    ns_pacer_begin(quick, 2, 20 * MS, w1, NS_PACER_BASELINE_MIN_US - 10 * MS);
    g_assert_cmpuint(ns_pacer_get_stats(quick).baseline_permille, ==, 0);
    ns_pacer_begin(blind, 2, 20 * MS, w1, 200 * MS);
    g_assert_cmpuint(ns_pacer_get_stats(blind).baseline_permille, ==, 0);
    /* The bound sits above the baseline: 100 + 50 per mille tolerated. */
    g_autoptr(GArray) w2 = waits2(5, 20 + 15); /* 150 per mille over 100 ms */

    g_assert_false(ns_pacer_sample(p, w2, 300 * MS));
    g_autoptr(GArray) w3 = waits2(5, 35 + 16); /* 160: over, once */
    g_autoptr(GArray) w4 = waits2(5, 51 + 16); /* and twice in a row: a step down */

    g_assert_false(ns_pacer_sample(p, w3, 400 * MS));
    g_assert_true(ns_pacer_sample(p, w4, 500 * MS));
    assert_pace(p, 1, 20 * MS, 0);
}

/*
 * Regression (numa-daemon, CI, 2026-11-30): a pinning job that decided
 * from its live map in a millisecond began moving with a baseline of 0;
 * its guest's two vCPUs, pinned to one CPU, wait for each other about half
 * the time, which read as a guest starved by the move: the pacer went to
 * its slowest pace and a 128 MiB move took 32 s instead of 3, past the
 * test's deadline.  Now the first move waits until the baseline spans one
 * interval (ns_pacer_baseline_wait_us()), and a guest that waited as much
 * before the move is not slowed for it.  If the wait is lost again, the
 * first assertion fails; if the baseline is, the pace drops below.
 */
static void
test_baseline_wait(void)
{
    g_autoptr(GArray) w0 = waits2(0, 0);
    g_autoptr(NsPacer) p = ns_pacer_new(w0, 0);
    g_autoptr(NsPacer) blind = ns_pacer_new(NULL, 0);

    g_assert_cmpint(ns_pacer_baseline_wait_us(p, 1 * MS), ==, NS_PACER_BASELINE_MIN_US - 1 * MS);
    g_assert_cmpint(ns_pacer_baseline_wait_us(p, NS_PACER_BASELINE_MIN_US), ==, 0);
    g_assert_cmpint(ns_pacer_baseline_wait_us(blind, 1 * MS), ==, 0);
    /* Both vCPUs waited half of the first 100 ms: that is the baseline. */
    g_autoptr(GArray) w1 = waits2(50, 50);

    ns_pacer_begin(p, 2, 20 * MS, w1, 100 * MS);
    g_assert_cmpuint(ns_pacer_get_stats(p).baseline_permille, ==, 500);
    g_assert_cmpint(ns_pacer_baseline_wait_us(p, 100 * MS), ==, 0);
    /* And they go on waiting as much while pages move: full pace. */
    for (guint i = 1; i <= 10; i++) {
        g_autoptr(GArray) w = waits2(50 + 50 * i, 50 + 50 * i);

        g_assert_false(ns_pacer_sample(p, w, (100 + 100 * i) * MS));
    }
    assert_pace(p, 2, 20 * MS, 0);
}

/*
 * Regression (ns-hot-bench, 2026-12-01): moves with a hot-pages sample
 * were paced hard (5 and 12 steps down) and those without hardly at all
 * (0 and 1), because the baseline ran from the job's start: through the
 * run's own scan it read 418 and 277 per mille, through the quiet 3 s
 * sample 17 and 78.  The bound above an inflated baseline let a move cost
 * the guest that much more, and the two orders could not be compared.
 * Now the baseline starts again at ns_pacer_quiet(), after the scan: what
 * the vCPUs waited before it does not count.  If it comes back, the
 * baseline below reads 800, not 50.
 */
static void
test_quiet_baseline(void)
{
    g_autoptr(GArray) w0 = waits2(0, 0);
    g_autoptr(GArray) scanned = waits2(400, 100); /* the scan: 800 per mille over 500 ms */
    g_autoptr(GArray) quiet = waits2(405, 101);   /* then 50 per mille over 100 ms */
    g_autoptr(NsPacer) p = ns_pacer_new(w0, 0);

    ns_pacer_quiet(p, scanned, 500 * MS);
    g_assert_cmpint(ns_pacer_baseline_wait_us(p, 500 * MS), ==, NS_PACER_BASELINE_MIN_US);
    g_assert_cmpint(ns_pacer_baseline_wait_us(p, 550 * MS), ==, 50 * MS);
    ns_pacer_begin(p, 2, 20 * MS, quiet, 600 * MS);
    g_assert_cmpuint(ns_pacer_get_stats(p).baseline_permille, ==, 50);
    /* Once pages move it changes nothing: the next interval is measured
     * from the begin, not from a later quiet call. */
    g_autoptr(GArray) later = waits2(405 + 30, 101); /* 300 per mille since the begin */

    ns_pacer_quiet(p, quiet, 650 * MS);
    g_assert_cmpint(ns_pacer_baseline_wait_us(p, 650 * MS), ==, 0);
    g_assert_false(ns_pacer_sample(p, later, 700 * MS));
    g_assert_cmpuint(ns_pacer_get_stats(p).peak_permille, ==, 300);
    g_assert_cmpuint(ns_pacer_get_stats(p).baseline_permille, ==, 50);
}

/*
 * Over the bound, interval after interval: a step per two intervals (one
 * worker fewer, then the budget halves down to 2 ms, then rests of 1, 3,
 * 7, 15 calls); then it stays there (the move never stops).  A second
 * begin (the next window) keeps the pace.
 */
static void
test_ladder_down(void)
{
    g_autoptr(GArray) w = waits2(0, 0);
    g_autoptr(NsPacer) p = ns_pacer_new(w, 0);
    static const struct {
        guint workers;
        gint64 budget_us;
        guint gap;
    } ladder[] = {
        { 3, 20000, 0 }, { 2, 20000, 0 }, { 1, 20000, 0 }, { 1, 10000, 0 }, { 1, 5000, 0 },
        { 1, 2500, 0 },  { 1, 2500, 1 },  { 1, 2500, 3 },  { 1, 2500, 7 },  { 1, 2500, 15 },
    };
    gint64 now = 0;
    guint64 waited = 0;

    ns_pacer_begin(p, 3, 20 * MS, w, now);
    for (guint i = 0; i < 2 * G_N_ELEMENTS(ladder) + 4; i++) {
        guint step = MIN(i / 2, G_N_ELEMENTS(ladder) - 1);

        assert_pace(p, ladder[step].workers, ladder[step].budget_us, ladder[step].gap);
        now += 100 * MS;
        waited += 30; /* 300 per mille */
        g_autoptr(GArray) more = waits2(0, waited);

        g_assert_cmpint(ns_pacer_sample(p, more, now), ==,
                        i % 2 == 1 && i / 2 + 1 < G_N_ELEMENTS(ladder));
    }
    NsPacerStats st = ns_pacer_get_stats(p);

    g_assert_cmpuint(st.backoffs, ==, G_N_ELEMENTS(ladder) - 1);
    g_assert_cmpuint(st.slowest_level, ==, G_N_ELEMENTS(ladder) - 1);
    g_assert_cmpuint(st.peak_permille, ==, 300);
    g_assert_cmpuint(st.intervals, ==, 2 * G_N_ELEMENTS(ladder) + 4);
    g_autoptr(GArray) again = waits2(0, waited);

    ns_pacer_begin(p, 3, 20 * MS, again, now);
    assert_pace(p, 1, 2500, 15);
}

/*
 * Back up one step per NS_PACER_CALM_INTERVALS intervals in a row under half
 * the bound; an interval between half and the bound breaks the run.
 */
static void
test_ladder_up(void)
{
    g_autoptr(GArray) w = waits2(0, 0);
    g_autoptr(NsPacer) p = ns_pacer_new(w, 0);
    gint64 now = 0;
    guint64 waited = 0;

    ns_pacer_begin(p, 2, 20 * MS, w, now);
    for (guint i = 0; i < 4; i++) { /* two steps down: 1 worker, 10 ms */
        now += 100 * MS;
        waited += 10;
        g_autoptr(GArray) more = waits2(waited, 0);

        ns_pacer_sample(p, more, now);
    }
    assert_pace(p, 1, 10 * MS, 0);
    /* 20 per mille is calm (under 25); 30 is neither over nor calm. */
    static const guint ms_per_interval[] = { 2, 2, 3, 2, 2, 2, 2, 2, 2 };
    static const gboolean changes[] = { FALSE, FALSE, FALSE, FALSE, FALSE, TRUE,
                                        FALSE, FALSE, TRUE };

    for (guint i = 0; i < G_N_ELEMENTS(ms_per_interval); i++) {
        now += 100 * MS;
        waited += ms_per_interval[i];
        g_autoptr(GArray) more = waits2(waited, 0);

        g_assert_cmpint(ns_pacer_sample(p, more, now), ==, changes[i]);
    }
    assert_pace(p, 2, 20 * MS, 0);
    g_assert_cmpuint(ns_pacer_get_stats(p).backoffs, ==, 2);
}

/* Only threads seen in both samples count; a counter that went back does not. */
static void
test_threads_come_and_go(void)
{
    g_autoptr(GArray) w = waits2(0, 50);
    g_autoptr(NsPacer) p = ns_pacer_new(w, 0);
    g_autoptr(GArray) other = g_array_new(FALSE, FALSE, sizeof(NsThreadWait));
    NsThreadWait newcomer = { 99, 90 * 1000000 }, back = { 12, 10 * 1000000 };

    ns_pacer_begin(p, 2, 20 * MS, w, 0);
    g_array_append_val(other, newcomer);
    g_array_append_val(other, back);
    g_assert_false(ns_pacer_sample(p, other, 100 * MS));
    g_assert_cmpuint(ns_pacer_get_stats(p).peak_permille, ==, 0);
    g_assert_false(ns_pacer_sample(p, NULL, 200 * MS));
    assert_pace(p, 2, 20 * MS, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pacer/baseline", test_baseline);
    g_test_add_func("/pacer/baseline-wait", test_baseline_wait);
    g_test_add_func("/pacer/quiet-baseline", test_quiet_baseline);
    g_test_add_func("/pacer/ladder-down", test_ladder_down);
    g_test_add_func("/pacer/ladder-up", test_ladder_up);
    g_test_add_func("/pacer/threads-come-and-go", test_threads_come_and_go);
    return g_test_run();
}
