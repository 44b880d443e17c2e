/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP and HMP to one QEMU, through libvirt or a QMP UNIX socket (see
 * qmp.h for the contract).
 *
 * Layers, bottom up:
 *   - transports turn a request object into reply text (one JSON object);
 *   - ns_qmp_parse_reply() checks that text and extracts "return";
 *   - the query helpers check the shape of "return" member by member.
 * json-glib's typed getters (json_object_get_int_member() and friends)
 * complain through g_critical() on a type mismatch, which our tests turn
 * into an abort; so every member goes through the checked getters below
 * and nothing reaches json-glib's getters without its type verified.
 *
 * json-glib's parser is recursive, so a deeply nested reply could exhaust
 * the stack: nesting is bounded by a linear pre-scan before parsing.
 */
#include "numashift/json-check.h"
#include "numashift/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "numashift/error.h"

#define MAX_NESTING 64
#define READ_CHUNK 65536

struct _NsQmp {
    const NsQmpTransport *transport;
    gpointer impl;
    GMutex lock; /* serializes transport calls */
};

/* ------------------------------------------------------------------------
 * Messages
 */

/* A short, printable excerpt of @text for error messages. */
static char *
excerpt(const char *text, gsize len)
{
    g_autofree char *head = g_strndup(text, MIN(len, 80));
    g_autofree char *escaped = g_strescape(head, NULL);

    return len > 80 ? g_strconcat(escaped, "...", NULL) : g_steal_pointer(&escaped);
}

/* ------------------------------------------------------------------------
 * Checked JSON access
 */

static void
set_wrong_type(GError **error, const char *where, const char *name, const char *expected,
               JsonNode *node)
{
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s: \"%s\" is %s, expected %s", where,
                name, ns_json_type_name(node), expected);
}

static JsonObject *
node_object(JsonNode *node, const char *where, GError **error)
{
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s is %s, expected an object",
                    where, ns_json_type_name(node));
        return NULL;
    }
    return json_node_get_object(node);
}

static JsonArray *
node_array(JsonNode *node, const char *where, GError **error)
{
    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s is %s, expected an array",
                    where, ns_json_type_name(node));
        return NULL;
    }
    return json_node_get_array(node);
}

/* Member @name as a string; absent is an error only if @required. */
static gboolean
get_string(JsonObject *obj, const char *where, const char *name, gboolean required,
           const char **out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (node == NULL && !required) {
        *out = NULL;
        return TRUE;
    }
    if (!ns_json_holds(node, G_TYPE_STRING)) {
        set_wrong_type(error, where, name, "a string", node);
        return FALSE;
    }
    *out = json_node_get_string(node);
    return TRUE;
}

static gboolean
get_int(JsonObject *obj, const char *where, const char *name, gint64 min, gint64 max,
        gint64 *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);
    gint64 v;

    if (!ns_json_holds(node, G_TYPE_INT64)) {
        set_wrong_type(error, where, name, "an integer", node);
        return FALSE;
    }
    v = json_node_get_int(node);
    if (v < min || v > max) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s: \"%s\" = %" G_GINT64_FORMAT " is out of range", where, name, v);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

/* Member @name as a boolean; absent gives @absent unless @required. */
static gboolean
get_bool(JsonObject *obj, const char *where, const char *name, gboolean required,
         gboolean absent, gboolean *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (node == NULL && !required) {
        *out = absent;
        return TRUE;
    }
    if (!ns_json_holds(node, G_TYPE_BOOLEAN)) {
        set_wrong_type(error, where, name, "a boolean", node);
        return FALSE;
    }
    *out = json_node_get_boolean(node);
    return TRUE;
}

/* Parse @len bytes of @text as one JSON object; returns the parser. */
static JsonParser *
parse_object(const char *text, gsize len, JsonObject **ret_obj, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *shown = NULL;
    JsonNode *root;

    if (len > NS_QMP_MAX_REPLY) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "reply of %" G_GSIZE_FORMAT " bytes exceeds the limit of %u", len,
                    NS_QMP_MAX_REPLY);
        return NULL;
    }
    if (memchr(text, '\0', len) != NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "reply contains a NUL byte");
        return NULL;
    }
    /* The same strict grammar as the control socket: json-glib alone takes
     * trailing data, comments, overflowing integers, and recurses. */
    if (!ns_json_check_text(text, len, MAX_NESTING, "reply", NULL, error))
        return NULL;
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, text, (gssize)len, &local)) {
        shown = excerpt(text, len);
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "reply is not JSON (%s): \"%s\"",
                    local->message, shown);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        shown = excerpt(text, len);
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "reply is %s, not a JSON object: \"%s\"", ns_json_type_name(root), shown);
        return NULL;
    }
    *ret_obj = json_node_get_object(root);
    return g_steal_pointer(&parser);
}

static NsErrorCode
code_of_qmp_class(const char *klass)
{
    if (g_strcmp0(klass, "CommandNotFound") == 0)
        return NS_ERROR_UNSUPPORTED;
    if (g_strcmp0(klass, "DeviceNotFound") == 0)
        return NS_ERROR_NOT_FOUND;
    return NS_ERROR_FAILED;
}

JsonNode *
ns_qmp_parse_reply(const char *text, gssize length, GError **error)
{
    gsize len = length < 0 ? strlen(text) : (gsize)length;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *reply = NULL;
    JsonNode *node;

    parser = parse_object(text, len, &reply, error);
    if (parser == NULL)
        return NULL;

    node = json_object_get_member(reply, "error");
    if (node != NULL) {
        JsonObject *err = node_object(node, "\"error\"", error);
        const char *klass;
        const char *desc;

        if (err == NULL || !get_string(err, "\"error\"", "class", TRUE, &klass, error) ||
            !get_string(err, "\"error\"", "desc", FALSE, &desc, error))
            return NULL;
        g_set_error(error, NS_ERROR, code_of_qmp_class(klass), "QEMU error %s: %s", klass,
                    desc != NULL ? desc : "(no description)");
        return NULL;
    }
    node = json_object_get_member(reply, "return");
    if (node == NULL) {
        g_autofree char *shown = excerpt(text, len);

        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "reply has neither \"return\" nor \"error\": \"%s\"", shown);
        return NULL;
    }
    return json_node_ref(node);
}

/* ------------------------------------------------------------------------
 * The generic object
 */

NsQmp *
ns_qmp_new(const NsQmpTransport *transport, gpointer impl)
{
    NsQmp *qmp = g_new0(NsQmp, 1);

    qmp->transport = transport;
    qmp->impl = impl;
    g_mutex_init(&qmp->lock);
    return qmp;
}

void
ns_qmp_free(NsQmp *qmp)
{
    if (qmp == NULL)
        return;
    if (qmp->transport->free != NULL)
        qmp->transport->free(qmp->impl);
    g_mutex_clear(&qmp->lock);
    g_free(qmp);
}

JsonNode *
ns_qmp_execute(NsQmp *qmp, const char *command, JsonObject *arguments, GError **error)
{
    g_autoptr(JsonObject) request = json_object_new();
    g_autofree char *reply = NULL;
    JsonNode *ret;

    json_object_set_string_member(request, "execute", command);
    if (arguments != NULL)
        json_object_set_object_member(request, "arguments", json_object_ref(arguments));
    /* One request on the wire at a time: QMP replies carry no tag we use. */
    g_mutex_lock(&qmp->lock);
    reply = qmp->transport->command(qmp->impl, request, error);
    g_mutex_unlock(&qmp->lock);
    if (reply == NULL) {
        g_prefix_error(error, "%s: ", command);
        return NULL;
    }
    ret = ns_qmp_parse_reply(reply, -1, error);
    if (ret == NULL)
        g_prefix_error(error, "%s: ", command);
    return ret;
}

char *
ns_qmp_hmp(NsQmp *qmp, const char *command_line, GError **error)
{
    g_autoptr(JsonObject) args = NULL;
    g_autoptr(JsonNode) ret = NULL;

    if (qmp->transport->hmp != NULL) {
        char *text;

        g_mutex_lock(&qmp->lock);
        text = qmp->transport->hmp(qmp->impl, command_line, error);
        g_mutex_unlock(&qmp->lock);

        if (text == NULL)
            g_prefix_error(error, "HMP '%s': ", command_line);
        return text;
    }
    args = json_object_new();
    json_object_set_string_member(args, "command-line", command_line);
    ret = ns_qmp_execute(qmp, "human-monitor-command", args, error);
    if (ret == NULL)
        return NULL;
    if (!ns_json_holds(ret, G_TYPE_STRING)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "human-monitor-command returned %s, expected a string",
                    ns_json_type_name(ret));
        return NULL;
    }
    return g_strdup(json_node_get_string(ret));
}

/* ------------------------------------------------------------------------
 * Query helpers
 */

gboolean
ns_qmp_query_status(NsQmp *qmp, char **ret_status, gboolean *ret_running, GError **error)
{
    g_autoptr(JsonNode) ret = ns_qmp_execute(qmp, "query-status", NULL, error);
    JsonObject *obj;
    const char *status;
    gboolean running;

    if (ret == NULL)
        return FALSE;
    obj = node_object(ret, "query-status", error);
    if (obj == NULL || !get_string(obj, "query-status", "status", TRUE, &status, error) ||
        !get_bool(obj, "query-status", "running", TRUE, FALSE, &running, error))
        return FALSE;
    if (ret_status != NULL)
        *ret_status = g_strdup(status);
    if (ret_running != NULL)
        *ret_running = running;
    return TRUE;
}

static void
cpu_clear(gpointer data)
{
    NsQmpCpu *cpu = data;

    g_clear_pointer(&cpu->qom_path, g_free);
}

GArray *
ns_qmp_query_cpus(NsQmp *qmp, GError **error)
{
    g_autoptr(JsonNode) ret = ns_qmp_execute(qmp, "query-cpus-fast", NULL, error);
    g_autoptr(GArray) cpus = NULL;
    JsonArray *list;

    if (ret == NULL)
        return NULL;
    list = node_array(ret, "query-cpus-fast", error);
    if (list == NULL)
        return NULL;
    cpus = g_array_sized_new(FALSE, TRUE, sizeof(NsQmpCpu), json_array_get_length(list));
    g_array_set_clear_func(cpus, cpu_clear);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        g_autofree char *where = g_strdup_printf("query-cpus-fast[%u]", i);
        JsonObject *obj = node_object(json_array_get_element(list, i), where, error);
        JsonNode *props_node;
        const char *qom_path;
        gint64 index;
        gint64 tid;
        gint64 node_id = -1;
        NsQmpCpu cpu;

        if (obj == NULL || !get_int(obj, where, "cpu-index", 0, G_MAXINT, &index, error) ||
            !get_int(obj, where, "thread-id", 0, G_MAXINT64, &tid, error) ||
            !get_string(obj, where, "qom-path", TRUE, &qom_path, error))
            return NULL;
        props_node = json_object_get_member(obj, "props");
        if (props_node != NULL) {
            JsonObject *props = node_object(props_node, "\"props\"", error);

            if (props == NULL)
                return NULL;
            if (json_object_has_member(props, "node-id") &&
                !get_int(props, where, "node-id", 0, G_MAXINT, &node_id, error))
                return NULL;
        }
        cpu.index = (guint)index;
        cpu.thread_id = tid;
        cpu.node_id = (gint)node_id;
        cpu.qom_path = g_strdup(qom_path);
        g_array_append_val(cpus, cpu);
    }
    return g_steal_pointer(&cpus);
}

void
ns_qmp_memdev_free(NsQmpMemdev *memdev)
{
    if (memdev == NULL)
        return;
    g_free(memdev->id);
    g_free(memdev->policy);
    if (memdev->host_nodes != NULL)
        g_array_unref(memdev->host_nodes);
    g_free(memdev);
}

static gint
compare_uint(gconstpointer a, gconstpointer b)
{
    guint x = *(const guint *)a;
    guint y = *(const guint *)b;

    return x < y ? -1 : x > y;
}

static NsQmpMemdev *
parse_memdev(JsonNode *node, const char *where, GError **error)
{
    g_autoptr(NsQmpMemdev) m = g_new0(NsQmpMemdev, 1);
    JsonObject *obj = node_object(node, where, error);
    JsonArray *nodes;
    const char *id;
    const char *policy;
    gint64 size;

    if (obj == NULL || !get_string(obj, where, "id", FALSE, &id, error) ||
        !get_int(obj, where, "size", 0, G_MAXINT64, &size, error) ||
        !get_bool(obj, where, "merge", TRUE, FALSE, &m->merge, error) ||
        !get_bool(obj, where, "dump", TRUE, FALSE, &m->dump, error) ||
        !get_bool(obj, where, "prealloc", TRUE, FALSE, &m->prealloc, error) ||
        !get_bool(obj, where, "share", FALSE, FALSE, &m->share, error) ||
        !get_string(obj, where, "policy", TRUE, &policy, error))
        return NULL;
    nodes = node_array(json_object_get_member(obj, "host-nodes"), "\"host-nodes\"", error);
    if (nodes == NULL)
        return NULL;
    m->id = g_strdup(id);
    m->size = (guint64)size;
    m->policy = g_strdup(policy);
    m->host_nodes = g_array_new(FALSE, FALSE, sizeof(guint));
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonNode *n = json_array_get_element(nodes, i);
        gint64 v;

        if (!ns_json_holds(n, G_TYPE_INT64) || (v = json_node_get_int(n)) < 0 || v > G_MAXUINT16) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "%s: \"host-nodes\"[%u] is not a node number", where, i);
            return NULL;
        }
        g_array_append_vals(m->host_nodes, &(guint){(guint)v}, 1);
    }
    g_array_sort(m->host_nodes, compare_uint);
    return g_steal_pointer(&m);
}

GPtrArray *
ns_qmp_query_memdev(NsQmp *qmp, GError **error)
{
    g_autoptr(JsonNode) ret = ns_qmp_execute(qmp, "query-memdev", NULL, error);
    g_autoptr(GPtrArray) memdevs = NULL;
    JsonArray *list;

    if (ret == NULL)
        return NULL;
    list = node_array(ret, "query-memdev", error);
    if (list == NULL)
        return NULL;
    memdevs = g_ptr_array_new_with_free_func((GDestroyNotify)ns_qmp_memdev_free);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        g_autofree char *where = g_strdup_printf("query-memdev[%u]", i);
        NsQmpMemdev *m = parse_memdev(json_array_get_element(list, i), where, error);

        if (m == NULL)
            return NULL;
        g_ptr_array_add(memdevs, m);
    }
    return g_steal_pointer(&memdevs);
}

static void
stat_clear(gpointer data)
{
    NsQmpStat *stat = data;

    g_clear_pointer(&stat->name, g_free);
}

/* Append the scalar statistics of one StatsResult's "stats" list. */
static gboolean
append_stats(GArray *stats, JsonArray *list, const char *where, GError **error)
{
    for (guint i = 0; i < json_array_get_length(list); i++) {
        g_autofree char *at = g_strdup_printf("%s[%u]", where, i);
        JsonObject *obj = node_object(json_array_get_element(list, i), at, error);
        JsonNode *value;
        const char *name;
        NsQmpStat stat;

        if (obj == NULL || !get_string(obj, at, "name", TRUE, &name, error))
            return FALSE;
        value = json_object_get_member(obj, "value");
        if (ns_json_holds(value, G_TYPE_INT64) && json_node_get_int(value) >= 0) {
            stat.value = (guint64)json_node_get_int(value);
        } else if (ns_json_holds(value, G_TYPE_BOOLEAN)) {
            stat.value = json_node_get_boolean(value) ? 1 : 0;
        } else if (value != NULL && JSON_NODE_HOLDS_ARRAY(value)) {
            continue; /* a histogram */
        } else {
            set_wrong_type(error, at, "value", "a non-negative integer, boolean or list",
                           value);
            return FALSE;
        }
        stat.name = g_strdup(name);
        g_array_append_val(stats, stat);
    }
    return TRUE;
}

GArray *
ns_qmp_query_kvm_stats(NsQmp *qmp, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonArray) providers = json_array_new();
    g_autoptr(JsonObject) kvm = json_object_new();
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GArray) stats = NULL;
    JsonArray *results;

    json_object_set_string_member(kvm, "provider", "kvm");
    json_array_add_object_element(providers, g_steal_pointer(&kvm));
    json_object_set_string_member(args, "target", "vm");
    json_object_set_array_member(args, "providers", g_steal_pointer(&providers));
    ret = ns_qmp_execute(qmp, "query-stats", args, error);
    if (ret == NULL)
        return NULL;
    results = node_array(ret, "query-stats", error);
    if (results == NULL)
        return NULL;
    stats = g_array_new(FALSE, TRUE, sizeof(NsQmpStat));
    g_array_set_clear_func(stats, stat_clear);
    for (guint i = 0; i < json_array_get_length(results); i++) {
        g_autofree char *where = g_strdup_printf("query-stats[%u]", i);
        JsonObject *obj = node_object(json_array_get_element(results, i), where, error);
        const char *provider;
        JsonArray *list;

        if (obj == NULL || !get_string(obj, where, "provider", TRUE, &provider, error))
            return NULL;
        if (strcmp(provider, "kvm") != 0)
            continue;
        list = node_array(json_object_get_member(obj, "stats"), "\"stats\"", error);
        if (list == NULL || !append_stats(stats, list, where, error))
            return NULL;
    }
    return g_steal_pointer(&stats);
}

gboolean
ns_qmp_stats_get(const GArray *stats, const char *name, guint64 *ret_value)
{
    for (guint i = 0; i < stats->len; i++) {
        const NsQmpStat *stat = &g_array_index(stats, NsQmpStat, i);

        if (strcmp(stat->name, name) == 0) {
            *ret_value = stat->value;
            return TRUE;
        }
    }
    return FALSE;
}

/* ------------------------------------------------------------------------
 * Transport: a QMP UNIX socket
 *
 * Non-blocking socket, poll() against a deadline per command.  Input is
 * split into lines (QEMU ends each message with "\r\n"); a line longer than
 * NS_QMP_MAX_REPLY, end of file or a read/write error leaves the
 * connection "broken" (every later command fails at once).  A timed-out
 * command does not: its late reply is recognized by its id and skipped.
 */

typedef struct {
    char *path;
    int fd;
    guint timeout_ms;
    GByteArray *in;   /* received bytes not yet consumed */
    gsize scanned;    /* bytes of @in known to hold no newline */
    guint64 next_id;
    gboolean broken;
} QmpSocket;

static void
qmp_socket_free(gpointer impl)
{
    QmpSocket *s = impl;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->in != NULL)
        g_byte_array_unref(s->in);
    g_free(s->path);
    g_free(s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpSocket, qmp_socket_free)

static gboolean
socket_broken(QmpSocket *s, GError **error, NsErrorCode code, const char *format, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean
socket_broken(QmpSocket *s, GError **error, NsErrorCode code, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list ap;

    va_start(ap, format);
    message = g_strdup_vprintf(format, ap);
    va_end(ap);
    s->broken = TRUE;
    g_set_error(error, NS_ERROR, code, "QMP socket %s: %s", s->path, message);
    return FALSE;
}

/* Wait for @events on the socket until @deadline (monotonic µs). */
static gboolean
socket_wait(QmpSocket *s, short events, gint64 deadline, GError **error)
{
    for (;;) {
        gint64 left = deadline - g_get_monotonic_time();
        struct pollfd pfd = {.fd = s->fd, .events = events};
        int r;

        if (left <= 0) {
            g_set_error(error, NS_ERROR, NS_ERROR_IO, "QMP socket %s: timed out after %u ms",
                        s->path, s->timeout_ms);
            return FALSE;
        }
        r = poll(&pfd, 1, (int)MIN((left + 999) / 1000, G_MAXINT));
        if (r > 0)
            return TRUE;
        if (r < 0 && errno != EINTR)
            return socket_broken(s, error, NS_ERROR_IO, "poll: %s", g_strerror(errno));
    }
}

static gboolean
socket_write(QmpSocket *s, const char *data, gsize len, gint64 deadline, GError **error)
{
    while (len > 0) {
        ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);

        if (n > 0) {
            data += n;
            len -= (gsize)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!socket_wait(s, POLLOUT, deadline, error))
                return FALSE;
        } else if (n < 0 && errno != EINTR) {
            return socket_broken(s, error,
                                 errno == EPIPE || errno == ECONNRESET ? NS_ERROR_NOT_RUNNING
                                                                       : NS_ERROR_IO,
                                 "write: %s", g_strerror(errno));
        }
    }
    return TRUE;
}

/* The next line without its "\r\n", as a new string of *@ret_len bytes. */
static char *
socket_read_line(QmpSocket *s, gint64 deadline, gsize *ret_len, GError **error)
{
    for (;;) {
        guint8 *nl = s->in->len > s->scanned
                         ? memchr(s->in->data + s->scanned, '\n', s->in->len - s->scanned)
                         : NULL;
        guint8 chunk[READ_CHUNK];
        ssize_t n;

        if (nl != NULL) {
            gsize len = (gsize)(nl - s->in->data);
            gsize keep = len;
            char *line;

            if (keep > 0 && s->in->data[keep - 1] == '\r')
                keep--;
            line = g_malloc(keep + 1);
            memcpy(line, s->in->data, keep);
            line[keep] = '\0';
            g_byte_array_remove_range(s->in, 0, (guint)len + 1);
            s->scanned = 0;
            *ret_len = keep;
            return line;
        }
        s->scanned = s->in->len;
        if (s->in->len > NS_QMP_MAX_REPLY) {
            socket_broken(s, error, NS_ERROR_IO, "a message exceeds the limit of %u bytes",
                          NS_QMP_MAX_REPLY);
            return NULL;
        }
        if (!socket_wait(s, POLLIN, deadline, error))
            return NULL;
        n = read(s->fd, chunk, sizeof(chunk));
        if (n > 0) {
            g_byte_array_append(s->in, chunk, (guint)n);
        } else if (n == 0) {
            socket_broken(s, error, NS_ERROR_NOT_RUNNING, "QEMU closed the connection");
            return NULL;
        } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            socket_broken(s, error, errno == ECONNRESET ? NS_ERROR_NOT_RUNNING : NS_ERROR_IO,
                          "read: %s", g_strerror(errno));
            return NULL;
        }
    }
}

static char *
qmp_socket_command_until(QmpSocket *s, JsonObject *request, gint64 deadline, GError **error)
{
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    if (s->broken) {
        g_set_error(error, NS_ERROR, NS_ERROR_IO,
                    "QMP socket %s: connection unusable after an earlier failure", s->path);
        return NULL;
    }
    id = g_strdup_printf("ns-%" G_GUINT64_FORMAT, ++s->next_id);
    json_object_set_string_member(request, "id", id);
    root = json_node_init_object(json_node_alloc(), request);
    text = json_to_string(root, FALSE);
    line = g_strconcat(text, "\n", NULL);
    if (!socket_write(s, line, strlen(line), deadline, error))
        return NULL;

    for (;;) {
        gsize len;
        g_autofree char *reply = socket_read_line(s, deadline, &len, error);
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) local = NULL;
        JsonObject *obj = NULL;
        JsonNode *reply_id;

        if (reply == NULL)
            return NULL;
        if (len == 0)
            continue;
        parser = parse_object(reply, len, &obj, &local);
        if (parser == NULL) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "QMP socket %s: %s", s->path,
                        local->message);
            return NULL;
        }
        if (json_object_has_member(obj, "event"))
            continue;
        if (!json_object_has_member(obj, "return") && !json_object_has_member(obj, "error")) {
            g_autofree char *shown = excerpt(reply, len);

            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "QMP socket %s: unexpected message \"%s\"", s->path, shown);
            return NULL;
        }
        reply_id = json_object_get_member(obj, "id");
        /* A reply to an earlier command that timed out: not ours. */
        if (reply_id != NULL &&
            (!ns_json_holds(reply_id, G_TYPE_STRING) || strcmp(json_node_get_string(reply_id), id) != 0))
            continue;
        return g_steal_pointer(&reply);
    }
}

static char *
qmp_socket_command(gpointer impl, JsonObject *request, GError **error)
{
    QmpSocket *s = impl;

    return qmp_socket_command_until(s, request,
                                    g_get_monotonic_time() + (gint64)s->timeout_ms * 1000,
                                    error);
}

static const NsQmpTransport qmp_socket_transport = {
    .command = qmp_socket_command,
    .hmp = NULL,
    .free = qmp_socket_free,
};

static gboolean
socket_open(QmpSocket *s, gint64 deadline, GError **error)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    if (strlen(s->path) >= sizeof(addr.sun_path)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "socket path too long: %s",
                    s->path);
        return FALSE;
    }
    memcpy(addr.sun_path, s->path, strlen(s->path) + 1);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->fd < 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "socket: %s", g_strerror(errno));
        return FALSE;
    }
    /* A full listen backlog answers EAGAIN on a non-blocking UNIX socket. */
    while (connect(s->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;

        if (e == EINTR)
            continue;
        if (e == EAGAIN && g_get_monotonic_time() < deadline) {
            g_usleep(10000);
            continue;
        }
        g_set_error(error, NS_ERROR,
                    e == ENOENT         ? NS_ERROR_NOT_FOUND
                    : e == ECONNREFUSED ? NS_ERROR_NOT_RUNNING
                    : e == EACCES       ? NS_ERROR_PERMISSION
                                        : NS_ERROR_IO,
                    "cannot connect to QMP socket %s: %s", s->path, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

/* Read the greeting {"QMP": {...}} and leave capabilities negotiation. */
static gboolean
socket_handshake(QmpSocket *s, gint64 deadline, GError **error)
{
    gsize len;
    g_autofree char *greeting = socket_read_line(s, deadline, &len, error);
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(JsonObject) request = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *reply = NULL;
    JsonObject *obj = NULL;

    if (greeting == NULL)
        return FALSE;
    parser = parse_object(greeting, len, &obj, error);
    if (parser == NULL || node_object(json_object_get_member(obj, "QMP"), "greeting \"QMP\"",
                                      error) == NULL) {
        g_prefix_error(error, "QMP socket %s: not a QMP greeting: ", s->path);
        return FALSE;
    }
    request = json_object_new();
    json_object_set_string_member(request, "execute", "qmp_capabilities");
    reply = qmp_socket_command_until(s, request, deadline, error);
    if (reply == NULL)
        return FALSE;
    ret = ns_qmp_parse_reply(reply, -1, error);
    if (ret == NULL) {
        g_prefix_error(error, "QMP socket %s: qmp_capabilities: ", s->path);
        return FALSE;
    }
    return TRUE;
}

NsQmp *
ns_qmp_connect(const char *socket_path, guint timeout_ms, GError **error)
{
    g_autoptr(QmpSocket) s = g_new0(QmpSocket, 1);
    gint64 deadline;

    s->path = g_strdup(socket_path);
    s->fd = -1;
    s->timeout_ms = timeout_ms != 0 ? timeout_ms : NS_QMP_DEFAULT_TIMEOUT_MS;
    s->in = g_byte_array_new();
    deadline = g_get_monotonic_time() + (gint64)s->timeout_ms * 1000;
    if (!socket_open(s, deadline, error) || !socket_handshake(s, deadline, error))
        return NULL;
    return ns_qmp_new(&qmp_socket_transport, g_steal_pointer(&s));
}

/* ------------------------------------------------------------------------
 * Transport: libvirt's virDomainQemuMonitorCommand()
 */

static void
set_libvirt_error(GError **error, const char *what)
{
    virErrorPtr e = virGetLastError();
    NsErrorCode code = NS_ERROR_IO;

    if (e != NULL) {
        switch (e->code) {
        case VIR_ERR_NO_DOMAIN:
            code = NS_ERROR_NOT_FOUND;
            break;
        case VIR_ERR_OPERATION_INVALID: /* "domain is not running" */
            code = NS_ERROR_NOT_RUNNING;
            break;
        case VIR_ERR_ACCESS_DENIED:
        case VIR_ERR_AUTH_FAILED:
            code = NS_ERROR_PERMISSION;
            break;
        case VIR_ERR_NO_SUPPORT:
        case VIR_ERR_ARGUMENT_UNSUPPORTED:
            code = NS_ERROR_UNSUPPORTED;
            break;
        default:
            break;
        }
    }
    g_set_error(error, NS_ERROR, code, "libvirt %s: %s", what,
                e != NULL && e->message != NULL ? e->message : "unknown error");
}

/* Copy libvirt's malloc()ed @result into GLib memory, checking its size. */
static char *
take_libvirt_result(char *result, GError **error)
{
    gsize len = result != NULL ? strlen(result) : 0;
    char *copy;

    if (result == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "libvirt returned no result");
        return NULL;
    }
    if (len > NS_QMP_MAX_REPLY) {
        free(result);
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "reply of %" G_GSIZE_FORMAT " bytes exceeds the limit of %u", len,
                    NS_QMP_MAX_REPLY);
        return NULL;
    }
    copy = g_strndup(result, len);
    free(result);
    return copy;
}

static char *
libvirt_command(gpointer impl, JsonObject *request, GError **error)
{
    g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), request);
    g_autofree char *text = json_to_string(root, FALSE);
    char *result = NULL;

    if (virDomainQemuMonitorCommand(impl, text, &result,
                                    VIR_DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT) < 0) {
        set_libvirt_error(error, "QMP command");
        return NULL;
    }
    return take_libvirt_result(result, error);
}

static char *
libvirt_hmp(gpointer impl, const char *command_line, GError **error)
{
    char *result = NULL;

    if (virDomainQemuMonitorCommand(impl, command_line, &result,
                                    VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP) < 0) {
        set_libvirt_error(error, "HMP command");
        return NULL;
    }
    return take_libvirt_result(result, error);
}

static void
libvirt_free(gpointer impl)
{
    if (impl != NULL)
        virDomainFree(impl);
}

static const NsQmpTransport libvirt_transport = {
    .command = libvirt_command,
    .hmp = libvirt_hmp,
    .free = libvirt_free,
};

NsQmp *
ns_qmp_new_libvirt(virDomainPtr domain)
{
    virDomainRef(domain);
    return ns_qmp_new(&libvirt_transport, domain);
}
