/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hand work to a GLib main context, always queued, never run inline:
 * g_main_context_invoke() calls the function at once when the caller owns
 * the context or nobody does, which is wrong both for libvirt's callbacks
 * (they run with libvirt's locks held) and for job threads during
 * shutdown (the callback may free the job).  Private to hv/daemon/.
 */
#pragma once

#include <glib.h>

/* Queue @func(@data) on @context at default priority; @destroy frees @data.  Context: any thread. */
void ns_daemon_post(GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy);
