/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest's memory map (see memmap.h for the steps and the checks).
 *
 * Here: the map itself, its checks against the process's mappings and
 * the recheck.  QEMU's side (info mtree, gpa2hva, the loader) is in
 * hv/qemu/memmap-qemu.c, the kernel's (/proc/PID/maps, smaps) in
 * hv/kernel/proc-maps.c.  A half-understood memory map would send pages of
 * the wrong guest range to the wrong node: every check fails the whole map.
 */
#include "numashift/memmap.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "numashift/error.h"

static void
range_clear(NsMemRange *range)
{
    g_clear_pointer(&range->backend, g_free);
}

NsMemBackend *
ns_mem_backend_new(const char *id, guint64 size, gboolean share, const char *policy,
                   const GArray *host_nodes)
{
    NsMemBackend *b = g_new0(NsMemBackend, 1);

    b->id = g_strdup(id);
    b->size = size;
    b->share = share;
    b->policy = g_strdup(policy);
    b->host_nodes = g_array_new(FALSE, FALSE, sizeof(guint));
    if (host_nodes != NULL)
        g_array_append_vals(b->host_nodes, host_nodes->data, host_nodes->len);
    return b;
}

void
ns_mem_backend_free(NsMemBackend *backend)
{
    if (backend == NULL)
        return;
    g_free(backend->id);
    g_free(backend->policy);
    g_clear_pointer(&backend->host_nodes, g_array_unref);
    g_free(backend);
}

/* What a map says besides its ranges: its backends, whether it is settled. */
static void
copy_about(NsMemMap *to, const NsMemMap *from)
{
    to->unsettled = from->unsettled;
    to->start_ticks = from->start_ticks;
    for (guint i = 0; from->backends != NULL && i < from->backends->len; i++) {
        const NsMemBackend *b = from->backends->pdata[i];

        g_ptr_array_add(to->backends,
                        ns_mem_backend_new(b->id, b->size, b->share, b->policy, b->host_nodes));
    }
}

NsMemMap *
ns_memmap_new(pid_t pid)
{
    NsMemMap *map = g_new0(NsMemMap, 1);

    map->pid = pid;
    map->ranges = g_array_new(FALSE, TRUE, sizeof(NsMemRange));
    map->backends = g_ptr_array_new_with_free_func((GDestroyNotify)ns_mem_backend_free);
    return map;
}

void
ns_memmap_free(NsMemMap *map)
{
    if (map == NULL)
        return;
    if (map->ranges != NULL) {
        for (guint i = 0; i < map->ranges->len; i++)
            range_clear(&g_array_index(map->ranges, NsMemRange, i));
        g_array_unref(map->ranges);
    }
    g_clear_pointer(&map->backends, g_ptr_array_unref);
    g_free(map);
}

const NsMemBackend *
ns_memmap_find_backend(const NsMemMap *map, const char *id)
{
    for (guint i = 0; id != NULL && map->backends != NULL && i < map->backends->len; i++) {
        const NsMemBackend *b = map->backends->pdata[i];

        if (g_strcmp0(b->id, id) == 0)
            return b;
    }
    return NULL;
}

const NsMemRange *
ns_memmap_lookup(const NsMemMap *map, guint64 gpa)
{
    guint lo = 0;
    guint hi = map->ranges->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, mid);

        if (gpa < r->gpa)
            hi = mid;
        else if (gpa - r->gpa >= r->size)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Assembly
 */

/* The index of the mapping holding @addr, or -1. */
static gint
find_mapping(const GArray *maps, guint64 addr)
{
    guint lo = 0;
    guint hi = maps->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const NsMapsEntry *e = &g_array_index(maps, NsMapsEntry, mid);

        if (addr < e->start)
            hi = mid;
        else if (addr >= e->end)
            lo = mid + 1;
        else
            return (gint)mid;
    }
    return -1;
}

static void
set_range_error(GError **error, const NsMemRange *r, const char *what)
{
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                "guest RAM 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                "x (%s at 0x%" G_GINT64_MODIFIER "x) %s",
                r->gpa, r->gpa + r->size - 1, r->backend, r->hva, what);
}

/*
 * Check that QEMU's [hva, hva + size) lies in readable mappings without
 * gaps, all of one backing object, and find its page size.
 */
static gboolean
check_in_maps(const NsMemRange *r, const GArray *maps, guint64 *ret_page_size, GError **error)
{
    gint first = find_mapping(maps, r->hva);
    guint64 end = r->hva + r->size;
    const NsMapsEntry *prev;
    guint64 page_size;

    if (end < r->hva) {
        set_range_error(error, r, "wraps around the address space");
        return FALSE;
    }
    if (first < 0) {
        set_range_error(error, r, "is not inside any mapping of QEMU");
        return FALSE;
    }
    prev = &g_array_index(maps, NsMapsEntry, first);
    page_size = prev->page_size;
    for (guint i = (guint)first;; i++) {
        const NsMapsEntry *e = &g_array_index(maps, NsMapsEntry, i);

        if (e != prev &&
            (e->start != prev->end || e->dev_major != prev->dev_major ||
             e->dev_minor != prev->dev_minor || e->inode != prev->inode ||
             (e->inode != 0 && e->offset != prev->offset + (prev->end - prev->start)))) {
            set_range_error(error, r, "is not inside one mapped object of QEMU");
            return FALSE;
        }
        if (e->perms[0] != 'r') {
            set_range_error(error, r, "lies in a mapping QEMU cannot read");
            return FALSE;
        }
        if (e->page_size != page_size) {
            set_range_error(error, r, "spans mappings of different page sizes");
            return FALSE;
        }
        if (e->end >= end)
            break;
        if (i + 1 >= maps->len) {
            set_range_error(error, r, "runs past the end of QEMU's mappings");
            return FALSE;
        }
        prev = e;
    }
    *ret_page_size = page_size != 0 ? page_size : (guint64)sysconf(_SC_PAGESIZE);
    return TRUE;
}

typedef struct {
    guint64 base;  /* hva - offset */
    guint64 start; /* lowest hva used */
    guint64 end;   /* one past the highest */
    const char *name;
} Backend;

static gint
compare_backends(gconstpointer a, gconstpointer b)
{
    const Backend *x = a;
    const Backend *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/* One backend, one place in QEMU; different backends, different places. */
static gboolean
check_backends(const GArray *ranges, GError **error)
{
    g_autoptr(GHashTable) by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    g_autoptr(GArray) list = g_array_new(FALSE, FALSE, sizeof(Backend));
    GHashTableIter iter;
    gpointer value;

    for (guint i = 0; i < ranges->len; i++) {
        const NsMemRange *r = &g_array_index(ranges, NsMemRange, i);
        Backend *b = g_hash_table_lookup(by_name, r->backend);

        if (r->hva < r->offset) {
            set_range_error(error, r, "has an offset beyond its host address");
            return FALSE;
        }
        if (b == NULL) {
            b = g_new(Backend, 1);
            *b = (Backend){r->hva - r->offset, r->hva, r->hva + r->size, r->backend};
            g_hash_table_insert(by_name, r->backend, b);
        } else if (b->base != r->hva - r->offset) {
            set_range_error(error, r, "disagrees with another range of its backend on where "
                                      "the backend starts in QEMU");
            return FALSE;
        }
        b->start = MIN(b->start, r->hva);
        b->end = MAX(b->end, r->hva + r->size);
    }
    g_hash_table_iter_init(&iter, by_name);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_array_append_vals(list, value, 1);
    g_array_sort(list, compare_backends);
    for (guint i = 1; i < list->len; i++) {
        const Backend *a = &g_array_index(list, Backend, i - 1);
        const Backend *b = &g_array_index(list, Backend, i);

        if (b->start < a->end) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "backends %s and %s overlap in QEMU's address space", a->name, b->name);
            return FALSE;
        }
    }
    return TRUE;
}

static gint
lookup_cell(GHashTable *backend_cells, const char *backend)
{
    gpointer value;

    if (backend_cells == NULL || !g_hash_table_lookup_extended(backend_cells, backend, NULL,
                                                               &value))
        return -1;
    return GPOINTER_TO_INT(value);
}

NsMemMap *
ns_memmap_assemble(pid_t pid, const NsMemMap *raw, const GArray *maps,
                   GHashTable *backend_cells, GError **error)
{
    g_autoptr(NsMemMap) map = ns_memmap_new(pid);

    for (guint i = 0; i < raw->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(raw->ranges, NsMemRange, i);
        NsMemRange *prev = map->ranges->len > 0
                               ? &g_array_index(map->ranges, NsMemRange, map->ranges->len - 1)
                               : NULL;
        guint64 page_size;
        NsMemRange copy;

        if (r->backend == NULL || r->size == 0 || r->gpa % NS_GUEST_PAGE_SIZE != 0 ||
            r->size % NS_GUEST_PAGE_SIZE != 0 || r->gpa + r->size < r->gpa) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "guest RAM range %u is empty, unaligned or has no backend", i);
            return NULL;
        }
        if (r->hva == 0) {
            set_range_error(error, r, "has no host address");
            return NULL;
        }
        if (prev != NULL && r->gpa < prev->gpa + prev->size) {
            set_range_error(error, r, "overlaps or precedes the previous range");
            return NULL;
        }
        if (!check_in_maps(r, maps, &page_size, error))
            return NULL;

        if (prev != NULL && strcmp(prev->backend, r->backend) == 0 &&
            prev->gpa + prev->size == r->gpa && prev->offset + prev->size == r->offset &&
            prev->hva + prev->size == r->hva && prev->page_size == page_size) {
            prev->size += r->size;
            continue;
        }
        copy = *r;
        copy.backend = g_strdup(r->backend);
        copy.page_size = page_size;
        copy.cell = lookup_cell(backend_cells, r->backend);
        g_array_append_val(map->ranges, copy);
    }
    if (!check_backends(map->ranges, error))
        return NULL;
    copy_about(map, raw);
    return g_steal_pointer(&map);
}

NsMemMap *
ns_memmap_copy(const NsMemMap *map)
{
    NsMemMap *copy = ns_memmap_new(map->pid);

    for (guint i = 0; i < map->ranges->len; i++) {
        NsMemRange r = g_array_index(map->ranges, NsMemRange, i);

        r.backend = g_strdup(r.backend);
        g_array_append_val(copy->ranges, r);
    }
    copy_about(copy, map);
    return copy;
}

NsMemMap *
ns_memmap_recheck(const NsMemMap *map, const char *maps_path, GError **error)
{
    g_autofree char *default_path = g_strdup_printf("/proc/%d/maps", (int)map->pid);
    g_autoptr(GArray) maps = ns_memmap_read_maps(maps_path != NULL ? maps_path : default_path,
                                                 maps_path == NULL, error);
    g_autoptr(GHashTable) cells = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(NsMemMap) again = NULL;

    if (maps == NULL)
        return NULL;
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

        g_hash_table_insert(cells, r->backend, GINT_TO_POINTER(r->cell));
    }
    again = ns_memmap_assemble(map->pid, map, maps, cells, error);
    if (again == NULL) {
        g_prefix_error(error, "the memory map no longer holds: ");
        return NULL;
    }
    /* Plain maps carry no page size: a mapping that kept its extent and
     * backing object kept it too. */
    for (guint i = 0; i < again->ranges->len && again->ranges->len == map->ranges->len; i++) {
        NsMemRange *r = &g_array_index(again->ranges, NsMemRange, i);
        const NsMemRange *was = &g_array_index(map->ranges, NsMemRange, i);

        if (r->gpa != was->gpa || r->size != was->size || r->hva != was->hva ||
            r->offset != was->offset || strcmp(r->backend, was->backend) != 0)
            break;
        r->page_size = was->page_size;
        if (i + 1 == again->ranges->len)
            return g_steal_pointer(&again);
    }
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                "the memory map no longer holds: QEMU's mappings changed shape");
    return NULL;
}
