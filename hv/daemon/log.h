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

/* MESSAGE_IDs (systemd-id128) of a job's life, stable: journalctl
 * MESSAGE_ID=... finds every job that failed on a host, say. */
#define NS_LOG_ID_JOB_STARTED "077165f3e7eb47a2941b318a067bc7d0"
#define NS_LOG_ID_JOB_DONE "488c233bd4dc4c2bbbe779b033cb5f1a"
#define NS_LOG_ID_JOB_FAILED "fbf6cc1775024063b635dcbb0fc8ccaa"
#define NS_LOG_ID_UNMOVABLE "57e6f182689446d899694baa04313bbe"

/*
 * Log a line about a domain as structured fields besides the message:
 * NUMASHIFT_DOMAIN (@name, left out when NULL), NUMASHIFT_UUID (@uuid),
 * NUMASHIFT_JOB (@job, left out when 0), MESSAGE_ID (@message_id, left out
 * when NULL), so `journalctl NUMASHIFT_DOMAIN=db1` reads one domain's
 * history.  The message goes through the installed writer (escaped there).
 * Context: any thread.
 */
void ns_log_domain(GLogLevelFlags level, const char *message_id, const char *name,
                   const char *uuid, guint64 job, const char *format, ...) G_GNUC_PRINTF(6, 7);

G_END_DECLS
