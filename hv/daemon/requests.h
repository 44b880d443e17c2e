/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's control requests: one handler per operation, dispatched
 * through a table (not a switch), each answering from the manager's state
 * without calling libvirt (libvirtd may be waiting for our hook while a
 * request comes in).
 */
#pragma once

#include "manager.h"
#include "server.h"

G_BEGIN_DECLS

/* What the handlers reach: the manager, and whether libvirt is connected
 * (for the message of an unknown domain). */
typedef struct {
    NsManager *manager;
    gboolean (*connected)(gpointer data);
    gpointer data;
} NsRequestContext;

/*
 * Answer @request from @client (an NsServerRequestFunc body): find its
 * domain in the manager's table (unknown: not-found), run its operation's
 * handler, reply once.
 * Context: main thread.
 */
void ns_requests_dispatch(const NsRequestContext *context, NsClient *client,
                          const NsControlRequest *request);

G_END_DECLS
