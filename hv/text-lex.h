/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small lexers for the text numashift reads from QEMU (info mtree,
 * gpa2hva) and from the kernel (/proc/PID/maps, smaps): one copy, private
 * to hv/.  Each consumes from *@p and fails without moving it; every number
 * is checked for overflow.
 */
#pragma once

#include <string.h>

#include <glib.h>

static inline gboolean
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

static inline gboolean
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

static inline gboolean
lex_literal(const char **p, const char *literal)
{
    gsize n = strlen(literal);

    if (strncmp(*p, literal, n) != 0)
        return FALSE;
    *p += n;
    return TRUE;
}

static inline void
skip_blanks(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

static inline char *
shown_line(const char *line)
{
    g_autofree char *head = g_strndup(line, 100);

    return g_strescape(head, NULL);
}
