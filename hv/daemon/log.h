/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's log writer.  Log lines carry outside input: domain names
 * (libvirt refuses few characters in them), requests from control socket
 * clients, hook arguments.  One
 * writer escapes every message before GLib's default writer sends it to
 * the journal or stderr, so no caller has to remember to, and a name like
 * "db1\r\n<3>numashiftd: fake" or one with terminal escapes cannot forge
 * or hide a log line.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * @len bytes of @text (-1: up to its NUL) with every control character
 * (below 0x20, and 0x7f) and every byte that is not part of valid UTF-8
 * written as "\xNN"; everything else as it is.  Free with g_free().
 * Context: any thread.
 */
char *ns_log_escape(const char *text, gssize len);

/*
 * A GLogWriterFunc: MESSAGE escaped with ns_log_escape(), then
 * g_log_writer_default().  Install with g_log_set_writer_func(), once, at
 * start.  Context: any thread (GLib calls it from the logging one).
 */
GLogWriterOutput ns_log_write_escaped(GLogLevelFlags level, const GLogField *fields,
                                      gsize n_fields, gpointer data);

G_END_DECLS
