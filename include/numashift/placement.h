/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placement: where each page of a guest's RAM is now
 * ===================================================
 * ns_placement_scan() asks the kernel where every page behind a guest's
 * memory map lives (move_pages(2) in query mode, in batches, on the QEMU
 * process) and records the answer in the domain's radix tree, one page
 * entry (radix.h) per *unit*, keyed by guest frame number:
 *
 *   - a base page: an order-0 entry at its gfn;
 *   - a large folio (a transparent huge page, or a multi-size THP) mapped
 *     whole, aligned and inside one range: ONE entry of the folio's order
 *     at the gfn of its first byte; the gfns of its other base pages carry
 *     no entry.  The engine hands the kernel one address per such entry,
 *     so a huge page always moves whole;
 *   - a page of a hugetlbfs range (range->page_size > 4 KiB): one entry of
 *     order log2(page_size / 4 KiB) per huge page.
 *
 * An entry of order k at gfn g stands for gfns [g, g + 2^k).  Its node is
 * the node of the folio; "absent" (NS_PAGE_ABSENT) means the kernel has no
 * page there (-ENOENT / -EFAULT: never touched, or swapped out).
 *
 * How large folios are found.  move_pages() cannot tell; /proc/PID/pagemap
 * gives each virtual page's PFN (root only: the PFN reads as 0 without
 * CAP_SYS_ADMIN) and /proc/kpageflags gives each PFN's flags.  A unit is a
 * large folio when its first virtual page maps a COMPOUND_HEAD PFN, the
 * following PFNs up to the next non-COMPOUND_TAIL one are all mapped, in
 * order, at the following virtual pages, their count is a power of two (at
 * most 512) and the virtual address is aligned to it.  Without those files
 * (not root, a kernel without kpageflags) every unit is a base page and
 * the scan says so (NsPlacementScanStats.huge_detection); moving still
 * works, the kernel then moves a large folio when asked for any of its
 * pages and answers -EBUSY for the rest, which the engine retries.
 *
 * The radix tree's readers and writers must be registered liburcu-memb
 * threads (urcu_memb_register_thread()).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "numashift/kernel.h"
#include "numashift/memmap.h"
#include "numashift/radix.h"

G_BEGIN_DECLS

/* Default addresses per move_pages() query: about 6 ms of kernel time. */
#define NS_PLACEMENT_BATCH_DEFAULT 32768u

typedef struct {
    guint batch_pages; /* addresses per move_pages() call; 0: NS_PLACEMENT_BATCH_DEFAULT */
    gboolean no_huge;  /* do not look for large folios: every unit is a base page */
    const NsKernel *kernel; /* NULL: the host's (kernel.h) */
} NsPlacementOptions;

/* What one scan did.  Page counts are in 4 KiB base pages. */
typedef struct {
    guint64 calls;           /* move_pages() query calls */
    guint64 units;           /* entries the map now has in the tree */
    guint64 present_pages;   /* backed by a host page */
    guint64 absent_pages;    /* not backed (never touched, or swapped out) */
    guint64 huge_entries;    /* entries of order > 0 */
    guint64 huge_pages;      /* base pages covered by them */
    guint64 written;         /* entries inserted or changed */
    guint64 removed;         /* stale entries deleted (tails of a new huge page, gaps of the map) */
    gboolean huge_detection; /* pagemap + kpageflags were readable with PFNs */
} NsPlacementScanStats;

/*
 * Record where every page of @map lives in @tree (see the top of this
 * file).  Entries are inserted, updated (a FAILED entry's tag is cleared
 * with it), left alone when unchanged or when a FAILED entry still
 * describes the page (same node and order: the failed move did not
 * happen, and its errno and unmovable record stay), and entries at gfns that are no
 * longer a unit head or lie outside @map's ranges are deleted, so that
 * after the scan @tree describes exactly @map.  @opts may be NULL for the
 * defaults; @ret_stats (may be NULL) is written only on success.
 *
 * Fails with NS_ERROR_NOT_RUNNING if @map->pid does not exist (ESRCH) or
 * has no memory left (exiting), NS_ERROR_PERMISSION on EPERM (not root),
 * NS_ERROR_FAILED on other move_pages() errors, NS_ERROR_INVALID_INPUT
 * for a map whose ranges are not page aligned, sorted and disjoint,
 * NS_ERROR_FAILED if migration markers are
 * in @tree (a job is running).  On failure the ranges scanned before the
 * error keep their new entries and the rest their old ones.
 *
 * Context: a registered liburcu-memb thread, outside any read-side section;
 * takes the tree's writer lock once per changed entry; no engine job may run
 * on @tree meanwhile (the scan is the only writer of page entries).
 */
gboolean ns_placement_scan(NsRadix *tree, const NsMemMap *map, const NsPlacementOptions *opts,
                           NsPlacementScanStats *ret_stats, GError **error);

/*
 * ns_placement_scan() for the part of @map's RAM inside guest-physical
 * [@gpa, @gpa + @size) only (widened to whole host pages of a hugetlbfs
 * range): its entries are written and the stale ones inside the window
 * deleted; the rest of @tree is left as it is.  The move pipeline scans
 * window by window, moving each before scanning the next, so the time to
 * the first move does not grow with the guest.  Errors as
 * ns_placement_scan(), NS_ERROR_INVALID_INPUT for an empty or unaligned
 * window.
 * Context: as ns_placement_scan().
 */
gboolean ns_placement_scan_window(NsRadix *tree, const NsMemMap *map, guint64 gpa, guint64 size,
                                  const NsPlacementOptions *opts, NsPlacementScanStats *ret_stats,
                                  GError **error);

/* Pages and bytes, pages counted in 4 KiB base pages. */
typedef struct {
    guint64 pages;
    guint64 bytes;
} NsPlacementCount;

/*
 * Counts for a set of ranges.  A page counts at the node it is on as far as
 * the tree knows: a PRESENT page at its node, a page in flight (a marker)
 * at the node it is leaving, a FAILED page at the node it stayed on.  So
 * total = sum(nodes) + absent + (pages whose node is unknown).
 */
/* Why a page is unmovable (livemap.h), from the errno its moves failed with. */
typedef enum {
    NS_UNMOVABLE_PINNED, /* EBUSY after every pass: pinned, by a device say */
    NS_UNMOVABLE_SHARED, /* EACCES: mapped by another process too */
    NS_UNMOVABLE_FAULT,  /* EFAULT */
    NS_UNMOVABLE_CAUSES,
} NsUnmovableCause;

/* The cause for a positive errno (EBUSY, EACCES; anything else FAULT).  Context: any; pure. */
NsUnmovableCause ns_unmovable_cause(unsigned err);

/* A few words for @cause ("shared with another process").  Context: any; pure. */
const char *ns_unmovable_cause_to_string(NsUnmovableCause cause);

typedef struct {
    gint cell;                  /* vNUMA cell; -1 for the whole map */
    GArray *nodes;              /* of NsPlacementCount, indexed by host node */
    NsPlacementCount present;   /* state PRESENT */
    NsPlacementCount absent;    /* state ABSENT */
    NsPlacementCount migrating; /* in flight: migration markers */
    NsPlacementCount failed;    /* state FAILED (last move failed) */
    NsPlacementCount unmovable[NS_UNMOVABLE_CAUSES]; /* FAILED and unmovable, by cause
                                                        (part of failed) */
    GArray *unmovable_nodes;    /* of NsPlacementCount, by host node: the unmovable
                                   part of nodes (ns_placement_stats_unmovable_on()) */
    GArray *shared_nodes;       /* of NsPlacementCount, by host node: the part of
                                   unmovable_nodes refused for being shared, which
                                   MPOL_MF_MOVE_ALL moves; NULL when not known */
    NsPlacementCount huge;      /* pages in entries of order > 0 */
    NsPlacementCount total;     /* every page with an entry */
} NsPlacementStats;

typedef struct {
    NsPlacementStats all;
    GPtrArray *cells; /* of NsPlacementStats *, one per vNUMA cell of the map, ascending;
                         empty when no range has a cell */
} NsPlacementSummary;

/*
 * Count @tree's entries over @map's ranges (like numastat -p): for the whole
 * map and per vNUMA cell (range->cell).  An entry counts in the range that
 * holds its gfn.  Safe while an engine job runs: markers count as in flight.
 * Returns a new summary; free with ns_placement_summary_free().
 *
 * Context: a registered liburcu-memb thread outside any read-side section;
 * enters and leaves read-side sections itself (one per batch of entries, so
 * a long walk does not hold up grace periods); takes no lock.
 */
NsPlacementSummary *ns_placement_summarize(const NsRadix *tree, const NsMemMap *map);

/*
 * An estimate of ns_placement_summarize() without a tree or a full scan:
 * one move_pages() query for every @stride-th base page of @map's ranges,
 * each answer counted for the @stride pages it stands for (the last sample
 * of a range for what is left).  Large folios are not looked for (a
 * sampled page counts as base pages).  For the daemon's periodic drift
 * check: at stride 64 a 2 GiB guest costs one query of 8192 addresses.
 * Errors as ns_placement_scan(): NS_ERROR_NOT_RUNNING, NS_ERROR_PERMISSION,
 * NS_ERROR_FAILED; NS_ERROR_INVALID_INPUT for @stride 0.  @kernel: NULL for
 * the host's (kernel.h).
 * Context: any thread; no locks (no tree involved).
 */
NsPlacementSummary *ns_placement_sample(const NsMemMap *map, guint stride,
                                        const NsKernel *kernel, GError **error);

/*
 * Add @summary's members to the open JSON object: "guest" (the whole map)
 * and "cells" (an array), each an object with "cell" (cells only),
 * "nodes" ({"0": {"pages", "bytes"}, ...}), the counts "present_pages",
 * "absent_pages", "migrating_pages", "failed_pages", "unmovable_pages",
 * "huge_pages", "total_pages", and "unmovable" ([{"cause", "pages",
 * "bytes"}], causes with pages only).  Context: any thread; pure.
 */
void ns_placement_summary_add_json(JsonBuilder *b, const NsPlacementSummary *summary);

/* Free @summary; NULL is accepted.  Context: any thread. */
void ns_placement_summary_free(NsPlacementSummary *summary);

/*
 * The bytes of @stats at a known node (the sum over its nodes): what a move
 * could act on.  0 for NULL.  Context: any thread; pure.
 */
guint64 ns_placement_stats_placed_bytes(const NsPlacementStats *stats);

/*
 * @summary's counts for vNUMA cell @cell, or the whole guest's for a
 * negative @cell (a guest without cells); NULL for a cell it has not.
 * Borrowed.  Context: any thread; pure.
 */
const NsPlacementStats *ns_placement_summary_cell(const NsPlacementSummary *summary, gint cell);

/*
 * The counts at host @node in @stats (zero for a node it never saw).
 * Context: any thread; pure.
 */
NsPlacementCount ns_placement_stats_node(const NsPlacementStats *stats, guint node);

/*
 * The unmovable pages (livemap.h) among those at host @node in @stats
 * (zero for a node it never saw).
 * Context: any thread; pure.
 */
NsPlacementCount ns_placement_stats_unmovable_on(const NsPlacementStats *stats, guint node);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsPlacementSummary, ns_placement_summary_free)
/* g_autoptr(NsRadix) for the GLib layers (radix/ itself has no GLib). */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsRadix, ns_radix_destroy)

G_END_DECLS
