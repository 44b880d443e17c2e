/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The move pipeline: the one way numashift moves a guest's memory
 * ===============================================================
 * numashiftd's jobs and `numashift migrate --direct` both run it, so both
 * make the same checks in the same order:
 *
 *   target checks (migrate: the node exists, has memory, and the domain's
 *   strict/restrictive numatune allows it)
 *   -> a sampled look (rebalance with sample_stride: stop when the policy
 *      would move nothing)
 *   -> the mover lock (one mover per domain across processes)
 *   -> decide (policy: fresh pinning, free memory and cpuset, and the
 *      guest's placement: with a fresh live map a sample (one page in 16,
 *      at most about 4096 pages) plus what the map knows cannot move, else
 *      a full scan) or the operator's target
 *   -> plan -> window by window (128 MiB of guest memory): scan the window,
 *      move it -> the tree holds the result.
 *
 * Streaming: what the engine holds is one window's queue whatever the
 * guest's size, and the first pages move after one window's scan, not the
 * whole guest's.  A move that did not scan the whole guest ends with a
 * full scan when the live map is not fresh, so the map describes the
 * whole guest afterwards.
 *
 * The tree is the caller's live map (livemap.h): numashiftd's, kept from
 * job to job and read by status while the engine writes markers into it,
 * or one the CLI makes and drops afterwards.
 *
 * An NsMove is made once per run; pause, resume and cancel may come from
 * any thread at any time (before the engine exists they are remembered).
 */
#pragma once

#include <glib.h>

#include "numashift/domain-config.h"
#include "numashift/engine.h"
#include "numashift/livemap.h"
#include "numashift/memmap.h"
#include "numashift/ledger.h"
#include "numashift/policy.h"
#include "numashift/process.h"
#include "numashift/radix.h"

G_BEGIN_DECLS

typedef enum {
    NS_MOVE_REBALANCE, /* the policy decides where each vNUMA cell goes */
    NS_MOVE_TO_NODE,   /* the operator named the node */
} NsMoveKind;

/* Where a run's time goes; ns_move_get_phase_us() reports each. */
typedef enum {
    NS_MOVE_PHASE_SAMPLE, /* the sampled look (rebalance with a stride only) */
    NS_MOVE_PHASE_HOST,   /* topology, free memory, the cgroup's nodes */
    NS_MOVE_PHASE_SETTLE, /* a held run waiting for ns_move_release() */
    NS_MOVE_PHASE_SCAN,   /* the mover lock and every page's placement */
    NS_MOVE_PHASE_DECIDE, /* pinning, policy, plan */
    NS_MOVE_PHASE_ENGINE, /* the engine set up */
    NS_MOVE_PHASE_COUNT,
} NsMovePhase;

/* The longest hot-pages sample (NsMoveSpec.hot_sample_us): 60 s. */
#define NS_MOVE_HOT_SAMPLE_MAX_US (G_GINT64_CONSTANT(60) * G_USEC_PER_SEC)

typedef struct {
    NsMoveKind kind;
    guint to;                      /* TO_NODE: the target host node */
    gint cell;                     /* TO_NODE: one vNUMA cell, -1: all */
    const NsPolicyOptions *policy; /* REBALANCE: NULL for the defaults */
    const char *mode_override;     /* REBALANCE: numashiftd's per-domain mode; NULL: none */
    const char *mode_override_source; /* REBALANCE: who set it (NsPolicyInput's words) */
    const char *sysfs_root;        /* NULL: "/sys" (tests use captured trees) */
    guint sample_stride;           /* REBALANCE: decide on every Nth page first; 0: no sample */
    gint64 fresh_us;               /* REBALANCE: when the live map's last full scan is
                                      younger than this, decide on a sample and the map
                                      (no full scan before the move); 0: always scan first */
    guint64 rescan_bytes;          /* REBALANCE with a sample that moves nothing: scan this
                                      much more of the live map (the background rescan,
                                      ns_live_map_rescan_step()); 0: none */
    gboolean held;                 /* REBALANCE without a stride: do what does not depend
                                      on the vCPU pinning (sample, host facts), then wait
                                      for ns_move_release() before deciding (numashiftd
                                      starts a pinning job at the first event of a burst
                                      and releases it when the burst has settled) */
    const char *holder;            /* who moves, recorded in the mover lock ("numashiftd
                                      (pid 12), job 3"); required unless engine.dry_run */
    NsEngineOptions engine;        /* workers, rate, dry run, progress (copied); its
                                      worker_cpus and worker_background are the run's
                                      own choice (worker-cpus.h), overwritten */
    const char *worker_cpus;       /* the operator's CPUs for the workers ("2-3");
                                      NULL: chosen away from the domain's vCPUs */
    const GArray *reserved_cpus;   /* of guint: CPUs other domains' vCPUs are pinned to,
                                      kept free of workers too (copied); NULL: none */
    NsLedger *ledger;              /* REBALANCE: the host's ledger (ledger.h), shared with
                                      the other runs: the decision counts their promises
                                      and records its own (until the run ends); borrowed,
                                      outlives the run; NULL: decide alone (the CLI) */
    guint64 ledger_owner;          /* with @ledger: this run's id there, not 0 */
    gint64 hot_sample_us;          /* hot pages first (hot-sample.h): a soft-dirty sample
                                      this long before the first move, then the 2 MiB
                                      blocks written in it move before the rest; 0:
                                      address order.  At most NS_MOVE_HOT_SAMPLE_MAX_US */
    /* Called from the running thread, with no lock held; each may be NULL. */
    void (*on_decisions)(const GArray *decisions, gpointer data); /* of NsPolicyDecision */
    void (*on_workers)(const char *line, gpointer data); /* where the workers run, once
                                                            per run that moves
                                                            (ns_worker_cpus_describe()) */
    gpointer data;
} NsMoveSpec;

typedef struct _NsMove NsMove;

/* A running libvirt domain (domain.h): ns_move_run() is its adapter, in
 * hv/libvirt/; the pipeline itself sees only its facts. */
typedef struct _NsDomain NsDomain;

/* A run of @spec (copied; its strings too).  Context: any thread. */
NsMove *ns_move_new(const NsMoveSpec *spec);

/*
 * KVM's counters of the domain now, into @ret; FALSE when there are none
 * (a TCG guest, a QEMU before 7.1, the monitor busy or gone).
 */
typedef gboolean (*NsMoveKvmCountersFunc)(gpointer data, NsKvmCounters *ret);

/*
 * Have the run read @counters (@data: its argument) right before its
 * first move and after its last, and put the difference in its report
 * (NsEngineReport.kvm): what KVM did for the move (pages remapped, remote
 * TLB flushes: the MMU notifier zapping the guest's mappings).  Nothing is
 * claimed when either read fails.  ns_move_run() sets the domain's own.
 * Context: before ns_move_run_on().
 */
void ns_move_set_kvm_counters(NsMove *move, NsMoveKvmCountersFunc counters, gpointer data);

/*
 * The process the run moves, held by a pidfd (borrowed; it must outlive
 * the run): its engines stop the moment it exits (NsEngineOptions.process).
 * ns_move_run() sets the domain's own.
 * Context: before ns_move_run_on().
 */
void ns_move_set_process(NsMove *move, const NsProcess *process);

/*
 * The CPUs this run found its domain's vCPUs pinned to
 * (ns_worker_cpus_pinned()), when it chose where its workers run; NULL
 * before that, for a dry run, or when the pinning could not be read.
 * numashiftd keeps it to keep the next domain's workers off them.
 * Borrowed: valid until the next note or ns_move_free().
 * Context: after ns_move_run() returned, or from its thread.
 */
const GArray *ns_move_get_pinned_cpus(NsMove *move);

/*
 * Record @cpus (of guint; copied) as the CPUs the domain's vCPUs are pinned
 * to, as the pipeline does when it chooses worker CPUs: for a caller that
 * runs a move of its own making instead (numashiftd's tests).
 * Context: the run's thread.
 */
void ns_move_note_pinned_cpus(NsMove *move, const GArray *cpus);

/* Free @move; NULL is accepted.  Context: any thread, not while ns_move_run() runs. */
void ns_move_free(NsMove *move);

/*
 * Run the pipeline once on @dom, whose memory map is @map (of the process
 * @live describes), into @live's tree: the scan, the markers and the
 * engine's results, unmovable records included (livemap.h).
 * Returns TRUE when it ran to its end: nothing to move
 * (ns_move_get_report() is NULL), or the engine's job ended (DONE, DRY_RUN,
 * or CANCELLED by ns_move_cancel(), also before the engine started: see
 * the report).  FALSE with the first
 * error: the target checks (NS_ERROR_NOT_FOUND, NS_ERROR_UNSUPPORTED,
 * NS_ERROR_PERMISSION for a node the numatune, a memnode or a QEMU bind forbids:
 * ns_policy_check_node()), NS_ERROR_BUSY
 * (another mover holds the domain), the scan's and the policy's errors,
 * and the engine's (ns_engine_run(); a full target node is an error with
 * a report whose outcome is NO_MEMORY).  No marker is left in @tree in any case.
 * Context: a registered liburcu-memb thread outside any read-side section;
 * blocks (libvirt, QMP, the kernel) until the run ends; calls
 * spec->on_decisions and the engine's progress callback from this thread.
 */
gboolean ns_move_run(NsMove *move, NsDomain *dom, const NsMemMap *map, NsLiveMap *live,
                     GError **error);

/* The host CPUs each vCPU may run on, as ns_domain_get_vcpu_pinning(). */
typedef GPtrArray *(*NsMovePinningFunc)(gpointer data, GError **error);

/*
 * ns_move_run() on a domain given by its facts instead of its libvirt
 * handle: @config (its XML, parsed: name, UUID for the mover lock,
 * numatune, cells) and @pinning, called for fresh vCPU pinning when the
 * policy decides (NULL: a REBALANCE fails with NS_ERROR_UNSUPPORTED).
 * ns_move_run() is this with the domain's own; benchmarks run the whole
 * pipeline this way on a simulated guest (NsEngineOptions.kernel).
 * Context: as ns_move_run(); @pinning is called from this thread.
 */
gboolean ns_move_run_on(NsMove *move, const NsDomainConfig *config, NsMovePinningFunc pinning,
                        gpointer pinning_data, const NsMemMap *map, NsLiveMap *live,
                        GError **error);

/*
 * Pause, resume, cancel the run's engine (or the engine it will start).
 * A cancel before the engine runs ends the run at its next step.
 * Context: any thread; takes the move's mutex.
 */
void ns_move_pause(NsMove *move);
void ns_move_resume(NsMove *move);
void ns_move_cancel(NsMove *move);

/*
 * Let a held run (NsMoveSpec.held) go on to decide and move; a run not
 * held, or not yet at its wait, goes on without waiting.
 * Context: any thread; takes the move's mutex.
 */
void ns_move_release(NsMove *move);

/*
 * Wait until @move is released or cancelled; TRUE when released (at once
 * when the run is not held).  ns_move_run_on() waits here; run functions
 * of tests do too.
 * Context: the run's thread; blocks.
 */
gboolean ns_move_settle(NsMove *move);

/* Whether @move is held and not released yet.  Context: any thread. */
gboolean ns_move_is_held(NsMove *move);

/* Whether the run is paused (asked to, or the engine says so).  Context: any thread. */
gboolean ns_move_is_paused(NsMove *move);

/*
 * The report so far (a copy the caller frees): the windows moved until
 * now, summed (the window in flight counts once it ends); NULL when no
 * engine was made (nothing to move, or the run failed before).
 * Context: any thread; takes the move's mutex.
 */
NsEngineReport *ns_move_get_report(NsMove *move);

/* Microseconds @phase took, or -1 when not reached.  Context: any thread. */
gint64 ns_move_get_phase_us(NsMove *move, NsMovePhase phase);

/* The phase's short name ("sample", "host", "settle", "scan", "decide", "engine").
 * Context: any; pure. */
const char *ns_move_phase_to_string(NsMovePhase phase);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsMove, ns_move_free)

G_END_DECLS
