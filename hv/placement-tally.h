/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placement tallies: where a guest's pages are, counted by vNUMA cell,
 * state and host node, for one memory map's layout.  The one place that
 * decides how an entry counts (placement.h's NsPlacementStats): a walk of a
 * tree (ns_placement_summarize()), a sample (ns_placement_sample()) and the
 * live map's running counts (livemap.c) all add entries here.
 *
 * A live tally is kept current by its tree's one writer, change by change
 * (ns_tally_change(), from the tree's observer), and read by any number of
 * readers without locks: a sequence count around each change gives every
 * reader a snapshot in which the totals add up, in O(cells x nodes) however
 * large the guest.  Private to the core library (nscore).
 */
#pragma once

#include <glib.h>

#include "numashift/memmap.h"
#include "numashift/placement.h"
#include "numashift/radix.h"

G_BEGIN_DECLS

typedef struct _NsTally NsTally;

/*
 * Zero counts for @map's layout: its ranges (page-aligned guest-physical
 * spans) and their vNUMA cells.  @shared: readers on other threads may
 * hold it (ns_tally_read()), so memory it replaces is freed after an RCU
 * grace period (call_rcu()); otherwise at once.
 * Context: any thread (a registered liburcu-memb thread when @shared).
 */
NsTally *ns_tally_new(const NsMemMap *map, gboolean shared);

/*
 * Free @tally now (NULL accepted): no reader may hold it.
 * Context: its writer.
 */
void ns_tally_free(NsTally *tally);

/*
 * Free @tally after every reader that might hold it has left its
 * read-side section (call_rcu()).  NULL accepted.
 * Context: its writer, a registered liburcu-memb thread.
 */
void ns_tally_retire(NsTally *tally);

/*
 * Whether @tally counts by @map's layout (the same ranges with the same
 * cells), so that it stays valid for it.  Context: its writer; pure.
 */
gboolean ns_tally_matches(const NsTally *tally, const NsMemMap *map);

/*
 * Count @pages base pages described by @info at guest frame @gfn (in the
 * range that holds @gfn; nothing when no range does).
 * Context: its writer.
 */
void ns_tally_add(NsTally *tally, guint64 gfn, const NsPageInfo *info, guint64 pages);

/*
 * The tree entry at @gfn changed from @old_entry to @new_entry (either may
 * be NULL, or not a page entry: then it does not count): one step for
 * readers, who see both halves or neither.
 * Context: its writer (a tree observer, radix.h: under the tree's lock).
 */
void ns_tally_change(NsTally *tally, guint64 gfn, const void *old_entry, const void *new_entry);

/*
 * Count every page entry of @tree inside the layout.
 * Context: its writer, a registered liburcu-memb thread outside any
 * read-side section; enters them itself, one per batch of entries.
 */
void ns_tally_count_tree(NsTally *tally, const NsRadix *tree);

/*
 * A consistent snapshot of the counts, as a summary: the whole map, then
 * every vNUMA cell of the layout in ascending order (a cell with no page
 * too).  Retries while the writer is mid-change, which is a few stores.
 * Context: any thread; if @tally is shared and another thread may retire
 * it, a registered liburcu-memb reader inside urcu_memb_read_lock().
 */
NsPlacementSummary *ns_tally_read(const NsTally *tally);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsTally, ns_tally_free)

G_END_DECLS
