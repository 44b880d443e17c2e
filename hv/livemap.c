/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live placement map of one guest (include/numashift/livemap.h).
 */
#include "numashift/livemap.h"

#include <errno.h>
#include <urcu/urcu-memb.h>

#include "numashift/error.h"
#include "placement-tally.h"

struct _NsLiveMap {
    gint refs;
    pid_t pid;
    guint64 start_ticks; /* the process's start time; 0: not known yet (writer's) */
    NsRadix *tree;
    gint64 born_us;  /* the minute clock's zero */
    gint forgiven;   /* atomic: 1 when the next move is to try unmovable pages again */

    GMutex lock; /* guards the fields below */
    NsMemMap *map;
    gint64 scanned_us;

    /* Where the pages are, by cell, state and node, for the layout of
     * @map: kept by the tree's observer on every change, so that a reader
     * needs no walk (placement-tally.h).  Replaced, by the writer, when a
     * scan brings a map of another layout; read under RCU.  NULL before
     * the first scan. */
    NsTally *tally;

    /* The background rescan (writer only, so no lock): the next
     * guest-physical address to scan, and when the sweep now under way
     * began (0: none, or invalidated since). */
    guint64 rescan_gpa;
    gint64 sweep_started_us;
};

/* The tree's observer: every change of an entry, under the tree's lock. */
static void
tally_observe(void *data, uint64_t index, const void *old_entry, const void *new_entry)
{
    NsLiveMap *live = data;
    NsTally *tally = __atomic_load_n(&live->tally, __ATOMIC_RELAXED); /* the writer's own */

    if (tally != NULL)
        ns_tally_change(tally, index, old_entry, new_entry);
}

NsLiveMap *
ns_live_map_new(pid_t pid, GError **error)
{
    NsRadix *tree = ns_radix_new();

    if (tree == NULL) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_FAILED,
                            "out of memory for the placement tree");
        return NULL;
    }
    NsLiveMap *live = g_new0(NsLiveMap, 1);

    live->refs = 1;
    live->pid = pid;
    live->tree = tree;
    live->born_us = g_get_monotonic_time();
    g_mutex_init(&live->lock);
    ns_radix_set_observer(tree, tally_observe, live);
    return live;
}

NsLiveMap *
ns_live_map_ref(NsLiveMap *live)
{
    g_atomic_int_inc(&live->refs);
    return live;
}

void
ns_live_map_unref(NsLiveMap *live)
{
    if (live == NULL || !g_atomic_int_dec_and_test(&live->refs))
        return;
    ns_radix_destroy(live->tree);
    ns_tally_retire(live->tally);
    ns_memmap_free(live->map);
    g_mutex_clear(&live->lock);
    g_free(live);
}

pid_t
ns_live_map_get_pid(const NsLiveMap *live)
{
    return live->pid;
}

gboolean
ns_live_map_belongs_to(NsLiveMap *live, const NsMemMap *map)
{
    if (live->pid != map->pid)
        return FALSE;
    if (live->start_ticks != 0 && map->start_ticks != 0)
        return live->start_ticks == map->start_ticks;
    if (live->start_ticks == 0)
        live->start_ticks = map->start_ticks;
    return TRUE;
}

NsRadix *
ns_live_map_get_tree(NsLiveMap *live)
{
    return live->tree;
}

/*
 * The tree now describes @map, as of @scanned_us.  A map of another layout
 * (the first, or one after a device came or went) gets a tally counted
 * from the tree, a walk as long as the scan that preceded it; the same
 * layout keeps the running one.  The writer's: no entry changes meanwhile.
 */
static void
adopt_map(NsLiveMap *live, const NsMemMap *map, gint64 scanned_us)
{
    NsMemMap *copy = ns_memmap_copy(map);
    NsTally *old = live->tally, *tally = NULL;

    if (old == NULL || !ns_tally_matches(old, map)) {
        tally = ns_tally_new(map, TRUE);
        ns_tally_count_tree(tally, live->tree);
    }
    g_mutex_lock(&live->lock);
    ns_memmap_free(live->map);
    live->map = copy;
    live->scanned_us = scanned_us;
    if (tally != NULL)
        __atomic_store_n(&live->tally, tally, __ATOMIC_RELEASE);
    g_mutex_unlock(&live->lock);
    if (tally != NULL)
        ns_tally_retire(old);
}

void
ns_live_map_set_scanned(NsLiveMap *live, const NsMemMap *map)
{
    adopt_map(live, map, g_get_monotonic_time());
}

void
ns_live_map_invalidate(NsLiveMap *live)
{
    g_mutex_lock(&live->lock);
    live->scanned_us = 0;
    g_mutex_unlock(&live->lock);
    /* A sweep that began before the layout changed never counts. */
    __atomic_store_n(&live->sweep_started_us, 0, __ATOMIC_RELAXED);
}

gboolean
ns_live_map_rescan_step(NsLiveMap *live, const NsMemMap *map, guint64 bytes,
                        const NsPlacementOptions *opts, guint64 *ret_scanned, GError **error)
{
    const guint64 align = 2u << 20; /* whole 2 MiB pages: a THP is never cut */
    guint64 left = (bytes + align - 1) & ~(align - 1), done = 0;
    guint64 gpa = live->rescan_gpa;
    gboolean wrapped;

    if (ret_scanned != NULL)
        *ret_scanned = 0;
    if (bytes == 0 || map->ranges->len == 0)
        return TRUE;
    if (gpa == 0)
        __atomic_store_n(&live->sweep_started_us, g_get_monotonic_time(), __ATOMIC_RELAXED);
    for (guint i = 0; i < map->ranges->len && left > 0; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 end = r->gpa + r->size;

        if (end <= gpa)
            continue;
        guint64 from = MAX(gpa, r->gpa);
        guint64 stop = from + MIN(left, end - from);

        if (stop < end) {
            /* Stop on a 2 MiB boundary of QEMU's address space, where a
             * transparent huge page would begin: at least one whole block. */
            guint64 hva_from = r->hva + (from - r->gpa);
            guint64 hva_stop = (r->hva + (stop - r->gpa)) & ~(align - 1);

            if (hva_stop <= hva_from)
                hva_stop = (hva_from & ~(align - 1)) + align;
            stop = MIN(r->gpa + (hva_stop - r->hva), end);
        }
        if (!ns_placement_scan_window(live->tree, map, from, stop - from, opts, NULL, error))
            return FALSE;
        left -= MIN(left, stop - from);
        done += stop - from;
        gpa = stop;
    }
    const NsMemRange *last = &g_array_index(map->ranges, NsMemRange, map->ranges->len - 1);

    /* Past the last range: the sweep is complete. */
    wrapped = left > 0 || gpa >= last->gpa + last->size;
    live->rescan_gpa = wrapped ? 0 : gpa;
    gint64 started = __atomic_load_n(&live->sweep_started_us, __ATOMIC_RELAXED);

    if (wrapped && started != 0)
        adopt_map(live, map, started); /* as old as the sweep's first page, not its last */
    if (ret_scanned != NULL)
        *ret_scanned = done;
    return TRUE;
}

NsMemMap *
ns_live_map_dup_memmap(NsLiveMap *live)
{
    NsMemMap *copy;

    g_mutex_lock(&live->lock);
    copy = live->map != NULL ? ns_memmap_copy(live->map) : NULL;
    g_mutex_unlock(&live->lock);
    return copy;
}

gint64
ns_live_map_get_scanned_us(NsLiveMap *live)
{
    gint64 us;

    g_mutex_lock(&live->lock);
    us = live->scanned_us;
    g_mutex_unlock(&live->lock);
    return us;
}

NsPlacementSummary *
ns_live_map_summarize(NsLiveMap *live)
{
    NsPlacementSummary *summary = NULL;

    urcu_memb_read_lock();
    const NsTally *tally = __atomic_load_n(&live->tally, __ATOMIC_ACQUIRE);

    if (tally != NULL)
        summary = ns_tally_read(tally);
    urcu_memb_read_unlock();
    return summary;
}

guint
ns_live_map_minute(const NsLiveMap *live, gint64 now_us)
{
    gint64 minutes = (now_us - live->born_us) / (60 * G_USEC_PER_SEC);

    /* Minute 0 means "never tried": the clock starts at 1. */
    return (guint)CLAMP(minutes + 1, 1, (gint64)NS_PAGE_TRIED_MAX);
}

void
ns_live_map_forgive(NsLiveMap *live)
{
    g_atomic_int_set(&live->forgiven, 1);
}

gboolean
ns_live_map_is_forgiven(NsLiveMap *live)
{
    return g_atomic_int_get(&live->forgiven) != 0;
}

gboolean
ns_live_map_take_forgiveness(NsLiveMap *live)
{
    return g_atomic_int_compare_and_exchange(&live->forgiven, 1, 0);
}

guint
ns_unmovable_backoff_minutes(guint strikes)
{
    guint minutes = NS_UNMOVABLE_BACKOFF_MIN_MINUTES;

    for (guint i = 1; i < strikes && minutes < NS_UNMOVABLE_BACKOFF_MAX_MINUTES; i++)
        minutes *= 2;
    return MIN(minutes, NS_UNMOVABLE_BACKOFF_MAX_MINUTES);
}

gboolean
ns_unmovable_errno(int err)
{
    return err == EBUSY || err == EACCES || err == EFAULT;
}
