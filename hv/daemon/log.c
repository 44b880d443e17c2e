/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <string.h>

static gboolean
needs_escape(guchar c)
{
    return c < 0x20 || c == 0x7f;
}

char *
ns_log_escape(const char *text, gssize len)
{
    gsize n = len < 0 ? strlen(text) : (gsize)len;
    GString *out = g_string_sized_new(n);
    const char *p = text, *end = text + n;

    while (p < end) {
        const char *valid_end = NULL;

        /* The longest valid UTF-8 run from p, copied but for control characters. */
        g_utf8_validate_len(p, (gsize)(end - p), &valid_end);
        for (; p < valid_end; p++) {
            if (needs_escape((guchar)*p))
                g_string_append_printf(out, "\\x%02x", (guchar)*p);
            else
                g_string_append_c(out, *p);
        }
        if (p < end) { /* a byte that starts no valid character here */
            g_string_append_printf(out, "\\x%02x", (guchar)*p);
            p++;
        }
    }
    return g_string_free(out, FALSE);
}

GLogWriterOutput
ns_log_write_escaped(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                     gpointer data)
{
    g_autofree GLogField *copy = g_memdup2(fields, n_fields * sizeof *fields);
    g_autofree char *message = NULL;

    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(copy[i].key, "MESSAGE") != 0 || copy[i].value == NULL)
            continue;
        message = ns_log_escape(copy[i].value, copy[i].length);
        copy[i].value = message;
        copy[i].length = -1;
        break;
    }
    return g_log_writer_default(level, copy, n_fields, data);
}
