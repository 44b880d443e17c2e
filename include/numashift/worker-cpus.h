/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the engine's copy workers run
 * ===================================
 * move_pages(2) copies each page on the CPU of the thread that calls it.
 * A worker on a CPU where one of the guest's vCPUs is pinned takes that
 * vCPU's time, in 20 ms calls, for the whole move: measured in the test
 * host (issue #11), the guest's worst memory access grew 10x.  So the
 * workers run where no vCPU is pinned, of the domain or of any other domain
 * numashiftd tracks (a vCPU whose pin set
 * is every CPU numashift may use floats: the scheduler moves it away from
 * a busy CPU, so it reserves none):
 *
 *   1. free CPUs (allowed to numashift, no vCPU pinned there) of the nodes
 *      the pages go to: the copy's destination is local there; when they
 *      are fewer than the workers wanted, every free CPU (a copy stream
 *      more is worth more than a local destination);
 *   2. otherwise any free CPU: the host's housekeeping CPUs;
 *   3. no free CPU (vCPUs pinned to every CPU, or the pinning unknown): one
 *      worker, in the SCHED_IDLE class, on the emulator pin set if the
 *      domain has one (CPUs it gives QEMU's own threads) or else anywhere:
 *      it copies when a CPU would otherwise idle, and a vCPU it makes wait
 *      (one whose page is in flight) sleeps, which frees the CPU for it.
 *
 * The operator may name the CPUs (`--cpus`, `worker-cpus=`): those are
 * used as given, SCHED_IDLE when a vCPU is pinned to one of them.  Never more
 * workers than CPUs: two copy streams on one CPU only take turns.
 */
#pragma once

#include <glib.h>

#include "numashift/topology.h"

G_BEGIN_DECLS

typedef enum {
    NS_WORKER_CPUS_TARGET_NODE,  /* free CPUs of the target nodes */
    NS_WORKER_CPUS_HOUSEKEEPING, /* free CPUs elsewhere */
    NS_WORKER_CPUS_NONE_FREE,    /* a vCPU is pinned to every CPU: one background worker */
    NS_WORKER_CPUS_OPERATOR,     /* the operator's list */
} NsWorkerCpuSource;

/* The facts of a choice; everything borrowed.  CPU lists are GArrays of guint. */
typedef struct {
    const NsTopology *topology;   /* required: which node each CPU is on */
    const GArray *allowed;        /* required: the CPUs numashift may use
                                     (ns_kernel_thread_cpus()) */
    const GPtrArray *vcpu_pins;   /* per vCPU, the CPUs it may run on
                                     (ns_domain_get_vcpu_pinning()); NULL:
                                     unknown, so every CPU counts as pinned */
    const GArray *emulator_cpus;  /* libvirt's emulator pin set; NULL: none */
    const GArray *reserved_cpus;  /* CPUs other domains' vCPUs are pinned to
                                     (ns_worker_cpus_pinned() of each): kept
                                     free of workers like this domain's; NULL: none */
    const GArray *target_nodes;   /* where the pages go */
    const GArray *cpus_override;  /* the operator's CPUs; NULL: choose */
    guint workers;                /* wanted, >= 1 */
} NsWorkerCpusInput;

typedef struct {
    GArray *cpus;             /* of guint, ascending, non-empty: the workers' affinity */
    guint workers;            /* 1..input.workers */
    gboolean background;      /* SCHED_IDLE */
    NsWorkerCpuSource source;
} NsWorkerCpus;

/*
 * Choose (see above).  Errors: NS_ERROR_NOT_FOUND when the operator's
 * CPUs hold none numashift may use (like a node that does not exist),
 * NS_ERROR_INVALID_INPUT when @input lacks a required field.
 * Context: any thread; pure.
 */
NsWorkerCpus *ns_worker_cpus_choose(const NsWorkerCpusInput *input, GError **error);

/*
 * Whether the operator's @cpus_override holds a CPU of @allowed: the check
 * ns_worker_cpus_choose() makes, for a caller that wants the error before
 * it does any work.  Errors: NS_ERROR_NOT_FOUND, as ns_worker_cpus_choose().
 * Context: any thread; pure.
 */
gboolean ns_worker_cpus_check_override(const GArray *cpus_override, const GArray *allowed,
                                       GError **error);

/*
 * One line for the log and the job's report: "1 worker on CPU 3 (free
 * CPUs of target node 1)", "1 worker at SCHED_IDLE on CPUs 0-3 (every
 * CPU may run a vCPU of the domain)".  Context: any thread; pure.
 */
char *ns_worker_cpus_describe(const NsWorkerCpus *choice);

/*
 * The CPUs @vcpu_pins reserves (of guint, ascending): those of every vCPU
 * pinned to fewer than all of @allowed (a floating vCPU reserves none).
 * What numashiftd remembers of a domain for the next domain's workers.
 * Context: any thread; pure.
 */
GArray *ns_worker_cpus_pinned(const GPtrArray *vcpu_pins, const GArray *allowed);

/* Free @choice; NULL accepted.  Context: any thread. */
void ns_worker_cpus_free(NsWorkerCpus *choice);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsWorkerCpus, ns_worker_cpus_free)

G_END_DECLS
