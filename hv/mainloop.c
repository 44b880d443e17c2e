/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Work handed between threads and a GLib main context (see
 * include/numashift/mainloop.h for why each way is the way it is).
 */
#include "numashift/mainloop.h"

#include <glib-unix.h>

void
ns_main_post(GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
    g_autoptr(GSource) idle = g_idle_source_new();

    g_source_set_priority(idle, G_PRIORITY_DEFAULT);
    g_source_set_callback(idle, func, data, destroy);
    g_source_attach(idle, context);
}

void
ns_main_done_init(NsMainDone *done, GMainContext *context)
{
    done->context = context != NULL ? context : g_main_context_default();
    g_atomic_int_set(&done->done, 0);
}

void
ns_main_done_set(NsMainDone *done)
{
    g_atomic_int_set(&done->done, 1);
    /* Ends an iteration blocked in poll, or makes the next one not block:
     * either way the waiter looks at the flag again. */
    g_main_context_wakeup(done->context);
}

gboolean
ns_main_done_is_set(NsMainDone *done)
{
    return g_atomic_int_get(&done->done) != 0;
}

void
ns_main_done_wait(NsMainDone *done)
{
    while (!ns_main_done_is_set(done))
        g_main_context_iteration(done->context, TRUE);
}

static gboolean
swallow_signal(gpointer data)
{
    (void)data;
    return G_SOURCE_CONTINUE;
}

void
ns_main_hold_signal(int signum)
{
    /* Never removed: while it is attached, GLib's handler stays. */
    g_unix_signal_add(signum, swallow_signal, NULL);
}
