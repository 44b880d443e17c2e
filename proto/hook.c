/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt hook's logic (see hook.h): its command line, its stdin, the
 * domain's UUID, and one request/reply exchange with numashiftd against a
 * deadline.
 *
 * Everything here is bounded in time and memory because libvirtd waits for
 * the hook: stdin is read against a deadline and capped, the UUID scan
 * stops at the end of the <uuid> element or XML_DEPTH_MAX levels deep
 * (GMarkup is a state machine, not a recursive parser, so nesting costs no
 * stack, but it slows down on deep nesting), and the socket is
 * non-blocking with every wait a poll() against the deadline.
 */
#include "numashift/hook.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "numashift/control.h"
#include "numashift/error.h"

#define READ_CHUNK 65536
/* Longer text inside <uuid> than this is not a UUID: stop collecting. */
#define UUID_TEXT_MAX 64
/*
 * Deeper XML than this is not a libvirt domain (whose own nesting stays
 * under 10): stop.  Besides, GMarkup slows down badly on deep nesting
 * (4 MiB of "<a>" takes seconds), and libvirtd is waiting.
 */
#define XML_DEPTH_MAX 64

/* The (operation, suboperation) pairs numashiftd wants to hear about. */
static const struct {
    const char *operation;
    const char *suboperation;
} acted_on[] = {
    { "started", "begin" },
    { "stopped", "end" },
    { "release", "end" },
    { "reconnect", "begin" },
};

/* ------------------------------------------------------------------------
 * Command line
 */

void
ns_hook_call_free(NsHookCall *call)
{
    if (call == NULL)
        return;
    g_free(call->domain);
    g_free(call->operation);
    g_free(call->suboperation);
    g_free(call);
}

NsHookCall *
ns_hook_parse_args(int argc, char *const *argv, GError **error)
{
    g_autoptr(NsHookCall) call = NULL;
    const char *domain;
    gsize n;

    if (argc < 4) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "expected DOMAIN OPERATION SUBOPERATION [EXTRA] (libvirt's qemu hook "
                    "arguments), got %d argument%s",
                    MAX(argc - 1, 0), argc == 2 ? "" : "s");
        return NULL;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(acted_on); i++) {
        if (strcmp(argv[2], acted_on[i].operation) == 0 &&
            strcmp(argv[3], acted_on[i].suboperation) == 0) {
            call = g_new0(NsHookCall, 1);
            call->operation = g_strdup(acted_on[i].operation);
            call->suboperation = g_strdup(acted_on[i].suboperation);
            break;
        }
    }
    if (call == NULL)
        return NULL;

    domain = argv[1];
    n = strlen(domain);
    if (n == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "empty domain name");
        return NULL;
    }
    if (n > NS_CONTROL_DOMAIN_MAX) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "domain name of %" G_GSIZE_FORMAT " bytes, longer than %u", n,
                    NS_CONTROL_DOMAIN_MAX);
        return NULL;
    }
    if (!g_utf8_validate(domain, (gssize)n, NULL)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "domain name is not UTF-8");
        return NULL;
    }
    call->domain = g_strdup(domain);
    return g_steal_pointer(&call);
}

/* ------------------------------------------------------------------------
 * stdin
 */

/* Wait until @fd has @events or @deadline_us passes (FALSE, errno ETIMEDOUT). */
static gboolean
wait_fd(int fd, short events, gint64 deadline_us)
{
    for (;;) {
        gint64 left = deadline_us - g_get_monotonic_time();
        struct pollfd pfd = { .fd = fd, .events = events };
        int r;

        if (left <= 0) {
            errno = ETIMEDOUT;
            return FALSE;
        }
        r = poll(&pfd, 1, (int)MIN((left + 999) / 1000, G_MAXINT));
        if (r > 0)
            return TRUE;
        if (r < 0 && errno != EINTR)
            return FALSE;
    }
}

char *
ns_hook_read_input(int fd, gsize max, gint64 deadline_us, gsize *ret_len, GError **error)
{
    g_autoptr(GByteArray) kept = g_byte_array_new();
    g_autofree guint8 *chunk = g_malloc(READ_CHUNK);

    for (;;) {
        ssize_t n;

        if (!wait_fd(fd, POLLIN, deadline_us)) {
            g_set_error(error, NS_ERROR, NS_ERROR_IO,
                        errno == ETIMEDOUT ? "input not closed in time (%s)"
                                           : "cannot wait for input: %s",
                        g_strerror(errno));
            return NULL;
        }
        n = read(fd, chunk, READ_CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot read input: %s",
                        g_strerror(errno));
            return NULL;
        }
        if (kept->len < max)
            g_byte_array_append(kept, chunk, (guint)MIN((gsize)n, max - kept->len));
    }
    *ret_len = kept->len;
    g_byte_array_append(kept, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(g_steal_pointer(&kept), FALSE);
}

/* ------------------------------------------------------------------------
 * The domain's UUID
 */

typedef struct {
    guint depth;      /* of the element being read; the root is 1 */
    gboolean in_uuid; /* inside /domain/uuid */
    GString *text;
    char *uuid;       /* the answer */
} UuidScan;

/* Any error stops the scan; which one does not matter. */
static void
stop_scan(GError **error)
{
    g_set_error_literal(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "stop");
}

static void
scan_start(GMarkupParseContext *context, const char *name, const char **attribute_names,
           const char **attribute_values, gpointer data, GError **error)
{
    UuidScan *scan = data;

    scan->depth++;
    if (scan->depth > XML_DEPTH_MAX)
        stop_scan(error);
    else if (scan->depth == 1 && strcmp(name, "domain") != 0)
        stop_scan(error); /* not a domain */
    else if (scan->in_uuid)
        stop_scan(error); /* markup inside <uuid> */
    else if (scan->depth == 2 && strcmp(name, "uuid") == 0)
        scan->in_uuid = TRUE;
}

static void
scan_end(GMarkupParseContext *context, const char *name, gpointer data, GError **error)
{
    UuidScan *scan = data;

    if (scan->in_uuid) {
        g_autofree char *text = g_strstrip(g_strdup(scan->text->str));

        if (g_uuid_string_is_valid(text))
            scan->uuid = g_ascii_strdown(text, -1);
        stop_scan(error); /* the first <uuid> decides */
    }
    scan->depth--;
}

static void
scan_text(GMarkupParseContext *context, const char *text, gsize len, gpointer data,
          GError **error)
{
    UuidScan *scan = data;

    if (!scan->in_uuid)
        return;
    if (scan->text->len + len > UUID_TEXT_MAX) {
        stop_scan(error);
        return;
    }
    g_string_append_len(scan->text, text, (gssize)len);
}

/* GMarkup hands over CDATA sections (and comments) untouched. */
static void
scan_passthrough(GMarkupParseContext *context, const char *text, gsize len, gpointer data,
                 GError **error)
{
    static const char open[] = "<![CDATA[";
    static const char close[] = "]]>";

    if (len >= sizeof(open) - 1 + sizeof(close) - 1 && memcmp(text, open, sizeof(open) - 1) == 0)
        scan_text(context, text + sizeof(open) - 1, len - (sizeof(open) - 1) - (sizeof(close) - 1),
                  data, error);
}

char *
ns_hook_uuid_from_xml(const char *xml, gsize len)
{
    static const GMarkupParser parser = {
        .start_element = scan_start,
        .end_element = scan_end,
        .text = scan_text,
        .passthrough = scan_passthrough,
    };
    g_autoptr(GString) text = g_string_new(NULL);
    UuidScan scan = { .text = text };
    g_autoptr(GMarkupParseContext) context = NULL;

    if (xml == NULL || len == 0 || len > G_MAXSSIZE)
        return NULL;
    context = g_markup_parse_context_new(&parser, 0, &scan, NULL);
    /* Either the scan stopped itself (an answer or none) or the XML is broken. */
    if (g_markup_parse_context_parse(context, xml, (gssize)len, NULL))
        g_markup_parse_context_end_parse(context, NULL);
    return scan.uuid;
}

/* ------------------------------------------------------------------------
 * Talking to numashiftd
 */

char *
ns_hook_request_line(const NsHookCall *call, const char *uuid, GError **error)
{
    g_autoptr(NsControlRequest) request = ns_control_request_new(NS_CONTROL_OP_HOOK);

    request->domain = g_strdup(call->domain);
    request->uuid = g_strdup(uuid);
    request->operation = g_strdup(call->operation);
    request->suboperation = g_strdup(call->suboperation);
    return ns_control_request_to_line(request, error);
}

typedef struct {
    const char *path;
    int fd;
} Conn;

static void
conn_clear(Conn *conn)
{
    if (conn->fd >= 0)
        close(conn->fd);
    conn->fd = -1;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Conn, conn_clear)

static gboolean
conn_fail(const Conn *conn, GError **error, NsErrorCode code, const char *what, int errsv)
{
    g_set_error(error, NS_ERROR, code, "%s %s: %s", what, conn->path,
                errsv == ETIMEDOUT ? "timed out" : g_strerror(errsv));
    return FALSE;
}

static NsErrorCode
code_of_errno(int errsv)
{
    switch (errsv) {
    case ENOENT:
    case ENOTDIR:
        return NS_ERROR_NOT_FOUND;
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
        return NS_ERROR_NOT_RUNNING;
    case EACCES:
    case EPERM:
        return NS_ERROR_PERMISSION;
    default:
        return NS_ERROR_IO;
    }
}

static gboolean
conn_open(Conn *conn, gint64 deadline_us, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    gsize n = strlen(conn->path);
    int errsv = 0;
    socklen_t errlen = sizeof(errsv);

    if (n == 0 || n >= sizeof(addr.sun_path)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "control socket path of %" G_GSIZE_FORMAT " bytes: must be 1..%" G_GSIZE_FORMAT,
                    n, sizeof(addr.sun_path) - 1);
        return FALSE;
    }
    memcpy(addr.sun_path, conn->path, n + 1);
    conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (conn->fd < 0)
        return conn_fail(conn, error, NS_ERROR_IO, "cannot create a socket for", errno);
    while (connect(conn->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        errsv = errno;
        if (errsv == EINTR)
            continue;
        /* A full listen backlog answers EAGAIN on a non-blocking UNIX socket: retry. */
        if (errsv == EAGAIN && g_get_monotonic_time() < deadline_us) {
            g_usleep(10000);
            continue;
        }
        if (errsv != EINPROGRESS)
            return conn_fail(conn, error, code_of_errno(errsv), "cannot connect to", errsv);
        if (!wait_fd(conn->fd, POLLOUT, deadline_us))
            return conn_fail(conn, error, NS_ERROR_IO, "cannot connect to", errno);
        if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &errsv, &errlen) < 0)
            errsv = errno;
        if (errsv != 0)
            return conn_fail(conn, error, code_of_errno(errsv), "cannot connect to", errsv);
        break;
    }
    return TRUE;
}

static gboolean
conn_send(Conn *conn, const char *data, gsize len, gint64 deadline_us, GError **error)
{
    while (len > 0) {
        ssize_t n = send(conn->fd, data, len, MSG_NOSIGNAL);

        if (n > 0) {
            data += n;
            len -= (gsize)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(conn->fd, POLLOUT, deadline_us))
                return conn_fail(conn, error, NS_ERROR_IO, "cannot send to", errno);
        } else if (n < 0 && errno != EINTR) {
            return conn_fail(conn, error, code_of_errno(errno), "cannot send to", errno);
        }
    }
    return TRUE;
}

/* One line (without its "\n") of at most NS_CONTROL_LINE_MAX bytes. */
static char *
conn_read_line(Conn *conn, gint64 deadline_us, gsize *ret_len, GError **error)
{
    g_autoptr(GByteArray) in = g_byte_array_new();
    guint8 chunk[4096];

    for (;;) {
        const guint8 *newline;
        ssize_t n;

        if (!wait_fd(conn->fd, POLLIN, deadline_us)) {
            conn_fail(conn, error, NS_ERROR_IO, "no reply from", errno);
            return NULL;
        }
        n = recv(conn->fd, chunk, sizeof(chunk), 0);
        if (n == 0) {
            g_set_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING,
                        "no reply from %s: the connection was closed", conn->path);
            return NULL;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            conn_fail(conn, error, code_of_errno(errno), "cannot read from", errno);
            return NULL;
        }
        g_byte_array_append(in, chunk, (guint)n);
        newline = memchr(in->data, '\n', in->len);
        if (newline != NULL) {
            *ret_len = (gsize)(newline - in->data);
            g_byte_array_set_size(in, (guint)*ret_len);
            g_byte_array_append(in, (const guint8 *)"", 1);
            return (char *)g_byte_array_free(g_steal_pointer(&in), FALSE);
        }
        if (in->len > NS_CONTROL_LINE_MAX) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "reply from %s is longer than %u bytes", conn->path, NS_CONTROL_LINE_MAX);
            return NULL;
        }
    }
}

/* The NS_ERROR code for an error reply's code. */
static NsErrorCode
code_of_reply(const char *code)
{
    if (strcmp(code, NS_CONTROL_ERR_INVALID_REQUEST) == 0)
        return NS_ERROR_INVALID_INPUT;
    if (strcmp(code, NS_CONTROL_ERR_PERMISSION_DENIED) == 0)
        return NS_ERROR_PERMISSION;
    if (strcmp(code, NS_CONTROL_ERR_NOT_FOUND) == 0)
        return NS_ERROR_NOT_FOUND;
    if (strcmp(code, NS_CONTROL_ERR_NOT_RUNNING) == 0)
        return NS_ERROR_NOT_RUNNING;
    if (strcmp(code, NS_CONTROL_ERR_UNSUPPORTED) == 0)
        return NS_ERROR_UNSUPPORTED;
    return NS_ERROR_FAILED;
}

gboolean
ns_hook_notify(const NsHookCall *call, const char *uuid, const char *socket_path,
               gint64 deadline_us, GError **error)
{
    g_auto(Conn) conn = { .path = socket_path, .fd = -1 };
    g_autofree char *line = ns_hook_request_line(call, uuid, error);
    g_autofree char *reply = NULL;
    g_autoptr(NsControlMessage) message = NULL;
    g_autoptr(GError) local = NULL;
    gsize len = 0;

    if (line == NULL || !conn_open(&conn, deadline_us, error) ||
        !conn_send(&conn, line, strlen(line), deadline_us, error))
        return FALSE;
    reply = conn_read_line(&conn, deadline_us, &len, error);
    if (reply == NULL)
        return FALSE;
    message = ns_control_message_parse(reply, len, &local);
    if (message == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "bad reply from %s: %s",
                    socket_path, local->message);
        return FALSE;
    }
    if (message->is_event) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "bad reply from %s: an event instead of a reply", socket_path);
        return FALSE;
    }
    if (!message->ok) {
        g_autofree char *text = g_strdup(message->error_message);

        g_strdelimit(text, "\r\n", ' ');
        g_set_error(error, NS_ERROR, code_of_reply(message->error_code),
                    "numashiftd at %s refused: %s (%s)", socket_path, text,
                    message->error_code);
        return FALSE;
    }
    return TRUE;
}
