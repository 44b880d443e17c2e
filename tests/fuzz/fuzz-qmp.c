/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: everything numashift parses from QEMU and the kernel
 * (hv/qemu/qmp.c, hv/qemu/memmap-qemu.c, hv/kernel/proc-maps.c): a QMP reply, HMP `info mtree -f` and `gpa2hva`
 * text, /proc/PID/maps and smaps.  The first byte picks the parser, the
 * rest is its input.  Any input either parses or fails with a GError in
 * NS_ERROR; a parsed memory map is sorted and disjoint.  A crash, a leak
 * or a broken invariant is a finding.
 */
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "numashift/error.h"
#include "numashift/memmap.h"
#include "numashift/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(GError *error)
{
    g_assert_nonnull(error);
    g_assert_true(error->domain == NS_ERROR);
    g_assert_nonnull(error->message);
    g_error_free(error);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *error = NULL;

    if (size < 1)
        return 0;
    /* The text parsers take NUL-terminated strings: give them one. */
    g_autofree char *text = g_strndup((const char *)data + 1, size - 1);

    switch (data[0] % 4) {
    case 0: {
        JsonNode *ret = ns_qmp_parse_reply((const char *)data + 1, (gssize)(size - 1), &error);

        if (ret != NULL)
            json_node_unref(ret);
        else
            check_error(error);
        break;
    }
    case 1: {
        NsMemMap *map = ns_memmap_parse_mtree(text, &error);

        if (map == NULL) {
            check_error(error);
            break;
        }
        for (guint i = 1; i < map->ranges->len; i++) {
            const NsMemRange *a = &g_array_index(map->ranges, NsMemRange, i - 1);
            const NsMemRange *b = &g_array_index(map->ranges, NsMemRange, i);

            g_assert_cmpuint(a->gpa + a->size, <=, b->gpa);
        }
        ns_memmap_free(map);
        break;
    }
    case 2: {
        char *region = NULL;
        guint64 hva = 0;

        if (ns_memmap_parse_gpa2hva(text, 0x100000, &region, &hva, &error))
            g_free(region);
        else
            check_error(error);
        break;
    }
    case 3: {
        GArray *maps = ns_memmap_parse_maps(text, &error);

        if (maps != NULL)
            g_array_unref(maps);
        else
            check_error(error);
        break;
    }
    }
    return 0;
}
