/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live placement map of one guest (include/numashift/livemap.h).
 */
#include "numashift/livemap.h"

#include <errno.h>

#include "numashift/error.h"

struct _NsLiveMap {
    gint refs;
    pid_t pid;
    NsRadix *tree;
    gint64 born_us;  /* the minute clock's zero */
    gint forgiven;   /* atomic: 1 when the next move is to try unmovable pages again */

    GMutex lock; /* guards the fields below */
    NsMemMap *map;
    gint64 scanned_us;
};

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
    ns_memmap_free(live->map);
    g_mutex_clear(&live->lock);
    g_free(live);
}

pid_t
ns_live_map_get_pid(const NsLiveMap *live)
{
    return live->pid;
}

NsRadix *
ns_live_map_get_tree(NsLiveMap *live)
{
    return live->tree;
}

void
ns_live_map_set_scanned(NsLiveMap *live, const NsMemMap *map)
{
    NsMemMap *copy = ns_memmap_copy(map);

    g_mutex_lock(&live->lock);
    ns_memmap_free(live->map);
    live->map = copy;
    live->scanned_us = g_get_monotonic_time();
    g_mutex_unlock(&live->lock);
}

void
ns_live_map_invalidate(NsLiveMap *live)
{
    g_mutex_lock(&live->lock);
    live->scanned_us = 0;
    g_mutex_unlock(&live->lock);
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
    g_autoptr(NsMemMap) map = ns_live_map_dup_memmap(live);

    /* The copy keeps the walk outside the mutex: a scan may replace the
     * map meanwhile, and the walk then counts what the old one covers. */
    return map != NULL ? ns_placement_summarize(live->tree, map) : NULL;
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
