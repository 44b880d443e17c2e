/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashift-hook: the libvirt qemu hook (installed as
 * $sysconfdir/libvirt/hooks/qemu.d/numashift, a link to this program).
 *
 *   numashift DOMAIN OPERATION SUBOPERATION EXTRA   < domain XML
 *
 * Tells numashiftd (control socket: $NUMASHIFT_CONTROL_SOCKET, default
 * /run/numashift/control.sock) that a domain started, stopped, was
 * released or reconnected, and ignores every other call.  libvirtd waits
 * for this program and fails a domain's start if it fails, so: it never
 * calls libvirt, gives stdin and then numashiftd one second each, writes
 * nothing on stdout, and exits 0 whatever happens -- a domain must start
 * even when numashiftd is down.  Problems are one line on stderr, which
 * libvirt logs.  The logic lives in proto/hook.c (include/numashift/hook.h).
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <glib.h>

#include "numashift/control.h"
#include "numashift/error.h"
#include "numashift/hook.h"

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsHookCall) call = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *uuid = NULL;
    g_autofree char *domain = NULL;
    g_autofree char *reason = NULL;
    const char *socket_path = g_getenv(NS_CONTROL_SOCKET_ENV);
    gsize len = 0;

    /* A daemon that hangs up must not kill us with a non-zero status. */
    signal(SIGPIPE, SIG_IGN);

    call = ns_hook_parse_args(argc, argv, &error);
    if (call == NULL) {
        if (error != NULL) {
            reason = ns_error_one_line(error->message);
            fprintf(stderr, "numashift-hook: warning: ignoring this call: %s\n", reason);
        }
        return 0;
    }

    /* Without the XML, or without a UUID in it, numashiftd goes by the name alone. */
    xml = ns_hook_read_input(STDIN_FILENO, NS_HOOK_INPUT_MAX,
                             g_get_monotonic_time() + NS_HOOK_TIMEOUT_MS * G_GINT64_CONSTANT(1000),
                             &len, NULL);
    if (xml != NULL)
        uuid = ns_hook_uuid_from_xml(xml, len);

    if (socket_path == NULL || *socket_path == '\0')
        socket_path = NS_CONTROL_SOCKET_PATH;
    if (!ns_hook_notify(call, uuid, socket_path,
                        g_get_monotonic_time() + NS_HOOK_TIMEOUT_MS * G_GINT64_CONSTANT(1000),
                        &error)) {
        domain = ns_error_one_line(call->domain);
        reason = ns_error_one_line(error->message);
        fprintf(stderr,
                "numashift-hook: warning: numashiftd not told that domain %s %s (%s): %s\n",
                domain, call->operation, call->suboperation, reason);
    }
    return 0;
}
