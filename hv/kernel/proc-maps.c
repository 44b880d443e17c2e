/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /proc/PID/maps and smaps: a process's mappings (memmap.h), read from the
 * kernel or from a captured file.  Every line must match the format or the
 * whole parse fails: a half-understood map would send pages of the wrong
 * guest range to the wrong node.
 */
#include "numashift/memmap.h"

#include <string.h>

#include "../text-lex.h"
#include "numashift/error.h"

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

GArray *
ns_memmap_read_maps(const char *path, gboolean is_proc, GError **error)
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
