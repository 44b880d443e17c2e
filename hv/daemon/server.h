/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket: a UNIX stream socket, one JSON object per line each
 * way (proto/control.c).  The server reads lines with a hard length limit,
 * parses them, refuses state-changing requests from callers that are not
 * root (or in the configured group) by SO_PEERCRED, and the libvirt
 * hook's reports (domain started, stopped) from anyone but root or the
 * daemon's own uid, and hands the rest to the daemon.  A malformed line
 * gets an error reply and the connection goes on; a client that does not
 * read its replies or events is dropped once its backlog passes a limit.
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
 * How many clients, and for how long.  Root's connections (the libvirt
 * hook, the operator) count against @max_clients only; every other uid
 * may hold at most @max_clients_per_uid, and all of them together leave
 * NS_SERVER_ROOT_SLOTS of @max_clients to root, so that unprivileged
 * clients never make the hook see "busy".  A client with no request in
 * flight and no event subscription is closed after @idle_timeout_s
 * seconds without a line (0: never).
 */
typedef struct {
    guint max_clients;
    guint max_clients_per_uid;
    guint idle_timeout_s;
} NsServerLimits;

#define NS_SERVER_ROOT_SLOTS 2u

/*
 * Listen on @path (the directories it creates are 0755 whatever the
 * umask; a stale socket file is replaced), mode 0600, or 0660 owned by
 * @group when @group is not NULL.  A non-root peer's membership of @group
 * is looked up (NSS: files, LDAP...) in a worker thread; its lines wait
 * for the answer.
 * Context: main thread; callbacks run in its main context.
 */
NsServer *ns_server_new(const char *path, const char *group, const NsServerLimits *limits,
                        NsServerRequestFunc on_request, gpointer data, GError **error);

/* New limits for the clients that connect from now on, and the idle
 * timeout for every client.  Context: main thread. */
void ns_server_set_limits(NsServer *server, const NsServerLimits *limits);

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
