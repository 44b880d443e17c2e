/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's NUMA topology
 * ========================
 * Nodes, their CPUs, the distances between them and their total and free
 * memory, read from sysfs under a root directory that is a parameter, so
 * that tests can load trees captured from other machines
 * (tests/data/sysfs/).  Files read, relative to the root:
 *
 *   devices/system/node/possible       every node the kernel could ever use
 *   devices/system/node/online         the nodes in use now
 *   devices/system/node/has_memory     nodes with memory (optional)
 *   devices/system/node/nodeN/cpulist  CPUs of an online node ("0-3,8")
 *   devices/system/node/nodeN/distance one distance per online node
 *   devices/system/node/nodeN/meminfo  "Node N MemTotal: ... kB" lines
 *   devices/system/node/nodeN/hugepages/hugepages-<size>kB/{nr,free}_hugepages
 *                                      the node's hugetlbfs pools (optional: a
 *                                      kernel without hugetlbfs has none)
 *
 * A possible node that is not online has no nodeN directory: it is listed
 * with online = FALSE, no CPUs, no memory and unknown distances.  An online
 * node without memory ("memoryless", e.g. CPUs only) has has_memory = FALSE.
 *
 * libnuma is used for what it is good at on the live host: whether the
 * kernel's NUMA system calls work at all (numa_available()).  Linking this
 * module also replaces libnuma's numa_error() and numa_warn(), which print
 * to stderr and may exit(), with versions that only log through GLib (log
 * domain "libnuma", level debug for errors -- the failing libnuma call also
 * returns an error, which callers report -- and info for warnings).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bounds on ids accepted from sysfs (the kernel's own limits are lower). */
#define NS_TOPOLOGY_MAX_NODE 4095
#define NS_TOPOLOGY_MAX_CPU 65535

/* A node's pool of hugetlbfs pages of one size. */
typedef struct {
    guint64 page_size;   /* bytes (2 MiB, 1 GiB on x86-64) */
    guint64 total;       /* pages in the pool (nr_hugepages) */
    guint64 free;        /* of them free (free_hugepages) */
} NsHugePool;

typedef struct {
    guint id;
    gboolean online;
    gboolean has_memory; /* online and listed in has_memory (or MemTotal > 0) */
    guint64 mem_total;   /* bytes; 0 when offline */
    guint64 mem_free;    /* bytes, when loaded or last refreshed; 0 when offline */
    GArray *cpus;        /* of guint, ascending; empty for a CPU-less node */
    GArray *distances;   /* of guint, indexed by node id up to max_node;
                            0 = unknown (either node offline) */
    GArray *huge_pools;  /* of NsHugePool, ascending page size; empty when
                            offline or without hugetlbfs */
} NsNode;

typedef struct {
    char *sysfs_root;    /* where it was read from */
    GPtrArray *nodes;    /* of NsNode *: every possible node, ascending id */
    guint max_node;      /* highest possible node id */
    gboolean numa_api;   /* the kernel's NUMA calls work (libnuma's
                            numa_available()); probed only for the live host,
                            FALSE for a tree loaded from elsewhere */
} NsTopology;

/*
 * Read the topology under @sysfs_root, or under the live host's /sys (and
 * probe libnuma) when @sysfs_root is NULL.  Errors: NS_ERROR_UNSUPPORTED if
 * there is no devices/system/node directory (a kernel without NUMA),
 * NS_ERROR_NOT_FOUND if a file an online node must have is missing,
 * NS_ERROR_IO if a file cannot be read, NS_ERROR_INVALID_INPUT if one does
 * not parse or contradicts another (a distance row of the wrong length, a
 * CPU in two nodes, an online node that is not possible...).
 * Context: any thread; blocks on sysfs reads; no locks.
 */
NsTopology *ns_topology_load(const char *sysfs_root, GError **error);

/*
 * Node @node's hugetlbfs pool of @page_size bytes, or NULL when it has
 * none of that size.  Borrowed from @node.
 * Context: any thread; no locks; @node must not be refreshed meanwhile.
 */
const NsHugePool *ns_node_get_huge_pool(const NsNode *node, guint64 page_size);

/*
 * Re-read every online node's MemTotal and MemFree (and its huge page
 * pools) from the same root.
 * All or nothing: on error @topo is unchanged.  Node and CPU sets are not
 * re-read (load a new topology after a hotplug).
 * Context: any thread that may write @topo (no concurrent readers of its
 * memory fields); blocks on sysfs reads.
 */
gboolean ns_topology_refresh_memory(NsTopology *topo, GError **error);

/*
 * The node with id @node_id, or NULL if it is not a possible node.
 * Borrowed from @topo.
 * Context: any thread; no locks; @topo must not be freed meanwhile.
 */
const NsNode *ns_topology_get_node(const NsTopology *topo, guint node_id);

/*
 * The id of the online node holding CPU @cpu, or -1 if no node lists it.
 * Context: any thread; no locks.
 */
gint ns_topology_node_of_cpu(const NsTopology *topo, guint cpu);

/*
 * The distance from node @from to node @to as sysfs reports it (10 for a
 * node to itself), or 0 if either is not an online node.
 * Context: any thread; no locks.
 */
guint ns_topology_distance(const NsTopology *topo, guint from, guint to);

/*
 * Parse a kernel id list ("0-3,8,10-11"; empty or blank = no ids) into a
 * new array of guint, ascending and without duplicates.  Every id must be
 * <= @max.  Errors: NS_ERROR_INVALID_INPUT.
 * Context: any thread; no locks.
 */
GArray *ns_topology_parse_list(const char *text, guint max, GError **error);

/*
 * The kernel's list syntax for @ids (of guint, ascending, no duplicates):
 * "0-3,8,10-11"; "" for none.  The inverse of ns_topology_parse_list().
 * Context: any thread; pure.
 */
char *ns_topology_format_list(const GArray *ids);

/*
 * Free @topo and its nodes.  NULL is accepted.
 * Context: any thread; no locks; no reader may still use @topo.
 */
void ns_topology_free(NsTopology *topo);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsTopology, ns_topology_free)

G_END_DECLS
