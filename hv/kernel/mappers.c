/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who else maps a guest's memory (mappers.h): every /proc/PID/maps with a
 * line of the same device and inode.
 */
#include "numashift/mappers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "numashift/error.h"
#include "numashift/memmap.h"

void
ns_mapper_free(NsMapper *mapper)
{
    if (mapper == NULL)
        return;
    g_free(mapper->comm);
    g_free(mapper);
}

static gboolean
maps_any(const char *maps_path, const NsMappedObject *objects, guint n_objects)
{
    g_autoptr(GArray) maps = ns_memmap_read_maps(maps_path, TRUE, NULL);

    for (guint i = 0; maps != NULL && i < maps->len; i++) {
        const NsMapsEntry *e = &g_array_index(maps, NsMapsEntry, i);

        for (guint j = 0; j < n_objects; j++)
            if (e->inode == objects[j].inode && e->dev_major == objects[j].dev_major &&
                e->dev_minor == objects[j].dev_minor)
                return TRUE;
    }
    return FALSE;
}

static gint
compare_pid(gconstpointer a, gconstpointer b)
{
    pid_t pa = (*(NsMapper *const *)a)->pid;
    pid_t pb = (*(NsMapper *const *)b)->pid;

    return (pa > pb) - (pa < pb);
}

GPtrArray *
ns_mappers_find(const char *proc_root, pid_t self, const NsMappedObject *objects,
                guint n_objects, GError **error)
{
    const char *root = proc_root != NULL ? proc_root : "/proc";
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func((GDestroyNotify)ns_mapper_free);
    const char *name;

    for (guint j = 0; j < n_objects; j++) {
        if (objects[j].inode == 0) {
            g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                                "anonymous memory (inode 0) has no other mappers to name");
            return NULL;
        }
    }
    dir = g_dir_open(root, 0, &local);
    if (dir == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot list %s: %s", root, local->message);
        return NULL;
    }
    while ((name = g_dir_read_name(dir)) != NULL) {
        char *end = NULL;
        long pid = strtol(name, &end, 10);
        g_autofree char *maps_path = NULL;
        g_autofree char *comm_path = NULL;
        g_autofree char *comm = NULL;
        NsMapper *m;

        if (*name < '1' || *name > '9' || *end != '\0' || pid <= 0 || pid > G_MAXINT ||
            (pid_t)pid == self)
            continue;
        maps_path = g_build_filename(root, name, "maps", NULL);
        if (!maps_any(maps_path, objects, n_objects))
            continue;
        comm_path = g_build_filename(root, name, "comm", NULL);
        if (!g_file_get_contents(comm_path, &comm, NULL, NULL))
            comm = g_strdup("?");
        m = g_new0(NsMapper, 1);
        m->pid = (pid_t)pid;
        m->comm = g_strdup(g_strchomp(comm));
        g_ptr_array_add(found, m);
    }
    g_ptr_array_sort(found, compare_pid);
    return g_steal_pointer(&found);
}

char *
ns_mappers_describe(const GPtrArray *mappers, guint max)
{
    g_autoptr(GString) s = g_string_new(NULL);

    for (guint i = 0; mappers != NULL && i < mappers->len && i < max; i++) {
        const NsMapper *m = mappers->pdata[i];

        g_string_append_printf(s, "%spid %d (%s)", i > 0 ? ", " : "", (int)m->pid, m->comm);
    }
    if (mappers != NULL && mappers->len > max)
        g_string_append_printf(s, "%sand %u more", max > 0 ? ", " : "", mappers->len - max);
    return g_string_free(g_steal_pointer(&s), FALSE);
}
