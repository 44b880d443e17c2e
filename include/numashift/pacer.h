/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pacing a move by what the guest feels
 * =====================================
 * Where the workers run (worker-cpus.h) keeps them off the CPUs of pinned
 * vCPUs, but a move still costs the guest CPU time: QEMU's own threads,
 * the kernel's migration work on a shared CPU, floating vCPUs that meet a
 * worker.  The pacer watches the guest's vCPU threads' *run delay* (time
 * spent runnable but waiting for a CPU: /proc/PID/task/TID/schedstat's
 * second field) every NS_PACER_INTERVAL_US while pages move, and slows the
 * move when any vCPU waits noticeably more than it did before the move.
 *
 * The bound: a vCPU may wait NS_PACER_WAIT_BOUND_PERMILLE / 1000 of wall
 * time (5 %) more than its baseline.  Why 5 %: a guest's own scheduler
 * runs its tasks in slices of 1-4 ms; 5 ms of lost CPU per 100 ms is the
 * most that stays inside the jitter a guest sees from its host anyway
 * (timer interrupts, other guests' vCPUs), while the test host showed the
 * unpaced move costing its vCPUs 30-90 % (issue #11: 879 ms of run delay
 * per 2.6 s move).  The baseline is the worst vCPU's wait over a quiet
 * interval of NS_PACER_BASELINE_MIN_US just before the first move, in
 * which the run does nothing (ns_pacer_quiet(); the engine waits it out,
 * ns_pacer_baseline_wait_us()), so a host that makes the guest wait anyway
 * does not slow the move, and the run's own scan and set-up do not count
 * as the host's: measured from the run's start, the baseline took them in
 * (418 per mille in the TCG test host, against 17 over the quiet 3 s of a
 * hot-pages sample, 2026-12-01), and the bound let the move cost the guest
 * that much more.  Two vCPUs pinned to one CPU wait for each other about
 * half the time: with no baseline (a job that decided from its live map
 * in a millisecond) that read as a starving guest, and a 128 MiB move
 * crawled at the slowest pace for 32 s instead of 3 (numa-daemon, CI,
 * 2026-11-30).
 *
 * What slows: one step per NS_PACER_OVER_INTERVALS intervals in a row over
 * the bound (one noisy interval is not a starving guest: a TCG host showed
 * single 100 ms intervals at 15 % with nothing moving), in this order: one
 * worker fewer (down to 1), then the time budget per move_pages() call
 * halved (down to NS_PACER_BUDGET_MIN_US: shorter calls hold fewer pages
 * in flight at once and leave the CPU sooner), then a rest after each call
 * of 1, 3, 7, 15 times the call's own time (a duty cycle of 1/2 .. 1/16).
 * It never stops the move.  It speeds up one step after
 * NS_PACER_CALM_INTERVALS intervals in a row under half the bound: slower
 * up than down, so it does not oscillate around the bound.
 *
 * Pure: the caller reads the run delays (NsKernel.vcpu_waits) and applies
 * the pace (the engine).
 */
#pragma once

#include <glib.h>

#include "numashift/kernel.h"

G_BEGIN_DECLS

#define NS_PACER_INTERVAL_US G_GINT64_CONSTANT(100000)
#define NS_PACER_WAIT_BOUND_PERMILLE 50u
#define NS_PACER_BASELINE_MIN_US NS_PACER_INTERVAL_US
#define NS_PACER_BUDGET_MIN_US G_GINT64_CONSTANT(2000)
#define NS_PACER_CALM_INTERVALS 3u
#define NS_PACER_OVER_INTERVALS 2u
#define NS_PACER_GAP_MAX 15u

/* How fast a move may go now. */
typedef struct {
    guint workers;    /* workers that may take batches, 1..the run's */
    gint64 budget_us; /* time budget per move_pages() call */
    guint gap;        /* after each call a worker rests gap x the call's time */
} NsPace;

/* What the pacer did, for the job's report. */
typedef struct {
    guint baseline_permille; /* the worst vCPU's wait before the move, per mille of wall time */
    guint peak_permille;     /* the worst vCPU's wait in one interval during the move */
    guint backoffs;          /* steps down */
    guint slowest_level;     /* 0: full pace; the number of steps down at the slowest */
    guint intervals;         /* intervals sampled while moving */
} NsPacerStats;

typedef struct _NsPacer NsPacer;

/*
 * A pacer for a run that starts now (@now_us, monotonic): its baseline
 * begins with @waits (of NsThreadWait; NULL or empty: none known).
 * Context: any thread.
 */
NsPacer *ns_pacer_new(const GArray *waits, gint64 now_us);

/*
 * The baseline starts again at @now_us with @waits: from here to the first
 * move (ns_pacer_begin()) the caller does nothing that competes with the
 * guest for a CPU.  No effect once pages move; @waits NULL or empty: no
 * baseline (as ns_pacer_new() without waits).
 * Context: the thread that feeds it.
 */
void ns_pacer_quiet(NsPacer *pacer, const GArray *waits, gint64 now_us);

/*
 * How long the first move must still wait at @now_us for the baseline to
 * span NS_PACER_BASELINE_MIN_US since ns_pacer_new() or ns_pacer_quiet();
 * 0 once pages move (ns_pacer_begin()) or when no wait was known at the
 * start.
 * Context: the thread that feeds it.
 */
gint64 ns_pacer_baseline_wait_us(const NsPacer *pacer, gint64 now_us);

/*
 * Pages begin to move, with up to @workers workers and @budget_us per
 * call at full pace: the baseline is the worst vCPU's wait since
 * ns_pacer_quiet(), or ns_pacer_new() when it was not called (0 when that
 * was less than NS_PACER_BASELINE_MIN_US ago,
 * or nothing was known), and the first interval starts now.  A later call
 * (the next window of the same run) only starts the next interval; the
 * pace carries over.  Context: the thread that feeds it (one at a time).
 */
void ns_pacer_begin(NsPacer *pacer, guint workers, gint64 budget_us, const GArray *waits,
                    gint64 now_us);

/*
 * One interval's sample while pages move: TRUE when the pace changed
 * (ns_pacer_get()).  Threads that came or went since the last sample do
 * not count in this one.  Context: the thread that feeds it.
 */
gboolean ns_pacer_sample(NsPacer *pacer, const GArray *waits, gint64 now_us);

/* The pace now.  Context: the thread that feeds it. */
NsPace ns_pacer_get(const NsPacer *pacer);

/* What it did so far.  Context: the thread that feeds it. */
NsPacerStats ns_pacer_get_stats(const NsPacer *pacer);

/* Free @pacer; NULL accepted.  Context: any thread. */
void ns_pacer_free(NsPacer *pacer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsPacer, ns_pacer_free)

G_END_DECLS
