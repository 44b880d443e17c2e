/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt hook: tell numashiftd that a domain started or stopped
 * ==================================================================
 * libvirt (>= 6.5) runs every executable in /etc/libvirt/hooks/qemu.d/ as
 *
 *   numashift DOMAIN OPERATION SUBOPERATION EXTRA     (domain XML on stdin)
 *
 * and waits for it: libvirtd is blocked until the hook exits, and a hook
 * that fails (non-zero exit) fails the domain's start.  So the hook
 * (tools/hook.c, installed as numashift-hook and linked into qemu.d) never
 * calls libvirt, gives up after NS_HOOK_TIMEOUT_MS, always exits 0, never
 * writes to stdout (libvirt takes the stdout of some hooks as a new domain
 * XML), and says what went wrong in one line on stderr, which libvirt logs.
 *
 * It acts on four calls only: started/begin, stopped/end, release/end and
 * reconnect/begin.  For those it reads the domain XML on stdin (keeping
 * NS_HOOK_INPUT_MAX bytes, discarding the rest), takes the domain's UUID
 * from it if it can, and sends one "hook" request (control.h) to
 * numashiftd's control socket, then waits for the reply.
 *
 * These functions are the hook's logic, split out so that tests and
 * fuzzers can drive it without libvirt.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The most of the domain XML the hook keeps (the rest is read and dropped). */
#define NS_HOOK_INPUT_MAX (4u * 1024 * 1024)
/* How long the hook gives stdin, and then numashiftd (connect, send, reply). */
#define NS_HOOK_TIMEOUT_MS 1000

/* A hook call that numashiftd must hear about. */
typedef struct {
    char *domain;       /* the domain's name: valid UTF-8, 1..NS_CONTROL_DOMAIN_MAX bytes */
    char *operation;    /* "started", "stopped", "release" or "reconnect" */
    char *suboperation; /* "begin" or "end" */
} NsHookCall;

/*
 * Read the hook's command line, @argc entries of @argv (argv[0] is the
 * program; then DOMAIN OPERATION SUBOPERATION, and libvirt's EXTRA, which
 * is ignored, as are any further arguments).  Returns a new call if
 * numashiftd must be told; NULL without @error for the operations it does
 * not care about (prepare, start, migrate, restore...); NULL with @error
 * (NS_ERROR_INVALID_INPUT) for a command line libvirt would not give: too
 * few arguments, or a domain name that is empty, longer than
 * NS_CONTROL_DOMAIN_MAX bytes or not UTF-8 (only checked for the
 * operations acted on).
 * Context: any thread; pure.
 */
NsHookCall *ns_hook_parse_args(int argc, char *const *argv, GError **error);

/*
 * Free @call.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_hook_call_free(NsHookCall *call);

/*
 * Read @fd to its end, keeping the first @max bytes (more is read and
 * dropped), until end of file or @deadline_us (g_get_monotonic_time()).
 * Returns the bytes kept, NUL-terminated, their count in @ret_len; NULL
 * with NS_ERROR_IO if reading failed or @deadline_us passed first.  Does
 * not change @fd's flags or close it.
 * Context: any thread; blocks on @fd until @deadline_us at most.
 */
char *ns_hook_read_input(int fd, gsize max, gint64 deadline_us, gsize *ret_len, GError **error);

/*
 * The UUID of the domain described by @len bytes of domain XML at @xml: the
 * text of the <uuid> child of the root <domain> element, in lower case, if
 * it is a valid UUID and everything up to its end tag is well-formed XML.
 * NULL otherwise (no uuid, not XML, truncated, garbage).  Stops reading at
 * the end of that <uuid> element, so its cost is that of the bytes before
 * it.
 * Context: any thread; pure.
 */
char *ns_hook_uuid_from_xml(const char *xml, gsize len);

/*
 * The "hook" request line (ending in "\n") that tells numashiftd about
 * @call, with @uuid if not NULL.  Fails with NS_ERROR_INVALID_INPUT if the
 * request would not be valid (a @uuid that is not a UUID).
 * Context: any thread; no locks.
 */
char *ns_hook_request_line(const NsHookCall *call, const char *uuid, GError **error);

/*
 * Tell numashiftd at the UNIX socket @socket_path about @call: connect,
 * send the request line, wait for one reply line, all before @deadline_us
 * (g_get_monotonic_time()).  TRUE if numashiftd answered ok.  Otherwise
 * FALSE with @error, a one-line message naming @socket_path:
 * NS_ERROR_NOT_FOUND (no socket there), NS_ERROR_NOT_RUNNING (nothing
 * listens, or numashiftd hung up), NS_ERROR_PERMISSION (the socket may not
 * be opened), NS_ERROR_IO (timed out, or another socket error),
 * NS_ERROR_INVALID_INPUT (the reply is malformed, or the path too long),
 * or for an error reply the NS_ERROR code matching its code (failed for
 * codes without one) and its message.
 * Never raises SIGPIPE.
 * Context: any thread; blocks until @deadline_us at most.
 */
gboolean ns_hook_notify(const NsHookCall *call, const char *uuid, const char *socket_path,
                        gint64 deadline_us, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsHookCall, ns_hook_call_free)

G_END_DECLS
