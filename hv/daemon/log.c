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

/* journald's priority for a GLib level, as GLib's own g_log_structured() maps it. */
static const char *
priority_of(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_ERROR)
        return "3";
    if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        return "4";
    if (level & G_LOG_LEVEL_MESSAGE)
        return "5";
    if (level & G_LOG_LEVEL_INFO)
        return "6";
    return "7";
}

void
ns_log_domain(GLogLevelFlags level, const char *message_id, const char *name, const char *uuid,
              guint64 job, const char *format, ...)
{
    va_list args;
    g_autofree char *message = NULL;
    g_autofree char *job_text = job != 0 ? g_strdup_printf("%" G_GUINT64_FORMAT, job) : NULL;
    const char *glib_domain = G_LOG_DOMAIN; /* NULL unless the build names one */
    GLogField fields[7];
    gsize n = 0;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    if (glib_domain != NULL)
        fields[n++] = (GLogField){ "GLIB_DOMAIN", glib_domain, -1 };
    fields[n++] = (GLogField){ "PRIORITY", priority_of(level), -1 };
    fields[n++] = (GLogField){ "MESSAGE", message, -1 };
    if (message_id != NULL)
        fields[n++] = (GLogField){ "MESSAGE_ID", message_id, -1 };
    if (name != NULL)
        fields[n++] = (GLogField){ "NUMASHIFT_DOMAIN", name, -1 };
    if (uuid != NULL)
        fields[n++] = (GLogField){ "NUMASHIFT_UUID", uuid, -1 };
    if (job_text != NULL)
        fields[n++] = (GLogField){ "NUMASHIFT_JOB", job_text, -1 };
    g_log_structured_array(level, fields, n);
}
