/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "numashift/error.h"

G_DEFINE_QUARK(numashift-error-quark, ns_error)

char *
ns_error_one_line(const char *text)
{
    char *line = g_utf8_make_valid(text, -1);

    for (char *c = line; *c != '\0'; c++) {
        if ((guchar)*c < 0x20 || *c == 0x7f)
            *c = '?';
    }
    return line;
}
