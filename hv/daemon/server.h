/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket: a UNIX stream socket, one JSON object per line each
 * way (proto/control.c).  The server reads lines with a hard length limit,
 * parses them, refuses state-changing requests from callers that are not
 * root (or in the configured group) by SO_PEERCRED, and hands the rest to
 * the daemon.  A malformed line gets an error reply and the connection
 * goes on; a client that does not read its replies or events is dropped
 * once its backlog passes a limit.
 */
#pragma once

#include <sys/types.h>

#include <gio/gio.h>

#include "numashift/control.h"

G_BEGIN_DECLS

typedef struct _NsServer NsServer;
typedef struct _NsClient NsClient;

/* A parsed, permitted request.  Reply with ns_client_reply_*(); @request is borrowed. */
typedef void (*NsServerRequestFunc)(NsClient *client, const NsControlRequest *request,
                                    gpointer data);

/*
 * Listen on @path (its directory is created 0755; a stale socket file is
 * replaced), mode 0600, or 0660 owned by @group when @group is not NULL.
 * Context: main thread; callbacks run in its main context.
 */
NsServer *ns_server_new(const char *path, const char *group, guint max_clients,
                        NsServerRequestFunc on_request, gpointer data, GError **error);

/* Stop listening, drop every client, remove the socket file.  NULL is accepted.  Context: main thread. */
void ns_server_free(NsServer *server);

/* Send @event's @body (a JSON node, borrowed) to every client subscribed to it.  Context: main thread. */
void ns_server_broadcast(NsServer *server, NsControlEvent event, JsonNode *body);

/* Clients connected now.  Context: main thread. */
guint ns_server_get_n_clients(NsServer *server);

/* Reply ok with @result (borrowed; NULL: null) / an error.  Context: main thread. */
void ns_client_reply_ok(NsClient *client, const NsControlRequest *request, JsonNode *result);
void ns_client_reply_error(NsClient *client, const NsControlRequest *request, const char *code,
                           const char *message);

/*
 * A reply given later, from the main thread still (a handler whose answer
 * takes work off it).  Until it is given the client's next requests wait,
 * unread: replies stay in request order.  The client may go meanwhile;
 * the reply is then dropped.
 */
typedef struct _NsClientReply NsClientReply;

/* Promise the reply to @request.  Context: main thread, in the request's handler. */
NsClientReply *ns_client_defer(NsClient *client, const NsControlRequest *request);

/* Give it (and free @reply): ok with @result (borrowed; NULL: null).
 * Context: main thread. */
void ns_client_reply_deferred_ok(NsClientReply *reply, JsonNode *result);

/* Subscribe the client to @events (NsControlEvent bits).  Context: main thread. */
void ns_client_subscribe(NsClient *client, guint events);

/* The peer's uid from SO_PEERCRED.  Context: main thread. */
uid_t ns_client_get_uid(NsClient *client);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsServer, ns_server_free)

G_END_DECLS
