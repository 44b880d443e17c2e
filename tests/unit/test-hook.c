/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt hook: its command line, the domain XML on stdin (valid,
 * garbage, huge), the request it builds, the exchange with numashiftd
 * against a small UNIX-socket server running in a thread of this test,
 * and the real numashift-hook program ($NS_HOOK_BINARY) run as libvirt
 * runs it: with a server that answers, with no socket, with a server that
 * never answers, for calls it ignores.  It must exit 0 every time.
 *
 * Timing: the hook gives up after NS_HOOK_TIMEOUT_MS (1 s); these tests
 * only assert generous bounds (2 s, 3 s) so that a loaded machine does not
 * fail them.  The whole program takes about 3 s.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "numashift/control.h"
#include "numashift/error.h"
#include "numashift/hook.h"

#define UUID "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"

/* The start of a domain XML as libvirt hands it to a started/begin hook. */
static const char domain_xml[] =
    "<domain type='kvm' id='3'>\n"
    "  <name>nsguest</name>\n"
    "  <uuid>4DEA22B3-1D52-D8F3-2516-782E98AB3FA0</uuid>\n"
    "  <metadata>\n"
    "    <ns:info xmlns:ns='http://example.org/ns'><ns:uuid>x</ns:uuid></ns:info>\n"
    "  </metadata>\n"
    "  <memory unit='KiB'>262144</memory>\n"
    "  <vcpu placement='static'>2</vcpu>\n"
    "  <cputune><vcpupin vcpu='0' cpuset='1'/></cputune>\n"
    "  <numatune><memory mode='strict' nodeset='0'/></numatune>\n"
    "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>\n"
    "  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>\n"
    "  <seclabel type='dynamic' model='dac' relabel='yes'>\n"
    "    <label>+64055:+994</label>\n"
    "  </seclabel>\n"
    "</domain>\n";

/* ------------------------------------------------------------------------
 * Command line
 */

static NsHookCall *
args_call(GError **error, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    va_list ap;
    const char *arg;

    g_ptr_array_add(argv, (gpointer) "numashift");
    va_start(ap, error);
    while ((arg = va_arg(ap, const char *)) != NULL)
        g_ptr_array_add(argv, (gpointer)arg);
    va_end(ap);
    return ns_hook_parse_args((int)argv->len, (char *const *)argv->pdata, error);
}

static void
test_args_too_few(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_null(ns_hook_parse_args(0, (char *const[]){ NULL }, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    g_assert_null(args_call(&error, NULL));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "got 0 arguments"));
    g_clear_error(&error);
    g_assert_null(args_call(&error, "vm", NULL));
    g_assert_nonnull(strstr(error->message, "got 1 argument"));
    g_clear_error(&error);
    g_assert_null(args_call(&error, "vm", "started", NULL));
    g_assert_nonnull(strstr(error->message, "got 2 arguments"));
}

static void
test_args_ignored(void)
{
    static const char *const pairs[][2] = {
        { "prepare", "begin" }, { "start", "begin" },    { "started", "end" },
        { "stopped", "begin" }, { "release", "begin" },  { "migrate", "begin" },
        { "restore", "begin" }, { "reconnect", "end" },  { "attach", "begin" },
        { "STARTED", "begin" }, { "started", "BEGIN" },  { "", "" },
        { "started ", "begin" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(pairs); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_null(args_call(&error, "vm", pairs[i][0], pairs[i][1], "-", NULL));
        g_assert_no_error(error);
        /* Not even the domain name is looked at. */
        g_assert_null(args_call(&error, "", pairs[i][0], pairs[i][1], "-", NULL));
        g_assert_no_error(error);
    }
}

static void
test_args_acted_on(void)
{
    static const char *const pairs[][2] = {
        { "started", "begin" }, { "stopped", "end" }, { "release", "end" }, { "reconnect", "begin" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(pairs); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(NsHookCall) call = args_call(&error, "vm-1", pairs[i][0], pairs[i][1], "-", NULL);
        g_autoptr(NsHookCall) no_extra = args_call(&error, "vm-1", pairs[i][0], pairs[i][1], NULL);
        g_autoptr(NsHookCall) more = args_call(&error, "vm-1", pairs[i][0], pairs[i][1], "-", "x", NULL);

        g_assert_no_error(error);
        g_assert_nonnull(call);
        g_assert_cmpstr(call->domain, ==, "vm-1");
        g_assert_cmpstr(call->operation, ==, pairs[i][0]);
        g_assert_cmpstr(call->suboperation, ==, pairs[i][1]);
        g_assert_nonnull(no_extra);
        g_assert_nonnull(more);
    }
    ns_hook_call_free(NULL);
}

static void
test_args_bad_domain(void)
{
    g_autofree char *longest = g_strnfill(NS_CONTROL_DOMAIN_MAX, 'd');
    g_autofree char *too_long = g_strnfill(NS_CONTROL_DOMAIN_MAX + 1, 'd');
    g_autoptr(GError) error = NULL;
    g_autoptr(NsHookCall) ok = args_call(&error, longest, "started", "begin", "-", NULL);
    g_autoptr(NsHookCall) utf8 = args_call(&error, "v\xc3\xa9m", "stopped", "end", "-", NULL);

    g_assert_no_error(error);
    g_assert_nonnull(ok);
    g_assert_cmpstr(utf8->domain, ==, "v\xc3\xa9m");
    g_assert_null(args_call(&error, "", "started", "begin", "-", NULL));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "empty domain name"));
    g_clear_error(&error);
    g_assert_null(args_call(&error, too_long, "started", "begin", "-", NULL));
    g_assert_nonnull(strstr(error->message, "longer than 1024"));
    g_clear_error(&error);
    g_assert_null(args_call(&error, "bad\xff", "release", "end", "-", NULL));
    g_assert_nonnull(strstr(error->message, "not UTF-8"));
}

/* ------------------------------------------------------------------------
 * The UUID in the domain XML
 */

static char *
uuid_of(const char *xml)
{
    return ns_hook_uuid_from_xml(xml, strlen(xml));
}

static void
assert_uuid(const char *xml, const char *expected)
{
    g_autofree char *uuid = uuid_of(xml);

    if (g_strcmp0(uuid, expected) != 0)
        g_error("'%s': uuid %s, expected %s", xml, uuid ? uuid : "(none)",
                expected ? expected : "(none)");
}

static void
test_uuid_valid(void)
{
    assert_uuid(domain_xml, UUID);
    assert_uuid("<?xml version='1.0'?>\n<!-- c --><domain><uuid>\n  " UUID "\n</uuid></domain>", UUID);
    assert_uuid("<domain><uuid>&#x34;dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid></domain>", UUID);
    assert_uuid("<domain><uuid><![CDATA[" UUID "]]></uuid></domain>", UUID);
    /* A <uuid> deeper down is not the domain's; the domain's comes later. */
    assert_uuid("<domain><sysinfo><uuid>00000000-0000-0000-0000-000000000001</uuid></sysinfo>"
                "<uuid>" UUID "</uuid></domain>", UUID);
    /* Stops at </uuid>: what follows may be anything, even cut short. */
    assert_uuid("<domain><uuid>" UUID "</uuid><name>x</nom> \xff\xfe garbage", UUID);
    assert_uuid("<domain><uuid>" UUID "</uuid><uuid>00000000-0000-0000-0000-000000000001</uuid>"
                "</domain>", UUID);
}

static void
test_uuid_absent_or_bad(void)
{
    static const char *const none[] = {
        "",
        "   ",
        "not xml at all",
        "<domain",
        "<domain><name>vm</name></domain>",
        "<domain><uuid></uuid></domain>",
        "<domain><uuid/></domain>",
        "<domain><uuid>not-a-uuid</uuid></domain>",
        "<domain><uuid>4dea22b31d52d8f32516782e98ab3fa0</uuid></domain>",
        "<domain><uuid>" UUID "x</uuid></domain>",
        "<domain><uuid>" UUID "<b/></uuid></domain>",
        "<domain><uuid>" UUID,                 /* cut before the end tag */
        "<domain><uuid>4dea22b3-1d52-d8f3",    /* cut inside */
        "<network><uuid>" UUID "</uuid></network>",
        "<domain><name>\xff</name><uuid>" UUID "</uuid></domain>",
        "<domain><name>&bogus;</name><uuid>" UUID "</uuid></domain>",
        "<domain></domain><uuid>" UUID "</uuid>",
        "<dom:domain xmlns:dom='x'><uuid>" UUID "</uuid></dom:domain>",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(none); i++)
        assert_uuid(none[i], NULL);
}

/* @len bytes are looked at, not up to a NUL; and a NUL byte is not XML. */
static void
test_uuid_lengths(void)
{
    static const char xml[] = "<domain><uuid>" UUID "</uuid></domain>";
    g_autofree char *with_nul = g_memdup2(xml, sizeof(xml));
    g_autofree char *uuid = NULL;

    uuid = ns_hook_uuid_from_xml(xml, strlen("<domain><uuid>" UUID "</uuid>"));
    g_assert_cmpstr(uuid, ==, UUID);
    g_clear_pointer(&uuid, g_free);
    g_assert_null(ns_hook_uuid_from_xml(xml, strlen("<domain><uuid>" UUID "</uu")));
    with_nul[3] = '\0';
    g_assert_null(ns_hook_uuid_from_xml(with_nul, sizeof(xml) - 1));
    g_assert_null(ns_hook_uuid_from_xml(NULL, 0));
}

static void
test_uuid_huge(void)
{
    gsize filler = 8u * 1024 * 1024;
    GString *xml = g_string_sized_new(filler + 256);
    g_autofree char *uuid = NULL;
    g_autofree char *deep = NULL;
    g_autofree char *long_text = NULL;
    g_autoptr(GRand) rand = g_rand_new_with_seed(g_test_rand_int());
    g_autofree guint8 *noise = g_malloc(4096);
    gint64 t0 = g_get_monotonic_time();

    /* 8 MiB of description before the uuid: found, in linear time. */
    g_string_append(xml, "<domain><name>big</name><description>");
    for (gsize i = 0; i < filler / 64; i++)
        g_string_append(xml, "0123456789abcdef0123456789abcdef0123456789abcdef012345678 &amp; ");
    g_string_append(xml, "</description><uuid>" UUID "</uuid></domain>");
    uuid = ns_hook_uuid_from_xml(xml->str, xml->len);
    g_assert_cmpstr(uuid, ==, UUID);
    g_string_free(xml, TRUE);

    /* A million levels of nesting: GMarkup does not recurse. */
    xml = g_string_new("<domain>");
    for (guint i = 0; i < 1000000; i++)
        g_string_append(xml, "<a>");
    deep = g_string_free(xml, FALSE);
    g_assert_null(ns_hook_uuid_from_xml(deep, strlen(deep)));

    /* Megabytes of text inside <uuid>: given up after 64 bytes. */
    xml = g_string_new("<domain><uuid>");
    for (guint i = 0; i < 1000000; i++)
        g_string_append(xml, "0000");
    g_string_append(xml, "</uuid></domain>");
    long_text = g_string_free(xml, FALSE);
    g_assert_null(ns_hook_uuid_from_xml(long_text, strlen(long_text)));

    /* Random bytes. */
    for (guint n = 0; n < 2000; n++) {
        gsize len = g_rand_int_range(rand, 0, 4096);
        g_autofree char *found = NULL;

        for (gsize i = 0; i < len; i++)
            noise[i] = (guint8)g_rand_int_range(rand, 0, 256);
        if (n % 2 == 0 && len > 8)
            memcpy(noise, "<domain>", 8);
        found = ns_hook_uuid_from_xml((const char *)noise, len);
        g_assert_true(found == NULL || g_uuid_string_is_valid(found));
    }
    g_test_message("huge XML cases took %" G_GINT64_FORMAT " ms",
                   (g_get_monotonic_time() - t0) / 1000);
}

/* ------------------------------------------------------------------------
 * stdin
 */

typedef struct {
    int fd;
    gsize len;
} Writer;

static gpointer
write_all_thread(gpointer data)
{
    Writer *w = data;
    g_autofree char *buf = g_malloc(65536);
    gsize left = w->len;

    memset(buf, 'x', 65536);
    while (left > 0) {
        ssize_t n = write(w->fd, buf, MIN(left, 65536));

        g_assert_cmpint(n, >, 0);
        left -= (gsize)n;
    }
    close(w->fd);
    return NULL;
}

static void
test_read_input(void)
{
    int fds[2];
    gsize len = 0;
    g_autoptr(GError) error = NULL;
    g_autofree char *got = NULL;
    Writer w;
    GThread *thread;

    /* Less than the cap: all of it, NUL-terminated. */
    g_assert_no_errno(pipe(fds));
    g_assert_cmpint(write(fds[1], domain_xml, strlen(domain_xml)), ==, strlen(domain_xml));
    close(fds[1]);
    got = ns_hook_read_input(fds[0], NS_HOOK_INPUT_MAX, g_get_monotonic_time() + G_USEC_PER_SEC,
                             &len, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(len, ==, strlen(domain_xml));
    g_assert_cmpstr(got, ==, domain_xml);
    close(fds[0]);
    g_clear_pointer(&got, g_free);

    /* More than the cap: the writer still gets to write everything (no EPIPE). */
    g_assert_no_errno(pipe(fds));
    w = (Writer){ .fd = fds[1], .len = 3u * 1024 * 1024 + 17 };
    thread = g_thread_new("writer", write_all_thread, &w);
    got = ns_hook_read_input(fds[0], 1024 * 1024, g_get_monotonic_time() + 10 * G_USEC_PER_SEC,
                             &len, &error);
    g_thread_join(thread);
    g_assert_no_error(error);
    g_assert_cmpuint(len, ==, 1024 * 1024);
    g_assert_cmpuint(strlen(got), ==, 1024 * 1024);
    close(fds[0]);
    g_clear_pointer(&got, g_free);

    /* Never closed: gives up at the deadline. */
    g_assert_no_errno(pipe(fds));
    g_assert_cmpint(write(fds[1], "<domain>", 8), ==, 8);
    got = ns_hook_read_input(fds[0], NS_HOOK_INPUT_MAX, g_get_monotonic_time() + 200000, &len,
                             &error);
    g_assert_null(got);
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "not closed in time"));
    g_clear_error(&error);
    close(fds[0]);
    close(fds[1]);

    /* A closed descriptor. */
    got = ns_hook_read_input(fds[0], NS_HOOK_INPUT_MAX, g_get_monotonic_time() + 200000, &len,
                             &error);
    g_assert_null(got);
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
}

/* ------------------------------------------------------------------------
 * The request line
 */

static void
test_request_line(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsHookCall) call = args_call(&error, "vm \"1\"", "started", "begin", "-", NULL);
    g_autofree char *with_uuid = ns_hook_request_line(call, UUID, &error);
    g_autofree char *without = ns_hook_request_line(call, NULL, &error);
    g_autoptr(NsControlRequest) r = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(with_uuid, ==,
                    "{\"op\":\"hook\",\"domain\":\"vm \\\"1\\\"\",\"uuid\":\"" UUID "\","
                    "\"operation\":\"started\",\"suboperation\":\"begin\"}\n");
    g_assert_cmpstr(without, ==,
                    "{\"op\":\"hook\",\"domain\":\"vm \\\"1\\\"\",\"operation\":\"started\","
                    "\"suboperation\":\"begin\"}\n");
    r = ns_control_request_parse(with_uuid, strlen(with_uuid), &error);
    g_assert_no_error(error);
    g_assert_cmpint(r->op, ==, NS_CONTROL_OP_HOOK);
    g_assert_cmpstr(r->domain, ==, "vm \"1\"");
    g_assert_null(ns_hook_request_line(call, "not-a-uuid", &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
}

/*
 * Regression: a domain name holding U+001F made a request line that
 * numashiftd's parser refused (json-glib wrote the byte raw; see
 * test-control's /control/regress/unit-separator).  Found by fuzz-hook;
 * the crash is kept in tests/fuzz/corpus/hook/regress-0x1f-*.
 */
static void
test_regress_unit_separator(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsHookCall) call = args_call(&error, "a\x1f\x01" "b", "started", "begin", "-", NULL);
    g_autofree char *line = NULL;
    g_autoptr(NsControlRequest) r = NULL;

    g_assert_no_error(error);
    line = ns_hook_request_line(call, UUID, &error);
    g_assert_no_error(error);
    r = ns_control_request_parse(line, strlen(line), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(r->domain, ==, "a\x1f\x01" "b");
}

/* ------------------------------------------------------------------------
 * A numashiftd stand-in: a UNIX socket served by a thread
 */

typedef enum {
    SERVE_REPLY,        /* read one line, send @reply */
    SERVE_SILENT,       /* read one line, never answer, keep the connection */
    SERVE_CLOSE,        /* read one line, send @reply if any, hang up */
    SERVE_DRIP,         /* read one line, send @reply a byte at a time */
} ServeMode;

typedef struct {
    char *dir;
    char *path;
    int listen_fd;
    int stop[2];          /* a byte on stop[1] ends the thread */
    ServeMode mode;
    const char *reply;
    GThread *thread;
    /* Written by the thread, read after it is joined. */
    guint accepted;
    char *received;       /* the first line received, without "\n" */
} Server;

/* Wait for @fd to be readable; FALSE if told to stop first. */
static gboolean
server_wait(Server *s, int fd)
{
    struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN }, { .fd = s->stop[0], .events = POLLIN } };

    for (;;) {
        int r = poll(pfd, 2, -1);

        if (r < 0 && errno == EINTR)
            continue;
        g_assert_cmpint(r, >, 0);
        if (pfd[1].revents != 0)
            return FALSE;
        return TRUE;
    }
}

static gpointer
server_thread(gpointer data)
{
    Server *s = data;
    g_autoptr(GPtrArray) held = g_ptr_array_new();

    while (server_wait(s, s->listen_fd)) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        GString *line = g_string_new(NULL);
        char c;

        g_assert_cmpint(fd, >=, 0);
        s->accepted++;
        while (server_wait(s, fd) && read(fd, &c, 1) == 1 && c != '\n')
            g_string_append_c(line, c);
        if (s->received == NULL)
            s->received = g_strdup(line->str);
        g_string_free(line, TRUE);
        switch (s->mode) {
        case SERVE_REPLY:
            g_assert_cmpint(send(fd, s->reply, strlen(s->reply), MSG_NOSIGNAL), >, 0);
            break;
        case SERVE_DRIP:
            for (const char *p = s->reply; *p != '\0'; p++) {
                g_assert_cmpint(send(fd, p, 1, MSG_NOSIGNAL), ==, 1);
                g_usleep(1000);
            }
            break;
        case SERVE_SILENT:
            break;
        case SERVE_CLOSE:
            if (s->reply != NULL)
                g_assert_cmpint(send(fd, s->reply, strlen(s->reply), MSG_NOSIGNAL), >, 0);
            close(fd);
            continue;
        }
        g_ptr_array_add(held, GINT_TO_POINTER(fd));
    }
    for (guint i = 0; i < held->len; i++)
        close(GPOINTER_TO_INT(held->pdata[i]));
    return NULL;
}

static Server *
server_start(ServeMode mode, const char *reply)
{
    Server *s = g_new0(Server, 1);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_autoptr(GError) error = NULL;

    s->dir = g_dir_make_tmp("ns-hook-XXXXXX", &error);
    g_assert_no_error(error);
    s->path = g_build_filename(s->dir, "control.sock", NULL);
    g_assert_cmpuint(strlen(s->path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, s->path);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(s->listen_fd, >=, 0);
    g_assert_no_errno(bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)));
    g_assert_no_errno(listen(s->listen_fd, 8));
    g_assert_no_errno(pipe(s->stop));
    s->mode = mode;
    s->reply = reply;
    s->thread = g_thread_new("server", server_thread, s);
    return s;
}

/* Stop the thread; its results stay readable until server_free(). */
static void
server_stop(Server *s)
{
    if (s->thread == NULL)
        return;
    g_assert_cmpint(write(s->stop[1], "x", 1), ==, 1);
    g_thread_join(g_steal_pointer(&s->thread));
}

static void
server_free(Server *s)
{
    server_stop(s);
    close(s->listen_fd);
    close(s->stop[0]);
    close(s->stop[1]);
    g_unlink(s->path);
    g_rmdir(s->dir);
    g_free(s->received);
    g_free(s->path);
    g_free(s->dir);
    g_free(s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Server, server_free)

/* A path in a fresh directory where nothing listens (and no file exists). */
static char *
dead_path(char **ret_dir)
{
    g_autoptr(GError) error = NULL;

    *ret_dir = g_dir_make_tmp("ns-hook-XXXXXX", &error);
    g_assert_no_error(error);
    return g_build_filename(*ret_dir, "control.sock", NULL);
}

static NsHookCall *
started_call(void)
{
    g_autoptr(GError) error = NULL;
    NsHookCall *call = args_call(&error, "nsguest", "started", "begin", "-", NULL);

    g_assert_no_error(error);
    return call;
}

static gint64
in_ms(gint64 ms)
{
    return g_get_monotonic_time() + ms * 1000;
}

/* ------------------------------------------------------------------------
 * ns_hook_notify() in this process
 */

static void
test_notify_ok(void)
{
    g_autoptr(Server) s = server_start(SERVE_REPLY, "{\"ok\":true,\"result\":null}\n");
    g_autoptr(Server) drip = server_start(SERVE_DRIP, "{\"ok\":true,\"result\":{\"known\":true}}\n");
    g_autoptr(NsHookCall) call = started_call();
    g_autoptr(GError) error = NULL;

    g_assert_true(ns_hook_notify(call, UUID, s->path, in_ms(5000), &error));
    g_assert_no_error(error);
    g_assert_true(ns_hook_notify(call, NULL, drip->path, in_ms(5000), &error));
    g_assert_no_error(error);
    server_stop(s);
    server_stop(drip);
    g_assert_cmpuint(s->accepted, ==, 1);
    g_assert_cmpstr(s->received, ==,
                    "{\"op\":\"hook\",\"domain\":\"nsguest\",\"uuid\":\"" UUID "\","
                    "\"operation\":\"started\",\"suboperation\":\"begin\"}");
    g_assert_cmpstr(drip->received, ==,
                    "{\"op\":\"hook\",\"domain\":\"nsguest\",\"operation\":\"started\","
                    "\"suboperation\":\"begin\"}");
}

static void
test_notify_refused(void)
{
    static const struct {
        const char *reply;
        gint code;
        const char *part;
    } cases[] = {
        { "{\"ok\":false,\"error\":{\"code\":\"permission-denied\",\"message\":\"root only\"}}\n",
          NS_ERROR_PERMISSION, "refused: root only (permission-denied)" },
        { "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"a\\nb\"}}\n", NS_ERROR_FAILED,
          "refused: a b (busy)" },
        { "{\"ok\":false,\"error\":{\"code\":\"invalid-request\",\"message\":\"x\"}}\n",
          NS_ERROR_INVALID_INPUT, "(invalid-request)" },
        { "{\"ok\":false,\"error\":{\"code\":\"not-found\",\"message\":\"x\"}}\n",
          NS_ERROR_NOT_FOUND, "(not-found)" },
        { "{\"ok\":false,\"error\":{\"code\":\"not-running\",\"message\":\"x\"}}\n",
          NS_ERROR_NOT_RUNNING, "(not-running)" },
        { "{\"ok\":false,\"error\":{\"code\":\"unsupported\",\"message\":\"x\"}}\n",
          NS_ERROR_UNSUPPORTED, "(unsupported)" },
        { "{\"ok\":false,\"error\":{\"code\":\"something-new\",\"message\":\"x\"}}\n",
          NS_ERROR_FAILED, "(something-new)" },
        { "not json\n", NS_ERROR_INVALID_INPUT, "bad reply from" },
        { "{\"ok\":true}\n", NS_ERROR_INVALID_INPUT, "lacks \"result\"" },
        { "{\"event\":\"job\",\"body\":null}\n", NS_ERROR_INVALID_INPUT, "an event instead" },
        { "{\"ok\":true,\"result\":null}", NS_ERROR_NOT_RUNNING, "connection was closed" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        /* The last reply has no newline: the server hangs up after it. */
        gboolean unterminated = !g_str_has_suffix(cases[i].reply, "\n");
        g_autoptr(Server) s = server_start(unterminated ? SERVE_CLOSE : SERVE_REPLY, cases[i].reply);
        g_autoptr(NsHookCall) call = started_call();
        g_autoptr(GError) error = NULL;

        g_assert_false(ns_hook_notify(call, NULL, s->path, in_ms(5000), &error));
        g_assert_error(error, NS_ERROR, cases[i].code);
        g_assert_nonnull(strstr(error->message, s->path));
        g_assert_null(strchr(error->message, '\n'));
        if (strstr(error->message, cases[i].part) == NULL)
            g_error("reply '%s': error '%s' does not mention '%s'", cases[i].reply,
                    error->message, cases[i].part);
    }
}

static void
test_notify_unreachable(void)
{
    g_autoptr(NsHookCall) call = started_call();
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *path = dead_path(&dir);
    g_autofree char *long_path = g_strnfill(200, 'p');
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    /* No socket file. */
    g_assert_false(ns_hook_notify(call, NULL, path, in_ms(5000), &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "cannot connect to"));
    g_clear_error(&error);

    /* A socket file nobody listens on (a daemon that died). */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    strcpy(addr.sun_path, path);
    g_assert_no_errno(bind(fd, (struct sockaddr *)&addr, sizeof(addr)));
    close(fd);
    g_assert_false(ns_hook_notify(call, NULL, path, in_ms(5000), &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING);
    g_clear_error(&error);
    g_unlink(path);
    g_rmdir(dir);

    /* A path that does not fit a sockaddr_un, or an empty one. */
    g_assert_false(ns_hook_notify(call, NULL, long_path, in_ms(5000), &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    g_assert_false(ns_hook_notify(call, NULL, "", in_ms(5000), &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);

    /* A uuid that is not one never leaves the process. */
    g_assert_false(ns_hook_notify(call, "nope", "/nonexistent", in_ms(5000), &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
}

static void
test_notify_timeout(void)
{
    g_autoptr(Server) s = server_start(SERVE_SILENT, NULL);
    g_autoptr(NsHookCall) call = started_call();
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();

    g_assert_false(ns_hook_notify(call, NULL, s->path, in_ms(300), &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "timed out"));
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 250000);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
    /* A deadline already past: no wait at all for the reply. */
    g_clear_error(&error);
    g_assert_false(ns_hook_notify(call, NULL, s->path, g_get_monotonic_time() - 1, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
}

/* A reply longer than a request line may be: refused, not buffered forever. */
static void
test_notify_reply_too_long(void)
{
    g_autofree char *reply = g_strnfill(NS_CONTROL_LINE_MAX + 4096, ' ');
    g_autoptr(Server) s = server_start(SERVE_REPLY, reply);
    g_autoptr(NsHookCall) call = started_call();
    g_autoptr(GError) error = NULL;

    g_assert_false(ns_hook_notify(call, NULL, s->path, in_ms(5000), &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "longer than 65536"));
}

/* ------------------------------------------------------------------------
 * The numashift-hook program
 */

typedef struct {
    int status;        /* exit status; -1 if it did not exit normally */
    char *out;
    char *err;
    gint64 elapsed_us;
} HookRun;

static void
hook_run_clear(HookRun *run)
{
    g_free(run->out);
    g_free(run->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HookRun, hook_run_clear)

/*
 * Run numashift-hook with @args (NULL-terminated, after the program name)
 * and control socket @socket_path, its stdin a pipe that stays open until
 * it exits (a hook that read it would wait for its deadline).
 */
static void
run_hook_stdin_open(HookRun *run, const char *socket_path, const char *const *args)
{
    const char *binary = g_getenv("NS_HOOK_BINARY");
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    int hold[2];
    gint64 t0;

    g_assert_nonnull(binary);
    g_ptr_array_add(argv, (gpointer)binary);
    for (gsize i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_setenv(launcher, NS_CONTROL_SOCKET_ENV, socket_path, TRUE);
    g_assert_no_errno(pipe(hold));
    g_subprocess_launcher_take_stdin_fd(launcher, hold[0]);
    t0 = g_get_monotonic_time();
    proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8(proc, NULL, NULL, &run->out, &run->err, &error);
    g_assert_no_error(error);
    run->elapsed_us = g_get_monotonic_time() - t0;
    close(hold[1]);
    run->status = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
}

/* @bytes as a string ("" when empty: GLib's empty GBytes has NULL data). */
static char *
bytes_to_string(GBytes *bytes)
{
    gsize size = 0;
    const char *data = g_bytes_get_data(bytes, &size);

    return size == 0 ? g_strdup("") : g_strndup(data, size);
}

/* Run numashift-hook as above, with @input on its stdin (binary-safe, any size), then EOF. */
static void
run_hook_bytes(HookRun *run, const char *socket_path, const char *const *args, GBytes *input)
{
    const char *binary = g_getenv("NS_HOOK_BINARY");
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) out = NULL;
    g_autoptr(GBytes) err = NULL;
    gint64 t0;

    g_assert_nonnull(binary);
    g_ptr_array_add(argv, (gpointer)binary);
    for (gsize i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_setenv(launcher, NS_CONTROL_SOCKET_ENV, socket_path, TRUE);
    t0 = g_get_monotonic_time();
    proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_communicate(proc, input, NULL, &out, &err, &error);
    g_assert_no_error(error);
    run->elapsed_us = g_get_monotonic_time() - t0;
    run->out = bytes_to_string(out);
    run->err = bytes_to_string(err);
    run->status = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
}

/* Exactly one line on stderr, a warning, that mentions @part. */
static void
assert_one_warning(const HookRun *run, const char *part)
{
    g_assert_true(g_str_has_prefix(run->err, "numashift-hook: warning: "));
    g_assert_true(g_str_has_suffix(run->err, "\n"));
    g_assert_true(strchr(run->err, '\n') == run->err + strlen(run->err) - 1);
    if (part != NULL && strstr(run->err, part) == NULL)
        g_error("warning '%s' does not mention '%s'", run->err, part);
}

static void
test_binary_tells_daemon(void)
{
    static const char *const args[] = { "nsguest", "started", "begin", "-", NULL };
    g_autoptr(Server) s = server_start(SERVE_REPLY, "{\"ok\":true,\"result\":null}\n");
    g_autoptr(GBytes) input = g_bytes_new_static(domain_xml, strlen(domain_xml));
    g_auto(HookRun) run = { 0 };

    run_hook_bytes(&run, s->path, args, input);
    server_stop(s);
    g_assert_cmpint(run.status, ==, 0);
    g_assert_cmpstr(run.out, ==, "");
    g_assert_cmpstr(run.err, ==, "");
    g_assert_cmpuint(s->accepted, ==, 1);
    g_assert_cmpstr(s->received, ==,
                    "{\"op\":\"hook\",\"domain\":\"nsguest\",\"uuid\":\"" UUID "\","
                    "\"operation\":\"started\",\"suboperation\":\"begin\"}");
}

/* 6 MiB on stdin (past the 4 MiB cap), garbage after the uuid: read, dropped, uuid kept. */
static void
test_binary_huge_input(void)
{
    static const char *const args[] = { "nsguest", "stopped", "end", "-", NULL };
    g_autoptr(Server) s = server_start(SERVE_REPLY, "{\"ok\":true,\"result\":null}\n");
    gsize size = 6u * 1024 * 1024;
    g_autofree char *xml = g_malloc(size);
    g_autoptr(GBytes) input = NULL;
    g_auto(HookRun) run = { 0 };
    static const char head[] = "<domain><name>nsguest</name><uuid>" UUID "</uuid><description>";

    memset(xml, 'z', size);
    memcpy(xml, head, sizeof(head) - 1);
    input = g_bytes_new_take(g_steal_pointer(&xml), size);
    run_hook_bytes(&run, s->path, args, input);
    server_stop(s);
    g_assert_cmpint(run.status, ==, 0);
    g_assert_cmpstr(run.err, ==, "");
    g_assert_cmpstr(s->received, ==,
                    "{\"op\":\"hook\",\"domain\":\"nsguest\",\"uuid\":\"" UUID "\","
                    "\"operation\":\"stopped\",\"suboperation\":\"end\"}");
}

/* Garbage instead of XML: told without a uuid. */
static void
test_binary_garbage_input(void)
{
    static const char *const args[] = { "nsguest", "reconnect", "begin", "-", NULL };
    static const char garbage[] = "\xff\xfe<domain><uuid>" UUID "</uuid>\0\x01";
    g_autoptr(Server) s = server_start(SERVE_REPLY, "{\"ok\":true,\"result\":null}\n");
    g_autoptr(GBytes) input = g_bytes_new_static(garbage, sizeof(garbage));
    g_auto(HookRun) run = { 0 };

    run_hook_bytes(&run, s->path, args, input);
    server_stop(s);
    g_assert_cmpint(run.status, ==, 0);
    g_assert_cmpstr(run.err, ==, "");
    g_assert_cmpstr(s->received, ==,
                    "{\"op\":\"hook\",\"domain\":\"nsguest\",\"operation\":\"reconnect\","
                    "\"suboperation\":\"begin\"}");
}

static void
test_binary_no_daemon(void)
{
    static const char *const args[] = { "nsguest", "started", "begin", "-", NULL };
    g_autoptr(GBytes) input = g_bytes_new_static(domain_xml, strlen(domain_xml));
    g_autofree char *dir = NULL;
    g_autofree char *path = dead_path(&dir);
    g_auto(HookRun) run = { 0 };

    run_hook_bytes(&run, path, args, input);
    g_rmdir(dir);
    g_assert_cmpint(run.status, ==, 0);
    g_assert_cmpstr(run.out, ==, "");
    assert_one_warning(&run, "numashiftd not told that domain nsguest started (begin): "
                             "cannot connect to");
    g_assert_cmpint(run.elapsed_us, <, 2 * G_USEC_PER_SEC);
}

static void
test_binary_daemon_silent(void)
{
    static const char *const args[] = { "nsguest", "release", "end", "-", NULL };
    g_autoptr(Server) s = server_start(SERVE_SILENT, NULL);
    g_autoptr(GBytes) input = g_bytes_new_static(domain_xml, strlen(domain_xml));
    g_auto(HookRun) run = { 0 };

    run_hook_bytes(&run, s->path, args, input);
    server_stop(s);
    g_assert_cmpint(run.status, ==, 0);
    assert_one_warning(&run, "timed out");
    g_assert_cmpint(run.elapsed_us, <, 3 * G_USEC_PER_SEC);
    g_assert_cmpuint(s->accepted, ==, 1);
    g_test_message("silent daemon: hook took %" G_GINT64_FORMAT " ms", run.elapsed_us / 1000);
}

static void
test_binary_daemon_refuses(void)
{
    static const char *const args[] = { "nsguest", "started", "begin", "-", NULL };
    g_autoptr(Server) s = server_start(
        SERVE_REPLY,
        "{\"ok\":false,\"error\":{\"code\":\"permission-denied\",\"message\":\"uid 0 only\"}}\n");
    g_autoptr(GBytes) input = g_bytes_new_static(domain_xml, strlen(domain_xml));
    g_auto(HookRun) run = { 0 };

    run_hook_bytes(&run, s->path, args, input);
    server_stop(s);
    g_assert_cmpint(run.status, ==, 0);
    assert_one_warning(&run, "refused: uid 0 only (permission-denied)");
}

/* Calls it ignores: exit 0 at once, without reading stdin or connecting. */
static void
test_binary_ignored_calls(void)
{
    static const char *const prepare[] = { "nsguest", "prepare", "begin", "-", NULL };
    static const char *const migrate[] = { "nsguest", "migrate", "begin", "-", NULL };
    g_autoptr(Server) s = server_start(SERVE_REPLY, "{\"ok\":true,\"result\":null}\n");
    g_auto(HookRun) run1 = { 0 };
    g_auto(HookRun) run2 = { 0 };

    /* stdin stays open: a hook that read it would wait for its deadline. */
    run_hook_stdin_open(&run1, s->path, prepare);
    run_hook_stdin_open(&run2, s->path, migrate);
    server_stop(s);
    g_assert_cmpint(run1.status, ==, 0);
    g_assert_cmpstr(run1.out, ==, "");
    g_assert_cmpstr(run1.err, ==, "");
    g_assert_cmpint(run2.status, ==, 0);
    g_assert_cmpstr(run2.out, ==, ""); /* libvirt would take output of migrate as XML */
    g_assert_cmpstr(run2.err, ==, "");
    g_assert_cmpuint(s->accepted, ==, 0);
    g_assert_cmpint(run1.elapsed_us + run2.elapsed_us, <, 2 * G_USEC_PER_SEC);
}

static void
test_binary_bad_args(void)
{
    static const char *const none[] = { NULL };
    static const char *const two[] = { "nsguest", "started", NULL };
    static const char *const empty_name[] = { "", "started", "begin", "-", NULL };
    g_autoptr(Server) s = server_start(SERVE_REPLY, "{\"ok\":true,\"result\":null}\n");
    g_auto(HookRun) run1 = { 0 };
    g_auto(HookRun) run2 = { 0 };
    g_auto(HookRun) run3 = { 0 };

    run_hook_stdin_open(&run1, s->path, none);
    run_hook_stdin_open(&run2, s->path, two);
    run_hook_stdin_open(&run3, s->path, empty_name);
    server_stop(s);
    g_assert_cmpint(run1.status, ==, 0);
    assert_one_warning(&run1, "got 0 arguments");
    g_assert_cmpint(run2.status, ==, 0);
    assert_one_warning(&run2, "got 2 arguments");
    g_assert_cmpint(run3.status, ==, 0);
    assert_one_warning(&run3, "empty domain name");
    g_assert_cmpuint(s->accepted, ==, 0);
}

/* A domain name with a line break still makes one warning line. */
static void
test_binary_one_line_warning(void)
{
    static const char *const args[] = { "evil\nname", "started", "begin", "-", NULL };
    g_autofree char *dir = NULL;
    g_autofree char *path = dead_path(&dir);
    g_autoptr(GBytes) input = g_bytes_new_static("", 0);
    g_auto(HookRun) run = { 0 };

    run_hook_bytes(&run, path, args, input);
    g_rmdir(dir);
    g_assert_cmpint(run.status, ==, 0);
    assert_one_warning(&run, "domain evil?name started");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/hook/args/too-few", test_args_too_few);
    g_test_add_func("/hook/args/ignored", test_args_ignored);
    g_test_add_func("/hook/args/acted-on", test_args_acted_on);
    g_test_add_func("/hook/args/bad-domain", test_args_bad_domain);
    g_test_add_func("/hook/uuid/valid", test_uuid_valid);
    g_test_add_func("/hook/uuid/absent-or-bad", test_uuid_absent_or_bad);
    g_test_add_func("/hook/uuid/lengths", test_uuid_lengths);
    g_test_add_func("/hook/uuid/huge", test_uuid_huge);
    g_test_add_func("/hook/input/read", test_read_input);
    g_test_add_func("/hook/request/line", test_request_line);
    g_test_add_func("/hook/regress/unit-separator", test_regress_unit_separator);
    g_test_add_func("/hook/notify/ok", test_notify_ok);
    g_test_add_func("/hook/notify/refused", test_notify_refused);
    g_test_add_func("/hook/notify/unreachable", test_notify_unreachable);
    g_test_add_func("/hook/notify/timeout", test_notify_timeout);
    g_test_add_func("/hook/notify/reply-too-long", test_notify_reply_too_long);
    g_test_add_func("/hook/binary/tells-daemon", test_binary_tells_daemon);
    g_test_add_func("/hook/binary/huge-input", test_binary_huge_input);
    g_test_add_func("/hook/binary/garbage-input", test_binary_garbage_input);
    g_test_add_func("/hook/binary/no-daemon", test_binary_no_daemon);
    g_test_add_func("/hook/binary/daemon-silent", test_binary_daemon_silent);
    g_test_add_func("/hook/binary/daemon-refuses", test_binary_daemon_refuses);
    g_test_add_func("/hook/binary/ignored-calls", test_binary_ignored_calls);
    g_test_add_func("/hook/binary/bad-args", test_binary_bad_args);
    g_test_add_func("/hook/binary/one-line-warning", test_binary_one_line_warning);
    return g_test_run();
}
