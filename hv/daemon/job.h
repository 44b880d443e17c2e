/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One numashiftd job on one domain, run in a thread of its own: look the
 * domain up, read its pinning, memory map and placement, decide (policy)
 * or take the operator's target (migrate), run the migration engine.  What
 * it decides and how it progresses reaches the owner in the main context.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>

#include "numashift/engine.h"
#include "numashift/livemap.h"
#include "numashift/memmap.h"
#include "numashift/move.h"
#include "numashift/policy.h"

G_BEGIN_DECLS

typedef enum {
    NS_JOB_REBALANCE, /* the policy decides where each cell goes */
    NS_JOB_MIGRATE,   /* the operator named the target */
} NsJobKind;

typedef struct {
    NsJobKind kind;
    guint64 serial;          /* the daemon's number for the job (events carry it) */
    char *uuid;              /* the domain */
    char *name;              /* and its name, for people (jobs, events); NULL: not known */
    char *trigger;           /* "pinning", "start", "drift", "request", ... (for the log) */
    guint to;                /* migrate: target node */
    gint cell;               /* migrate: one vNUMA cell, -1: all */
    double rate_mib_s;       /* 0: unlimited */
    gboolean move_shared;    /* move pages other processes map too (MPOL_MF_MOVE_ALL) */
    guint hot_sample_ms;     /* hot pages first: a sample this long (0: address order) */
    guint workers;           /* 0: the engine's default */
    char *worker_cpus;       /* the workers' CPUs (libvirt list syntax); NULL: chosen
                                away from the domain's vCPUs (worker-cpus.h) */
    const GArray *reserved_cpus; /* of guint: CPUs other tracked domains' vCPUs are
                                pinned to, kept free of workers too; borrowed (the
                                job copies it); NULL: none */
    NsPolicyOptions policy;  /* rebalance */
    char *mode_override;     /* rebalance: the daemon's per-domain mode; NULL: none */
    char *mode_override_source; /* who set it: NULL (configuration) or an operator at run time */
    const char *sysfs_root;  /* NULL: "/sys" (tests use captured trees) */
    guint sample_stride;     /* rebalance: decide on every Nth page first and stop
                                there when nothing would move (0: full scan) */
    guint64 rescan_bytes;    /* rebalance with a sample that moves nothing: this much
                                more of the live map scanned (the background rescan) */
    gint64 live_fresh_us;    /* rebalance: decide from the live map scanned within this
                                long, without a scan first (0: scan first) */
    gboolean held;           /* rebalance: prepare, then wait for ns_job_release()
                                before deciding (NsMoveSpec.held) */
    const NsMemMap *memmap;  /* a map of the domain read earlier, to use (copied)
                                if it still holds (ns_memmap_recheck()); NULL: read it */
    NsLedger *ledger;        /* rebalance: the daemon's memory ledger, shared by its
                                jobs (NsMoveSpec.ledger); borrowed, outlives the job;
                                NULL: none */
    NsLiveMap *live;         /* the domain's live placement map (referenced by the job),
                                used when it describes the QEMU the job finds; NULL, or
                                another QEMU: the job starts a new one */
} NsJobSpec;

typedef struct _NsJob NsJob;

typedef struct {
    /* The policy's decisions (a JSON array, one object per cell); rebalance only. */
    void (*on_decision)(NsJob *job, JsonNode *decisions, gpointer data);
    /* Engine progress, at most every 250 ms. */
    void (*on_progress)(NsJob *job, const NsEngineProgress *progress, gpointer data);
    /* The job ended; ns_job_get_result() says how. */
    void (*on_done)(NsJob *job, gpointer data);
    gpointer data;
} NsJobCallbacks;

/*
 * Start @spec (copied) on @conn (referenced for the job's life) in a new
 * thread: look the domain up, read its memory map, run the move pipeline
 * into its live map.  Callbacks run in the calling thread's main context.
 * Context: main thread.
 */
NsJob *ns_job_start(virConnectPtr conn, const NsJobSpec *spec, const NsJobCallbacks *callbacks);

/*
 * What a job's thread runs instead of the real work, for the daemon's
 * manager tests: called in the job's thread (registered with liburcu) with
 * the job's pipeline (@move: its pause, resume and cancel are the job's);
 * returns FALSE with @error to fail the job.  A job that ran no engine
 * ends "nothing-to-do".
 */
typedef gboolean (*NsJobRunFunc)(NsJob *job, NsMove *move, gpointer data, GError **error);

/*
 * ns_job_start() with @run in place of the real work, and no libvirt
 * connection.  Context: main thread.
 */
NsJob *ns_job_start_run(NsJobRunFunc run, gpointer run_data, const NsJobSpec *spec,
                        const NsJobCallbacks *callbacks);

/*
 * Pause, resume or cancel; harmless before the engine starts or after it
 * ends.  A cancel with @reason (copied; NULL: an operator's cancel, whose
 * job ends "cancelled") makes a job that ends cancelled fail with @reason.
 * Context: main thread.
 */
void ns_job_pause(NsJob *job);
void ns_job_resume(NsJob *job);
void ns_job_cancel(NsJob *job, const GError *reason);

/*
 * Let a held job (NsJobSpec.held) decide and move.  FALSE when its run
 * had already ended (it failed while preparing): the caller starts another.
 * Context: main thread (any thread would do: the job's and the move's mutex).
 */
gboolean ns_job_release(NsJob *job);

/* Whether @job is held and not released yet.  Context: any thread. */
gboolean ns_job_is_held(NsJob *job);

/* Whether on_done has been delivered.  Context: main thread. */
gboolean ns_job_is_done(NsJob *job);

/*
 * The job as JSON: kind, trigger, state ("preparing", "settling" (held,
 * prepared or preparing, waiting for its release), "moving", "paused",
 * "done", "cancelled", "failed", "nothing-to-do"), progress, elapsed_us
 * (start to end, or so far), and when done the engine's report or the
 * error.  Context: main thread.
 */
JsonNode *ns_job_describe(NsJob *job);

/* Add @p's members (done_pages, total_pages, moved_bytes, mib_per_s, eta_us) to the open object.  Context: any; pure. */
void ns_job_add_progress(JsonBuilder *b, const NsEngineProgress *p);

/* The job's error once done, or NULL.  Context: main thread. */
const GError *ns_job_get_error(NsJob *job);

/* The memory map it used (read or rechecked), once done; NULL if it got
 * none.  Borrowed: valid while @job lives.  Context: main thread. */
const NsMemMap *ns_job_get_memmap(NsJob *job);

/* The priority the domain's libvirt metadata gives (<numashift:policy
 * priority='N'>): *@ret_has and *@ret_priority as the job read its XML;
 * FALSE, and neither written, when it did not get that far.
 * Context: main thread. */
gboolean ns_job_get_metadata_priority(NsJob *job, gboolean *ret_has, gint *ret_priority);

/* The CPUs the job found its domain's vCPUs pinned to (of guint), once
 * done; NULL when it did not look (nothing to move, a dry run) or could
 * not tell.  Borrowed: valid while @job lives.  Context: main thread. */
const GArray *ns_job_get_pinned_cpus(NsJob *job);

/*
 * The live placement map the job writes (the spec's, or the new one it
 * started for a new QEMU); NULL until the job has found its QEMU.
 * Borrowed: valid while @job lives.  Context: main thread.
 */
NsLiveMap *ns_job_get_live(NsJob *job);

/* The spec it runs.  Context: main thread. */
const NsJobSpec *ns_job_get_spec(NsJob *job);

/* Join the thread (waits for it to end: cancel first) and free.  NULL is accepted.  Context: main thread. */
void ns_job_free(NsJob *job);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsJob, ns_job_free)

G_END_DECLS
