/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration engine: move a running guest's pages between host nodes
 * =====================================================================
 * A *plan* (NsPlan) says which guest-physical ranges go to which host node.
 * A job (NsEngine) reads the domain's radix tree (filled by
 * ns_placement_scan()) for the pages of the plan that are not on their
 * target, orders them by target node and guest frame, cuts them into
 * batches whose size follows a time budget per move_pages(2) call, and has
 * worker threads move disjoint batches in parallel.
 *
 * For every batch a worker swaps each page's entry for a migration marker
 * (ns_radix_replace_if(), compare-and-swap, plus the MIGRATING tag), calls
 * move_pages() once on the batch's host addresses (one address per entry,
 * so a huge page moves whole), and swaps each marker for the page's final
 * entry: PRESENT on the target node; ABSENT (-ENOENT/-EFAULT: not backed);
 * back to the entry it replaced, for another pass (-EBUSY/-EAGAIN, up to
 * max_attempts submissions); or FAILED with the errno (FAILED tag).  A
 * reader walking the tree at any moment sees every page either at its old
 * entry, as a marker, or at its final entry.  When ns_engine_run() returns
 * (done, error, stop or cancel) no marker is left in the tree.
 *
 * The kernel's answers, and what the job does about them:
 *   - -EBUSY / -EAGAIN for a page: retried on a later pass;
 *   - -ENOMEM (the target node is full): the job stops after the batches in
 *     flight; the report says how far it got (outcome NO_MEMORY);
 *   - a whole call failing (ENODEV: no such node, EACCES: node outside
 *     QEMU's cpuset, ESRCH: QEMU exited, EPERM: not allowed): the job stops
 *     with a GError and the markers of that call are put back exactly;
 *   - a positive return (pages not migrated, statuses left unwritten): the
 *     worker asks where the unanswered pages are (query mode) and treats
 *     those not on the target as busy.
 *
 * Threads and locks: the thread calling ns_engine_run() plans, starts the
 * workers, calls the progress callback and joins them.  ns_engine_pause(),
 * _resume(), _cancel(), _set_rate_limit(), _get_progress() and
 * _get_report() may be called from any thread at any time.  The engine has
 * one mutex for its queue and counters; the tree's own writer lock
 * serialises the workers' tree updates, one short call per entry, never
 * while the engine mutex is held.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>

#include "numashift/kernel.h"

#include "numashift/memmap.h"
#include "numashift/pacer.h"
#include "numashift/process.h"
#include "numashift/radix.h"

G_BEGIN_DECLS

/*
 * Plans
 * =====
 */
typedef struct {
    guint64 gpa;  /* guest-physical start, NS_GUEST_PAGE_SIZE aligned */
    guint64 size; /* bytes, a non-zero multiple of NS_GUEST_PAGE_SIZE */
    guint node;   /* target host node */
} NsPlanStep;

/*
 * Guest ranges -> target nodes.  Steps are sorted by gpa and never overlap.
 * A huge page goes whole to the target of the step holding its first page.
 */
typedef struct {
    GArray *steps; /* of NsPlanStep */
} NsPlan;

/* A new, empty plan.  Context: any thread. */
NsPlan *ns_plan_new(void);

/* Free @plan; NULL is accepted.  Context: any thread. */
void ns_plan_free(NsPlan *plan);

/*
 * Send [@gpa, @gpa + @size) to host @node.  Fails with
 * NS_ERROR_INVALID_INPUT (plan unchanged) if the range is empty, not page
 * aligned, wraps around, overlaps a step already in @plan, or @node is
 * above NS_PAGE_NODE_MAX.  Whether @node exists is checked when a job is
 * made (ns_engine_new()).
 * Context: any thread; @plan is not shared.
 */
gboolean ns_plan_add(NsPlan *plan, guint64 gpa, guint64 size, guint node, GError **error);

/*
 * Send every RAM range of @map to host @node, or, if @cell >= 0, only the
 * ranges of vNUMA cell @cell.  Fails with NS_ERROR_NOT_FOUND if no range
 * matches, NS_ERROR_INVALID_INPUT as ns_plan_add() (plan unchanged).
 * Context: any thread; @plan is not shared.
 */
gboolean ns_plan_add_map(NsPlan *plan, const NsMemMap *map, gint cell, guint node,
                         GError **error);

/*
 * Batch sizing
 * ============
 * A move_pages() call should not take longer than a time budget: a vCPU
 * that touches a page of a batch in flight waits for it, and pause/cancel
 * take effect between calls.  After each call the worker measures how long
 * it took and sizes its next batch from that rate.
 */
#define NS_ENGINE_BUDGET_US_DEFAULT 20000      /* 20 ms per move_pages() call */
#define NS_ENGINE_BATCH_INITIAL 512u           /* 2 MiB of base pages: the first guess */
#define NS_ENGINE_BATCH_MIN_DEFAULT 16u        /* never fewer pages per call (syscall overhead) */
#define NS_ENGINE_BATCH_MAX_DEFAULT 32768u     /* 128 MiB of base pages per call at most */

typedef struct {
    gint64 budget_us;  /* target duration of one call; <= 0: no time bound (max_pages) */
    guint64 min_pages; /* lower clamp, in base pages (0 is taken as 1) */
    guint64 max_pages; /* upper clamp (raised to min_pages if below it) */
} NsBatchSizing;

/*
 * The size of the next batch, in base pages: NS_ENGINE_BATCH_INITIAL when
 * nothing was measured yet (@last_pages == 0); else @last_pages scaled by
 * budget / @last_us, growing at most twofold per call (one quick call is
 * weak evidence) and shrinking at once (a slow call stalls a vCPU now);
 * doubled when the call was too quick to time (@last_us <= 0); always
 * clamped to [min_pages, max_pages].  Never overflows.
 * Context: any; pure.
 */
guint64 ns_engine_batch_next(const NsBatchSizing *sizing, guint64 last_pages, gint64 last_us);

/*
 * Rate limit: a token bucket
 * ==========================
 * Tokens are bytes.  ns_token_bucket_take() always takes what it is asked
 * for and may leave the bucket in debt; it returns how long the caller must
 * wait before using the bytes, so bytes used by time t never exceed
 * capacity + rate * (t - t0).  Integer arithmetic: no drift, no rounding
 * that a test could trip on.  Times are any monotonic microsecond clock.
 */
typedef struct {
    guint64 rate;     /* bytes per second; 0: unlimited */
    gint64 capacity;  /* burst, in bytes*1e6 (byte-microseconds-per-second units) */
    gint64 tokens;    /* current credit in the same units; negative: debt */
    gint64 last_us;   /* time of the last refill */
} NsTokenBucket;

/*
 * Start a full bucket of @capacity_bytes refilled at @rate_bytes_per_s
 * (0: unlimited, every take returns 0).
 * Context: any; touches only @bucket.
 */
void ns_token_bucket_init(NsTokenBucket *bucket, guint64 rate_bytes_per_s,
                          guint64 capacity_bytes, gint64 now_us);

/*
 * Change the rate and capacity at @now_us, keeping the credit earned so far
 * (capped to the new capacity; a debt is kept).
 * Context: any; touches only @bucket (callers serialise).
 */
void ns_token_bucket_set_rate(NsTokenBucket *bucket, guint64 rate_bytes_per_s,
                              guint64 capacity_bytes, gint64 now_us);

/*
 * Take @bytes at @now_us; returns the microseconds to wait before using
 * them (0: at once).  A clock that goes backwards is treated as standing
 * still.
 * Context: any; touches only @bucket (callers serialise).
 */
gint64 ns_token_bucket_take(NsTokenBucket *bucket, guint64 bytes, gint64 now_us);

/*
 * Jobs
 * ====
 */
#define NS_ENGINE_WORKERS_DEFAULT 2u
#define NS_ENGINE_WORKERS_MAX 64u
#define NS_ENGINE_ATTEMPTS_DEFAULT 10u          /* submissions per page, like migrate_pages() */
#define NS_ENGINE_PROGRESS_INTERVAL_US_DEFAULT 250000 /* 4 progress calls per second */
#define NS_ENGINE_ERRNO_SLOTS 256u              /* page entries keep errno in 8 bits */

/*
 * The floor under background workers (issue #11).  A SCHED_IDLE worker
 * runs only on CPU time nothing else wants: where vCPUs pinned to every
 * CPU keep them all busy, it hardly runs at all (a 96 MiB move took 240 s
 * for 64 MiB in the planner test).  So each background worker watches its
 * own schedstat: once it has been runnable for NS_ENGINE_STARVED_WINDOW_US
 * and got a CPU for under NS_ENGINE_STARVED_RUN_PERMILLE of that time, it
 * steps up to the next nice value of NS_ENGINE_FLOOR_NICE (SCHED_OTHER):
 * nice 19 weighs 15 against a busy vCPU's 1024 (about 1.5% of a CPU), nice
 * 10 weighs 110 (about 10%).  It never goes further: the pacer still
 * bounds what the move costs the guest, and a move that needs more than
 * 10% of a CPU pinned to a busy vCPU waits rather than take it.
 */
#define NS_ENGINE_STARVED_WINDOW_US 1000000    /* runnable time judged at once */
#define NS_ENGINE_STARVED_RUN_PERMILLE 100u    /* ran under 10% of it: starved */
#define NS_ENGINE_FLOOR_STEPS 2u
#define NS_ENGINE_FLOOR_NICE { 19, 10 }


typedef struct {
    guint64 done_pages;      /* handled: moved, in place, not present, failed, skipped */
    guint64 total_pages;     /* every tracked page of the plan */
    guint64 moved_pages;
    guint64 moved_bytes;
    guint64 in_flight_pages; /* in batches workers hold (moving, or waiting for the rate limit) */
    double mib_per_s;        /* moved bytes per second of unpaused time */
    gint64 eta_us;           /* -1: unknown */
    gint64 elapsed_us;       /* since the job started, pauses included */
    guint pass;              /* 1-based; > 1 while busy pages are retried */
    gboolean paused;
    gboolean final;          /* the last call, after the job ended */
} NsEngineProgress;

/* Called from the thread in ns_engine_run(), with no lock held. */
typedef void (*NsEngineProgressFunc)(const NsEngineProgress *progress, gpointer user_data);

/*
 * Options.  All-zero is the default for every field, so
 * `NsEngineOptions opts = { 0 };` is a valid start.
 */
typedef struct {
    guint workers;              /* worker threads; 0: NS_ENGINE_WORKERS_DEFAULT */
    gint64 batch_budget_us;     /* time budget per move_pages() call; 0: 20 ms */
    guint64 batch_min_pages;    /* 0: NS_ENGINE_BATCH_MIN_DEFAULT */
    guint64 batch_max_pages;    /* 0: NS_ENGINE_BATCH_MAX_DEFAULT */
    double rate_limit_mib_s;    /* 0: unlimited */
    guint max_attempts;         /* submissions per page before FAILED(EBUSY); 0: 10 */
    gboolean dry_run;           /* plan and report only: no marker, no move */
    gint64 progress_interval_us; /* at most one progress call per interval; 0: 250 ms */
    NsEngineProgressFunc progress;
    gpointer progress_data;
    const NsKernel *kernel;     /* NULL: the host's (kernel.h); resolved and copied by ns_engine_new() */
    /*
     * Unmovable pages (livemap.h): the live map's minute clock now, and
     * the minute before which a last try is forgiven (tried again at once;
     * 0: none).  A FAILED entry with
     * strikes whose backoff has not ended is left alone (unmovable_pages);
     * a page that fails for a lasting cause gets a strike and this minute.
     * unmovable_minute 0: no record is kept or read (a private tree).
     */
    guint unmovable_minute;
    guint unmovable_forgiven;
    /* Where the workers run (worker-cpus.h): each confines itself to
     * @worker_cpus (of guint; NULL: where the run thread may run) and, when
     * @worker_background, to the SCHED_IDLE class.  Borrowed: must outlive
     * the engine. */
    const GArray *worker_cpus;
    gboolean worker_background;
    /* Pacing by the guest's vCPU run delay (pacer.h): the run thread
     * samples the kernel's vcpu_waits() every NS_PACER_INTERVAL_US and
     * applies the pace (workers taking batches, budget per call, rest
     * after a call).  Borrowed: one pacer may serve several engines of one
     * run in turn, so the pace carries over.  NULL, or a kernel without
     * vcpu_waits: full pace throughout. */
    NsPacer *pacer;
    /* Move pages that other processes map too (a share=on backend mapped by
     * a vhost-user backend, KSM-merged pages): move_pages(2) with
     * MPOL_MF_MOVE_ALL, which needs CAP_SYS_NICE and moves each page for
     * every mapper.  FALSE: MPOL_MF_MOVE, and the kernel answers EACCES
     * for such pages (unmovable, "shared"). */
    gboolean move_shared;
    /* The process the map's pid names, held by a pidfd (process.h): asked
     * before every move_pages(2) call, and once it has exited the job ends
     * ("QEMU exited", NS_ERROR_NOT_RUNNING) without another call, so a
     * reused PID is never moved.  Borrowed.  NULL: the PID alone. */
    const NsProcess *process;
} NsEngineOptions;

typedef enum {
    NS_ENGINE_OUTCOME_NONE,      /* not run (yet) */
    NS_ENGINE_OUTCOME_RUNNING,
    NS_ENGINE_OUTCOME_DONE,      /* every page handled: moved, in place, not present or failed */
    NS_ENGINE_OUTCOME_DRY_RUN,   /* planned only */
    NS_ENGINE_OUTCOME_CANCELLED, /* ns_engine_cancel(): the rest stayed where it was */
    NS_ENGINE_OUTCOME_NO_MEMORY, /* a target node ran out of memory: stopped */
    NS_ENGINE_OUTCOME_ERROR,     /* a move_pages() call failed as a whole */
} NsEngineOutcome;

/* KVM's counters of a VM at one moment (QMP query-stats, provider kvm). */
typedef struct {
    gint64 pages_4k, pages_2m, pages_1g;
    gint64 remote_tlb_flush, remote_tlb_flush_requests;
    gint64 mmu_shadow_zapped;
} NsKvmCounters;

/* KVM's counters over the job (QMP query-stats); the engine never fills these. */
typedef struct {
    gboolean valid; /* the caller filled the deltas below */
    gint64 pages_4k, pages_2m, pages_1g;
    gint64 remote_tlb_flush, remote_tlb_flush_requests;
    gint64 mmu_shadow_zapped;
} NsKvmCounterDeltas;

/*
 * A job's report.  Pages are 4 KiB base pages (a 2 MiB huge page is 512).
 * total = moved + in_place + absent + gone + failed + unmovable + skipped + remaining.
 */
typedef struct {
    NsEngineOutcome outcome;
    pid_t pid;
    guint workers;               /* worker threads the job used */
    char worker_cpus[128];       /* their CPUs, "2-3" ("" when left as they were; cut
                                    with "..." when longer) */
    gboolean worker_background;  /* they ran at SCHED_IDLE */
    guint worker_floor_steps;    /* background: steps up the floor the most starved
                                    worker took (0: none; NS_ENGINE_FLOOR_NICE) */
    gint worker_floor_nice;      /* its nice value then (when worker_floor_steps > 0) */
    gint worker_floor_errno;     /* the first failure to step up (0: none) */
    /* Hot pages first (move.h, hot-sample.h; the move pipeline fills these): */
    gint64 hot_sample_us;        /* the sample's window (0: not sampled) */
    guint64 hot_pages;           /* pages written in it: their 2 MiB blocks moved first */
    gint hot_errno;              /* the sample failed (0: no): address order */
    gint worker_bind_errno;      /* the first failure to confine a worker (0: none):
                                    that worker ran where the run thread may */
    gboolean paced;              /* the guest's vCPU run delay was watched (pacer.h) */
    guint vcpu_wait_baseline_permille; /* paced: the worst vCPU's wait before the move */
    guint vcpu_wait_peak_permille;     /* paced: its worst interval during the move */
    guint pace_backoffs;         /* paced: steps down (fewer workers, shorter calls, rests) */
    guint pace_slowest_level;    /* paced: steps down at the slowest (0: full pace) */
    guint64 total_pages;         /* tracked pages inside the plan */
    guint64 planned_pages;       /* not on their target when the job started */
    guint64 planned_bytes;
    guint64 planned_huge;        /* huge-page entries among them */
    guint64 moved_pages;
    guint64 moved_bytes;
    guint64 moved_huge;          /* huge-page entries moved (each whole) */
    guint64 in_place_pages;      /* already on their target */
    guint64 absent_pages;        /* not present: never touched (tree or kernel said so) */
    guint64 gone_pages;          /* their range was unmapped during the job: entries removed */
    guint64 failed_pages;        /* ended FAILED */
    guint64 failed_by_errno[NS_ENGINE_ERRNO_SLOTS]; /* failed pages per positive errno */
    guint64 unmovable_pages;     /* unmovable, backoff not over: not tried (livemap.h) */
    guint64 skipped_pages;       /* entry changed under the job (someone else wrote it) */
    guint64 remaining_pages;     /* not handled: the job stopped or was cancelled */
    guint64 retries;             /* page submissions after the first (busy pages) */
    guint64 split_huge;          /* huge pages found split after the kernel moved them: only
                                    part had moved; their base pages were moved one by one */
    guint64 calls;               /* move_pages() calls submitting pages (not checks, queries) */
    guint64 gigantic_calls;      /* of them, calls moving a hugetlbfs page of 1 GiB or more:
                                    such a page goes alone in its call */
    gint64 gigantic_call_max_us; /* the longest of those: how long a vCPU touching that
                                    page waited for its copy; 0: none */
    guint passes;
    gint64 elapsed_us;
    gint64 paused_us;
    gint64 first_move_us;        /* start to the end of the first batch that moved
                                    a page (how soon a move takes effect); -1: none */
    NsKvmCounterDeltas kvm;      /* for the caller to fill */
    char shared_with[256];       /* for the caller to fill when pages failed with EACCES:
                                    the other processes that map that memory, "pid 812
                                    (vhost-user-blk)" (mappers.h); "": none by name
                                    (KSM-merged or fork-shared anonymous memory) */
    guint64 shared_ksm_pages;    /* for the caller to fill: of the guest's pages the live
                                    map holds as failed with EACCES (in this job or, still
                                    backing off, in earlier ones), those KSM merged
                                    (kpageflags KPF_KSM) */
} NsEngineReport;

typedef struct NsEngine NsEngine;

/*
 * A job moving @plan's ranges of @map->pid's memory, with @tree (filled by
 * ns_placement_scan() for @map) as the picture of where pages are.  Checks
 * the options, that every plan step holds RAM of @map, and every target
 * node (kernel->check_node, or ns_kernel_check_node()).  @tree is borrowed
 * and must outlive the job; @map, @plan and @opts are copied or resolved
 * here and may go away.  @opts may be NULL for the defaults.
 * Context: any thread; takes no lock.
 */
NsEngine *ns_engine_new(NsRadix *tree, const NsMemMap *map, const NsPlan *plan,
                        const NsEngineOptions *opts, GError **error);

/*
 * Free @engine; NULL is accepted.  The job must not be running.
 * Context: any thread, after ns_engine_run() returned (or was never called).
 */
void ns_engine_free(NsEngine *engine);

/*
 * Run the job to its end in the calling thread plus the worker threads:
 * check that the process exists and may be moved (a zero-page move_pages()
 * call), plan from the tree, move, and report.  Returns TRUE when the job
 * ran to its end (outcome DONE, pages may have FAILED: see the report) or
 * was a dry run.  Otherwise FALSE with: G_IO_ERROR_CANCELLED (cancelled),
 * NS_ERROR_FAILED (a target ran out of memory; errors not listed here),
 * NS_ERROR_NOT_RUNNING (ESRCH: the process is gone, or exiting),
 * NS_ERROR_PERMISSION (EPERM: not root; EACCES: node outside QEMU's
 * cpuset), NS_ERROR_NOT_FOUND (ENODEV), NS_ERROR_UNSUPPORTED (ENOSYS),
 * NS_ERROR_FAILED if markers of another job are in the tree or the job
 * already ran.  In every case ns_engine_get_report() tells what
 * happened and no marker is left in the tree.  May run once per job.
 * Context: a registered liburcu-memb thread outside any read-side section;
 * takes the engine mutex briefly; blocks until the job ends; calls the
 * progress callback from this thread.
 */
gboolean ns_engine_run(NsEngine *engine, GError **error);

/*
 * Pause the job: batches in flight finish, no new one starts until
 * ns_engine_resume().  Idempotent; before the run it makes the job start
 * paused.
 * Context: any thread; takes the engine mutex.
 */
void ns_engine_pause(NsEngine *engine);

/* Undo ns_engine_pause().  Idempotent.  Context: any thread; takes the engine mutex. */
void ns_engine_resume(NsEngine *engine);

/*
 * Cancel the job: batches in flight finish, nothing else is moved, and
 * ns_engine_run() returns with G_IO_ERROR_CANCELLED (unless everything was
 * already done).  Also ends a pause.  Sticky: cancelling before the run
 * makes it return at once.
 * Context: any thread; takes the engine mutex.
 */
void ns_engine_cancel(NsEngine *engine);

/*
 * Set the rate limit (MiB/s; <= 0: unlimited) from now on.
 * Context: any thread; takes the engine mutex.
 */
void ns_engine_set_rate_limit(NsEngine *engine, double mib_per_s);

/*
 * A snapshot of the job's progress into @ret_progress.
 * Context: any thread; takes the engine mutex.
 */
void ns_engine_get_progress(NsEngine *engine, NsEngineProgress *ret_progress);

/*
 * A copy of the job's report so far (final once ns_engine_run() returned);
 * the caller owns it (ns_engine_report_free()) and may fill its kvm field.
 * Context: any thread; takes the engine mutex.
 */
NsEngineReport *ns_engine_get_report(NsEngine *engine);

/* Free @report; NULL is accepted.  Context: any thread. */
void ns_engine_report_free(NsEngineReport *report);

/* A short lower-case name for @outcome ("done", "cancelled", ...).  Context: any; pure. */
const char *ns_engine_outcome_to_string(NsEngineOutcome outcome);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsPlan, ns_plan_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsEngine, ns_engine_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsEngineReport, ns_engine_report_free)

G_END_DECLS
