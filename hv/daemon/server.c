/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket server.  Everything runs on the main thread with
 * GIO's asynchronous reads and writes; a client is reference-counted
 * because a read or a write in progress outlives a close.
 */
#include "server.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "numashift/error.h"

/* A client that lets this much output pile up is not reading: drop it. */
#define CLIENT_BACKLOG_MAX (4u * 1024 * 1024)
#define READ_CHUNK 4096

struct _NsServer {
    GSocketService *service;
    char *path;
    gboolean have_group;
    gid_t gid;
    NsServerLimits limits;
    guint idle_source; /* the idle-client sweep; 0: no timeout */
    GList *clients;
    NsServerRequestFunc on_request;
    gpointer data;
};

struct _NsClient {
    gint refs;
    NsServer *server; /* NULL once closed */
    GSocketConnection *conn;
    GCancellable *cancel;
    GByteArray *buf;
    gboolean discarding; /* skipping the rest of an over-long line */
    guint events;
    uid_t uid;
    gboolean may_change;
    gboolean looking_up; /* the group lookup runs: no line is handled before it ends */
    gint64 last_line_us; /* monotonic time of the last line (or of the connection) */
    GQueue out;          /* of GBytes */
    gsize out_bytes;
    gboolean writing;
    gboolean reading;    /* a read is in flight */
    gboolean deferred;   /* a reply is promised: the next lines wait */
    guint8 chunk[READ_CHUNK];
};

struct _NsClientReply {
    NsClient *client; /* referenced */
    JsonNode *id;     /* the request's, or NULL */
};

static NsClient *
client_ref(NsClient *c)
{
    g_atomic_int_inc(&c->refs);
    return c;
}

static void
client_unref(NsClient *c)
{
    if (!g_atomic_int_dec_and_test(&c->refs))
        return;
    g_queue_clear_full(&c->out, (GDestroyNotify)g_bytes_unref);
    g_byte_array_unref(c->buf);
    g_object_unref(c->cancel);
    g_object_unref(c->conn);
    g_free(c);
}

static void
client_close(NsClient *c)
{
    NsServer *s = c->server;

    if (s == NULL)
        return;
    c->server = NULL;
    s->clients = g_list_remove(s->clients, c);
    g_cancellable_cancel(c->cancel);
    g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
    client_unref(c); /* the server's reference */
}

/* ------------------------------------------------------------ writing */

static void write_next(NsClient *c);

static void
on_written(GObject *source, GAsyncResult *res, gpointer data)
{
    NsClient *c = data;
    g_autoptr(GError) error = NULL;
    GBytes *done = g_queue_pop_head(&c->out);

    c->writing = FALSE;
    c->out_bytes -= g_bytes_get_size(done);
    g_bytes_unref(done);
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error))
        client_close(c);
    else
        write_next(c);
    client_unref(c);
}

static void
write_next(NsClient *c)
{
    GBytes *head;

    if (c->server == NULL || c->writing || (head = g_queue_peek_head(&c->out)) == NULL)
        return;
    c->writing = TRUE;
    g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(c->conn)),
                                    g_bytes_get_data(head, NULL), g_bytes_get_size(head),
                                    G_PRIORITY_DEFAULT, c->cancel, on_written, client_ref(c));
}

/* Queue @line (taken). */
static void
client_send(NsClient *c, char *line)
{
    gsize len = strlen(line);

    if (c->server == NULL) {
        g_free(line);
        return;
    }
    if (c->out_bytes + len > CLIENT_BACKLOG_MAX) {
        g_message("control: dropping client uid %u: %zu bytes of replies unread", (guint)c->uid,
                  c->out_bytes);
        g_free(line);
        client_close(c);
        return;
    }
    g_queue_push_tail(&c->out, g_bytes_new_take(line, len));
    c->out_bytes += len;
    write_next(c);
}

void
ns_client_reply_ok(NsClient *client, const NsControlRequest *request, JsonNode *result)
{
    client_send(client, ns_control_reply_ok(request != NULL ? request->id : NULL, result));
}

void
ns_client_reply_error(NsClient *client, const NsControlRequest *request, const char *code,
                      const char *message)
{
    client_send(client,
                ns_control_reply_error(request != NULL ? request->id : NULL, code, message));
}

void
ns_client_subscribe(NsClient *client, guint events)
{
    client->events |= events;
}

uid_t
ns_client_get_uid(NsClient *client)
{
    return client->uid;
}

void
ns_server_broadcast(NsServer *server, NsControlEvent event, JsonNode *body)
{
    g_autofree char *line = NULL;

    for (GList *l = server->clients; l != NULL;) {
        NsClient *c = l->data;

        l = l->next; /* client_send may drop c */
        if ((c->events & event) == 0)
            continue;
        if (line == NULL)
            line = ns_control_event(event, body);
        client_send(c, g_strdup(line));
    }
}

guint
ns_server_get_n_clients(NsServer *server)
{
    return g_list_length(server->clients);
}

/* ------------------------------------------------------------ reading */

static void
handle_line(NsClient *c, const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsControlRequest) req = NULL;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return;
    req = ns_control_request_parse(line, len, &error);
    if (req == NULL) {
        JsonNode *id = ns_control_request_peek_id(line, len);

        client_send(c, ns_control_reply_error(id, ns_control_error_code(error), error->message));
        if (id != NULL)
            json_node_unref(id);
        return;
    }
    if (ns_control_op_is_mutating(req->op) && !c->may_change) {
        g_autofree char *msg =
            g_strdup_printf("'%s' changes placement: only root or the control group may do it "
                            "(you are uid %u)",
                            ns_control_op_to_string(req->op), (guint)c->uid);

        ns_client_reply_error(c, req, NS_CONTROL_ERR_PERMISSION_DENIED, msg);
        return;
    }
    /* The hook's reports start and stop tracking: a member of the control
     * group could otherwise make the daemon forget a running domain. */
    if (req->op == NS_CONTROL_OP_HOOK && c->uid != 0 && c->uid != geteuid()) {
        g_autofree char *msg = g_strdup_printf(
            "'hook' reports libvirt's domain starts and stops: only root may send it "
            "(you are uid %u)",
            (guint)c->uid);

        ns_client_reply_error(c, req, NS_CONTROL_ERR_PERMISSION_DENIED, msg);
        return;
    }
    c->server->on_request(c, req, c->server->data);
}

static void read_more(NsClient *c);

/*
 * Handle the buffered lines, one by one, until none is complete or one's
 * reply is deferred; then read on unless a reply is promised (the socket's
 * own buffer holds the client back meanwhile).
 */
static void
process_lines(NsClient *c)
{
    while (!c->deferred && c->server != NULL) {
        guint8 *nl = memchr(c->buf->data, '\n', c->buf->len);

        if (nl == NULL)
            break;
        c->last_line_us = g_get_monotonic_time();
        gsize len = (gsize)(nl - c->buf->data);
        g_autofree char *line = g_malloc(len + 1); /* bytes as they came, NULs too */

        memcpy(line, c->buf->data, len);
        line[len] = '\0';

        /* Off the buffer first: a handler may defer, and the lines after
         * this one are handled when its reply is given. */
        g_byte_array_remove_range(c->buf, 0, (guint)len + 1);
        if (!c->discarding)
            handle_line(c, line, len);
        c->discarding = FALSE;
    }
    if (c->deferred || c->server == NULL)
        return;
    if (c->buf->len > NS_CONTROL_LINE_MAX) {
        if (!c->discarding) {
            g_autofree char *msg =
                g_strdup_printf("request line longer than %u bytes", NS_CONTROL_LINE_MAX);

            client_send(c, ns_control_reply_error(NULL, NS_CONTROL_ERR_INVALID_REQUEST, msg));
        }
        c->discarding = TRUE;
        g_byte_array_set_size(c->buf, 0);
    }
    read_more(c);
}

static void
on_read(GObject *source, GAsyncResult *res, gpointer data)
{
    NsClient *c = data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);

    c->reading = FALSE;
    if (c->server == NULL || n <= 0) {
        client_close(c);
        client_unref(c);
        return;
    }
    g_byte_array_append(c->buf, c->chunk, (guint)n);
    process_lines(c);
    client_unref(c);
}

static void
read_more(NsClient *c)
{
    if (c->server == NULL || c->reading || c->looking_up)
        return;
    c->reading = TRUE;
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(c->conn)), c->chunk,
                              sizeof c->chunk, G_PRIORITY_DEFAULT, c->cancel, on_read,
                              client_ref(c));
}

NsClientReply *
ns_client_defer(NsClient *client, const NsControlRequest *request)
{
    NsClientReply *reply = g_new0(NsClientReply, 1);

    g_return_val_if_fail(!client->deferred, NULL);
    reply->client = client_ref(client);
    reply->id = request != NULL && request->id != NULL ? json_node_copy(request->id) : NULL;
    client->deferred = TRUE;
    return reply;
}

void
ns_client_reply_deferred_ok(NsClientReply *reply, JsonNode *result)
{
    NsClient *c = reply->client;

    client_send(c, ns_control_reply_ok(reply->id, result));
    c->deferred = FALSE;
    process_lines(c);
    if (reply->id != NULL)
        json_node_unref(reply->id);
    g_free(reply);
    client_unref(c);
}

/* ---------------------------------------------------------- accepting */

static gboolean
uid_in_group(uid_t uid, gid_t gid)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    gid_t groups[256];
    int n = G_N_ELEMENTS(groups);

    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || found == NULL)
        return FALSE;
    if (pw.pw_gid == gid)
        return TRUE;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        return FALSE;
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return TRUE;
    return FALSE;
}

/* What a group lookup needs in its thread: copies, not the client. */
typedef struct {
    uid_t uid;
    gid_t gid;
} GroupQuery;

static void
group_lookup_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    const GroupQuery *q = data;

    (void)source;
    (void)cancel;
    g_task_return_boolean(task, uid_in_group(q->uid, q->gid));
}

static void
on_group_looked_up(GObject *source, GAsyncResult *res, gpointer data)
{
    NsClient *c = data;

    (void)source;
    c->may_change = g_task_propagate_boolean(G_TASK(res), NULL);
    c->looking_up = FALSE;
    c->last_line_us = g_get_monotonic_time();
    read_more(c);
    client_unref(c);
}

/* Why a new client from @uid may not connect now, or NULL. */
static const char *
over_limit(const NsServer *s, uid_t uid)
{
    guint all = 0, not_root = 0, same = 0;

    for (const GList *l = s->clients; l != NULL; l = l->next) {
        const NsClient *c = l->data;

        all++;
        not_root += c->uid != 0;
        same += c->uid == uid;
    }
    if (all >= s->limits.max_clients)
        return "too many clients connected; try again later";
    if (uid == 0)
        return NULL;
    if (same >= s->limits.max_clients_per_uid)
        return "too many clients of your uid connected; try again later";
    if (not_root + MIN(NS_SERVER_ROOT_SLOTS, s->limits.max_clients - 1) >= s->limits.max_clients)
        return "the connections left are kept for root; try again later";
    return NULL;
}

static gboolean
on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
    NsServer *s = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GCredentials) cred = g_socket_get_credentials(g_socket_connection_get_socket(conn),
                                                             &error);

    (void)service;
    (void)source;
    if (cred == NULL) {
        g_message("control: refusing a client without credentials: %s", error->message);
        return TRUE; /* not ours any more: GIO closes it */
    }
    uid_t uid = g_credentials_get_unix_user(cred, NULL);
    const char *busy = over_limit(s, uid);

    if (busy != NULL) {
        g_autofree char *line = ns_control_reply_error(NULL, NS_CONTROL_ERR_BUSY, busy);

        g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), line,
                                  strlen(line), NULL, NULL, NULL);
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        return TRUE;
    }
    NsClient *c = g_new0(NsClient, 1);

    c->refs = 1; /* the server's */
    c->server = s;
    c->conn = g_object_ref(conn);
    c->cancel = g_cancellable_new();
    c->buf = g_byte_array_new();
    c->uid = uid;
    c->may_change = uid == 0;
    c->last_line_us = g_get_monotonic_time();
    g_queue_init(&c->out);
    s->clients = g_list_prepend(s->clients, c);
    if (uid != 0 && s->have_group) {
        /* NSS may ask a directory server: never on the main thread. */
        g_autoptr(GTask) task = g_task_new(NULL, c->cancel, on_group_looked_up, client_ref(c));
        GroupQuery *q = g_new(GroupQuery, 1);

        *q = (GroupQuery){ uid, s->gid };
        g_task_set_task_data(task, q, g_free);
        c->looking_up = TRUE;
        g_task_run_in_thread(task, group_lookup_thread);
        return TRUE;
    }
    read_more(c);
    return TRUE;
}

/* Close the clients that wait for nothing and said nothing for the idle timeout. */
static gboolean
sweep_idle_clients(gpointer data)
{
    NsServer *s = data;
    gint64 cutoff = g_get_monotonic_time() - (gint64)s->limits.idle_timeout_s * G_USEC_PER_SEC;

    for (GList *l = s->clients; l != NULL;) {
        NsClient *c = l->data;

        l = l->next; /* client_close removes c */
        if (c->events != 0 || c->deferred || c->looking_up || c->writing ||
            c->last_line_us > cutoff)
            continue;
        g_debug("control: closing client uid %u: idle for %u s", (guint)c->uid,
                s->limits.idle_timeout_s);
        /* Say why if the socket takes it at once; never wait for an idle peer. */
        g_autofree char *line = ns_control_reply_error(
            NULL, NS_CONTROL_ERR_BUSY, "idle for too long: the connection is closed");
        GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));

        if (G_IS_POLLABLE_OUTPUT_STREAM(out))
            g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(out), line,
                                                       strlen(line), NULL, NULL);
        client_close(c);
    }
    return G_SOURCE_CONTINUE;
}

void
ns_server_set_limits(NsServer *server, const NsServerLimits *limits)
{
    server->limits = *limits;
    server->limits.max_clients = MAX(limits->max_clients, 1);
    server->limits.max_clients_per_uid = MAX(limits->max_clients_per_uid, 1);
    if (server->idle_source != 0)
        g_source_remove(server->idle_source);
    server->idle_source = 0;
    /* Swept four times a timeout: a client goes at most a quarter late. */
    if (limits->idle_timeout_s > 0)
        server->idle_source =
            g_timeout_add(MAX(limits->idle_timeout_s * 1000u / 4u, 100u), sweep_idle_clients, server);
}

/* mkdir -p whose directories are 0755 whatever the umask (numashiftd's is
 * 077, for the socket): the socket group must reach the socket in it. */
static gboolean
make_dirs_0755(const char *dir, GError **error)
{
    if (g_file_test(dir, G_FILE_TEST_IS_DIR))
        return TRUE;
    g_autofree char *parent = g_path_get_dirname(dir);

    if (strcmp(parent, dir) != 0 && !make_dirs_0755(parent, error))
        return FALSE;
    if (mkdir(dir, 0755) < 0) {
        if (errno == EEXIST)
            return TRUE;
    } else if (chmod(dir, 0755) == 0) {
        return TRUE;
    }
    g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot create %s: %s", dir, g_strerror(errno));
    return FALSE;
}

NsServer *
ns_server_new(const char *path, const char *group, const NsServerLimits *limits,
              NsServerRequestFunc on_request, gpointer data, GError **error)
{
    g_autoptr(NsServer) s = g_new0(NsServer, 1);
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GError) e = NULL;

    s->path = g_strdup(path);
    s->on_request = on_request;
    s->data = data;
    if (group != NULL) {
        struct group gr, *found = NULL;
        char buf[4096];

        if (getgrnam_r(group, &gr, buf, sizeof buf, &found) != 0 || found == NULL) {
            g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND, "control socket group '%s' does not exist",
                        group);
            return NULL;
        }
        s->have_group = TRUE;
        s->gid = gr.gr_gid;
    }
    if (!make_dirs_0755(dir, error))
        return NULL;
    /* A socket file left by a daemon that died: replace it, unless one still answers. */
    struct stat st;

    if (lstat(path, &st) == 0) {
        g_autoptr(GSocketClient) probe = g_socket_client_new();
        g_autoptr(GSocketAddress) a = g_unix_socket_address_new(path);
        g_autoptr(GSocketConnection) live =
            S_ISSOCK(st.st_mode)
                ? g_socket_client_connect(probe, G_SOCKET_CONNECTABLE(a), NULL, NULL)
                : NULL;

        if (live != NULL || !S_ISSOCK(st.st_mode)) {
            g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "%s: %s", path,
                        live != NULL ? "another numashiftd is listening there"
                                     : "exists and is not a socket");
            return NULL;
        }
        unlink(path);
    }
    s->service = g_socket_service_new();
    addr = g_unix_socket_address_new(path);
    if (!g_socket_listener_add_address(G_SOCKET_LISTENER(s->service), addr, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &e)) {
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot listen on %s: %s", path, e->message);
        return NULL;
    }
    if ((s->have_group && chown(path, 0, s->gid) < 0) ||
        chmod(path, s->have_group ? 0660 : 0600) < 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot set the owner or mode of %s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    ns_server_set_limits(s, limits);
    g_signal_connect(s->service, "incoming", G_CALLBACK(on_incoming), s);
    g_socket_service_start(s->service);
    return g_steal_pointer(&s);
}

void
ns_server_free(NsServer *server)
{
    if (server == NULL)
        return;
    if (server->idle_source != 0)
        g_source_remove(server->idle_source);
    if (server->service != NULL) {
        g_socket_service_stop(server->service);
        g_socket_listener_close(G_SOCKET_LISTENER(server->service));
        g_object_unref(server->service);
        unlink(server->path);
    }
    while (server->clients != NULL)
        client_close(server->clients->data);
    g_free(server->path);
    g_free(server);
}
