/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live placement map of one running guest
 * ===========================================
 * One radix tree per QEMU process (radix.h: node, order and state of each
 * guest page), the memory map it describes, and when it was last scanned.
 * numashiftd keeps one per tracked domain from its first scan until its
 * QEMU exits; its jobs write markers and results into it while status
 * readers walk it without locks.  The CLI makes one, uses it and drops it.
 *
 * Writers: one at a time, the move pipeline (scan and engine) of the job
 * that holds the domain's mover lock.  Readers: any registered
 * liburcu-memb thread, any time (ns_live_map_summarize(): running counts
 * the writer keeps beside the tree, so a status answer costs no walk).
 *
 * Unmovable memory.  A page whose move still fails after the engine's
 * passes with a lasting cause (EBUSY: pinned; EACCES: mapped by another
 * process; EFAULT) is *unmovable*: its entry keeps the failure, a strike
 * count and the minute of its last try (radix.h).  The next move skips it
 * until its backoff ends: 1 minute after the first strike, doubling per
 * strike up to 1 hour.  ns_live_map_forgive() has the next move try them
 * all (a pinning change, an operator's request); a new QEMU gets a new map.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>

#include "numashift/memmap.h"
#include "numashift/placement.h"
#include "numashift/radix.h"

G_BEGIN_DECLS

#define NS_UNMOVABLE_BACKOFF_MIN_MINUTES 1u
#define NS_UNMOVABLE_BACKOFF_MAX_MINUTES 60u

typedef struct _NsLiveMap NsLiveMap;

/*
 * An empty map for QEMU process @pid (no scan yet).  NULL with
 * NS_ERROR_FAILED when the tree cannot be allocated.
 * Context: any thread.
 */
NsLiveMap *ns_live_map_new(pid_t pid, GError **error);

/* Take / drop a reference; the last drop frees the tree.  NULL is accepted
 * by unref.  Context: the last unref from a registered liburcu-memb thread
 * outside any read-side section, with no writer left. */
NsLiveMap *ns_live_map_ref(NsLiveMap *live);
void ns_live_map_unref(NsLiveMap *live);

/* The QEMU process it describes.  Context: any thread. */
pid_t ns_live_map_get_pid(const NsLiveMap *live);

/*
 * Whether it describes the process of @map: the same PID and, where both
 * know it, the same start time (a QEMU that exited and a later process
 * that got its PID are two processes, two maps).  The first map a live
 * map is used with (ns_live_map_belongs_to() TRUE) lends it its start time.
 * Context: the live map's writer.
 */
gboolean ns_live_map_belongs_to(NsLiveMap *live, const NsMemMap *map);

/* The tree, for the writer (and readers that walk it themselves).  Context: any thread. */
NsRadix *ns_live_map_get_tree(NsLiveMap *live);

/*
 * Record that the tree now describes @map (copied), scanned just now.  A
 * map whose layout (ranges, cells) differs from the last one's, and the
 * first, count the tree's entries for ns_live_map_summarize(): a walk, as
 * long as the scan was; otherwise the running counts go on.
 * Context: the writer, right after its scan, with no other change of the
 * tree under way; a registered liburcu-memb thread outside any read-side
 * section; takes the map's mutex.
 */
void ns_live_map_set_scanned(NsLiveMap *live, const NsMemMap *map);

/*
 * Forget when the map was scanned (its memory layout changed: a device
 * plugged in or out): the next move scans the whole guest before deciding.
 * The tree and memory map stay for readers.  Context: any thread.
 */
void ns_live_map_invalidate(NsLiveMap *live);

/*
 * The background rescan, one bounded step: scan the next @bytes (rounded up
 * to 2 MiB) of @map's guest memory after where the last step stopped
 * (ranges in guest-physical order; ns_placement_scan_window()), so keeping
 * a 1 TiB guest's map current costs a bounded amount of kernel work per
 * call instead of one long scan.  The step that reaches the end completes
 * a sweep: the map then counts as scanned at the time the sweep *began*
 * (its first pages are that old) and describes @map, unless
 * ns_live_map_invalidate() was called meanwhile; the next step starts a
 * new sweep.  *@ret_scanned (may be NULL): bytes scanned.  Errors as
 * ns_placement_scan(); the cursor does not move on error.
 * Context: the writer (no job is moving this map's pages), a registered
 * liburcu-memb thread outside any read-side section.
 */
gboolean ns_live_map_rescan_step(NsLiveMap *live, const NsMemMap *map, guint64 bytes,
                                 const NsPlacementOptions *opts, guint64 *ret_scanned,
                                 GError **error);

/*
 * A copy of the memory map of the last scan, or NULL before the first.
 * Context: any thread; takes the map's mutex.
 */
NsMemMap *ns_live_map_dup_memmap(NsLiveMap *live);

/* g_get_monotonic_time() of the last scan; 0 before the first.  Context: any thread. */
gint64 ns_live_map_get_scanned_us(NsLiveMap *live);

/*
 * Where the guest's pages are now, as the tree knows them (no kernel call,
 * no walk): pages in flight, failed and unmovable included, for the whole
 * guest and per vNUMA cell of the last scan's map.  The answer comes from
 * running counts that the tree's observer keeps on every change
 * (ns_radix_set_observer()), so it costs O(cells x nodes) whatever the
 * guest's size, and it is one consistent snapshot: its counts add up even
 * while a job writes.  A scan that brings a map of another layout counts
 * the tree afresh (ns_live_map_set_scanned()).  NULL before the first scan.
 * Context: a registered liburcu-memb thread; enters a read-side section
 * itself (nesting is fine); takes no lock.
 */
NsPlacementSummary *ns_live_map_summarize(NsLiveMap *live);

/*
 * The minute clock of unmovable entries: whole minutes since the map was
 * made, at g_get_monotonic_time() @now_us (saturating at the entry's
 * field).  Context: any thread; pure but for the map's creation time.
 */
guint ns_live_map_minute(const NsLiveMap *live, gint64 now_us);

/*
 * End every backoff: the next move (ns_live_map_take_forgiveness()) tries
 * every unmovable page again (pinning changed, an operator asked).
 * Context: any thread (atomic).
 */
void ns_live_map_forgive(NsLiveMap *live);

/*
 * Whether a forgiveness is pending, left pending: the move pipeline's
 * policy does not count forgiven pages as staying where they are.
 * Context: any thread (atomic).
 */
gboolean ns_live_map_is_forgiven(NsLiveMap *live);

/*
 * Whether a forgiveness is pending, and clear it: the move pipeline takes
 * it once per run, so one run retries and the next ones back off again.
 * Context: any thread (atomic).
 */
gboolean ns_live_map_take_forgiveness(NsLiveMap *live);

/*
 * The backoff after @strikes (>= 1) failed tries: 1, 2, 4, ... minutes,
 * at most NS_UNMOVABLE_BACKOFF_MAX_MINUTES.  Context: any; pure.
 */
guint ns_unmovable_backoff_minutes(guint strikes);

/*
 * Whether a page whose move failed with @err (a positive errno) after all
 * of the engine's passes failed for a lasting cause: EBUSY, EACCES, EFAULT.
 * Context: any; pure.
 */
gboolean ns_unmovable_errno(int err);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsLiveMap, ns_live_map_unref)

G_END_DECLS
