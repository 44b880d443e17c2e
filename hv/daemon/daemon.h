/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's context: the one place its state lives (configuration,
 * libvirt connection, tracked domains, jobs, control socket).  Everything
 * here runs on the main thread; jobs run in their own threads and report
 * back through the main context.
 */
#pragma once

#include <glib.h>

#include "config.h"

G_BEGIN_DECLS

typedef struct _NsDaemon NsDaemon;

/*
 * Start serving: open the control socket, connect to libvirt (in the
 * background, retrying), start the drift timer.  Takes @config.
 * Context: main thread, before the main loop runs.
 */
NsDaemon *ns_daemon_new(NsDaemonConfig *config, GError **error);

/*
 * Apply a re-read configuration (SIGHUP).  Takes @config.  The libvirt URI,
 * the socket and max-clients keep their running values (a warning names
 * each that differs); running jobs keep theirs; every other setting applies
 * from the next decision, and a domain whose mode changed is rebalanced.
 * Context: main thread.
 */
void ns_daemon_reload(NsDaemon *daemon, NsDaemonConfig *config);

/* Cancel jobs, wait for them, close everything.  NULL is accepted.  Context: main thread. */
void ns_daemon_free(NsDaemon *daemon);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsDaemon, ns_daemon_free)

G_END_DECLS
