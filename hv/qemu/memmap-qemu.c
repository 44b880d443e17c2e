/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest's memory map from its QEMU (memmap.h): `info mtree -f` and
 * `gpa2hva` through the monitor, checked against the process's mappings.
 * The parsers are pure functions on text, so the unit tests feed them
 * replies captured from a real QEMU (tests/data/qmp/); ns_memmap_load() is
 * the only function here that does I/O.  QEMU's output is input: every
 * number is parsed with overflow checks and every line must match the
 * format or the whole parse fails.
 */
#include "numashift/memmap.h"

#include <inttypes.h>
#include <string.h>

#include "../text-lex.h"
#include "numashift/error.h"
#include "numashift/qmp.h"

/* ---- info mtree -f, gpa2hva ---------------------------------------------- */

typedef struct {
    guint64 start;
    guint64 last;     /* inclusive, as QEMU prints it */
    char *type;       /* "ram", "rom", "i/o", ... */
    char *name;
    guint64 offset;
} MtreeLine;

static void
mtree_line_clear(MtreeLine *l)
{
    g_free(l->type);
    g_free(l->name);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MtreeLine, mtree_line_clear)

/*
 * "0000000000100000-0000000007ffffff (prio 0, ram): ram-node0 @0000000000100000 KVM"
 * after the indentation.  What follows the name and offset (accelerator
 * names, owners with -o) is ignored.
 */
static gboolean
parse_mtree_line(const char *line, MtreeLine *out)
{
    const char *p = line;
    const char *type;
    const char *rest;
    const char *at;
    guint64 prio;

    if (!lex_hex(&p, &out->start) || !lex_literal(&p, "-") || !lex_hex(&p, &out->last) ||
        !lex_literal(&p, " (prio "))
        return FALSE;
    (void)lex_literal(&p, "-"); /* priorities are signed */
    if (!lex_dec(&p, &prio) || !lex_literal(&p, ", "))
        return FALSE;
    type = p;
    p = strstr(p, "): ");
    if (p == NULL || p == type)
        return FALSE;
    out->type = g_strndup(type, (gsize)(p - type));
    rest = p + 3;
    if (*rest == '\0' || *rest == ' ')
        return FALSE;

    /* The name runs up to " @<hex>" if there is one, else to a blank. */
    for (at = strstr(rest, " @"); at != NULL; at = strstr(at + 1, " @")) {
        const char *q = at + 2;
        guint64 offset;

        if (lex_hex(&q, &offset) && (*q == '\0' || *q == ' ')) {
            out->name = g_strndup(rest, (gsize)(at - rest));
            out->offset = offset;
            return TRUE;
        }
    }
    out->name = g_strndup(rest, strcspn(rest, " "));
    out->offset = 0;
    return TRUE;
}

/*
 * Of @map's ranges (@is_rom says which came from a "rom" line), keep the
 * RAM ones and the read-only views of a region that is RAM elsewhere in the
 * flat view: after a PC firmware has shadowed its BIOS, the PAM registers
 * show parts of 0xc0000-0xfffff as "rom" views of the RAM backend itself
 * ("rom): ram-node0 @00000000000f0000").  Those bytes are the backend's
 * memory, and they are RAM while the firmware writes them, so leaving them
 * out would make the map depend on the moment it was read.  Real ROMs
 * (pc.bios, pc.rom, option ROMs) are never RAM anywhere: dropped.
 * Then mark the map unsettled when one of those real ROMs hides bytes of a
 * RAM backend whose offsets run on across it: a PC guest before its
 * firmware shadowed the BIOS area (the reset state) shows pc.rom and
 * pc.bios over 0xc0000-0xfffff of its first backend, and its map will
 * change once the firmware runs.
 */
static void
keep_ram_regions(NsMemMap *map, const GArray *is_rom, GHashTable *ram_names)
{
    guint kept = 0;
    const NsMemRange *prev = NULL;
    gboolean rom_after_prev = FALSE; /* a real ROM lies between @prev and the next range */

    for (guint i = 0; i < map->ranges->len; i++) {
        NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

        if (g_array_index(is_rom, gboolean, i) && !g_hash_table_contains(ram_names, r->backend)) {
            rom_after_prev = prev != NULL;
            g_clear_pointer(&r->backend, g_free);
            continue;
        }
        if (rom_after_prev && strcmp(prev->backend, r->backend) == 0 &&
            r->offset - prev->offset == r->gpa - prev->gpa)
            map->unsettled = TRUE;
        g_array_index(map->ranges, NsMemRange, kept) = *r;
        prev = &g_array_index(map->ranges, NsMemRange, kept);
        kept++;
        rom_after_prev = FALSE;
    }
    g_array_set_size(map->ranges, kept);
}

NsMemMap *
ns_memmap_parse_mtree(const char *text, GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(NsMemMap) map = ns_memmap_new(0);
    gboolean found = FALSE;
    gboolean any = FALSE;
    guint64 prev_last = 0;
    g_autoptr(GArray) kinds = g_array_new(FALSE, FALSE, sizeof(gboolean)); /* per range: rom? */
    g_autoptr(GHashTable) ram_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint i;

    for (i = 0; lines[i] != NULL; i++) {
        if (strcmp(g_strstrip(lines[i]), "Root memory region: system") == 0) {
            found = TRUE;
            break;
        }
    }
    if (!found) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "no flat view of root \"system\" in the memory tree");
        return NULL;
    }

    for (i++; lines[i] != NULL; i++) {
        const char *line = g_strstrip(lines[i]);
        g_auto(MtreeLine) l = {0};
        guint64 gpa;
        guint64 end;
        NsMemRange r = {0};

        if (*line == '\0' || g_str_has_prefix(line, "FlatView #"))
            break;
        if (strcmp(line, "No rendered FlatView") == 0)
            continue;
        if (!parse_mtree_line(line, &l)) {
            g_autofree char *shown = shown_line(line);

            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "memory tree line does not parse: \"%s\"", shown);
            return NULL;
        }
        if (l.last < l.start || l.last == G_MAXUINT64 || (any && l.start <= prev_last)) {
            g_autofree char *shown = shown_line(line);

            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "memory tree range out of order or backwards: \"%s\"", shown);
            return NULL;
        }
        any = TRUE;
        prev_last = l.last;
        if (strcmp(l.type, "ram") == 0)
            g_hash_table_add(ram_names, g_strdup(l.name));
        else if (strcmp(l.type, "rom") != 0)
            continue;

        /* Whole guest pages only. */
        gpa = (l.start + NS_GUEST_PAGE_SIZE - 1) & ~(NS_GUEST_PAGE_SIZE - 1);
        end = (l.last + 1) & ~(NS_GUEST_PAGE_SIZE - 1);
        if (gpa < l.start || end <= gpa)
            continue;
        r.gpa = gpa;
        r.size = end - gpa;
        r.offset = l.offset + (gpa - l.start);
        r.backend = g_steal_pointer(&l.name);
        r.cell = -1;
        g_array_append_val(map->ranges, r);
        g_array_append_val(kinds, (gboolean){strcmp(l.type, "rom") == 0});
    }
    keep_ram_regions(map, kinds, ram_names);
    return g_steal_pointer(&map);
}

/* ------------------------------------------------------------------------
 * gpa2hva
 */

gboolean
ns_memmap_parse_gpa2hva(const char *reply, guint64 gpa, char **ret_region, guint64 *ret_hva,
                        GError **error)
{
    g_autofree char *text = g_strchomp(g_strdup(reply));
    g_autofree char *shown = shown_line(text);
    const char *p = text;
    const char *name;
    const char *end;
    guint64 addr;
    guint64 hva;

    if (g_str_has_prefix(text, "No memory is mapped")) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                    "gpa2hva 0x%" G_GINT64_MODIFIER "x: no memory is mapped there", gpa);
        return FALSE;
    }
    if (g_str_has_prefix(text, "Memory at address ") && g_str_has_suffix(text, " is not RAM")) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "gpa2hva 0x%" G_GINT64_MODIFIER "x: not RAM", gpa);
        return FALSE;
    }
    if (!lex_literal(&p, "Host virtual address for 0x") || !lex_hex(&p, &addr) ||
        !lex_literal(&p, " (") || strchr(p, '\n') != NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "gpa2hva 0x%" G_GINT64_MODIFIER "x: unexpected answer \"%s\"", gpa, shown);
        return FALSE;
    }
    name = p;
    end = g_strrstr(name, ") is 0x");
    if (end == NULL || end == name) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "gpa2hva 0x%" G_GINT64_MODIFIER "x: unexpected answer \"%s\"", gpa, shown);
        return FALSE;
    }
    p = end + strlen(") is 0x");
    if (!lex_hex(&p, &hva) || *p != '\0') {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "gpa2hva 0x%" G_GINT64_MODIFIER "x: unexpected answer \"%s\"", gpa, shown);
        return FALSE;
    }
    if (addr != gpa) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "gpa2hva 0x%" G_GINT64_MODIFIER "x: answer is about 0x%" G_GINT64_MODIFIER
                    "x",
                    gpa, addr);
        return FALSE;
    }
    if (ret_region != NULL)
        *ret_region = g_strndup(name, (gsize)(end - name));
    *ret_hva = hva;
    return TRUE;
}

/* ---- the live loader ------------------------------------------------------ */

static gboolean
query_hva(NsQmp *qmp, guint64 gpa, const char *backend, guint64 *ret_hva, GError **error)
{
    g_autofree char *command = g_strdup_printf("gpa2hva 0x%" PRIx64, gpa);
    g_autofree char *reply = ns_qmp_hmp(qmp, command, error);
    g_autofree char *region = NULL;

    if (reply == NULL || !ns_memmap_parse_gpa2hva(reply, gpa, &region, ret_hva, error))
        return FALSE;
    if (strcmp(region, backend) != 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "gpa2hva 0x%" PRIx64 " names %s where the memory tree has %s", gpa, region,
                    backend);
        return FALSE;
    }
    return TRUE;
}

/* Drop ranges whose backend query-memdev does not list, if it lists any;
 * keep what it says of each backend in @raw's backends. */
static gboolean
keep_memdev_ranges(NsMemMap *raw, NsQmp *qmp, GError **error)
{
    g_autoptr(GPtrArray) memdevs = ns_qmp_query_memdev(qmp, error);
    g_autoptr(GHashTable) ids = NULL;
    guint kept = 0;

    if (memdevs == NULL)
        return FALSE;
    if (memdevs->len == 0)
        return TRUE;
    ids = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < memdevs->len; i++) {
        const NsQmpMemdev *m = memdevs->pdata[i];

        if (m->id == NULL)
            continue;
        g_hash_table_add(ids, m->id);
        g_ptr_array_add(raw->backends,
                        ns_mem_backend_new(m->id, m->size, m->share, m->policy, m->host_nodes));
    }
    for (guint i = 0; i < raw->ranges->len; i++) {
        NsMemRange *r = &g_array_index(raw->ranges, NsMemRange, i);

        if (g_hash_table_contains(ids, r->backend))
            g_array_index(raw->ranges, NsMemRange, kept++) = *r;
        else
            g_clear_pointer(&r->backend, g_free);
    }
    g_array_set_size(raw->ranges, kept);
    return TRUE;
}

NsMemMap *
ns_memmap_load(NsQmp *qmp, pid_t pid, const char *maps_path, GHashTable *backend_cells,
               GError **error)
{
    g_autofree char *default_path = g_strdup_printf("/proc/%d/smaps", (int)pid);
    const char *path = maps_path != NULL ? maps_path : default_path;
    g_autofree char *mtree = ns_qmp_hmp(qmp, "info mtree -f", error);
    g_autoptr(NsMemMap) raw = NULL;
    g_autoptr(GArray) maps = NULL;

    if (mtree == NULL)
        return NULL;
    raw = ns_memmap_parse_mtree(mtree, error);
    if (raw == NULL || !keep_memdev_ranges(raw, qmp, error))
        return NULL;
    if (raw->ranges->len == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                    "the guest's memory tree has no RAM backed by a memory backend");
        return NULL;
    }
    for (guint i = 0; i < raw->ranges->len; i++) {
        NsMemRange *r = &g_array_index(raw->ranges, NsMemRange, i);
        guint64 last_hva;

        if (!query_hva(qmp, r->gpa, r->backend, &r->hva, error) ||
            !query_hva(qmp, r->gpa + r->size - 1, r->backend, &last_hva, error))
            return NULL;
        if (last_hva != r->hva + r->size - 1) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "guest RAM 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                        "x (%s at 0x%" G_GINT64_MODIFIER "x) is not contiguous in QEMU's "
                        "address space", r->gpa, r->gpa + r->size - 1, r->backend, r->hva);
            return NULL;
        }
    }
    maps = ns_memmap_read_maps(path, maps_path == NULL, error);
    if (maps == NULL)
        return NULL;
    return ns_memmap_assemble(pid, raw, maps, backend_cells, error);
}
