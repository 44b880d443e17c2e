/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashift's GError domain, for the GLib-based layers above libnsradix
 * (libnsradix itself reports negative errno values).
 *
 * Codes say what the caller can do about a failure, not where it happened;
 * the message carries the detail.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NS_ERROR ns_error_quark()

typedef enum {
    NS_ERROR_FAILED,        /* none of the below; not worth retrying as is */
    NS_ERROR_INVALID_INPUT, /* malformed data or arguments: fix the input */
    NS_ERROR_NOT_FOUND,     /* a named file, guest or object does not exist */
    NS_ERROR_IO,            /* reading or writing failed; may be transient */
    NS_ERROR_UNSUPPORTED,   /* the host, kernel or guest lacks a feature */
    NS_ERROR_NOT_RUNNING,   /* the guest exists but does not run (or died) */
    NS_ERROR_PERMISSION,    /* the caller may not do this (not root, EPERM, EACCES) */
    NS_ERROR_BUSY,          /* someone else holds it (another mover of the domain): try later */
} NsErrorCode;

/*
 * The quark of the NS_ERROR domain.
 * Context: any thread; no locks.
 */
GQuark ns_error_quark(void);

/*
 * @text as one printable line for a message: invalid UTF-8 replaced
 * (g_utf8_make_valid()), every control character (line breaks included)
 * turned into '?'.  A new string.
 * Context: any thread; no locks.
 */
char *ns_error_one_line(const char *text);

G_END_DECLS
