/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "post.h"

void
ns_daemon_post(GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
    g_autoptr(GSource) idle = g_idle_source_new();

    g_source_set_priority(idle, G_PRIORITY_DEFAULT);
    g_source_set_callback(idle, func, data, destroy);
    g_source_attach(idle, context);
}
