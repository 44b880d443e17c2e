/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration engine (see engine.h for the contract)
 * ====================================================
 *
 * A job's life:
 *
 *   ns_engine_new()   resolve the plan against the memory map into
 *                     segments (gfn range -> host address, target node);
 *                     check the options and every target node.
 *   ns_engine_run()   check that the process can be moved (a zero-page
 *                     move_pages() call), read the tree for the pages of
 *                     the segments (the plan), queue those not on their
 *                     target sorted by (target, gfn), start the workers,
 *                     call the progress callback while they run, join them,
 *                     settle the outcome.
 *
 * A worker loops: take the next batch off the queue (its own adaptive size
 * in base pages, one target node per batch, a huge page never cut), wait
 * for the rate limit and any pause, swap each entry for a marker, call
 * move_pages() once, swap each marker for its final entry, account.  Busy
 * pages go to the retry queue, which becomes the queue of the next pass
 * when the current one is empty and no batch is in flight.
 *
 * Marker invariant.  A worker installs markers only for its own batch and
 * resolves every one of them before it accounts the batch, on every path
 * (moved, busy, failed, whole-call error, query failure): so when the last
 * worker has exited no marker is left.  A marker is installed with a
 * compare-and-swap against the entry the plan read; if someone else changed
 * the entry meanwhile the page is skipped, never overwritten.
 *
 * Locks.  The engine mutex guards the queues, counters, control flags and
 * the token bucket; it is never held across a tree write, a move_pages()
 * call or the progress callback.  Tree writes take the tree's own writer
 * lock, one short call per entry (the radix tree's API serialises writers).
 * The engine mutex is a leaf: nothing else is taken while it is held.
 *
 * Defaults, and why:
 *   - 2 workers.  move_pages() copies pages in the calling thread, one
 *     folio after another, so a second caller adds a second copy stream
 *     (and overlaps one call's unmap/TLB shootdown with another's copy);
 *     beyond that, workers contend on the target node's LRU lock and the
 *     QEMU process's mmap lock, and each takes a host CPU away from the
 *     vCPUs the move is meant to help.  Two is a conservative start until
 *     the 1/2/4-worker scaling curve of the benchmark says otherwise.
 *   - 20 ms per call (NS_ENGINE_BUDGET_US_DEFAULT), first batch 512 pages
 *     (2 MiB), at least 16 and at most 32768 pages per call (the query
 *     size measured at ~6 ms): a vCPU touching a page in flight waits at
 *     most for one call, and pause/cancel act within one call.
 *   - Rate-limit burst: 100 ms of the rate, so a limit is met over any
 *     window longer than that, and a worker never takes more than a budget's
 *     worth of the rate per batch.
 *   - 10 submissions per page, the kernel's own migrate_pages() retry count;
 *     retry passes wait pass * 1 ms (at most 10 ms) for page references to
 *     drop.
 *   - Progress at most 4 times a second: enough for a progress bar.
 */
#include "numashift/engine.h"
#include "numashift/kernel.h"
#include "numashift/livemap.h"
#include "numashift/topology.h"

#include <errno.h>
#include <gio/gio.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "numashift/error.h"

#define READ_SECTION 1024u           /* entries per read-side section while planning */
#define PASS_BACKOFF_US 1000         /* wait before a retry pass: pass * this ... */
#define PASS_BACKOFF_MAX_US 10000    /* ... at most this */
#define STATUS_UNSET G_MININT        /* a status the kernel did not write */
#define MIB (1024.0 * 1024.0)

/* Part of a plan step inside one memory range. */
typedef struct {
    guint64 gfn_first, gfn_last; /* inclusive */
    guint64 hva;                 /* host address of gfn_first */
    guint64 page_size;           /* of the range's mapping: > 4 KiB for hugetlbfs */
    guint node;                  /* target */
} Segment;

/* log2 of a 1 GiB page in base pages: pages this large (and larger) move
 * alone in their move_pages() call. */
#define GIGANTIC_ORDER 18

/* One entry to move: a base page or a whole huge page. */
typedef struct {
    guint64 gfn;
    guint64 hva;
    guint64 head;   /* the address the kernel is asked to move: @hva, or for a
                       page inside a hugetlbfs page, that page's first byte */
    gint follow;    /* in a batch: the submission whose answer is this item's
                       too (the same hugetlbfs page), -1: its own */
    void *expected; /* the entry the job read (or restored) for this gfn */
    void *marker;   /* while in a worker's batch */
    guint16 node;   /* target */
    guint8 order;
    guint8 head_order; /* log2 of the hugetlbfs page @head starts, in base pages; 0: none */
    guint8 tries;   /* submissions in this job */
    gboolean requeue; /* busy: back to the retry queue when the batch is accounted */
    gboolean moved;   /* the kernel said moved, in this batch (huge pages get checked) */
    gboolean fault;   /* the kernel said -EFAULT, in this batch (absent, or gone?) */
} Item;

struct NsEngine {
    NsRadix *tree;
    pid_t pid;
    GArray *segments; /* of Segment, in plan order */
    NsEngineOptions opts; /* defaults filled in; opts.kernel points at kernel below */
    NsKernel kernel;
    NsBatchSizing sizing;

    GMutex lock;
    GCond cond;

    /* Control, under lock. */
    gboolean ran;
    gboolean planned;     /* the tree was read: total_pages is known */
    gboolean paused;
    gboolean cancelled;
    gboolean stopping;    /* an error or ENOMEM: no new batch */
    gboolean no_memory;
    guint no_memory_node;
    GError *error;        /* the first whole-call failure */
    gint64 pause_started_us;
    NsTokenBucket bucket;

    /* Work, under lock. */
    GArray *queue;        /* of Item: this pass */
    guint cursor;
    GArray *retry;        /* of Item: next pass */
    guint busy;           /* batches taken and not yet accounted */
    guint64 in_flight_pages;
    guint live_workers;
    guint pass;
    gint64 pass_not_before_us;
    guint64 moved_in_pass;  /* pages moved since the current pass began */
    gboolean last_pass;     /* a retry pass moved nothing: busy pages fail in this one */
    guint64 handled_planned_bytes; /* planned bytes no longer waiting: for the ETA */
    gint64 start_us;
    gint64 end_us;        /* 0 while running */
    NsPace pace;          /* how many workers take batches, budget, rest (pacer.h) */

    NsEngineReport report;
};

typedef struct {
    NsEngine *engine;
    GThread *thread;
    guint number;         /* 0..: workers at or past pace.workers take no batch */
    gint64 budget_us;     /* the pace's, when the batch was taken */
    guint gap;
    gint64 rest_us;       /* to rest before the next batch */
    guint64 batch_pages;  /* adaptive, base pages */
    GArray *batch;        /* of Item */
    void **addrs;
    int *nodes;
    int *status;
    guint *index;         /* submitted slot -> batch item */
    guint cap;
    /* Background workers: the floor (NS_ENGINE_STARVED_WINDOW_US). */
    guint floor_steps;
    gboolean window_open;
    guint64 window_run_ns, window_wait_ns; /* own schedstat when the window began */
} Worker;

/* What one batch did, accounted under the lock at its end. */
typedef struct {
    guint64 moved_pages, moved_huge, absent_pages, gone_pages, failed_pages, skipped_pages;
    guint64 failed_by_errno[NS_ENGINE_ERRNO_SLOTS];
    guint64 retried_items;
    guint64 handled_bytes;
    guint64 split_huge;   /* huge pages found split: their base pages went back in the queue */
    GArray *split_items;  /* of Item: those base pages, for the next pass; NULL: none */
    gboolean no_memory;
    GError *error;
} BatchResult;

/* ---- small helpers ------------------------------------------------------- */

static guint64
item_pages(const Item *item)
{
    return G_GUINT64_CONSTANT(1) << item->order;
}

static gint64
kernel_now(NsEngine *e)
{
    return e->kernel.now_us(e->kernel.data);
}

static guint64
rate_bytes(double mib_per_s)
{
    if (!(mib_per_s > 0.0))
        return 0;
    if (mib_per_s * MIB >= (double)G_MAXUINT32 * 1024.0)
        return (guint64)G_MAXUINT32 * 1024u;
    return MAX((guint64)(mib_per_s * MIB), G_GUINT64_CONSTANT(1));
}

/* Burst: 100 ms worth of the rate, at least one base page. */
static guint64
rate_capacity(guint64 rate)
{
    return MAX(rate / 10, NS_GUEST_PAGE_SIZE);
}

static guint64
handled_pages_locked(const NsEngine *e)
{
    const NsEngineReport *r = &e->report;

    return r->moved_pages + r->in_place_pages + r->absent_pages + r->gone_pages +
           r->failed_pages + r->unmovable_pages + r->skipped_pages;
}

/*
 * One step of waiting until host time @deadline_us (callers loop and
 * re-check their conditions).  Called and returns with the lock held.
 */
static void
wait_step_locked(NsEngine *e, gint64 deadline_us)
{
    gint64 now = kernel_now(e);

    if (now >= deadline_us)
        return;
    if (e->kernel.sleep_us != NULL) {
        g_mutex_unlock(&e->lock);
        e->kernel.sleep_us(e->kernel.data, deadline_us - now);
        g_mutex_lock(&e->lock);
    } else {
        g_cond_wait_until(&e->cond, &e->lock, g_get_monotonic_time() + (deadline_us - now));
    }
}

/* ---- options, plan resolution -------------------------------------------- */

static gboolean
check_options(const NsEngineOptions *o, GError **error)
{
    if (o->workers > NS_ENGINE_WORKERS_MAX) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%u workers: at most %u", o->workers,
                    NS_ENGINE_WORKERS_MAX);
        return FALSE;
    }
    if (o->batch_budget_us < 0 || o->progress_interval_us < 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "batch budget and progress interval must not be negative");
        return FALSE;
    }
    if (!(o->rate_limit_mib_s >= 0.0) || o->rate_limit_mib_s > 1e9) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "rate limit %g MiB/s: expected 0 (unlimited) or a positive number",
                    o->rate_limit_mib_s);
        return FALSE;
    }
    if (o->batch_min_pages != 0 && o->batch_max_pages != 0 &&
        o->batch_min_pages > o->batch_max_pages) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "batch of at least %" G_GUINT64_FORMAT " and at most %" G_GUINT64_FORMAT
                    " pages", o->batch_min_pages, o->batch_max_pages);
        return FALSE;
    }
    if (o->max_attempts > G_MAXUINT8) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%u attempts: at most %u",
                    o->max_attempts, (guint)G_MAXUINT8);
        return FALSE;
    }
    return TRUE;
}

static gboolean
resolve_plan(NsEngine *e, const NsMemMap *map, const NsPlan *plan, GError **error)
{
    if (plan->steps->len == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "the plan is empty");
        return FALSE;
    }
    for (guint s = 0; s < plan->steps->len; s++) {
        const NsPlanStep *step = &g_array_index(plan->steps, NsPlanStep, s);
        guint64 step_end = step->gpa + step->size;
        gboolean any = FALSE;

        for (guint i = 0; i < map->ranges->len; i++) {
            const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
            guint64 lo = MAX(step->gpa, r->gpa);
            guint64 hi = MIN(step_end, r->gpa + r->size);
            Segment seg;

            if (lo >= hi || (lo - r->gpa) % NS_GUEST_PAGE_SIZE != 0)
                continue;
            seg.gfn_first = lo >> NS_GUEST_PAGE_SHIFT;
            seg.gfn_last = ((hi - 1) >> NS_GUEST_PAGE_SHIFT);
            seg.hva = r->hva + (lo - r->gpa);
            seg.page_size = r->page_size;
            seg.node = step->node;
            g_array_append_val(e->segments, seg);
            any = TRUE;
        }
        if (!any) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "plan range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                        "x holds no RAM of process %d", step->gpa, step->size, (int)map->pid);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
check_nodes(NsEngine *e, const NsPlan *plan, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);

    for (guint s = 0; s < plan->steps->len; s++) {
        guint node = g_array_index(plan->steps, NsPlanStep, s).node;

        if (g_hash_table_contains(seen, GUINT_TO_POINTER(node)))
            continue;
        if (node > NS_PAGE_NODE_MAX) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "host node %u is out of range",
                        node);
            return FALSE;
        }
        if (!e->kernel.check_node(e->kernel.data, node, error))
            return FALSE;
        g_hash_table_add(seen, GUINT_TO_POINTER(node));
    }
    return TRUE;
}

NsEngine *
ns_engine_new(NsRadix *tree, const NsMemMap *map, const NsPlan *plan,
              const NsEngineOptions *opts, GError **error)
{
    g_autoptr(NsEngine) e = NULL;
    NsEngineOptions o = { 0 };

    if (opts != NULL)
        o = *opts;
    if (!check_options(&o, error))
        return NULL;
    if (map->pid <= 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "no process to move (pid %d)",
                    (int)map->pid);
        return NULL;
    }

    e = g_new0(NsEngine, 1);
    g_mutex_init(&e->lock);
    g_cond_init(&e->cond);
    e->tree = tree;
    e->pid = map->pid;
    e->segments = g_array_new(FALSE, FALSE, sizeof(Segment));
    e->queue = g_array_new(FALSE, FALSE, sizeof(Item));
    e->retry = g_array_new(FALSE, FALSE, sizeof(Item));

    ns_kernel_resolve(o.kernel, &e->kernel);
    o.kernel = &e->kernel;
    if (o.workers == 0)
        o.workers = NS_ENGINE_WORKERS_DEFAULT;
    if (o.batch_budget_us == 0)
        o.batch_budget_us = NS_ENGINE_BUDGET_US_DEFAULT;
    if (o.batch_min_pages == 0)
        o.batch_min_pages = MIN((guint64)NS_ENGINE_BATCH_MIN_DEFAULT,
                                o.batch_max_pages ? o.batch_max_pages : G_MAXUINT64);
    if (o.batch_max_pages == 0)
        o.batch_max_pages = MAX((guint64)NS_ENGINE_BATCH_MAX_DEFAULT, o.batch_min_pages);
    if (o.max_attempts == 0)
        o.max_attempts = NS_ENGINE_ATTEMPTS_DEFAULT;
    if (o.progress_interval_us == 0)
        o.progress_interval_us = NS_ENGINE_PROGRESS_INTERVAL_US_DEFAULT;
    e->opts = o;
    e->sizing = (NsBatchSizing){ .budget_us = o.batch_budget_us,
                                 .min_pages = o.batch_min_pages,
                                 .max_pages = o.batch_max_pages };
    e->pace = (NsPace){ .workers = o.workers, .budget_us = o.batch_budget_us, .gap = 0 };
    e->report.pid = map->pid;
    e->report.first_move_us = -1;
    e->report.outcome = NS_ENGINE_OUTCOME_NONE;

    if (!resolve_plan(e, map, plan, error) || !check_nodes(e, plan, error))
        return NULL;
    return g_steal_pointer(&e);
}

void
ns_engine_free(NsEngine *engine)
{
    if (engine == NULL)
        return;
    g_array_unref(engine->segments);
    g_array_unref(engine->queue);
    g_array_unref(engine->retry);
    g_clear_error(&engine->error);
    g_cond_clear(&engine->cond);
    g_mutex_clear(&engine->lock);
    g_free(engine);
}

/* ---- control ------------------------------------------------------------- */

void
ns_engine_pause(NsEngine *engine)
{
    g_mutex_lock(&engine->lock);
    if (!engine->paused) {
        engine->paused = TRUE;
        engine->pause_started_us = kernel_now(engine);
    }
    g_cond_broadcast(&engine->cond);
    g_mutex_unlock(&engine->lock);
}

static void
resume_locked(NsEngine *e)
{
    if (!e->paused)
        return;
    e->paused = FALSE;
    if (e->ran && e->end_us == 0)
        e->report.paused_us += MAX(kernel_now(e) - MAX(e->pause_started_us, e->start_us), 0);
    g_cond_broadcast(&e->cond);
}

void
ns_engine_resume(NsEngine *engine)
{
    g_mutex_lock(&engine->lock);
    resume_locked(engine);
    g_mutex_unlock(&engine->lock);
}

void
ns_engine_cancel(NsEngine *engine)
{
    g_mutex_lock(&engine->lock);
    engine->cancelled = TRUE;
    resume_locked(engine);
    g_cond_broadcast(&engine->cond);
    g_mutex_unlock(&engine->lock);
}

void
ns_engine_set_rate_limit(NsEngine *engine, double mib_per_s)
{
    guint64 rate = rate_bytes(mib_per_s);

    g_mutex_lock(&engine->lock);
    engine->opts.rate_limit_mib_s = rate ? mib_per_s : 0.0;
    ns_token_bucket_set_rate(&engine->bucket, rate, rate_capacity(rate), kernel_now(engine));
    g_cond_broadcast(&engine->cond);
    g_mutex_unlock(&engine->lock);
}

/* ---- progress and report ------------------------------------------------- */

static void
progress_locked(NsEngine *e, NsEngineProgress *p)
{
    const NsEngineReport *r = &e->report;
    gint64 now = e->end_us ? e->end_us : kernel_now(e);
    gint64 active;
    guint64 left;

    memset(p, 0, sizeof(*p));
    p->done_pages = handled_pages_locked(e);
    p->total_pages = r->total_pages;
    p->moved_pages = r->moved_pages;
    p->moved_bytes = r->moved_bytes;
    p->in_flight_pages = e->in_flight_pages;
    p->pass = MAX(e->pass, 1u);
    p->paused = e->paused;
    p->final = e->end_us != 0;
    p->eta_us = -1;
    if (!e->ran)
        return;
    p->elapsed_us = MAX(now - e->start_us, 0);
    active = p->elapsed_us - r->paused_us;
    if (e->paused && e->end_us == 0)
        active -= MAX(now - MAX(e->pause_started_us, e->start_us), 0);
    if (active > 0)
        p->mib_per_s = (double)r->moved_bytes / MIB / ((double)active / G_USEC_PER_SEC);
    left = r->planned_bytes - MIN(e->handled_planned_bytes, r->planned_bytes);
    if (left == 0)
        p->eta_us = 0;
    else if (e->handled_planned_bytes > 0 && active > 0)
        p->eta_us = (gint64)((double)left * (double)active / (double)e->handled_planned_bytes);
}

void
ns_engine_get_progress(NsEngine *engine, NsEngineProgress *ret_progress)
{
    g_mutex_lock(&engine->lock);
    progress_locked(engine, ret_progress);
    g_mutex_unlock(&engine->lock);
}

static void
report_refresh_locked(NsEngine *e)
{
    NsEngineReport *r = &e->report;
    gint64 now = e->end_us ? e->end_us : kernel_now(e);

    r->remaining_pages = r->total_pages - MIN(handled_pages_locked(e), r->total_pages);
    r->passes = e->pass;
    if (e->ran)
        r->elapsed_us = MAX(now - e->start_us, 0);
}

NsEngineReport *
ns_engine_get_report(NsEngine *engine)
{
    NsEngineReport *copy;

    g_mutex_lock(&engine->lock);
    report_refresh_locked(engine);
    copy = g_memdup2(&engine->report, sizeof(engine->report));
    g_mutex_unlock(&engine->lock);
    return copy;
}

void
ns_engine_report_free(NsEngineReport *report)
{
    g_free(report);
}

const char *
ns_engine_outcome_to_string(NsEngineOutcome outcome)
{
    switch (outcome) {
    case NS_ENGINE_OUTCOME_NONE:
        return "not run";
    case NS_ENGINE_OUTCOME_RUNNING:
        return "running";
    case NS_ENGINE_OUTCOME_DONE:
        return "done";
    case NS_ENGINE_OUTCOME_DRY_RUN:
        return "dry run";
    case NS_ENGINE_OUTCOME_CANCELLED:
        return "cancelled";
    case NS_ENGINE_OUTCOME_NO_MEMORY:
        return "out of memory";
    case NS_ENGINE_OUTCOME_ERROR:
        return "error";
    }
    return "unknown";
}

/* ---- planning ------------------------------------------------------------ */

/* Whether @info is an unmovable page whose backoff has not ended. */
static gboolean
backing_off(const NsEngineOptions *opts, const NsPageInfo *info)
{
    if (opts->unmovable_minute == 0 || info->state != NS_PAGE_FAILED || info->strikes == 0)
        return FALSE;
    if (info->tried < opts->unmovable_forgiven)
        return FALSE; /* forgiven: pinning changed, or an operator asked */
    /* The kernel refused it for being shared; MPOL_MF_MOVE_ALL moves what
     * is shared.  Not left to a forgiveness: a job without move-shared may
     * take that first and strike the page again. */
    if (opts->move_shared && ns_unmovable_cause(info->error) == NS_UNMOVABLE_SHARED)
        return FALSE;
    return opts->unmovable_minute < info->tried + ns_unmovable_backoff_minutes(info->strikes);
}

static void
plan_entry(const NsEngineOptions *opts, NsEngineReport *r, GArray *queue, const Segment *seg,
           guint64 gfn, void *entry)
{
    NsPageInfo info;
    guint64 pages;
    Item item;

    if (!ns_radix_is_page(entry))
        return;
    info = ns_radix_page_info(entry);
    if (info.order > 30)
        return; /* not an entry placement writes */
    pages = G_GUINT64_CONSTANT(1) << info.order;
    r->total_pages += pages;
    switch (info.state) {
    case NS_PAGE_ABSENT:
        r->absent_pages += pages;
        return;
    case NS_PAGE_MIGRATING:
        r->skipped_pages += pages; /* another job's marker: not ours */
        return;
    case NS_PAGE_PRESENT:
    case NS_PAGE_FAILED:
        break;
    }
    if (info.node == seg->node) {
        r->in_place_pages += pages;
        return;
    }
    if (backing_off(opts, &info)) {
        r->unmovable_pages += pages;
        return;
    }
    item = (Item){
        .gfn = gfn,
        .hva = seg->hva + ((gfn - seg->gfn_first) << NS_GUEST_PAGE_SHIFT),
        .follow = -1,
        .expected = entry,
        .node = (guint16)seg->node,
        .order = (guint8)info.order,
    };
    /* A hugetlbfs page moves whole, asked for by its first byte: Linux
     * 6.1's move_pages() answers EACCES for any other byte of it (a range
     * that starts inside one, such as the RAM above the ROM hole below
     * 1 MiB, would otherwise never move and count as failed). */
    item.head = seg->page_size > NS_GUEST_PAGE_SIZE ? item.hva & ~(seg->page_size - 1)
                                                   : item.hva;
    item.head_order = seg->page_size > NS_GUEST_PAGE_SIZE
                          ? (guint8)g_bit_nth_lsf(seg->page_size >> NS_GUEST_PAGE_SHIFT, -1)
                          : 0;
    g_array_append_val(queue, item);
    r->planned_pages += pages;
    r->planned_bytes += pages << NS_GUEST_PAGE_SHIFT;
    if (info.order > 0)
        r->planned_huge++;
}

static gint
item_cmp(gconstpointer a, gconstpointer b)
{
    const Item *x = a, *y = b;

    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

/*
 * Read the tree for the plan's pages into the queue, counting into a local
 * report first so that readers of the progress never wait for the walk.
 * The queue is the run thread's alone until the workers start.
 */
static void
plan_items(NsEngine *e)
{
    NsEngineReport counts = { 0 };

    for (guint s = 0; s < e->segments->len; s++) {
        const Segment *seg = &g_array_index(e->segments, Segment, s);
        NsRadixIter it;
        void *entry;
        guint64 gfn;

        ns_radix_iter_init(&it, seg->gfn_first, seg->gfn_last);
        do {
            urcu_memb_read_lock();
            for (guint k = 0; k < READ_SECTION; k++) {
                entry = ns_radix_iter_next(e->tree, &it, &gfn);
                if (entry == NULL)
                    break;
                plan_entry(&e->opts, &counts, e->queue, seg, gfn, entry);
            }
            urcu_memb_read_unlock();
        } while (entry != NULL);
    }
    g_array_sort(e->queue, item_cmp);

    g_mutex_lock(&e->lock);
    e->report.total_pages = counts.total_pages;
    e->report.absent_pages = counts.absent_pages;
    e->report.skipped_pages = counts.skipped_pages;
    e->report.unmovable_pages = counts.unmovable_pages;
    e->report.in_place_pages = counts.in_place_pages;
    e->report.planned_pages = counts.planned_pages;
    e->report.planned_bytes = counts.planned_bytes;
    e->report.planned_huge = counts.planned_huge;
    e->planned = TRUE;
    g_mutex_unlock(&e->lock);
}

/* ---- workers: taking and releasing batches ------------------------------- */

static guint64
batch_limit_locked(NsEngine *e, const Worker *w)
{
    guint64 limit = w->batch_pages;
    guint64 rate = e->bucket.rate;

    if (rate != 0) {
        /* Do not take more than the rate allows in one budget per worker. */
        guint64 per_budget = (guint64)((double)rate * (double)e->opts.batch_budget_us /
                                       G_USEC_PER_SEC / NS_GUEST_PAGE_SIZE /
                                       MAX(e->report.workers, 1u));

        limit = MIN(limit, MAX(per_budget, e->sizing.min_pages));
    }
    return MAX(limit, G_GUINT64_CONSTANT(1));
}

static void
start_retry_pass_locked(NsEngine *e)
{
    GArray *tmp = e->queue;

    e->queue = e->retry;
    e->retry = tmp;
    g_array_set_size(e->retry, 0);
    g_array_sort(e->queue, item_cmp); /* batches finish out of order */
    e->cursor = 0;
    /* A retry pass in which no page moved: what is still busy is held
     * (pinned for DMA, say), and every try costs the kernel an unmap and
     * ten copies' worth of retries per page, and the guest a fault on it.
     * One more pass, then those pages fail (unmovable, livemap.h). */
    if (e->pass >= 2 && e->moved_in_pass == 0)
        e->last_pass = TRUE;
    e->moved_in_pass = 0;
    e->pass++;
    e->pass_not_before_us = kernel_now(e) + MIN((gint64)e->pass * PASS_BACKOFF_US,
                                              PASS_BACKOFF_MAX_US);
}

/* Take the next batch into w->batch; FALSE when the worker should exit. */
static gboolean
take_batch(NsEngine *e, Worker *w)
{
    gboolean got = FALSE;

    g_array_set_size(w->batch, 0);
    g_mutex_lock(&e->lock);
    for (;;) {
        if (e->cancelled || e->stopping)
            break;
        if (e->paused) {
            g_cond_wait(&e->cond, &e->lock);
            continue;
        }
        if (w->number >= e->pace.workers) {
            /* Parked by the pacer: until the pace allows it again, or the
             * work is done. */
            if (e->cursor >= e->queue->len && e->busy == 0 && e->retry->len == 0)
                break;
            g_cond_wait(&e->cond, &e->lock);
            continue;
        }
        if (e->cursor < e->queue->len) {
            guint64 limit = batch_limit_locked(e, w);
            guint64 weight = 0;
            guint16 node;

            if (kernel_now(e) < e->pass_not_before_us) {
                wait_step_locked(e, e->pass_not_before_us);
                continue;
            }
            node = g_array_index(e->queue, Item, e->cursor).node;
            while (e->cursor < e->queue->len) {
                const Item *item = &g_array_index(e->queue, Item, e->cursor);
                const Item *prev = w->batch->len > 0
                                       ? &g_array_index(w->batch, Item, w->batch->len - 1)
                                       : NULL;
                /* The parts of one hugetlbfs page go in one call (it moves
                 * whole, asked for once); a gigantic page goes alone: the
                 * guest's accesses to it wait for its whole copy. */
                gboolean same_page = prev != NULL && item->head_order > 0 && item->head == prev->head;

                if (item->node != node)
                    break;
                if (!same_page && prev != NULL &&
                    (weight + item_pages(item) > limit || prev->head_order >= GIGANTIC_ORDER ||
                     item->head_order >= GIGANTIC_ORDER))
                    break;
                g_array_append_vals(w->batch, item, 1);
                weight += item_pages(item);
                e->cursor++;
            }
            e->busy++;
            e->in_flight_pages += weight;
            w->budget_us = e->pace.budget_us;
            w->gap = e->pace.gap;
            got = TRUE;
            break;
        }
        if (e->busy > 0) {
            g_cond_wait(&e->cond, &e->lock); /* their busy pages may come back */
            continue;
        }
        if (e->retry->len == 0)
            break;
        start_retry_pass_locked(e);
    }
    g_mutex_unlock(&e->lock);
    return got;
}

static guint64
batch_weight(const GArray *batch)
{
    guint64 weight = 0;

    for (guint k = 0; k < batch->len; k++)
        weight += item_pages(&g_array_index(batch, Item, k));
    return weight;
}

/*
 * Wait for the rate limit and any pause before submitting @bytes.  FALSE
 * if the job was cancelled or stopped meanwhile.
 */
static gboolean
throttle(NsEngine *e, guint64 bytes)
{
    gboolean go;

    g_mutex_lock(&e->lock);
    if (e->bucket.rate != 0) {
        gint64 now = kernel_now(e);
        gint64 deadline = now + ns_token_bucket_take(&e->bucket, bytes, now);

        while (!e->cancelled && !e->stopping && e->bucket.rate != 0 && kernel_now(e) < deadline)
            wait_step_locked(e, deadline);
    }
    while (e->paused && !e->cancelled && !e->stopping)
        g_cond_wait(&e->cond, &e->lock);
    go = !e->cancelled && !e->stopping;
    g_mutex_unlock(&e->lock);
    return go;
}

/* ---- workers: markers and results ---------------------------------------- */

static void
tag_entry_state(NsRadix *tree, guint64 gfn, const void *entry)
{
    if (ns_radix_page_info(entry).state == NS_PAGE_FAILED)
        ns_radix_tag_set(tree, gfn, NS_RADIX_TAG_FAILED);
}

/* Swap @item's marker for @final; tags follow the final state. */
static void
settle(NsEngine *e, Item *item, void *final)
{
    if (ns_radix_replace_if(e->tree, item->gfn, item->marker, final) == 0) {
        ns_radix_tag_clear(e->tree, item->gfn, NS_RADIX_TAG_MIGRATING);
        tag_entry_state(e->tree, item->gfn, final);
    }
    item->marker = NULL;
}

/*
 * @item's move failed for good in this job.  A lasting cause (livemap.h)
 * adds a strike and records the minute, so the next jobs leave it alone
 * until its backoff ends; any other cause clears the record.
 */
static void
settle_failed(NsEngine *e, Item *item, int err, BatchResult *res)
{
    guint64 pages = item_pages(item);
    NsPageInfo info = ns_radix_page_info(ns_radix_mk_failed(item->marker, err));

    if (e->opts.unmovable_minute != 0 && ns_unmovable_errno(err)) {
        info.strikes = MIN(info.strikes + 1, NS_PAGE_STRIKES_MAX);
        info.tried = e->opts.unmovable_minute;
    } else {
        info.strikes = 0;
        info.tried = 0;
    }
    settle(e, item, ns_radix_mk_page(&info));
    res->failed_pages += pages;
    res->failed_by_errno[MIN((guint)err, NS_ENGINE_ERRNO_SLOTS - 1)] += pages;
    res->handled_bytes += pages << NS_GUEST_PAGE_SHIFT;
}

/* Put the entry the marker replaced back, for another pass. */
static void
settle_retry(NsEngine *e, Item *item, int err, BatchResult *res)
{
    NsPageInfo restored;
    void *entry;

    if (item->tries >= e->opts.max_attempts || e->last_pass) {
        settle_failed(e, item, err ? err : EBUSY, res);
        return;
    }
    restored = ns_radix_page_info(item->expected);
    restored.attempts = ns_radix_page_info(item->marker).attempts;
    entry = ns_radix_mk_page(&restored);
    settle(e, item, entry);
    item->expected = entry;
    item->requeue = TRUE;
    res->retried_items++;
}

/* Final entry for a status the kernel reported for @item. */
static void
settle_status(NsEngine *e, Item *item, int st, BatchResult *res)
{
    guint64 pages = item_pages(item);

    if (st == (int)item->node) {
        NsPageInfo info = ns_radix_page_info(item->marker);

        info.state = NS_PAGE_PRESENT;
        info.node = item->node;
        info.target = NS_PAGE_NODE_NONE;
        info.error = 0;
        info.strikes = 0;
        info.tried = 0;
        settle(e, item, ns_radix_mk_page(&info));
        item->moved = TRUE;
        res->moved_pages += pages;
        res->moved_huge += item->order > 0;
        res->handled_bytes += pages << NS_GUEST_PAGE_SHIFT;
    } else if (st >= 0 || st == -EBUSY || st == -EAGAIN) {
        /* >= 0 elsewhere: the kernel left it (a partial call, resolved by query). */
        settle_retry(e, item, st < 0 ? -st : EBUSY, res);
    } else if (st == -ENOENT || st == -EFAULT) {
        settle(e, item, ns_radix_mk_absent(item->order));
        item->fault = st == -EFAULT;
        res->absent_pages += pages;
        res->handled_bytes += pages << NS_GUEST_PAGE_SHIFT;
    } else if (st == -ENOMEM) {
        settle_failed(e, item, ENOMEM, res);
        res->no_memory = TRUE;
    } else {
        settle_failed(e, item, -st, res);
    }
}

/* Put the marker back to exactly the entry it replaced. */
static void
restore_exact(NsEngine *e, Item *item)
{
    settle(e, item, item->expected);
}

/* @item's final entry from @st, a status resolved by query after the call
 * (STATUS_UNSET: none, the entry goes back as it was). */
static void
settle_resolved(NsEngine *e, Item *item, int st, int call_err, BatchResult *res)
{
    if (st == STATUS_UNSET)
        restore_exact(e, item);
    else if (st >= 0 && st != (int)item->node && call_err == ENOMEM)
        settle_failed(e, item, ENOMEM, res);
    else
        settle_status(e, item, st, res);
}

/*
 * Items that shared another's submission (the same hugetlbfs page) take
 * its answer: the kernel moved, or did not move, the whole page.
 */
static void
settle_followers(NsEngine *e, Worker *w, int call_err, BatchResult *res)
{
    for (guint k = 0; k < w->batch->len; k++) {
        Item *item = &g_array_index(w->batch, Item, k);

        if (item->follow < 0 || item->marker == NULL)
            continue;
        settle_resolved(e, item, w->status[item->follow], call_err, res);
        item->follow = -1;
    }
}

/*
 * move_pages(2) on the engine's process: never once the process the
 * options name has exited (its PID may name another process by then),
 * which answers as the kernel does for a PID that is gone.
 */
static long
engine_move_pages(NsEngine *e, gulong count, void **pages, const int *nodes, int *status,
                  int flags)
{
    if (e->opts.process != NULL && ns_process_has_exited(e->opts.process))
        return -ESRCH;
    return e->kernel.move_pages(e->kernel.data, e->pid, count, pages, nodes, status, flags);
}

/*
 * Statuses the kernel left unwritten (a positive return, or ENOMEM in the
 * middle of the call): ask where those pages are.  With @call_err ENOMEM a
 * page not on its target failed for lack of memory; otherwise it was busy.
 */
static void
resolve_unwritten(NsEngine *e, Worker *w, guint n, int call_err, BatchResult *res)
{
    g_autofree void **qaddrs = g_new(void *, n);
    g_autofree int *qstatus = g_new(int, n);
    g_autofree guint *slot = g_new(guint, n);
    guint m = 0;
    long rc;

    for (guint k = 0; k < n; k++) {
        if (w->status[k] != STATUS_UNSET)
            continue;
        qaddrs[m] = w->addrs[k];
        qstatus[m] = STATUS_UNSET;
        slot[m++] = k;
    }
    if (m == 0)
        return;
    rc = engine_move_pages(e, m, qaddrs, NULL, qstatus, 0);
    for (guint q = 0; q < m; q++) {
        Item *item = &g_array_index(w->batch, Item, w->index[slot[q]]);
        int st = qstatus[q];

        settle_resolved(e, item, rc < 0 ? STATUS_UNSET : st, call_err, res);
        /* Followers of this submission (settle_followers()) read it here. */
        w->status[slot[q]] = rc < 0 ? STATUS_UNSET : st;
    }
    if (rc < 0 && res->error == NULL)
        ns_kernel_set_error(&res->error, (int)-rc, e->pid,
                            (gint)g_array_index(w->batch, Item, 0).node);
}

static void split_huge(NsEngine *e, Item *item, BatchResult *res);

/*
 * Pages the kernel answered -EFAULT for: not backed (the zero page, a
 * range it will not migrate) or gone, their range unmapped since the
 * scan (a device unplugged, QEMU shrinking).  Ask which; a gone page's
 * entry leaves the tree, so the tree never calls it "never touched".
 */
static void
settle_gone(NsEngine *e, Worker *w, BatchResult *res)
{
    g_autoptr(GArray) hvas = g_array_new(FALSE, FALSE, sizeof(guint64));
    g_autoptr(GArray) owner = g_array_new(FALSE, FALSE, sizeof(guint));

    for (guint k = 0; k < w->batch->len; k++) {
        Item *item = &g_array_index(w->batch, Item, k);

        if (item->fault) {
            g_array_append_val(hvas, item->hva);
            g_array_append_val(owner, k);
            item->fault = FALSE;
        }
    }
    if (hvas->len == 0 || e->kernel.mapped == NULL)
        return;
    g_autofree gboolean *mapped = g_new(gboolean, hvas->len);

    e->kernel.mapped(e->kernel.data, e->pid, (const guint64 *)hvas->data, hvas->len, mapped);
    for (guint q = 0; q < hvas->len; q++) {
        Item *item = &g_array_index(w->batch, Item, g_array_index(owner, guint, q));
        void *absent = ns_radix_mk_absent(item->order);
        void *now;

        if (mapped[q])
            continue;
        urcu_memb_read_lock();
        now = ns_radix_lookup(e->tree, item->gfn);
        urcu_memb_read_unlock();
        if (now != absent)
            continue; /* someone else wrote it since */
        ns_radix_delete(e->tree, item->gfn);
        res->absent_pages -= item_pages(item);
        res->gone_pages += item_pages(item);
    }
}

/*
 * The tree must hold what the kernel did.  A huge page the kernel reported
 * moved may have been split since the scan (or in the call): then only its
 * first base page moved.  For each huge page moved in this batch ask where
 * three of its tail pages are; where one is not on the target, ask for
 * every tail and write the base pages it became: the head and the tails on
 * the target as moved, the tails elsewhere as base pages queued for the
 * next pass, the tails the kernel has no page for as absent.
 */
static void
verify_huge(NsEngine *e, Worker *w, BatchResult *res)
{
    g_autoptr(GArray) addrs = g_array_new(FALSE, FALSE, sizeof(void *));
    g_autoptr(GArray) owner = g_array_new(FALSE, FALSE, sizeof(guint));

    for (guint k = 0; k < w->batch->len; k++) {
        Item *item = &g_array_index(w->batch, Item, k);
        guint64 last = (G_GUINT64_CONSTANT(1) << item->order) - 1;
        const guint64 tails[] = { 1, (last + 1) / 2, last };

        if (!item->moved || item->order == 0)
            continue;
        for (guint t = 0; t < G_N_ELEMENTS(tails); t++) {
            void *a = (void *)(uintptr_t)(item->hva + (tails[t] << NS_GUEST_PAGE_SHIFT));

            g_array_append_val(addrs, a);
            g_array_append_val(owner, k);
        }
    }
    if (addrs->len == 0)
        return;
    g_autofree int *status = g_new(int, addrs->len);

    if (engine_move_pages(e, addrs->len, (void **)addrs->data, NULL, status,
                           0) < 0)
        return; /* QEMU gone: the next call says so */
    for (guint q = 0; q < addrs->len; q++) {
        Item *item = &g_array_index(w->batch, Item, g_array_index(owner, guint, q));

        if (item->moved && status[q] != (int)item->node) {
            item->moved = FALSE; /* checked below, once */
            split_huge(e, item, res);
        }
    }
}

/*
 * @item, a huge page settled as moved, was split: ask where each of its
 * base pages is and write them into the tree in its place.
 */
static void
split_huge(NsEngine *e, Item *item, BatchResult *res)
{
    guint64 n = G_GUINT64_CONSTANT(1) << item->order;
    g_autofree void **addrs = g_new(void *, n);
    g_autofree int *status = g_new(int, n);
    NsPageInfo head;
    void *entry;

    for (guint64 i = 0; i < n; i++)
        addrs[i] = (void *)(uintptr_t)(item->hva + (i << NS_GUEST_PAGE_SHIFT));
    if (engine_move_pages(e, n, addrs, NULL, status, 0) < 0)
        return;
    urcu_memb_read_lock();
    entry = ns_radix_lookup(e->tree, item->gfn);
    urcu_memb_read_unlock();
    if (entry == NULL || !ns_radix_is_page(entry))
        return;
    head = ns_radix_page_info(entry);
    if (head.order != item->order || head.state != NS_PAGE_PRESENT)
        return; /* someone else wrote it since */
    /* The head first, so a reader never counts a tail twice. */
    head.order = 0;
    head.node = status[0] >= 0 ? (unsigned)status[0] : NS_PAGE_NODE_NONE;
    if (status[0] < 0)
        head.state = NS_PAGE_ABSENT;
    if (ns_radix_replace_if(e->tree, item->gfn, entry, ns_radix_mk_page(&head)) != 0)
        return;
    res->split_huge++;
    res->moved_huge--;
    res->moved_pages -= n;
    for (guint64 i = 0; i < n; i++) {
        guint64 gfn = item->gfn + i;
        void *base = status[i] >= 0 ? ns_radix_mk_present((unsigned)status[i], 0)
                                    : ns_radix_mk_absent(0);

        if (i > 0 && ns_radix_insert(e->tree, gfn, base) == -EEXIST)
            ns_radix_store(e->tree, gfn, base, NULL);
        if (status[i] == (int)item->node) {
            res->moved_pages++;
        } else if (status[i] < 0) {
            res->absent_pages++;
        } else {
            /* Still on the old node: a base page to move on the next pass. */
            Item tail = {
                .gfn = gfn,
                .hva = item->hva + (i << NS_GUEST_PAGE_SHIFT),
                .head = item->hva + (i << NS_GUEST_PAGE_SHIFT), /* a split THP: base pages */
                .follow = -1,
                .expected = i > 0 ? base : ns_radix_mk_page(&head),
                .node = item->node,
                .order = 0,
                .tries = item->tries,
            };

            if (res->split_items == NULL)
                res->split_items = g_array_new(FALSE, FALSE, sizeof(Item));
            g_array_append_val(res->split_items, tail);
            res->handled_bytes -= NS_GUEST_PAGE_SIZE;
        }
    }
}

static void
worker_reserve(Worker *w, guint n)
{
    if (n <= w->cap)
        return;
    w->cap = MAX(n, w->cap * 2);
    w->addrs = g_renew(void *, w->addrs, w->cap);
    w->nodes = g_renew(int, w->nodes, w->cap);
    w->status = g_renew(int, w->status, w->cap);
    w->index = g_renew(guint, w->index, w->cap);
}

static void
account_batch(NsEngine *e, Worker *w, guint64 weight, BatchResult *res)
{
    NsEngineReport *r = &e->report;

    g_mutex_lock(&e->lock);
    e->moved_in_pass += res->moved_pages;
    if (res->moved_pages > 0 && r->first_move_us < 0)
        r->first_move_us = MAX(kernel_now(e) - e->start_us, 0);
    r->moved_pages += res->moved_pages;
    r->moved_bytes += res->moved_pages << NS_GUEST_PAGE_SHIFT;
    r->moved_huge += res->moved_huge;
    r->absent_pages += res->absent_pages;
    r->gone_pages += res->gone_pages;
    r->failed_pages += res->failed_pages;
    r->skipped_pages += res->skipped_pages;
    for (guint k = 0; k < NS_ENGINE_ERRNO_SLOTS; k++)
        r->failed_by_errno[k] += res->failed_by_errno[k];
    r->retries += res->retried_items;
    e->handled_planned_bytes += res->handled_bytes;
    r->split_huge += res->split_huge;
    if (res->split_items != NULL) {
        g_array_append_vals(e->retry, res->split_items->data, res->split_items->len);
        g_clear_pointer(&res->split_items, g_array_unref);
    }
    for (guint k = 0; k < w->batch->len; k++) {
        Item *item = &g_array_index(w->batch, Item, k);

        if (item->requeue) {
            item->requeue = FALSE;
            g_array_append_vals(e->retry, item, 1);
        }
    }
    if (res->no_memory && !e->no_memory) {
        e->no_memory = TRUE;
        e->no_memory_node = g_array_index(w->batch, Item, 0).node;
        e->stopping = TRUE;
    }
    if (res->error != NULL) {
        if (e->error == NULL)
            e->error = g_steal_pointer(&res->error);
        g_clear_error(&res->error);
        e->stopping = TRUE;
    }
    e->busy--;
    e->in_flight_pages -= weight;
    g_cond_broadcast(&e->cond);
    g_mutex_unlock(&e->lock);
}

static void
run_batch(NsEngine *e, Worker *w)
{
    BatchResult res = { 0 };
    guint64 weight = batch_weight(w->batch);
    guint64 submitted = 0;
    guint n = 0;
    gint64 t0, t1;
    long rc;

    if (!throttle(e, weight << NS_GUEST_PAGE_SHIFT)) {
        account_batch(e, w, weight, &res); /* untouched: counted as remaining */
        return;
    }

    worker_reserve(w, w->batch->len);
    for (guint k = 0; k < w->batch->len; k++) {
        Item *item = &g_array_index(w->batch, Item, k);
        void *marker = ns_radix_mk_marker(item->expected, item->node);

        item->tries++;
        if (ns_radix_replace_if(e->tree, item->gfn, item->expected, marker) != 0) {
            res.skipped_pages += item_pages(item); /* changed under us: leave it */
            res.handled_bytes += item_pages(item) << NS_GUEST_PAGE_SHIFT;
            continue;
        }
        if (ns_radix_page_info(item->expected).state == NS_PAGE_FAILED)
            ns_radix_tag_clear(e->tree, item->gfn, NS_RADIX_TAG_FAILED);
        ns_radix_tag_set(e->tree, item->gfn, NS_RADIX_TAG_MIGRATING);
        item->marker = marker;
        submitted += item_pages(item);
        /* Items in a batch are in gfn order: those of one hugetlbfs page
         * are neighbours, and the page is asked for once. */
        if (n > 0 && w->addrs[n - 1] == (void *)(uintptr_t)item->head &&
            item->head != item->hva) {
            item->follow = (gint)n - 1;
            continue;
        }
        item->follow = -1;
        w->addrs[n] = (void *)(uintptr_t)item->head;
        w->nodes[n] = item->node;
        w->status[n] = STATUS_UNSET;
        w->index[n] = k;
        n++;
    }

    if (n > 0) {
        g_mutex_lock(&e->lock);
        e->report.calls++;
        g_mutex_unlock(&e->lock);

        t0 = kernel_now(e);
        rc = engine_move_pages(e, n, w->addrs, w->nodes, w->status,
                               e->opts.move_shared ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE);
        t1 = kernel_now(e);
        if (g_array_index(w->batch, Item, w->index[0]).head_order >= GIGANTIC_ORDER) {
            /* What the guest waits for when it touches a page in flight. */
            g_mutex_lock(&e->lock);
            e->report.gigantic_calls++;
            e->report.gigantic_call_max_us = MAX(e->report.gigantic_call_max_us, t1 - t0);
            g_mutex_unlock(&e->lock);
        }

        /* Every status the kernel wrote is the truth for its page. */
        for (guint k = 0; k < n; k++) {
            if (w->status[k] != STATUS_UNSET)
                settle_status(e, &g_array_index(w->batch, Item, w->index[k]), w->status[k],
                              &res);
        }
        if (rc >= 0 || rc == -ENOMEM) {
            resolve_unwritten(e, w, n, rc < 0 ? ENOMEM : 0, &res);
            settle_followers(e, w, rc < 0 ? ENOMEM : 0, &res);
            verify_huge(e, w, &res);
            settle_gone(e, w, &res);
            if (rc == -ENOMEM)
                res.no_memory = TRUE;
            NsBatchSizing sizing = e->sizing;

            sizing.budget_us = w->budget_us;
            w->batch_pages = ns_engine_batch_next(&sizing, submitted, t1 - t0);
            w->rest_us = (gint64)w->gap * (t1 - t0);
        } else {
            /* The call failed as a whole: markers back exactly as they were. */
            for (guint k = 0; k < n; k++) {
                if (w->status[k] == STATUS_UNSET)
                    restore_exact(e, &g_array_index(w->batch, Item, w->index[k]));
            }
            settle_followers(e, w, 0, &res); /* their leaders' statuses are unset */
            if (res.error == NULL)
                ns_kernel_set_error(&res.error, (int)-rc, e->pid, w->nodes[0]);
        }
    }
    account_batch(e, w, weight, &res);
}

/*
 * A background worker that has waited for a CPU for nearly all of one
 * window of runnable time steps up the floor: out of SCHED_IDLE, to the
 * next nice value.
 */
static void
check_floor(NsEngine *e, Worker *w)
{
    static const int floor_nice[NS_ENGINE_FLOOR_STEPS] = NS_ENGINE_FLOOR_NICE;
    guint64 run_ns, wait_ns, ran, waited;

    if (!e->opts.worker_background || w->floor_steps >= NS_ENGINE_FLOOR_STEPS ||
        !e->kernel.own_schedstat(e->kernel.data, &run_ns, &wait_ns))
        return;
    if (!w->window_open || run_ns < w->window_run_ns || wait_ns < w->window_wait_ns) {
        w->window_open = TRUE;
        w->window_run_ns = run_ns;
        w->window_wait_ns = wait_ns;
        return;
    }
    ran = run_ns - w->window_run_ns;
    waited = wait_ns - w->window_wait_ns;
    if (ran + waited < (guint64)NS_ENGINE_STARVED_WINDOW_US * 1000)
        return;
    w->window_run_ns = run_ns;
    w->window_wait_ns = wait_ns;
    if (ran * 1000 >= (ran + waited) * NS_ENGINE_STARVED_RUN_PERMILLE)
        return;

    int nice = floor_nice[w->floor_steps++];
    int err = ns_kernel_thread_set_nice(nice);

    g_mutex_lock(&e->lock);
    if (w->floor_steps > e->report.worker_floor_steps) {
        e->report.worker_floor_steps = w->floor_steps;
        e->report.worker_floor_nice = nice;
    }
    if (err != 0 && e->report.worker_floor_errno == 0)
        e->report.worker_floor_errno = err;
    g_mutex_unlock(&e->lock);
}

static gpointer
worker_main(gpointer data)
{
    Worker *w = data;
    NsEngine *e = w->engine;

    int bind_errno = ns_kernel_bind_thread(e->opts.worker_cpus, e->opts.worker_background);

    if (bind_errno != 0) {
        g_mutex_lock(&e->lock);
        if (e->report.worker_bind_errno == 0)
            e->report.worker_bind_errno = bind_errno;
        g_mutex_unlock(&e->lock);
    }
    urcu_memb_register_thread();
    while (take_batch(e, w)) {
        run_batch(e, w);
        check_floor(e, w);
        if (w->rest_us > 0) {
            /* The pacer's rest after a call: the guest gets the CPU. */
            g_mutex_lock(&e->lock);
            gint64 until = kernel_now(e) + w->rest_us;

            while (!e->cancelled && !e->stopping && kernel_now(e) < until)
                wait_step_locked(e, until);
            g_mutex_unlock(&e->lock);
            w->rest_us = 0;
        }
    }
    urcu_memb_unregister_thread();

    g_mutex_lock(&e->lock);
    e->live_workers--;
    g_cond_broadcast(&e->cond);
    g_mutex_unlock(&e->lock);
    return NULL;
}

static void
worker_free(Worker *w)
{
    g_array_unref(w->batch);
    g_free(w->addrs);
    g_free(w->nodes);
    g_free(w->status);
    g_free(w->index);
}

/* ---- the run ------------------------------------------------------------- */

static void
report_progress(NsEngine *e)
{
    NsEngineProgress p;

    if (e->opts.progress == NULL)
        return;
    g_mutex_lock(&e->lock);
    progress_locked(e, &p);
    g_mutex_unlock(&e->lock);
    e->opts.progress(&p, e->opts.progress_data);
}

/* Start the workers and wait for them, calling the progress callback. */
static gboolean
run_workers(NsEngine *e, GError **error)
{
    guint n = (guint)MIN((guint64)e->opts.workers, (guint64)e->queue->len);
    g_autofree Worker *workers = g_new0(Worker, MAX(n, 1u));
    g_autoptr(GArray) waits = g_array_new(FALSE, FALSE, sizeof(NsThreadWait));
    NsPacer *pacer = e->kernel.vcpu_waits != NULL ? e->opts.pacer : NULL;
    gint64 next, next_pace = G_MAXINT64;

    if (pacer != NULL) {
        /* The baseline: one quiet interval before the first move, the
         * workers not yet started and the scan done (pacer.h; a few ms of
         * the vCPUs' waits say nothing of what the host costs them).  A
         * later window of the same run goes on at its pace: no wait. */
        if (!e->kernel.vcpu_waits(e->kernel.data, e->pid, waits))
            g_array_set_size(waits, 0);
        ns_pacer_quiet(pacer, waits, g_get_monotonic_time());
        gint64 rest = ns_pacer_baseline_wait_us(pacer, g_get_monotonic_time());

        if (rest > 0)
            g_usleep((gulong)rest);
        if (!e->kernel.vcpu_waits(e->kernel.data, e->pid, waits))
            g_array_set_size(waits, 0);
        ns_pacer_begin(pacer, e->opts.workers, e->opts.batch_budget_us, waits,
                       g_get_monotonic_time());
        next_pace = g_get_monotonic_time() + NS_PACER_INTERVAL_US;
    }

    g_mutex_lock(&e->lock);
    e->report.workers = n;
    e->live_workers = n;
    e->report.worker_background = e->opts.worker_background;
    if (e->opts.worker_cpus != NULL && e->opts.worker_cpus->len > 0) {
        g_autofree char *list = ns_topology_format_list(e->opts.worker_cpus);

        if (g_strlcpy(e->report.worker_cpus, list, sizeof(e->report.worker_cpus)) >=
            sizeof(e->report.worker_cpus))
            strcpy(e->report.worker_cpus + sizeof(e->report.worker_cpus) - 4, "...");
    }
    if (pacer != NULL) {
        e->pace = ns_pacer_get(pacer); /* a window after another goes on at its pace */
        e->report.paced = TRUE;
    }
    g_mutex_unlock(&e->lock);

    for (guint i = 0; i < n; i++) {
        g_autofree char *name = g_strdup_printf("ns-engine-%u", i);
        Worker *w = &workers[i];

        w->engine = e;
        w->number = i;
        w->batch_pages = ns_engine_batch_next(&e->sizing, 0, 0);
        w->batch = g_array_new(FALSE, FALSE, sizeof(Item));
        w->thread = g_thread_try_new(name, worker_main, w, i == 0 ? error : NULL);
        if (w->thread == NULL) {
            worker_free(w);
            g_mutex_lock(&e->lock);
            e->live_workers--;
            e->report.workers--;
            g_mutex_unlock(&e->lock);
            if (i == 0)
                return FALSE;
        }
    }

    g_mutex_lock(&e->lock);
    next = g_get_monotonic_time() + e->opts.progress_interval_us;
    while (e->live_workers > 0) {
        g_cond_wait_until(&e->cond, &e->lock, MIN(next, next_pace));
        if (g_get_monotonic_time() >= next_pace) {
            gboolean changed;

            /* /proc reads and the pacer without the lock: workers go on. */
            g_mutex_unlock(&e->lock);
            if (!e->kernel.vcpu_waits(e->kernel.data, e->pid, waits))
                g_array_set_size(waits, 0);
            changed = ns_pacer_sample(pacer, waits, g_get_monotonic_time());
            g_mutex_lock(&e->lock);
            if (changed) {
                e->pace = ns_pacer_get(pacer);
                g_cond_broadcast(&e->cond); /* parked workers may go again */
            }
            next_pace = g_get_monotonic_time() + NS_PACER_INTERVAL_US;
        }
        if (g_get_monotonic_time() >= next) {
            if (e->opts.progress != NULL) {
                NsEngineProgress p;

                progress_locked(e, &p);
                g_mutex_unlock(&e->lock);
                e->opts.progress(&p, e->opts.progress_data);
                g_mutex_lock(&e->lock);
            }
            next = g_get_monotonic_time() + e->opts.progress_interval_us;
        }
    }
    g_mutex_unlock(&e->lock);

    for (guint i = 0; i < n; i++) {
        if (workers[i].thread == NULL)
            continue;
        g_thread_join(workers[i].thread);
        worker_free(&workers[i]);
    }
    if (pacer != NULL) {
        NsPacerStats st = ns_pacer_get_stats(pacer);

        g_mutex_lock(&e->lock);
        e->report.vcpu_wait_baseline_permille = st.baseline_permille;
        e->report.vcpu_wait_peak_permille = st.peak_permille;
        e->report.pace_backoffs = st.backoffs;
        e->report.pace_slowest_level = st.slowest_level;
        g_mutex_unlock(&e->lock);
    }
    return TRUE;
}

/* Settle the outcome and the error for @e; returns the run's result. */
static gboolean
finish(NsEngine *e, gboolean dry_run, GError **error)
{
    NsEngineReport *r = &e->report;
    guint64 handled;
    gboolean ok = TRUE;

    g_mutex_lock(&e->lock);
    e->end_us = kernel_now(e);
    if (e->paused)
        r->paused_us += MAX(e->end_us - MAX(e->pause_started_us, e->start_us), 0);
    report_refresh_locked(e);
    handled = handled_pages_locked(e);
    if (e->error != NULL) {
        r->outcome = NS_ENGINE_OUTCOME_ERROR;
        g_propagate_error(error, g_error_copy(e->error));
        ok = FALSE;
    } else if (e->no_memory) {
        r->outcome = NS_ENGINE_OUTCOME_NO_MEMORY;
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED,
                    "host node %u ran out of memory: stopped after moving %" G_GUINT64_FORMAT
                    " of %" G_GUINT64_FORMAT " pages; the rest stayed where it was",
                    e->no_memory_node, r->moved_pages, r->planned_pages);
        ok = FALSE;
    } else if (dry_run) {
        r->outcome = NS_ENGINE_OUTCOME_DRY_RUN;
    } else if (e->cancelled && (!e->planned || handled < r->total_pages)) {
        r->outcome = NS_ENGINE_OUTCOME_CANCELLED;
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                    "migration of process %d cancelled after moving %" G_GUINT64_FORMAT
                    " of %" G_GUINT64_FORMAT " pages", (int)e->pid, r->moved_pages,
                    r->planned_pages);
        ok = FALSE;
    } else {
        r->outcome = NS_ENGINE_OUTCOME_DONE;
    }
    g_mutex_unlock(&e->lock);
    report_progress(e);
    return ok;
}

gboolean
ns_engine_run(NsEngine *engine, GError **error)
{
    NsEngine *e = engine;
    gboolean tagged;
    gboolean cancelled;
    long rc;

    g_mutex_lock(&e->lock);
    if (e->ran) {
        g_mutex_unlock(&e->lock);
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "this migration job already ran");
        return FALSE;
    }
    e->ran = TRUE;
    e->start_us = kernel_now(e);
    e->pass = 1;
    e->report.outcome = NS_ENGINE_OUTCOME_RUNNING;
    ns_token_bucket_init(&e->bucket, rate_bytes(e->opts.rate_limit_mib_s),
                         rate_capacity(rate_bytes(e->opts.rate_limit_mib_s)), e->start_us);
    cancelled = e->cancelled;
    g_mutex_unlock(&e->lock);
    if (cancelled)
        return finish(e, FALSE, error);

    urcu_memb_read_lock();
    tagged = ns_radix_tagged(e->tree, NS_RADIX_TAG_MIGRATING);
    urcu_memb_read_unlock();
    if (tagged) {
        g_mutex_lock(&e->lock);
        g_set_error(&e->error, NS_ERROR, NS_ERROR_FAILED,
                    "another migration job is moving pages of process %d", (int)e->pid);
        g_mutex_unlock(&e->lock);
        return finish(e, FALSE, error);
    }

    /* A zero-page call checks that the process exists and is ours to move. */
    rc = engine_move_pages(e, 0, NULL, NULL, NULL, MPOL_MF_MOVE);
    if (rc < 0) {
        g_mutex_lock(&e->lock);
        ns_kernel_set_error(&e->error, (int)-rc, e->pid,
                            (gint)g_array_index(e->segments, Segment, 0).node);
        g_mutex_unlock(&e->lock);
        return finish(e, FALSE, error);
    }

    plan_items(e);
    if (e->opts.dry_run || e->queue->len == 0)
        return finish(e, e->opts.dry_run, error);
    if (!run_workers(e, error)) {
        /* No worker could start: nothing was touched. */
        g_mutex_lock(&e->lock);
        e->end_us = kernel_now(e);
        e->report.outcome = NS_ENGINE_OUTCOME_ERROR;
        report_refresh_locked(e);
        g_mutex_unlock(&e->lock);
        return FALSE;
    }
    return finish(e, FALSE, error);
}
