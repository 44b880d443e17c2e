/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashift memmap | status | migrate DOMAIN: the commands that work on one
 * running domain, directly through libvirt, QMP and the kernel.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <urcu/urcu-memb.h>

#include "cli.h"
#include "numashift/domain.h"
#include "numashift/engine.h"
#include "numashift/engine-report.h"
#include "numashift/error.h"
#include "numashift/json-check.h"
#include "numashift/mainloop.h"
#include "numashift/livemap.h"
#include "numashift/move.h"
#include "numashift/placement.h"
#include "numashift/radix.h"
#include "numashift/topology.h"

/* ------------------------------------------------------------ common */

/* Open DOMAIN (argv[1]) after parsing; prints and returns an exit code on failure. */
static NsDomain *
open_domain(NsCli *cli, const char *command, int argc, char **argv, int *ret_code)
{
    g_autoptr(GError) error = NULL;

    if (argc < 2) {
        *ret_code = ns_cli_usage(cli, command, "no domain given");
        return NULL;
    }
    if (argc > 2) {
        *ret_code = ns_cli_usage(cli, command, "unexpected argument '%s'", argv[2]);
        return NULL;
    }
    if (!ns_cli_require_root(cli, command)) {
        *ret_code = NS_EXIT_PERMISSION;
        return NULL;
    }
    virConnectPtr conn = ns_cli_connect(cli, &error);
    NsDomain *dom = conn != NULL ? ns_domain_open(conn, argv[1], &error) : NULL;

    if (dom == NULL)
        *ret_code = ns_cli_fail(cli, error);
    return dom;
}

/* Open the JSON object of a per-domain answer: {"domain": NAME, "pid": PID, ... */
static void
json_begin_domain(JsonBuilder *b, const NsDomain *dom)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, ns_domain_get_config(dom)->name);
    json_builder_set_member_name(b, "pid");
    json_builder_add_int_value(b, ns_domain_get_pid(dom));
    /* "pidfile": libvirt's pid file; "monitor": QEMU's vCPU threads (query-cpus-fast). */
    json_builder_set_member_name(b, "pid_source");
    json_builder_add_string_value(b, ns_domain_get_pid_source(dom));
}

/* --------------------------------------------------------------- memmap */

int
ns_cmd_memmap(NsCli *cli, int argc, char **argv)
{
    int code = NS_EXIT_OK;
    g_autoptr(GError) error = NULL;

    if (!ns_cli_parse(cli, "memmap", "DOMAIN",
                      "Show DOMAIN's RAM: guest-physical ranges, the QEMU host addresses behind\n"
                      "them, their memory backend, page size and vNUMA cell.",
                      NULL, &argc, &argv))
        return NS_EXIT_USAGE;
    g_autoptr(NsDomain) dom = open_domain(cli, "memmap", argc, argv, &code);
    if (dom == NULL)
        return code;
    g_autoptr(NsMemMap) map = ns_domain_load_memmap(dom, &error);
    if (map == NULL)
        return ns_cli_fail(cli, error);

    if (cli->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_begin_domain(b, dom);
        json_builder_set_member_name(b, "ranges");
        json_builder_begin_array(b);
        for (guint i = 0; i < map->ranges->len; i++) {
            const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

            json_builder_begin_object(b);
            json_builder_set_member_name(b, "gpa");
            json_builder_add_int_value(b, (gint64)r->gpa);
            json_builder_set_member_name(b, "size");
            json_builder_add_int_value(b, (gint64)r->size);
            json_builder_set_member_name(b, "hva");
            json_builder_add_int_value(b, (gint64)r->hva);
            json_builder_set_member_name(b, "page_size");
            json_builder_add_int_value(b, (gint64)r->page_size);
            json_builder_set_member_name(b, "backend");
            json_builder_add_string_value(b, r->backend);
            json_builder_set_member_name(b, "cell");
            json_builder_add_int_value(b, r->cell);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        ns_cli_print_json(b);
        return NS_EXIT_OK;
    }
    printf("Domain %s, QEMU pid %d\n", ns_domain_get_config(dom)->name, (int)map->pid);
    printf("%-37s %10s  %-18s %8s %-4s  %s\n", "guest-physical", "size", "host-virtual", "page",
           "cell", "backend");
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        g_autofree char *size = ns_cli_format_mib(r->size);
        g_autofree char *cell = r->cell >= 0 ? g_strdup_printf("%d", r->cell) : g_strdup("-");

        printf("0x%016" G_GINT64_MODIFIER "x-0x%016" G_GINT64_MODIFIER "x %10s  0x%016"
               G_GINT64_MODIFIER "x %7" G_GUINT64_FORMAT "K %-4s  %s\n",
               r->gpa, r->gpa + r->size - 1, size, r->hva, r->page_size / 1024, cell, r->backend);
    }
    return NS_EXIT_OK;
}

/* --------------------------------------------------------------- status */

/* Nodes in a stats object's "nodes" ({"0": ..., "1": ...}): the highest key + 1. */
static guint
stats_node_count(JsonObject *stats)
{
    JsonObject *nodes = ns_json_member_object(stats, "nodes");
    g_autoptr(GList) keys = nodes != NULL ? json_object_get_members(nodes) : NULL;
    guint count = 0;

    for (GList *k = keys; k != NULL; k = k->next)
        count = MAX(count, (guint)g_ascii_strtoull(k->data, NULL, 10) + 1);
    return count;
}

static double
mib(gint64 bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void
print_stats_row(const char *label, JsonObject *st, guint nodes)
{
    JsonObject *by_node = ns_json_member_object(st, "nodes");

    printf("%-12s", label);
    for (guint n = 0; n < nodes; n++) {
        g_autofree char *key = g_strdup_printf("%u", n);

        printf(" %12.1f", mib(ns_json_member_int(ns_json_member_object(by_node, key), "bytes", 0)));
    }
    printf(" %12.1f %10" G_GINT64_FORMAT " %9" G_GINT64_FORMAT " %8" G_GINT64_FORMAT "\n",
           mib(ns_json_member_int(st, "present_pages", 0) * (gint64)NS_GUEST_PAGE_SIZE),
           ns_json_member_int(st, "absent_pages", 0), ns_json_member_int(st, "migrating_pages", 0),
           ns_json_member_int(st, "failed_pages", 0));
}

/*
 * The placement table (like numastat -p) from a placement object
 * (ns_placement_summary_add_json()): MiB per host node for the guest and
 * each vNUMA cell, pages never touched, in flight and failed, then what
 * cannot move and why.  One printer for the daemon's answer and a scan.
 */
static void
print_placement(JsonObject *placement)
{
    JsonObject *guest = ns_json_member_object(placement, "guest");
    JsonNode *cells_node = json_object_get_member(placement, "cells");
    JsonArray *cells = cells_node != NULL && JSON_NODE_HOLDS_ARRAY(cells_node)
                           ? json_node_get_array(cells_node)
                           : NULL;
    guint nodes = stats_node_count(guest);

    printf("%-12s", "MiB");
    for (guint n = 0; n < nodes; n++) {
        g_autofree char *h = g_strdup_printf("node %u", n);

        printf(" %12s", h);
    }
    printf(" %12s %10s %9s %8s\n", "total", "untouched", "in-flight", "failed");
    print_stats_row("guest", guest, nodes);
    for (guint i = 0; cells != NULL && i < json_array_get_length(cells); i++) {
        JsonObject *st = json_array_get_object_element(cells, i);
        g_autofree char *label = g_strdup_printf("  cell %" G_GINT64_FORMAT, ns_json_member_int(st, "cell", 0));

        print_stats_row(label, st, nodes);
    }
    JsonNode *un = guest != NULL ? json_object_get_member(guest, "unmovable") : NULL;
    JsonArray *causes = un != NULL && JSON_NODE_HOLDS_ARRAY(un) ? json_node_get_array(un) : NULL;

    for (guint i = 0; causes != NULL && i < json_array_get_length(causes); i++) {
        JsonObject *c = json_array_get_object_element(causes, i);

        printf("unmovable: %.1f MiB, %s\n", mib(ns_json_member_int(c, "bytes", 0)),
               json_object_get_string_member_with_default(c, "cause", "?"));
    }
}

/* A placement object from a summary, for the one printer above. */
static JsonNode *
placement_to_json(const NsPlacementSummary *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    ns_placement_summary_add_json(b, s);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/*
 * Where @dom's pages are: numashiftd's live map when the daemon tracks this
 * QEMU (no kernel call; pages in flight and unmovable show), else a scan of
 * our own.  @ret_source says which.
 */
static JsonNode *
load_placement(NsDomain *dom, JsonNode *daemon, char **ret_source, guint *ret_ranges,
               GError **error)
{
    JsonObject *d = daemon != NULL && JSON_NODE_HOLDS_OBJECT(daemon) ? json_node_get_object(daemon)
                                                                     : NULL;
    JsonObject *placement = ns_json_member_object(d, "placement");

    if (placement != NULL && ns_json_member_int(placement, "pid", 0) == ns_domain_get_pid(dom)) {
        *ret_source = g_strdup_printf("numashiftd's live map, scanned %.1f s ago",
                                      (double)ns_json_member_int(placement, "scanned_ms_ago", 0) / 1000.0);
        *ret_ranges = 0;
        return json_node_copy(json_object_get_member(d, "placement"));
    }
    g_autoptr(NsMemMap) map = ns_domain_load_memmap(dom, error);
    g_autoptr(NsLiveMap) live = map != NULL ? ns_live_map_new(map->pid, error) : NULL;

    if (live == NULL || !ns_placement_scan(ns_live_map_get_tree(live), map, NULL, NULL, error))
        return NULL;
    ns_live_map_set_scanned(live, map);
    g_autoptr(NsPlacementSummary) s = ns_live_map_summarize(live);

    *ret_source = g_strdup("a scan just now");
    *ret_ranges = map->ranges->len;
    return placement_to_json(s);
}

typedef struct {
    NsCli *cli;
    NsDomain *dom;
    gboolean watch;
    int code;
    GMainLoop *loop;
} StatusView;

/* One look: print the placement (text or JSON); FALSE on failure (code set). */
static gboolean
show_status(StatusView *v)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *source = NULL;
    guint ranges = 0;
    /* When numashiftd runs: its live map of this domain, its job and policy. */
    g_autoptr(JsonNode) daemon = ns_cli_daemon_domain_status(ns_domain_get_config(v->dom)->uuid);
    g_autoptr(JsonNode) placement = load_placement(v->dom, daemon, &source, &ranges, &error);

    if (placement == NULL) {
        v->code = ns_cli_fail(v->cli, error);
        return FALSE;
    }
    if (v->cli->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        JsonObject *p = json_node_get_object(placement);

        json_begin_domain(b, v->dom);
        json_builder_set_member_name(b, "source");
        json_builder_add_string_value(b, source);
        json_builder_set_member_name(b, "guest");
        json_builder_add_value(b, json_node_copy(json_object_get_member(p, "guest")));
        json_builder_set_member_name(b, "cells");
        json_builder_add_value(b, json_node_copy(json_object_get_member(p, "cells")));
        json_builder_set_member_name(b, "daemon");
        if (daemon != NULL)
            json_builder_add_value(b, json_node_copy(daemon));
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
        ns_cli_print_json(b);
        fflush(stdout);
        return TRUE;
    }
    if (v->watch && isatty(STDOUT_FILENO))
        printf("\033[H\033[2J"); /* redraw in place, as watch(1) does */
    printf("Domain %s, QEMU pid %d, from %s\n", ns_domain_get_config(v->dom)->name,
           (int)ns_domain_get_pid(v->dom), source);
    print_placement(json_node_get_object(placement));
    if (daemon != NULL)
        ns_cli_print_daemon_status(daemon);
    fflush(stdout);
    return TRUE;
}

static gboolean
on_status_tick(gpointer data)
{
    StatusView *v = data;

    if (show_status(v))
        return G_SOURCE_CONTINUE;
    g_main_loop_quit(v->loop); /* from the loop's own callback: never lost */
    return G_SOURCE_REMOVE;
}

static gboolean
on_status_signal(gpointer data)
{
    StatusView *v = data;

    g_main_loop_quit(v->loop);
    return G_SOURCE_CONTINUE; /* removed by ns_cmd_status() */
}

/*
 * numashift status without a domain: every running domain, a line each
 * (as virsh list and numastat side by side): its local share (numashiftd's,
 * from each cell's home node), MiB per host node, memory that cannot move,
 * its job.  A domain that cannot be looked at (it stopped meanwhile, a
 * scan refused) is named on stderr and the others still shown; the exit
 * code is then the first such failure's.
 */
typedef struct {
    char *name;
    pid_t pid;
    char *source;
    JsonNode *placement; /* a placement object; NULL: could not look */
    JsonNode *daemon;    /* numashiftd's status answer; NULL: not running */
} StatusRow;

static void
status_row_free(gpointer p)
{
    StatusRow *r = p;

    g_free(r->name);
    g_free(r->source);
    if (r->placement != NULL)
        json_node_unref(r->placement);
    if (r->daemon != NULL)
        json_node_unref(r->daemon);
    g_free(r);
}

/* The share on the cells' home nodes the daemon worked out, or < 0. */
static double
row_local_ratio(const StatusRow *r)
{
    JsonObject *p = json_node_get_object(r->placement);
    JsonNode *n = json_object_get_member(p, "local_ratio");

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_double(n) : -1.0;
}

static gint64
row_unmovable_bytes(const StatusRow *r)
{
    JsonObject *guest = ns_json_member_object(json_node_get_object(r->placement), "guest");
    JsonNode *un = guest != NULL ? json_object_get_member(guest, "unmovable") : NULL;
    JsonArray *causes = un != NULL && JSON_NODE_HOLDS_ARRAY(un) ? json_node_get_array(un) : NULL;
    gint64 sum = 0;

    for (guint i = 0; causes != NULL && i < json_array_get_length(causes); i++)
        sum += ns_json_member_int(json_array_get_object_element(causes, i), "bytes", 0);
    return sum;
}

/* "rebalance done (pinning)", "migrate moving 40%", or "-". */
static char *
row_job(const StatusRow *r)
{
    JsonObject *d = r->daemon != NULL && JSON_NODE_HOLDS_OBJECT(r->daemon)
                        ? json_node_get_object(r->daemon)
                        : NULL;
    JsonObject *job = ns_json_member_object(d, "job");
    gint64 total = ns_json_member_int(job, "total_pages", 0);

    if (job == NULL)
        return g_strdup("-");
    g_autofree char *pct = total > 0 && g_strcmp0(json_object_get_string_member_with_default(
                                                      job, "state", ""),
                                                  "moving") == 0
                               ? g_strdup_printf(" %.0f%%", 100.0 * (double)ns_json_member_int(job, "done_pages", 0) /
                                                                (double)total)
                               : g_strdup("");

    return g_strdup_printf("%s %s%s (%s)", json_object_get_string_member_with_default(job, "kind", "?"),
                           json_object_get_string_member_with_default(job, "state", "?"), pct,
                           json_object_get_string_member_with_default(job, "trigger", "?"));
}

static StatusRow *
look_at(NsCli *cli, virConnectPtr conn, const char *uuid, int *code)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsDomain) dom = ns_domain_open(conn, uuid, &error);
    StatusRow *r = NULL;
    guint ranges = 0;

    if (dom != NULL) {
        r = g_new0(StatusRow, 1);
        r->name = g_strdup(ns_domain_get_config(dom)->name);
        r->pid = ns_domain_get_pid(dom);
        r->daemon = ns_cli_daemon_domain_status(uuid);
        r->placement = load_placement(dom, r->daemon, &r->source, &ranges, &error);
    }
    if (r != NULL && r->placement != NULL)
        return r;
    /* Gone since the listing, or not ours to look at: said, the rest shown. */
    int failed = ns_cli_fail(cli, error);

    if (*code == NS_EXIT_OK)
        *code = failed;
    if (r != NULL)
        status_row_free(r);
    return NULL;
}

static void
print_status_rows(GPtrArray *rows)
{
    guint nodes = 0;

    for (guint i = 0; i < rows->len; i++) {
        const StatusRow *r = rows->pdata[i];

        nodes = MAX(nodes, stats_node_count(ns_json_member_object(json_node_get_object(r->placement), "guest")));
    }
    printf("%-20s %8s %6s", "DOMAIN", "PID", "LOCAL");
    for (guint n = 0; n < nodes; n++) {
        g_autofree char *h = g_strdup_printf("node %u MiB", n);

        printf(" %12s", h);
    }
    printf(" %10s  %s\n", "UNMOVABLE", "JOB");
    for (guint i = 0; i < rows->len; i++) {
        const StatusRow *r = rows->pdata[i];
        JsonObject *guest = ns_json_member_object(json_node_get_object(r->placement), "guest");
        JsonObject *by_node = ns_json_member_object(guest, "nodes");
        double local = row_local_ratio(r);
        g_autofree char *local_text = local >= 0 ? g_strdup_printf("%.1f%%", 100.0 * local) : g_strdup("-");
        g_autofree char *job = row_job(r);

        printf("%-20s %8d %6s", r->name, (int)r->pid, local_text);
        for (guint n = 0; n < nodes; n++) {
            g_autofree char *key = g_strdup_printf("%u", n);

            printf(" %12.1f", mib(ns_json_member_int(ns_json_member_object(by_node, key), "bytes", 0)));
        }
        printf(" %10.1f  %s\n", mib(row_unmovable_bytes(r)), job);
    }
    printf("LOCAL: memory on the node where each cell's vCPUs run, as numashiftd's policy\n"
           "sees it (-: numashiftd not running, no decision yet, or the vCPUs favour no node).\n");
}

static void
print_status_rows_json(GPtrArray *rows)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_array(b);
    for (guint i = 0; i < rows->len; i++) {
        const StatusRow *r = rows->pdata[i];
        JsonObject *p = json_node_get_object(r->placement);
        double local = row_local_ratio(r);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "domain");
        json_builder_add_string_value(b, r->name);
        json_builder_set_member_name(b, "pid");
        json_builder_add_int_value(b, r->pid);
        json_builder_set_member_name(b, "source");
        json_builder_add_string_value(b, r->source);
        json_builder_set_member_name(b, "local_ratio");
        if (local >= 0)
            json_builder_add_double_value(b, local);
        else
            json_builder_add_null_value(b);
        json_builder_set_member_name(b, "guest");
        json_builder_add_value(b, json_node_copy(json_object_get_member(p, "guest")));
        json_builder_set_member_name(b, "cells");
        json_builder_add_value(b, json_node_copy(json_object_get_member(p, "cells")));
        json_builder_set_member_name(b, "daemon");
        if (r->daemon != NULL)
            json_builder_add_value(b, json_node_copy(r->daemon));
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    ns_cli_print_json(b);
}

static int
status_all(NsCli *cli)
{
    g_autoptr(GError) error = NULL;
    int code = NS_EXIT_OK;

    if (!ns_cli_require_root(cli, "status"))
        return NS_EXIT_PERMISSION;
    virConnectPtr conn = ns_cli_connect(cli, &error);

    if (conn == NULL)
        return ns_cli_fail(cli, error);
    g_autoptr(GPtrArray) running = ns_domain_list_running(conn, &error);

    if (running == NULL)
        return ns_cli_fail(cli, error);
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(status_row_free);

    for (guint i = 0; i < running->len; i++) {
        const NsDomainListing *l = g_ptr_array_index(running, i);
        StatusRow *r = look_at(cli, conn, l->uuid, &code);

        if (r != NULL)
            g_ptr_array_add(rows, r);
    }
    if (cli->json)
        print_status_rows_json(rows);
    else if (rows->len == 0 && code == NS_EXIT_OK)
        printf("no running domain\n");
    else if (rows->len > 0)
        print_status_rows(rows);
    fflush(stdout);
    return code;
}

int
ns_cmd_status(NsCli *cli, int argc, char **argv)
{
    int code = NS_EXIT_OK;
    gboolean watch = FALSE;
    double interval = NAN;
    const GOptionEntry entries[] = {
        { "watch", 'w', 0, G_OPTION_ARG_NONE, &watch,
          "Redraw until interrupted (from numashiftd's live map when it runs)", NULL },
        { "interval", 'i', 0, G_OPTION_ARG_DOUBLE, &interval,
          "Seconds between redraws with --watch (default 1)", "SECS" },
        G_OPTION_ENTRY_NULL,
    };

    if (!ns_cli_parse(cli, "status", "[DOMAIN]",
                      "Show where DOMAIN's memory is: MiB per host node for the whole guest and\n"
                      "per vNUMA cell (like numastat -p), pages never touched, in flight, failed,\n"
                      "and memory that cannot move.  With numashiftd running this is its live\n"
                      "map (no scan); otherwise a scan of our own.  Without DOMAIN: every\n"
                      "running domain, a line each (its local share, MiB per node, unmovable\n"
                      "memory, its job).",
                      entries, &argc, &argv))
        return NS_EXIT_USAGE;
    if (isnan(interval))
        interval = 1.0;
    else if (!(interval >= 0.05 && interval <= 3600))
        return ns_cli_usage(cli, "status", "--interval %g: seconds between 0.05 and 3600",
                            interval);
    else if (!watch)
        return ns_cli_usage(cli, "status", "--interval needs --watch");
    if (argc < 2) {
        if (watch)
            return ns_cli_usage(cli, "status", "--watch needs a DOMAIN");
        return status_all(cli);
    }
    g_autoptr(NsDomain) dom = open_domain(cli, "status", argc, argv, &code);
    if (dom == NULL)
        return code;
    StatusView view = { .cli = cli, .dom = dom, .watch = watch, .code = NS_EXIT_OK };

    if (!show_status(&view) || !watch)
        return view.code;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    guint tick = g_timeout_add((guint)(interval * 1000), on_status_tick, &view);

    ns_main_hold_signal(SIGINT);
    ns_main_hold_signal(SIGTERM);
    guint sigint = g_unix_signal_add(SIGINT, on_status_signal, &view);
    guint sigterm = g_unix_signal_add(SIGTERM, on_status_signal, &view);

    view.loop = loop;
    g_main_loop_run(loop);
    g_source_remove(sigint);
    g_source_remove(sigterm);
    if (view.code == NS_EXIT_OK)
        g_source_remove(tick);
    return view.code;
}

/* -------------------------------------------------------------- migrate */

typedef struct {
    NsCli *cli;
    NsMove *move;
    NsDomain *dom;
    const NsMemMap *map;
    NsLiveMap *live;
    gboolean tty;
    NsMainDone done; /* set by the pipeline's thread when the run has ended */
    gboolean ok;
    GError *error;
    gint64 last_line_us;
    gboolean cancel_asked; /* a signal came before the move existed */
} MigrateJob;

static void
on_progress(const NsEngineProgress *p, gpointer user_data)
{
    MigrateJob *job = user_data;
    double pct = p->total_pages ? 100.0 * (double)p->done_pages / (double)p->total_pages : 100.0;
    double moved_mib = (double)p->moved_bytes / (1024.0 * 1024.0);
    g_autofree char *eta = p->eta_us >= 0 ? g_strdup_printf("%.1fs", (double)p->eta_us / 1e6)
                                          : g_strdup("?");

    if (job->cli->json)
        return;
    if (job->tty) {
        int width = 30, filled = (int)(pct * width / 100.0);
        char bar[64];

        memset(bar, '#', (size_t)filled);
        memset(bar + filled, '.', (size_t)(width - filled));
        bar[width] = '\0';
        printf("\r[%s] %5.1f%%  %8.1f MiB moved  %7.1f MiB/s  ETA %-7s%s", bar, pct, moved_mib,
               p->mib_per_s, eta, p->paused ? " (paused)" : "");
        if (p->final)
            printf("\n");
        fflush(stdout);
        return;
    }
    /* Plain lines for logs: at most one a second, and the last one. */
    gint64 now = g_get_monotonic_time();

    if (!p->final && now - job->last_line_us < G_USEC_PER_SEC)
        return;
    job->last_line_us = now;
    printf("progress %.1f%% pages=%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
           " moved_mib=%.1f mib_per_s=%.1f eta=%s pass=%u\n",
           pct, p->done_pages, p->total_pages, moved_mib, p->mib_per_s, eta, p->pass);
    fflush(stdout);
}

static gpointer
run_move(gpointer data)
{
    MigrateJob *job = data;

    urcu_memb_register_thread();
    job->ok = ns_move_run(job->move, job->dom, job->map, job->live, &job->error);
    urcu_memb_unregister_thread();
    ns_main_done_set(&job->done);
    return NULL;
}

static gboolean
on_signal(gpointer data)
{
    MigrateJob *job = data;

    fprintf(stderr, "\n%s: cancelling: pages in flight finish, the rest stay where they are\n",
            job->cli->prog);
    /* A signal during the set-up cancels the move as soon as it exists:
     * before its engine starts ("cancelled", nothing moved). */
    job->cancel_asked = TRUE;
    if (job->move != NULL)
        ns_move_cancel(job->move);
    return G_SOURCE_CONTINUE;
}

/* The migrate command's SIGINT and SIGTERM watches, removed on every return. */
typedef struct {
    guint sigint, sigterm;
} CancelWatch;

static void
cancel_watch_clear(CancelWatch *watch)
{
    g_clear_handle_id(&watch->sigint, g_source_remove);
    g_clear_handle_id(&watch->sigterm, g_source_remove);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CancelWatch, cancel_watch_clear)

static void
print_report(const NsCli *cli, const NsEngineReport *r)
{
    if (cli->json) {
        g_autoptr(JsonNode) report = ns_engine_report_to_json(r);

        ns_cli_print_json_node(report);
        return;
    }
    double secs = (double)r->elapsed_us / 1e6;
    double mib = (double)r->moved_bytes / (1024.0 * 1024.0);

    printf("%s: moved %.1f MiB (%" G_GUINT64_FORMAT " pages, %" G_GUINT64_FORMAT
           " huge) in %.2fs, %.1f MiB/s, %u worker(s)\n",
           ns_engine_outcome_to_string(r->outcome), mib, r->moved_pages, r->moved_huge, secs,
           secs > 0 ? mib / secs : 0.0, r->workers);
    printf("  already in place %" G_GUINT64_FORMAT ", never touched %" G_GUINT64_FORMAT
           ", failed %" G_GUINT64_FORMAT ", left behind %" G_GUINT64_FORMAT
           ", retries %" G_GUINT64_FORMAT " (pages)\n",
           r->in_place_pages, r->absent_pages, r->failed_pages, r->remaining_pages + r->skipped_pages,
           r->retries);
    if (r->worker_cpus[0] != '\0')
        printf("  workers on CPU(s) %s%s\n", r->worker_cpus,
               r->worker_background ? ", at SCHED_IDLE (a vCPU is pinned to every such CPU)" : "");
    if (r->hot_sample_us > 0 && r->hot_errno == 0)
        printf("  hot pages first: %" G_GUINT64_FORMAT " pages written in a %.0f ms sample moved first\n",
               r->hot_pages, r->hot_sample_us / 1000.0);
    else if (r->hot_sample_us > 0)
        printf("  hot pages first: no sample (%s): address order\n", g_strerror(r->hot_errno));
    if (r->worker_floor_steps > 0)
        printf("  a worker starved at SCHED_IDLE: raised to nice %d%s%s\n", r->worker_floor_nice,
               r->worker_floor_errno != 0 ? ", which failed: " : "",
               r->worker_floor_errno != 0 ? g_strerror(r->worker_floor_errno) : "");
    if (r->worker_bind_errno != 0)
        printf("  workers could not be confined to them (%s): they ran anywhere\n",
               g_strerror(r->worker_bind_errno));
    if (r->paced)
        printf("  guest's vCPUs waited for a CPU: %.1f%% before the move, at most %.1f%% during it;"
               " %u slow-down step(s)\n",
               r->vcpu_wait_baseline_permille / 10.0, r->vcpu_wait_peak_permille / 10.0,
               r->pace_backoffs);
    if (r->gone_pages > 0)
        printf("  unmapped during the move (gone): %" G_GUINT64_FORMAT " pages\n", r->gone_pages);
    if (r->unmovable_pages > 0)
        printf("  unmovable, not tried again yet: %" G_GUINT64_FORMAT " pages\n", r->unmovable_pages);
    if (r->gigantic_calls > 0)
        printf("  1 GiB pages: %" G_GUINT64_FORMAT " move_pages() call(s), one page each; the"
               " longest took %.0f ms, and a vCPU touching that page waited as long\n",
               r->gigantic_calls, (double)r->gigantic_call_max_us / 1000.0);
    if (r->split_huge > 0)
        printf("  huge pages split during the move: %" G_GUINT64_FORMAT
               " (their base pages moved one by one)\n", r->split_huge);
    for (guint e = 0; e < NS_ENGINE_ERRNO_SLOTS; e++)
        if (r->failed_by_errno[e] != 0 && e != EACCES)
            printf("  failed with %s: %" G_GUINT64_FORMAT " pages\n", g_strerror((int)e),
                   r->failed_by_errno[e]);
    if (r->shared_ksm_pages != 0)
        printf("  KSM-merged, left where they are: %" G_GUINT64_FORMAT
               " of the guest's shared pages\n", r->shared_ksm_pages);
    if (r->failed_by_errno[EACCES] != 0)
        printf("  shared with another process, left where they are: %" G_GUINT64_FORMAT
               " pages (%s%s); --move-shared moves them for every process\n",
               r->failed_by_errno[EACCES],
               r->shared_with[0] != '\0' ? "mapped also by " : "",
               r->shared_with[0] != '\0' ? r->shared_with
                                          : "no other process maps that memory by name: "
                                            "KSM-merged, or shared since a fork");
    if (r->kvm.valid)
        printf("  KVM: remote TLB flushes %+" G_GINT64_FORMAT ", shadow pages zapped %+"
               G_GINT64_FORMAT ", 4K/2M mappings %+" G_GINT64_FORMAT "/%+" G_GINT64_FORMAT "\n",
               r->kvm.remote_tlb_flush, r->kvm.mmu_shadow_zapped, r->kvm.pages_4k, r->kvm.pages_2m);
    else
        printf("  KVM counters: not available (TCG, QEMU without query-stats, or QEMU gone)\n");
}

int
ns_cmd_migrate(NsCli *cli, int argc, char **argv)
{
    /* Sentinels tell "not given" from any value a user can type. */
    gint to = G_MININT, cell = G_MININT, workers = G_MININT, hot_ms = G_MININT;
    g_autofree char *cpus = NULL;
    double rate = NAN;
    gboolean dry_run = FALSE, direct = FALSE, move_shared = FALSE, detach = FALSE;
    const GOptionEntry entries[] = {
        { "to", 't', 0, G_OPTION_ARG_INT, &to, "Target host node (required)", "NODE" },
        { "cell", 0, 0, G_OPTION_ARG_INT, &cell, "Move only this vNUMA cell's memory", "N" },
        { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate, "Rate limit in MiB/s (default: none)", "MIB/S" },
        { "workers", 'w', 0, G_OPTION_ARG_INT, &workers, "Worker threads (default 2)", "N" },
        { "cpus", 0, 0, G_OPTION_ARG_STRING, &cpus,
          "Host CPUs the workers run on (default: where no vCPU is pinned)", "LIST" },
        { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "Only say what would move", NULL },
        { "hot-first", 0, 0, G_OPTION_ARG_INT, &hot_ms,
          "Move first the pages the guest writes during an MS-millisecond sample (soft-dirty)",
          "MS" },
        { "move-shared", 0, 0, G_OPTION_ARG_NONE, &move_shared,
          "Also move pages other processes map (MPOL_MF_MOVE_ALL; needs CAP_SYS_NICE)", NULL },
        { "direct", 0, 0, G_OPTION_ARG_NONE, &direct,
          "Move from this process even when numashiftd runs", NULL },
        { "detach", 0, 0, G_OPTION_ARG_NONE, &detach,
          "With numashiftd: queue its job and return, leaving it running", NULL },
        { "live", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &(gboolean){ 0 },
          "Accepted for virsh compatibility: moves are always live", NULL },
        G_OPTION_ENTRY_NULL,
    };
    int code = NS_EXIT_OK;
    g_autoptr(GError) error = NULL;

    if (!ns_cli_parse(cli, "migrate", "DOMAIN --to NODE",
                      "Move DOMAIN's memory (or one vNUMA cell's) to host NODE while it runs.\n"
                      "Ctrl-C cancels (numashiftd's job too): pages in flight finish, the rest\n"
                      "stay where they are.",
                      entries, &argc, &argv))
        return NS_EXIT_USAGE;
    if (to == G_MININT)
        return ns_cli_usage(cli, "migrate", "--to NODE is required");
    if (to < 0)
        return ns_cli_usage(cli, "migrate", "--to %d: a node number is >= 0", to);
    if (cell == G_MININT)
        cell = -1;
    else if (cell < 0)
        return ns_cli_usage(cli, "migrate", "--cell %d: a vNUMA cell number is >= 0", cell);
    if (workers == G_MININT)
        workers = 0;
    else if (workers < 1 || workers > (gint)NS_ENGINE_WORKERS_MAX)
        return ns_cli_usage(cli, "migrate", "--workers %d: must be 1..%u", workers,
                            NS_ENGINE_WORKERS_MAX);
    if (cpus != NULL) {
        g_autoptr(GError) bad = NULL;
        g_autoptr(GArray) ids = ns_parse_cpulist(cpus, &bad);

        if (ids == NULL || strlen(cpus) > NS_CONTROL_CPUS_MAX)
            return ns_cli_usage(cli, "migrate", "--cpus %s: not a CPU list (\"2-3,8\")", cpus);
    }
    if (hot_ms == G_MININT)
        hot_ms = 0;
    else if (hot_ms < 1 || hot_ms > NS_CONTROL_HOT_SAMPLE_MS_MAX)
        return ns_cli_usage(cli, "migrate", "--hot-first %d: a sample of 1..%u ms", hot_ms,
                            NS_CONTROL_HOT_SAMPLE_MS_MAX);
    if (isnan(rate))
        rate = 0;
    else if (!(rate > 0) || isinf(rate))
        return ns_cli_usage(cli, "migrate", "--rate %g: a rate in MiB/s is > 0", rate);
    if (detach && (direct || dry_run))
        return ns_cli_usage(cli, "migrate", "--detach leaves numashiftd's job running: not with %s",
                            direct ? "--direct" : "--dry-run");
    /* With a daemon running, the move is its job: its host-wide limits hold
     * and no two movers work on one guest at once. */
    if (!direct && !dry_run && argc == 2) {
        g_autoptr(GError) derr = NULL;
        g_autoptr(NsDaemonLink) link = ns_cli_daemon_open(&derr);

        if (link != NULL) {
            g_autoptr(NsControlRequest) req = ns_control_request_new(NS_CONTROL_OP_MIGRATE);

            req->domain = g_strdup(argv[1]);
            req->to = (guint)to;
            req->cell = cell;
            req->rate = rate;
            req->workers = (guint)workers;
            req->cpus = g_strdup(cpus);
            req->move_shared = move_shared;
            req->hot_sample_ms = (guint)hot_ms;
            return ns_cli_daemon_submit(cli, link, req, detach);
        }
        /* Nothing to leave running without a daemon: never a silent foreground move. */
        if (!g_error_matches(derr, NS_ERROR, NS_ERROR_NOT_RUNNING) || detach)
            return ns_cli_fail(cli, derr);
    }
    /* Watched from here on: the set-up (libvirt, QMP, the scan) takes seconds
     * on a busy host, and a Ctrl-C or a SIGTERM sent then must cancel the
     * move, not be lost (ignored in a background job) or kill us midway. */
    MigrateJob job = { .cli = cli, .tty = isatty(STDOUT_FILENO) };

    ns_main_hold_signal(SIGINT);
    ns_main_hold_signal(SIGTERM);
    g_auto(CancelWatch) watch = {
        .sigint = g_unix_signal_add(SIGINT, on_signal, &job),
        .sigterm = g_unix_signal_add(SIGTERM, on_signal, &job),
    };
    g_autoptr(NsDomain) dom = open_domain(cli, "migrate", argc, argv, &code);
    if (dom == NULL)
        return code;
    g_autoptr(NsMemMap) map = ns_domain_load_memmap(dom, &error);
    /* Our own placement map, dropped when we exit. */
    g_autoptr(NsLiveMap) live = map != NULL ? ns_live_map_new(map->pid, &error) : NULL;

    if (live == NULL)
        return ns_cli_fail(cli, error);
    g_autofree char *holder = g_strdup_printf("numashift migrate (pid %d)", (int)getpid());
    job.dom = dom;
    job.map = map;
    job.live = live;
    /* The same pipeline as numashiftd's jobs: the same checks, in the same order. */
    const NsMoveSpec spec = {
        .kind = NS_MOVE_TO_NODE,
        .to = (guint)to,
        .cell = cell,
        .holder = holder,
        .worker_cpus = cpus,
        .hot_sample_us = (gint64)hot_ms * 1000,
        .engine = {
            .workers = (guint)workers,
            .rate_limit_mib_s = rate,
            .dry_run = dry_run,
            .move_shared = move_shared,
            .progress = on_progress,
            .progress_data = &job,
        },
    };
    g_autoptr(NsMove) move = ns_move_new(&spec);

    job.move = move;
    if (job.cancel_asked)
        ns_move_cancel(move);
    GThread *thread;

    /* Set before the thread exists: a run that ends at once (nothing to
     * move, a dry run, a refused node) must find the flag to set, and the
     * wait below sees it however late it starts. */
    ns_main_done_init(&job.done, NULL);
    thread = g_thread_new("ns-migrate", run_move, &job);
    ns_main_done_wait(&job.done);
    g_thread_join(thread);
    cancel_watch_clear(&watch);

    g_autoptr(NsEngineReport) report = ns_move_get_report(move);

    if (report == NULL) {
        /* Refused or failed before the engine ran: nothing moved. */
        code = ns_cli_fail(cli, job.error);
        g_clear_error(&job.error);
        return code;
    }
    print_report(cli, report);
    /* After a failed job (QEMU gone, say) the tree is history, not a status;
     * a move cancelled before its scan has no placement to show. */
    g_autoptr(NsPlacementSummary) s =
        !cli->json && !dry_run && job.ok ? ns_live_map_summarize(live) : NULL;

    if (s != NULL) {
        g_autoptr(JsonNode) placement = placement_to_json(s);

        print_placement(json_node_get_object(placement));
    }
    if (!job.ok) {
        code = ns_cli_fail(cli, job.error);
        g_clear_error(&job.error);
        return code;
    }
    return report->outcome == NS_ENGINE_OUTCOME_CANCELLED || report->failed_pages > 0 ||
                   report->remaining_pages > 0
               ? NS_EXIT_INCOMPLETE
               : NS_EXIT_OK;
}
