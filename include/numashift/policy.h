/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy: where each part of a guest's memory should go
 * =====================================================
 * Pure decision logic.  The caller gathers the facts (the domain's XML
 * config, its vCPU affinity, the host topology with fresh free-memory
 * figures, the guest's current placement, its cgroup's cpuset.mems) and
 * ns_policy_decide() says, for each vNUMA cell of the guest (or for the
 * whole guest, cell -1, when it has no vNUMA), which host node its memory
 * should move to and how many bytes, or that it should stay, always with a
 * reason code and a one-line human explanation.  Nothing here talks to
 * libvirt, sysfs or the kernel, so every rule is tested with hand-made
 * facts.  docs/policy.md states the rules with worked examples; in short:
 *
 *   1. mode "off" (config override, else <numashift:policy mode='off'/>
 *      in the domain's metadata): stay; a device assigned through VFIO
 *      (<hostdev type='pci'|'mdev'>, <interface type='hostdev'>) pins all
 *      guest RAM for its DMA: stay ("pinned");
 *   2. numatune mode "interleave", the cell's <memnode> mode "interleave"
 *      or QEMU's backend policy "interleave": stay (the spread is on purpose);
 *   3. each vCPU of the cell weighs 1/k on each of the k nodes its
 *      affinity spans; the heaviest node is the *home*; ties go to the
 *      tied node holding most of the cell's memory, then the lowest id;
 *      when every node with CPUs weighs the same, there is no home: stay;
 *   4. the home must be online, have memory and be allowed (numatune
 *      strict/restrictive nodeset, cgroup cpuset.mems, the cell's
 *      <memnode mode='strict'> nodeset, QEMU's "bind" policy on the
 *      cell's backends), else stay: memory moved outside a bind would
 *      stay there, but the guest's new page faults would land inside it;
 *   5. hysteresis: move only when at least min_remote_percent of the
 *      cell's placed memory, and at least min_remote_mib, is off its home;
 *   6. reserve: never plan more than the home's free memory minus
 *      reserve_mib (minus what earlier cells of this call already planned
 *      there); a move capped below min_remote_mib does not happen.  A cell
 *      backed by hugetlbfs pages (its ranges' page size in @map) counts
 *      the home's free huge pages of that size instead, in whole pages,
 *      without the reserve ("node 1 has 40 free 2 MiB pages; cell 0 needs
 *      128").
 */
#pragma once

#include <glib.h>

#include "numashift/domain-config.h"
#include "numashift/ledger.h"
#include "numashift/memmap.h"
#include "numashift/placement.h"
#include "numashift/topology.h"

G_BEGIN_DECLS

typedef enum {
    NS_POLICY_MODE_FOLLOW, /* memory follows the vCPUs (the default) */
    NS_POLICY_MODE_OFF,    /* never move this domain's memory */
} NsPolicyMode;

/* Defaults of NsPolicyOptions (see docs/policy.md for why these). */
#define NS_POLICY_RESERVE_MIB_DEFAULT 256u
#define NS_POLICY_MIN_REMOTE_PERCENT_DEFAULT 10u
#define NS_POLICY_MIN_REMOTE_MIB_DEFAULT 16u

typedef struct {
    guint64 reserve_mib;      /* free memory every target node keeps, MiB */
    guint min_remote_percent; /* hysteresis: share of placed memory off home, 0..100 */
    guint64 min_remote_mib;   /* hysteresis: and at least this much, MiB */
} NsPolicyOptions;

/* The facts one decision is made from.  Everything is borrowed. */
typedef struct {
    const NsDomainConfig *config;         /* required: cells, numatune, metadata policy */
    const GPtrArray *vcpu_affinity;       /* required: per vCPU, a GArray of guint host
                                             CPUs it may run on (ns_domain_get_vcpu_pinning()) */
    const NsTopology *topology;           /* required: nodes, CPUs, mem_free (refresh first) */
    const NsPlacementSummary *placement;  /* required: where the guest's pages are now */
    const GArray *cpuset_mems;            /* of guint: the QEMU cgroup's cpuset.mems;
                                             NULL when unknown (no restriction) */
    const NsMemMap *map;                  /* the guest's memory map: which backends hold
                                             each cell and QEMU's policy on them; NULL
                                             when unknown (the XML's <memnode>s only) */
    const char *mode_override_source;     /* who set mode_override, for the decisions'
                                             words ("opted out by ..."); NULL:
                                             "configuration" */
    const char *mode_override;            /* numashiftd's per-domain config; beats the
                                             metadata; NULL: none */
    const NsPolicyOptions *options;       /* NULL: the defaults */
    NsLedger *ledger;                     /* what other running moves promised each node
                                             (ledger.h), less room for this one; the caller
                                             holds its lock and read @topology's free
                                             memory under it; NULL: none */
    guint64 ledger_owner;                 /* this move's owner id in @ledger (its own
                                             promises are not counted) */
} NsPolicyInput;

/* Why a decision is what it is.  Stable: printed as ns_policy_reason_to_string(). */
typedef enum {
    NS_POLICY_REASON_MOVE,           /* move: the cell's vCPUs run on the target */
    NS_POLICY_REASON_MOVE_CAPPED,    /* move, but less than all: the reserve caps it */
    NS_POLICY_REASON_IN_PLACE,       /* stay: all placed memory is on the home node */
    NS_POLICY_REASON_HYSTERESIS,     /* stay: too little is off the home node */
    NS_POLICY_REASON_OPTED_OUT,      /* stay: mode "off" */
    NS_POLICY_REASON_INTERLEAVE,     /* stay: numatune interleaves on purpose */
    NS_POLICY_REASON_NO_PREFERENCE,  /* stay: the vCPUs favour no node */
    NS_POLICY_REASON_NODE_UNUSABLE,  /* stay: the home node has no memory (CPUs only) */
    NS_POLICY_REASON_NOT_ALLOWED,    /* stay: the home node is outside the allowed nodes */
    NS_POLICY_REASON_RESERVE,        /* stay: the home node has no room above its reserve */
    NS_POLICY_REASON_NOTHING_PLACED, /* stay: no page of this memory is backed yet */
    NS_POLICY_REASON_PINNED,         /* stay: device assignment (VFIO) pins the guest's RAM */
} NsPolicyReason;

typedef struct {
    gint cell;             /* vNUMA cell id; -1: the whole guest (no vNUMA) */
    gint target;           /* host node to move to; -1: stay */
    gint home;             /* the node the vCPUs chose, also when staying; -1: none */
    guint64 bytes;         /* to move to @target (capped by the reserve); 0 when staying */
    guint64 page_size;     /* with a target: the hugetlbfs page size of this memory, whose
                              pool on @target the move draws on; 0: base pages and THP */
    guint64 remote_bytes;  /* placed bytes of this memory not on @home that can move
                              (unmovable memory, livemap.h, not counted; 0 without a home) */
    NsPolicyReason reason;
    char *message;         /* one line, e.g. "vCPUs 0-1 run on node 1: 200 of 256 MiB elsewhere" */
} NsPolicyDecision;

/*
 * Fill @opts with the defaults (NS_POLICY_*_DEFAULT).
 * Context: any thread; pure.
 */
void ns_policy_options_init(NsPolicyOptions *opts);

/*
 * Parse a policy mode ("follow", "off"; exact spelling, as in the domain
 * XML) into @ret_mode, written only on success.  Errors:
 * NS_ERROR_INVALID_INPUT for NULL or any other string.
 * Context: any thread; pure.
 */
gboolean ns_policy_mode_from_string(const char *text, NsPolicyMode *ret_mode, GError **error);

/*
 * The spelling of @mode ("follow", "off"), or NULL for a value outside the
 * enum.  Static storage.
 * Context: any thread; pure.
 */
const char *ns_policy_mode_to_string(NsPolicyMode mode);

/*
 * The machine-readable name of @reason ("move", "move-capped", "in-place",
 * "hysteresis", "opted-out", "interleave", "no-preference",
 * "node-unusable", "not-allowed", "reserve", "nothing-placed", "pinned"), or NULL for
 * a value outside the enum.  Static storage.
 * Context: any thread; pure.
 */
const char *ns_policy_reason_to_string(NsPolicyReason reason);

/*
 * Decide where the memory of the guest described by @input goes (rules at
 * the top of this file).  Returns a new array of NsPolicyDecision, one per
 * vNUMA cell of @input->config in cell order, or one with cell -1 for a
 * guest without vNUMA; g_array_unref() frees the messages too.  Errors
 * (NS_ERROR_INVALID_INPUT): a required field is NULL, an unknown mode in
 * the override or the metadata, a numatune nodeset that does not parse,
 * min_remote_percent above 100.
 * Context: any thread; pure (reads @input only, takes no lock).
 */
GArray *ns_policy_decide(const NsPolicyInput *input, GError **error);

/*
 * Whether the memory of vNUMA cell @cell of the domain @config describes
 * (-1: all of its memory) may live on host @node: the domain-wide numatune
 * (strict, restrictive), the cell's <memnode mode='strict'> and QEMU's
 * "bind" policy on the backends holding it in @map (NULL: not known) must
 * all allow it, and no assigned device may pin the guest's RAM.  What an
 * operator's "move to node N" checks before anything moves.  Errors:
 * NS_ERROR_PERMISSION naming what forbids the node, NS_ERROR_UNSUPPORTED
 * for memory pinned by device assignment (it cannot move anywhere),
 * NS_ERROR_INVALID_INPUT for a nodeset that does not parse.
 * Context: any thread; pure.
 */
gboolean ns_policy_check_node(const NsDomainConfig *config, const NsMemMap *map, gint cell,
                              guint node, GError **error);

/*
 * Whether node @node of @topology (refreshed) has @need free hugetlbfs
 * pages of @page_size bytes: what an operator's move of hugetlbfs memory
 * (vNUMA cell @cell, -1: the guest) checks before anything moves, the
 * room the policy counts for such memory.  Errors: NS_ERROR_FAILED, "node
 * 1 has 40 free 2 MiB pages; cell 0 needs 128: nothing moved".
 * Context: any thread; pure.
 */
gboolean ns_policy_check_huge_room(const NsTopology *topology, guint node, guint64 page_size,
                                   gint cell, guint64 need, GError **error);

G_END_DECLS
