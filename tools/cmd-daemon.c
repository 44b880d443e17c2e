/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The commands that talk to numashiftd over its control socket: jobs,
 * events, rebalance, policy; and the daemon side of migrate and status
 * (a move becomes a daemon job the command follows, so that the daemon's
 * host-wide limits hold and no two movers race on one guest).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>

#include "cli.h"
#include "numashift/domain.h"
#include "numashift/control.h"
#include "numashift/error.h"
#include "numashift/json-check.h"
#include "numashift/mainloop.h"
#include "numashift/policy.h"

struct NsDaemonLink {
    GSocketConnection *conn;
    GDataInputStream *in;
    GOutputStream *out;
};

static const char *
socket_path(void)
{
    const char *env = g_getenv(NS_CONTROL_SOCKET_ENV);

    return env != NULL && *env != '\0' ? env : NS_CONTROL_SOCKET_PATH;
}

NsDaemonLink *
ns_cli_daemon_open(GError **error)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path());
    g_autoptr(GError) e = NULL;
    GSocketConnection *conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &e);

    if (conn == NULL) {
        gboolean absent = g_error_matches(e, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
                          g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);

        g_set_error(error, NS_ERROR,
                    absent                                                    ? NS_ERROR_NOT_RUNNING
                    : g_error_matches(e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) ? NS_ERROR_PERMISSION
                                                                              : NS_ERROR_IO,
                    "numashiftd: %s%s", absent ? "not running: " : "", e->message);
        return NULL;
    }
    NsDaemonLink *link = g_new0(NsDaemonLink, 1);

    link->conn = conn;
    link->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    link->out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    return link;
}

void
ns_cli_daemon_close(NsDaemonLink *link)
{
    if (link == NULL)
        return;
    g_object_unref(link->in);
    g_io_stream_close(G_IO_STREAM(link->conn), NULL, NULL);
    g_object_unref(link->conn);
    g_free(link);
}

/* The next message from the daemon (a reply or an event); NULL at EOF or error. */
static NsControlMessage *
ns_cli_daemon_read(NsDaemonLink *link, GError **error)
{
    gsize len = 0;
    g_autofree char *line = g_data_input_stream_read_line(link->in, &len, NULL, error);

    if (line == NULL) {
        if (error != NULL && *error == NULL)
            g_set_error_literal(error, NS_ERROR, NS_ERROR_IO, "numashiftd closed the connection");
        return NULL;
    }
    return ns_control_message_parse(line, len, error);
}

/* Send @req; wait for its reply (events before it are dropped).  Returns the result node. */
static JsonNode *
ns_cli_daemon_call(NsDaemonLink *link, const NsControlRequest *req, GError **error)
{
    g_autofree char *line = ns_control_request_to_line(req, error);

    if (line == NULL ||
        !g_output_stream_write_all(link->out, line, strlen(line), NULL, NULL, error))
        return NULL;
    for (;;) {
        g_autoptr(NsControlMessage) m = ns_cli_daemon_read(link, error);

        if (m == NULL)
            return NULL;
        if (m->is_event)
            continue;
        if (!m->ok) {
            gint code = strcmp(m->error_code, NS_CONTROL_ERR_NOT_FOUND) == 0 ? NS_ERROR_NOT_FOUND
                        : strcmp(m->error_code, NS_CONTROL_ERR_PERMISSION_DENIED) == 0
                            ? NS_ERROR_PERMISSION
                        : strcmp(m->error_code, NS_CONTROL_ERR_NOT_RUNNING) == 0 ? NS_ERROR_NOT_RUNNING
                        : strcmp(m->error_code, NS_CONTROL_ERR_BUSY) == 0        ? NS_ERROR_BUSY
                        : strcmp(m->error_code, NS_CONTROL_ERR_INVALID_REQUEST) == 0
                            ? NS_ERROR_INVALID_INPUT
                            : NS_ERROR_FAILED;

            g_set_error(error, NS_ERROR, code, "numashiftd: %s", m->error_message);
            return NULL;
        }
        return json_node_ref(m->result);
    }
}

static void
print_job_line(JsonObject *job)
{
    gint64 total = ns_json_member_int(job, "total_pages", 0);

    printf("job:%-5" G_GINT64_FORMAT "  %-20s  %-36s  %-9s  %-14s  %-13s  %5.1f%%  %8.1f MiB/s\n",
           ns_json_member_int(job, "serial", 0), ns_json_member_string(job, "domain", "-"), ns_json_member_string(job, "uuid", "-"), ns_json_member_string(job, "kind", "-"), ns_json_member_string(job, "trigger", "-"), ns_json_member_string(job, "state", "-"),
           total > 0 ? 100.0 * (double)ns_json_member_int(job, "done_pages", 0) / (double)total : 0.0,
           json_object_has_member(job, "mib_per_s") ? json_object_get_double_member(job, "mib_per_s")
                                                    : 0.0);
}

/* ------------------------------------------------------------ status */

JsonNode *
ns_cli_daemon_domain_status(const char *domain)
{
    g_autoptr(NsDaemonLink) link = ns_cli_daemon_open(NULL);
    g_autoptr(NsControlRequest) req = ns_control_request_new(NS_CONTROL_OP_STATUS);

    if (link == NULL)
        return NULL;
    req->domain = g_strdup(domain);
    return ns_cli_daemon_call(link, req, NULL);
}

void
ns_cli_print_daemon_status(JsonNode *status)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(status) ? json_node_get_object(status) : NULL;
    JsonNode *jn = o != NULL ? json_object_get_member(o, "job") : NULL;
    JsonObject *job = jn != NULL && JSON_NODE_HOLDS_OBJECT(jn) ? json_node_get_object(jn) : NULL;

    printf("numashiftd: policy %s (%s)", ns_json_member_string(o, "mode", "-"), ns_json_member_string(o, "mode_source", "-"));
    if (job == NULL) {
        printf(", no job yet\n");
        return;
    }
    gint64 total = ns_json_member_int(job, "total_pages", 0);

    printf(", %s job (trigger %s) %s", ns_json_member_string(job, "kind", "-"), ns_json_member_string(job, "trigger", "-"),
           ns_json_member_string(job, "state", "-"));
    if (total > 0)
        printf(" %.1f%% of %.1f MiB", 100.0 * (double)ns_json_member_int(job, "done_pages", 0) / (double)total,
               (double)total * 4096.0 / 1048576.0);
    printf("\n");
    /* Why each cell moves or stays (a strict memnode bind, a full node, a
     * pinning device): the operator asking "why is this still remote?"
     * should not need --json or the event stream. */
    JsonNode *dn = json_object_get_member(job, "decisions");
    JsonArray *ds = dn != NULL && JSON_NODE_HOLDS_ARRAY(dn) ? json_node_get_array(dn) : NULL;

    for (guint i = 0; ds != NULL && i < json_array_get_length(ds); i++) {
        JsonNode *d = json_array_get_element(ds, i);
        JsonObject *dobj = JSON_NODE_HOLDS_OBJECT(d) ? json_node_get_object(d) : NULL;

        if (dobj != NULL)
            printf("  cell %" G_GINT64_FORMAT ": %s: %s\n", ns_json_member_int(dobj, "cell", 0),
                   ns_json_member_string(dobj, "reason", "-"), ns_json_member_string(dobj, "message", "-"));
    }
}

/* ------------------------------------------------------------ jobs */

int
ns_cmd_jobs(NsCli *cli, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;

    if (!ns_cli_parse(cli, "jobs", "", "List numashiftd's jobs: running, and each domain's last.",
                      NULL, &argc, &argv))
        return NS_EXIT_USAGE;
    if (argc > 1)
        return ns_cli_usage(cli, "jobs", "unexpected argument '%s'", argv[1]);
    g_autoptr(NsDaemonLink) link = ns_cli_daemon_open(&error);
    g_autoptr(NsControlRequest) req = ns_control_request_new(NS_CONTROL_OP_JOBS);
    g_autoptr(JsonNode) result = link != NULL ? ns_cli_daemon_call(link, req, &error) : NULL;

    if (result == NULL)
        return ns_cli_fail(cli, error);
    if (cli->json) {
        ns_cli_print_json_node(result);
        return NS_EXIT_OK;
    }
    printf("%-9s  %-20s  %-36s  %-9s  %-14s  %-13s  %6s  %14s\n", "job", "domain", "uuid", "kind",
           "trigger", "state", "done", "rate");
    JsonArray *jobs = JSON_NODE_HOLDS_ARRAY(result) ? json_node_get_array(result) : NULL;

    for (guint i = 0; jobs != NULL && i < json_array_get_length(jobs); i++)
        print_job_line(json_array_get_object_element(jobs, i));
    return NS_EXIT_OK;
}

/* ---------------------------------------------------------- events */

typedef struct {
    NsCli *cli;
    NsDaemonLink *link;
    GMainLoop *loop;
    const char *uuid;       /* follow only this domain's events; NULL: all */
    gboolean until_done;    /* stop at the job-done event of job @serial */
    gint64 serial;
    gboolean cancel_on_interrupt; /* Ctrl-C cancels job @serial (the one this command started) */
    gboolean cancel_wanted; /* it came: cancel job @serial now, or once it starts */
    gboolean started;       /* job @serial runs: the submit's reply said so, or its job-started came */
    JsonNode *done;         /* the job-done event's body */
    GError *error;
} Follow;

/* Ask the daemon to cancel the domain's running job; its reply comes among the events. */
static void
send_cancel(Follow *f)
{
    g_autoptr(NsControlRequest) req = ns_control_request_new(NS_CONTROL_OP_CANCEL);
    g_autofree char *line = NULL;

    req->domain = g_strdup(f->uuid);
    line = ns_control_request_to_line(req, &f->error);
    if (line == NULL ||
        !g_output_stream_write_all(f->link->out, line, strlen(line), NULL, NULL, &f->error))
        g_main_loop_quit(f->loop);
}

/*
 * Ctrl-C or SIGTERM: while following the job this command started, the
 * first one cancels it (pages in flight finish; the job-done event that
 * follows ends the command); otherwise, or the second time, stop following.
 */
static gboolean
on_interrupt(gpointer data)
{
    Follow *f = data;

    if (!f->cancel_on_interrupt || f->cancel_wanted) {
        g_main_loop_quit(f->loop);
        return G_SOURCE_CONTINUE; /* removed by follow() */
    }
    f->cancel_wanted = TRUE;
    fprintf(stderr, "\n%s: cancelling numashiftd's job: pages in flight finish, the rest stay "
                    "where they are (Ctrl-C again: stop waiting)\n",
            f->cli->prog);
    /* "cancel" names a domain: before our job runs it would hit another's. */
    if (f->started)
        send_cancel(f);
    return G_SOURCE_CONTINUE;
}

static void read_event(Follow *f);

/* ": moved 128.0 MiB in 4.2 s; KVM: 312 remote TLB flushes, 40 shadow pages
 * zapped" for a job-done event with a report (KVM's only under KVM), else "". */
static char *
job_done_summary(const char *what, JsonObject *job)
{
    JsonNode *r = job != NULL ? json_object_get_member(job, "report") : NULL;
    JsonObject *report = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;

    if (strcmp(what, "job-done") != 0 || report == NULL)
        return g_strdup("");
    JsonNode *k = json_object_get_member(report, "kvm");
    JsonObject *kvm = k != NULL && JSON_NODE_HOLDS_OBJECT(k) ? json_node_get_object(k) : NULL;
    g_autofree char *kvm_text =
        kvm != NULL ? g_strdup_printf("; KVM: %" G_GINT64_FORMAT " remote TLB flushes, %" G_GINT64_FORMAT
                                      " shadow pages zapped",
                                      ns_json_member_int(kvm, "remote_tlb_flush", 0),
                                      ns_json_member_int(kvm, "mmu_shadow_zapped", 0))
                    : g_strdup("");

    return g_strdup_printf(": moved %.1f MiB in %.1f s%s",
                           (double)ns_json_member_int(report, "moved_bytes", 0) / 1048576.0,
                           (double)ns_json_member_int(report, "elapsed_us", 0) / 1e6, kvm_text);
}

static void
print_event(const Follow *f, const NsControlMessage *m)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(m->body) ? json_node_get_object(m->body) : NULL;
    const char *what = ns_json_member_string(o, "event", "-");

    if (f->cli->json) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autofree char *text = NULL;

        json_generator_set_root(gen, m->body);
        text = json_generator_to_data(gen, NULL);
        printf("{\"kind\": \"%s\", \"body\": %s}\n", ns_control_event_to_string(m->event), text);
    } else if (strcmp(what, "progress") == 0) {
        gint64 total = ns_json_member_int(o, "total_pages", 0);

        printf("%s progress %5.1f%% moved %.1f MiB at %.1f MiB/s%s\n", ns_json_member_string(o, "domain", "-"),
               total > 0 ? 100.0 * (double)ns_json_member_int(o, "done_pages", 0) / (double)total : 0.0,
               (double)ns_json_member_int(o, "moved_bytes", 0) / 1048576.0,
               json_object_get_double_member_with_default(o, "mib_per_s", 0),
               json_object_get_boolean_member_with_default(o, "paused", FALSE) ? " (paused)" : "");
    } else if (strcmp(what, "decision") == 0) {
        JsonArray *ds = json_object_get_array_member(o, "decisions");

        for (guint i = 0; ds != NULL && i < json_array_get_length(ds); i++) {
            JsonObject *d = json_array_get_object_element(ds, i);

            printf("%s decision (%s) cell %" G_GINT64_FORMAT ": %s: %s\n", ns_json_member_string(o, "domain", "-"),
                   ns_json_member_string(o, "trigger", "-"), ns_json_member_int(d, "cell", 0), ns_json_member_string(d, "reason", "-"),
                   ns_json_member_string(d, "message", "-"));
        }
    } else if (g_str_has_prefix(what, "job-")) {
        JsonObject *job = json_object_get_object_member(o, "job");
        g_autofree char *outcome = job_done_summary(what, job);

        printf("%s %s: %s %s (trigger %s)%s%s%s\n", ns_json_member_string(o, "domain", "-"), what,
               ns_json_member_string(job, "kind", "-"), ns_json_member_string(job, "state", "-"), ns_json_member_string(job, "trigger", "-"),
               json_object_has_member(job, "error") ? ": " : "",
               json_object_has_member(job, "error") ? ns_json_member_string(job, "error", "-") : "", outcome);
    } else {
        printf("%s %s\n", ns_json_member_string(o, "domain", "-"), what);
    }
    fflush(stdout);
}

static void
on_line(GObject *source, GAsyncResult *res, gpointer data)
{
    Follow *f = data;
    gsize len = 0;
    g_autofree char *line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source), res,
                                                                 &len, &f->error);

    if (line == NULL) {
        if (f->error == NULL)
            g_set_error_literal(&f->error, NS_ERROR, NS_ERROR_IO, "numashiftd closed the connection");
        g_main_loop_quit(f->loop);
        return;
    }
    g_autoptr(NsControlMessage) m = ns_control_message_parse(line, len, &f->error);

    if (m == NULL) {
        g_main_loop_quit(f->loop);
        return;
    }
    if (m->is_event) {
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(m->body) ? json_node_get_object(m->body) : NULL;

        if (f->uuid == NULL || g_strcmp0(ns_json_member_string(o, "uuid", "-"), f->uuid) == 0) {
            print_event(f, m);
            JsonNode *jn = o != NULL ? json_object_get_member(o, "job") : NULL;
            JsonObject *job = jn != NULL && JSON_NODE_HOLDS_OBJECT(jn) ? json_node_get_object(jn) : NULL;

            if (strcmp(ns_json_member_string(o, "event", "-"), "job-started") == 0 &&
                ns_json_member_int(job, "serial", 0) == f->serial) {
                f->started = TRUE;
                /* Still queued when Ctrl-C came: cancelled as it starts. */
                if (f->cancel_wanted)
                    send_cancel(f);
            }
            if (f->until_done && strcmp(ns_json_member_string(o, "event", "-"), "job-done") == 0 &&
                ns_json_member_int(job, "serial", 0) == f->serial) {
                f->done = json_node_ref(m->body);
                g_main_loop_quit(f->loop);
                return;
            }
        }
    }
    read_event(f);
}

static void
read_event(Follow *f)
{
    g_data_input_stream_read_line_async(f->link->in, G_PRIORITY_DEFAULT, NULL, on_line, f);
}

/*
 * Print events until Ctrl-C, EOF, or (serial >= 0) job @serial's job-done;
 * return its body.  With @cancel_on_interrupt the first Ctrl-C or SIGTERM
 * cancels job @serial instead of leaving: at once if it runs (@started, or
 * its job-started event), else as it starts.
 */
static JsonNode *
follow(NsCli *cli, NsDaemonLink *link, const char *uuid, gint64 serial,
       gboolean cancel_on_interrupt, gboolean started, GError **error)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    gboolean until_done = serial >= 0;
    Follow f = { .cli = cli, .link = link, .loop = loop, .uuid = uuid, .until_done = until_done,
                 .serial = serial, .cancel_on_interrupt = cancel_on_interrupt && until_done,
                 .started = started };

    ns_main_hold_signal(SIGINT);
    ns_main_hold_signal(SIGTERM);
    guint sig = g_unix_signal_add(SIGINT, on_interrupt, &f);
    guint term = g_unix_signal_add(SIGTERM, on_interrupt, &f);

    read_event(&f);
    g_main_loop_run(loop);
    g_source_remove(sig);
    g_source_remove(term);
    if (f.error != NULL && !until_done) {
        g_propagate_error(error, f.error);
        return NULL;
    }
    if (f.done == NULL) {
        if (f.error != NULL)
            g_propagate_error(error, f.error);
        else
            g_set_error_literal(error, NS_ERROR, NS_ERROR_FAILED,
                                "interrupted: the daemon's job goes on (numashift jobs)");
    }
    return f.done;
}

int
ns_cmd_events(NsCli *cli, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;

    if (!ns_cli_parse(cli, "events", "",
                      "Follow numashiftd's events (domains, decisions, jobs, progress) until Ctrl-C.",
                      NULL, &argc, &argv))
        return NS_EXIT_USAGE;
    if (argc > 1)
        return ns_cli_usage(cli, "events", "unexpected argument '%s'", argv[1]);
    g_autoptr(NsDaemonLink) link = ns_cli_daemon_open(&error);
    g_autoptr(NsControlRequest) req = ns_control_request_new(NS_CONTROL_OP_SUBSCRIBE);
    g_autoptr(JsonNode) ok = link != NULL ? ns_cli_daemon_call(link, req, &error) : NULL;

    if (ok == NULL)
        return ns_cli_fail(cli, error);
    /* Line-buffered even into a pipe: a script reads events as they come. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    follow(cli, link, NULL, -1, FALSE, FALSE, &error);
    if (error != NULL && !g_error_matches(error, NS_ERROR, NS_ERROR_FAILED))
        return ns_cli_fail(cli, error);
    return NS_EXIT_OK;
}

/* ------------------------------------------- rebalance, migrate (daemon) */

/* Outcome of a followed job-done event as an exit code, with one line on failure. */
static int
job_exit_code(NsCli *cli, JsonNode *done)
{
    JsonObject *job = json_object_get_object_member(json_node_get_object(done), "job");
    const char *state = ns_json_member_string(job, "state", "-");

    if (strcmp(state, "done") == 0 || strcmp(state, "nothing-to-do") == 0)
        return NS_EXIT_OK;
    if (strcmp(state, "superseded") == 0) {
        fprintf(stderr, "%s: error: the request was superseded by job %" G_GINT64_FORMAT
                        " (an operator's move) before it ran\n",
                cli->prog, ns_json_member_int(job, "superseded_by", 0));
        return NS_EXIT_INCOMPLETE;
    }
    /* A job that stopped with pages left behind (a full target node) is
     * an incomplete move, whatever its error's words. */
    if (strcmp(state, "out of memory") == 0 && json_object_has_member(job, "error")) {
        fprintf(stderr, "%s: error: %s\n", cli->prog, ns_json_member_string(job, "error", "-"));
        return NS_EXIT_INCOMPLETE;
    }
    if (json_object_has_member(job, "error")) {
        const char *code = ns_json_member_string(job, "error_code", "-");

        fprintf(stderr, "%s: error: %s\n", cli->prog, ns_json_member_string(job, "error", "-"));
        return strcmp(code, NS_CONTROL_ERR_NOT_RUNNING) == 0         ? NS_EXIT_NOT_RUNNING
               : strcmp(code, NS_CONTROL_ERR_NOT_FOUND) == 0         ? NS_EXIT_NOT_FOUND
               : strcmp(code, NS_CONTROL_ERR_PERMISSION_DENIED) == 0 ? NS_EXIT_PERMISSION
               : strcmp(code, NS_CONTROL_ERR_BUSY) == 0              ? NS_EXIT_BUSY
                                                                     : NS_EXIT_FAILED;
    }
    if (json_object_has_member(job, "report") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(job, "report"))) {
        JsonObject *r = json_object_get_object_member(job, "report");
        g_autofree char *moved = ns_cli_format_mib((guint64)MAX(ns_json_member_int(r, "moved_bytes", 0), 0));
        g_autofree char *stayed = ns_cli_format_mib(
            (guint64)MAX(ns_json_member_int(r, "remaining_pages", 0) + ns_json_member_int(r, "failed_pages", 0), 0) *
            NS_GUEST_PAGE_SIZE);

        fprintf(stderr, "%s: error: the job ended %s after moving %s; %s stayed where it was\n",
                cli->prog, state, moved, stayed);
        return NS_EXIT_INCOMPLETE;
    }
    fprintf(stderr, "%s: error: the job ended %s\n", cli->prog, state);
    return NS_EXIT_INCOMPLETE;
}

/* Submit @req (rebalance or migrate) and, unless @no_wait, follow it to its end. */
int
ns_cli_daemon_submit(NsCli *cli, NsDaemonLink *link, NsControlRequest *req, gboolean no_wait)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsControlRequest) sub = ns_control_request_new(NS_CONTROL_OP_SUBSCRIBE);
    g_autoptr(JsonNode) subscribed = no_wait ? json_node_new(JSON_NODE_NULL)
                                             : ns_cli_daemon_call(link, sub, &error);
    g_autoptr(JsonNode) result = subscribed != NULL ? ns_cli_daemon_call(link, req, &error) : NULL;

    if (result == NULL)
        return ns_cli_fail(cli, error);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(result) ? json_node_get_object(result) : NULL;

    if (no_wait) {
        if (cli->json)
            ns_cli_print_json_node(result);
        else
            printf("queued: %s %s for domain %s\n", ns_control_op_to_string(req->op),
                   ns_json_member_string(o, "pending", "-"), ns_json_member_string(o, "domain", "-"));
        return NS_EXIT_OK;
    }
    g_autofree char *uuid = g_strdup(ns_json_member_string(o, "uuid", "-"));

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The reply describes the domain: its "job" is ours when it started at
     * once (its job-started event came before the reply and was passed over). */
    gint64 serial = ns_json_member_int(o, "serial", 0);
    JsonNode *jn = o != NULL ? json_object_get_member(o, "job") : NULL;
    gboolean started = jn != NULL && JSON_NODE_HOLDS_OBJECT(jn) &&
                       ns_json_member_int(json_node_get_object(jn), "serial", 0) == serial;
    g_autoptr(JsonNode) done = follow(cli, link, uuid, serial, TRUE, started, &error);

    if (done == NULL)
        return ns_cli_fail(cli, error);
    return job_exit_code(cli, done);
}

int
ns_cmd_rebalance(NsCli *cli, int argc, char **argv)
{
    gboolean no_wait = FALSE;
    const GOptionEntry entries[] = {
        { "no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait, "Queue the job and return", NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GError) error = NULL;

    if (!ns_cli_parse(cli, "rebalance", "DOMAIN",
                      "Ask numashiftd to apply its policy to DOMAIN now, and follow the job.",
                      entries, &argc, &argv))
        return NS_EXIT_USAGE;
    if (argc != 2)
        return ns_cli_usage(cli, "rebalance", argc < 2 ? "no domain given" : "unexpected argument '%s'",
                            argc < 2 ? "" : argv[2]);
    g_autoptr(NsDaemonLink) link = ns_cli_daemon_open(&error);

    if (link == NULL)
        return ns_cli_fail(cli, error);
    g_autoptr(NsControlRequest) req = ns_control_request_new(NS_CONTROL_OP_REBALANCE);

    req->domain = g_strdup(argv[1]);
    return ns_cli_daemon_submit(cli, link, req, no_wait);
}

/* numashift policy DOMAIN --mode M --priority N: the domain's libvirt metadata. */
static int
policy_to_metadata(NsCli *cli, const char *domain, const char *mode, const char *priority_text)
{
    g_autoptr(GError) error = NULL;
    gint64 priority = 0;

    if (priority_text != NULL &&
        !g_ascii_string_to_signed(priority_text, 10, NS_DOMAIN_PRIORITY_MIN, NS_DOMAIN_PRIORITY_MAX,
                                  &priority, NULL))
        return ns_cli_usage(cli, "policy", "--priority %s: a number from %d to %d", priority_text,
                            NS_DOMAIN_PRIORITY_MIN, NS_DOMAIN_PRIORITY_MAX);
    if (mode != NULL && !ns_policy_mode_from_string(mode, &(NsPolicyMode){ 0 }, NULL))
        return ns_cli_usage(cli, "policy", "--mode %s: follow or off", mode);
    virConnectPtr conn = ns_cli_connect(cli, &error);
    g_autoptr(NsDomainConfig) after = NULL;

    if (conn == NULL ||
        !ns_domain_set_policy_metadata(conn, domain, mode, priority_text != NULL, (gint)priority,
                                       &after, &error))
        return ns_cli_fail(cli, error);
    if (cli->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "domain");
        json_builder_add_string_value(b, after->name);
        json_builder_set_member_name(b, "metadata_mode");
        if (after->numashift_policy != NULL)
            json_builder_add_string_value(b, after->numashift_policy);
        else
            json_builder_add_null_value(b);
        json_builder_set_member_name(b, "metadata_priority");
        if (after->has_numashift_priority)
            json_builder_add_int_value(b, after->numashift_priority);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
        ns_cli_print_json(b);
        return NS_EXIT_OK;
    }
    g_autofree char *prio = after->has_numashift_priority
                                ? g_strdup_printf("%d", after->numashift_priority)
                                : g_strdup("unset");

    printf("%s: metadata policy mode %s, priority %s\n", after->name,
           after->numashift_policy != NULL ? after->numashift_policy : "unset", prio);
    return NS_EXIT_OK;
}

int
ns_cmd_policy(NsCli *cli, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *meta_mode = NULL;
    g_autofree char *meta_priority = NULL;
    const GOptionEntry entries[] = {
        { "mode", 'm', 0, G_OPTION_ARG_STRING, &meta_mode,
          "Write MODE (follow or off) into the domain's libvirt metadata", "MODE" },
        { "priority", 'p', 0, G_OPTION_ARG_STRING, &meta_priority,
          "Write priority N (-1000..1000) into the domain's libvirt metadata", "N" },
        G_OPTION_ENTRY_NULL,
    };

    if (!ns_cli_parse(cli, "policy", "DOMAIN [follow|off]",
                      "Show DOMAIN's numashiftd policy, or set it until the daemon restarts.\n"
                      "With --mode or --priority, write them into the domain's libvirt metadata\n"
                      "(<numashift:policy>, live and persistent): they stay with the domain through\n"
                      "restarts of either daemon and live migration, and any libvirt client may set\n"
                      "them; numashiftd follows the change at once.",
                      entries, &argc, &argv))
        return NS_EXIT_USAGE;
    if (argc < 2 || argc > 3)
        return ns_cli_usage(cli, "policy", argc < 2 ? "no domain given" : "unexpected argument '%s'",
                            argc < 2 ? "" : argv[3]);
    if (meta_mode != NULL || meta_priority != NULL) {
        if (argc == 3)
            return ns_cli_usage(cli, "policy",
                                "'%s' with --mode/--priority: one is the daemon's until it "
                                "restarts, the other the domain's metadata",
                                argv[2]);
        return policy_to_metadata(cli, argv[1], meta_mode, meta_priority);
    }
    NsPolicyMode mode;

    if (argc == 3 && !ns_policy_mode_from_string(argv[2], &mode, NULL))
        return ns_cli_usage(cli, "policy", "unknown mode '%s' (follow or off)", argv[2]);
    g_autoptr(NsDaemonLink) link = ns_cli_daemon_open(&error);

    if (link == NULL)
        return ns_cli_fail(cli, error);
    g_autoptr(NsControlRequest) req =
        ns_control_request_new(argc == 3 ? NS_CONTROL_OP_POLICY_SET : NS_CONTROL_OP_POLICY_GET);

    req->domain = g_strdup(argv[1]);
    req->mode = argc == 3 ? g_strdup(argv[2]) : NULL;
    g_autoptr(JsonNode) result = ns_cli_daemon_call(link, req, &error);

    if (result == NULL)
        return ns_cli_fail(cli, error);
    if (cli->json) {
        ns_cli_print_json_node(result);
    } else {
        JsonObject *o = json_node_get_object(result);

        printf("%s: %s (%s)\n", ns_json_member_string(o, "domain", "-"), ns_json_member_string(o, "mode", "-"),
               ns_json_member_string(o, "mode_source", "-"));
    }
    return NS_EXIT_OK;
}

/* The domain (UUID) of numashiftd's job @serial, which must be running or paused. */
static char *
running_job_domain(NsDaemonLink *link, gint64 serial, GError **error)
{
    g_autoptr(NsControlRequest) req = ns_control_request_new(NS_CONTROL_OP_JOBS);
    g_autoptr(JsonNode) result = ns_cli_daemon_call(link, req, error);
    JsonArray *jobs = result != NULL && JSON_NODE_HOLDS_ARRAY(result) ? json_node_get_array(result)
                                                                     : NULL;

    if (result == NULL)
        return NULL;
    for (guint i = 0; jobs != NULL && i < json_array_get_length(jobs); i++) {
        JsonObject *job = json_array_get_object_element(jobs, i);
        const char *state = ns_json_member_string(job, "state", "-");

        if (ns_json_member_int(job, "serial", 0) != serial)
            continue;
        if (strcmp(state, "moving") != 0 && strcmp(state, "paused") != 0 &&
            strcmp(state, "preparing") != 0 && strcmp(state, "settling") != 0) {
            g_set_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING, "job %" G_GINT64_FORMAT " is %s",
                        serial, state);
            return NULL;
        }
        return g_strdup(ns_json_member_string(job, "uuid", "-"));
    }
    g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                "numashiftd has no job %" G_GINT64_FORMAT " (numashift jobs)", serial);
    return NULL;
}

/* pause, resume, cancel: DOMAIN's running job, or job:N. */
static int
job_control(NsCli *cli, NsControlOp op, const char *summary, int argc, char **argv)
{
    const char *name = ns_control_op_to_string(op);
    g_autoptr(GError) error = NULL;

    if (!ns_cli_parse(cli, name, "DOMAIN|job:N", summary, NULL, &argc, &argv))
        return NS_EXIT_USAGE;
    if (argc != 2)
        return ns_cli_usage(cli, name, argc < 2 ? "no domain or job given" : "unexpected argument '%s'",
                            argc < 2 ? "" : argv[2]);
    gint64 serial = -1;

    if (g_str_has_prefix(argv[1], "job:")) {
        char *end = NULL;
        guint64 v = g_ascii_strtoull(argv[1] + 4, &end, 10);

        if (end == argv[1] + 4 || *end != '\0' || v == 0 || v > G_MAXINT64)
            return ns_cli_usage(cli, name, "'%s': a job is job:N, N as numashift jobs shows it",
                                argv[1]);
        serial = (gint64)v;
    }
    g_autoptr(NsDaemonLink) link = ns_cli_daemon_open(&error);
    g_autofree char *domain = link == NULL ? NULL
                              : serial > 0 ? running_job_domain(link, serial, &error)
                                           : g_strdup(argv[1]);
    g_autoptr(NsControlRequest) req = ns_control_request_new(op);

    if (domain == NULL)
        return ns_cli_fail(cli, error);
    req->domain = g_steal_pointer(&domain);
    g_autoptr(JsonNode) result = ns_cli_daemon_call(link, req, &error);

    if (result == NULL)
        return ns_cli_fail(cli, error);
    if (cli->json)
        ns_cli_print_json_node(result);
    else
        printf("%s: %s\n", name, argv[1]);
    return NS_EXIT_OK;
}

int
ns_cmd_pause(NsCli *cli, int argc, char **argv)
{
    return job_control(cli, NS_CONTROL_OP_PAUSE,
                       "Pause numashiftd's running job for DOMAIN (or job N): pages in flight\n"
                       "finish, the rest wait.",
                       argc, argv);
}

int
ns_cmd_resume(NsCli *cli, int argc, char **argv)
{
    return job_control(cli, NS_CONTROL_OP_RESUME,
                       "Resume numashiftd's paused job for DOMAIN (or job N).", argc, argv);
}

int
ns_cmd_cancel(NsCli *cli, int argc, char **argv)
{
    return job_control(cli, NS_CONTROL_OP_CANCEL,
                       "Cancel numashiftd's running job for DOMAIN (or job N): pages in flight\n"
                       "finish, the rest stay where they are.",
                       argc, argv);
}
