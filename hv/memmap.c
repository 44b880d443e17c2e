/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest's memory map (see memmap.h for the steps and the checks).
 *
 * The parsers are pure functions on text, so the unit tests feed them
 * replies captured from a real QEMU (tests/data/qmp/); ns_memmap_load() is
 * the only function here that does I/O.  QEMU's output is input: every
 * number is parsed with overflow checks and every line must match the
 * format or the whole parse fails, because a half-understood memory map
 * would send pages of the wrong guest range to the wrong node.
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

NsMemMap *
ns_memmap_new(pid_t pid)
{
    NsMemMap *map = g_new0(NsMemMap, 1);

    map->pid = pid;
    map->ranges = g_array_new(FALSE, TRUE, sizeof(NsMemRange));
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
    g_free(map);
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
 * Small lexers.  Each consumes from *@p and fails without moving it.
 */

static gboolean
lex_hex(const char **p, guint64 *out)
{
    const char *s = *p;
    guint64 v = 0;

    if (!g_ascii_isxdigit(*s))
        return FALSE;
    for (; g_ascii_isxdigit(*s); s++) {
        if (v > G_MAXUINT64 >> 4)
            return FALSE;
        v = v << 4 | (guint64)g_ascii_xdigit_value(*s);
    }
    *out = v;
    *p = s;
    return TRUE;
}

static gboolean
lex_dec(const char **p, guint64 *out)
{
    const char *s = *p;
    guint64 v = 0;

    if (!g_ascii_isdigit(*s))
        return FALSE;
    for (; g_ascii_isdigit(*s); s++) {
        guint d = (guint)(*s - '0');

        if (v > (G_MAXUINT64 - d) / 10)
            return FALSE;
        v = v * 10 + d;
    }
    *out = v;
    *p = s;
    return TRUE;
}

static gboolean
lex_literal(const char **p, const char *literal)
{
    gsize n = strlen(literal);

    if (strncmp(*p, literal, n) != 0)
        return FALSE;
    *p += n;
    return TRUE;
}

static void
skip_blanks(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

static char *
shown_line(const char *line)
{
    g_autofree char *head = g_strndup(line, 100);

    return g_strescape(head, NULL);
}

/* ------------------------------------------------------------------------
 * info mtree -f
 */

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

NsMemMap *
ns_memmap_parse_mtree(const char *text, GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(NsMemMap) map = ns_memmap_new(0);
    gboolean found = FALSE;
    gboolean any = FALSE;
    guint64 prev_last = 0;
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
        if (strcmp(l.type, "ram") != 0)
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
    }
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

/* ------------------------------------------------------------------------
 * /proc/PID/maps and smaps
 */

static void
maps_entry_clear(gpointer data)
{
    NsMapsEntry *e = data;

    g_clear_pointer(&e->path, g_free);
}

/* "7fd0cfdff000-7fd0d7dff000 rw-s 00000000 00:01 1046    /memfd:... (deleted)" */
static gboolean
parse_maps_header(const char *line, NsMapsEntry *e)
{
    const char *p = line;
    guint64 major;
    guint64 minor;

    if (!lex_hex(&p, &e->start) || !lex_literal(&p, "-") || !lex_hex(&p, &e->end) ||
        !lex_literal(&p, " "))
        return FALSE;
    for (guint i = 0; i < 4; i++) {
        static const char allowed[4][3] = {"r-", "w-", "x-", "ps"};

        if (p[i] == '\0' || strchr(allowed[i], p[i]) == NULL)
            return FALSE;
        e->perms[i] = p[i];
    }
    e->perms[4] = '\0';
    p += 4;
    if (!lex_literal(&p, " ") || !lex_hex(&p, &e->offset) || !lex_literal(&p, " ") ||
        !lex_hex(&p, &major) || !lex_literal(&p, ":") || !lex_hex(&p, &minor) ||
        !lex_literal(&p, " ") || !lex_dec(&p, &e->inode) || major > G_MAXUINT ||
        minor > G_MAXUINT)
        return FALSE;
    e->dev_major = (guint)major;
    e->dev_minor = (guint)minor;
    if (*p != '\0' && *p != ' ')
        return FALSE;
    skip_blanks(&p);
    e->path = *p != '\0' ? g_strdup(p) : NULL;
    return e->start < e->end;
}

/* An smaps field line, "KernelPageSize:        4 kB": TRUE if it is one. */
static gboolean
is_smaps_field(const char *line)
{
    gsize key = strcspn(line, " \t");

    return key > 1 && line[key - 1] == ':' && g_ascii_isalpha(line[0]);
}

GArray *
ns_memmap_parse_maps(const char *text, GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(GArray) maps = g_array_new(FALSE, TRUE, sizeof(NsMapsEntry));

    g_array_set_clear_func(maps, maps_entry_clear);
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = g_strchomp(lines[i]);
        NsMapsEntry e = {0};

        if (*line == '\0')
            continue;
        if (is_smaps_field(line)) {
            const char *p = line + strlen("KernelPageSize:");
            guint64 kib;
            NsMapsEntry *last;

            if (maps->len == 0) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "maps line %u: a field before any mapping", i + 1);
                return NULL;
            }
            if (!g_str_has_prefix(line, "KernelPageSize:"))
                continue;
            skip_blanks(&p);
            if (!lex_dec(&p, &kib) || strcmp(p, " kB") != 0 || kib == 0 ||
                kib > G_MAXUINT64 / 1024) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "maps line %u: bad KernelPageSize", i + 1);
                return NULL;
            }
            last = &g_array_index(maps, NsMapsEntry, maps->len - 1);
            last->page_size = kib * 1024;
            continue;
        }
        if (!parse_maps_header(line, &e)) {
            g_autofree char *shown = shown_line(line);

            maps_entry_clear(&e);
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "maps line %u does not parse: \"%s\"", i + 1, shown);
            return NULL;
        }
        if (maps->len > 0 && e.start < g_array_index(maps, NsMapsEntry, maps->len - 1).end) {
            maps_entry_clear(&e);
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "maps line %u overlaps or precedes the previous mapping", i + 1);
            return NULL;
        }
        g_array_append_val(maps, e);
    }
    return g_steal_pointer(&maps);
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
    return g_steal_pointer(&map);
}

/* ------------------------------------------------------------------------
 * The live loader
 */

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

/* Drop ranges whose backend query-memdev does not list, if it lists any. */
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

        if (m->id != NULL)
            g_hash_table_add(ids, m->id);
    }
    for (guint i = 0; i < raw->ranges->len; i++) {
        NsMemRange *r = &g_array_index(raw->ranges, NsMemRange, i);

        if (g_hash_table_contains(ids, r->backend))
            g_array_index(raw->ranges, NsMemRange, kept++) = *r;
        else
            range_clear(r);
    }
    g_array_set_size(raw->ranges, kept);
    return TRUE;
}

/* The mappings in @path: /proc/PID/maps or smaps when @is_proc (a missing
 * file means the process is gone), a captured file otherwise. */
static GArray *
read_maps(const char *path, gboolean is_proc, GError **error)
{
    g_autofree char *maps_text = NULL;
    g_autoptr(GError) local = NULL;
    GArray *maps;

    if (!g_file_get_contents(path, &maps_text, NULL, &local)) {
        NsErrorCode code = NS_ERROR_IO;

        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            code = is_proc ? NS_ERROR_NOT_RUNNING : NS_ERROR_NOT_FOUND;
        else if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_ACCES) ||
                 g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_PERM))
            code = NS_ERROR_PERMISSION;
        g_set_error(error, NS_ERROR, code, "%s", local->message);
        return NULL;
    }
    maps = ns_memmap_parse_maps(maps_text, error);
    if (maps == NULL)
        g_prefix_error(error, "%s: ", path);
    return maps;
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
            set_range_error(error, r, "is not contiguous in QEMU's address space");
            return NULL;
        }
    }
    maps = read_maps(path, maps_path == NULL, error);
    if (maps == NULL)
        return NULL;
    return ns_memmap_assemble(pid, raw, maps, backend_cells, error);
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
    return copy;
}

NsMemMap *
ns_memmap_recheck(const NsMemMap *map, const char *maps_path, GError **error)
{
    g_autofree char *default_path = g_strdup_printf("/proc/%d/maps", (int)map->pid);
    g_autoptr(GArray) maps = read_maps(maps_path != NULL ? maps_path : default_path,
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
