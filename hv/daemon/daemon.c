/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's lifecycle: the context that owns the configuration, the
 * libvirt connection, the control socket and the manager (manager.h), and
 * wires them together: libvirt's events and the drift timer become the
 * manager's triggers, the socket's requests go to requests.c's table.
 */
#include "daemon.h"

#include <libvirt/virterror.h>
#include <systemd/sd-daemon.h>

#include "conn.h"
#include "numashift/domain.h"
#include "manager.h"
#include "metrics.h"
#include "requests.h"
#include "server.h"

struct _NsDaemon {
    NsDaemonConfig *config;
    NsConn *conn;
    NsServer *server;
    NsManager *manager;
    NsRequestContext requests;
    guint drift_source;
    GCancellable *listing; /* the domain listing after a (re)connect, in a thread */
    GCancellable *asking;  /* the manager's questions about migrations, in threads */
    char *notified_status; /* the STATUS= systemd has */
    NsMetrics *metrics;    /* counted always, written where [daemon] metrics-dir says */
    NsTopology *topology;  /* the nodes, for the metrics' free memory; NULL: unread */
    guint metrics_source;  /* a write of the metrics file is due (idle) */
    gboolean metrics_failing; /* the last write failed: said once, not per job */
};

/* ------------------------------------------------- the manager's host */

static NsJob *
start_job(gpointer data, const NsJobSpec *spec, const NsJobCallbacks *callbacks)
{
    NsDaemon *d = data;
    virConnectPtr vc = ns_conn_get(d->conn);

    return vc != NULL ? ns_job_start(vc, spec, callbacks) : NULL; /* on reconnect */
}

static gboolean
watches_layout(gpointer data)
{
    return ns_conn_watches_layout(((NsDaemon *)data)->conn);
}

/* A question about a domain's migration, asked in a thread: libvirtd may
 * hold the domain's lock while it runs our hook. */
typedef struct {
    virConnectPtr vc; /* a reference; NULL: no connection, the answer is "unknown" */
    char *uuid;
} MigrationQuestion;

static void
migration_question_free(gpointer p)
{
    MigrationQuestion *q = p;

    if (q->vc != NULL)
        virConnectClose(q->vc);
    g_free(q->uuid);
    g_free(q);
}

static void
ask_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    MigrationQuestion *q = data;
    virDomainPtr dom = q->vc != NULL ? virDomainLookupByUUIDString(q->vc, q->uuid) : NULL;
    NsMigration m = dom != NULL ? ns_domain_get_migration(dom) : NS_MIGRATION_UNKNOWN;

    (void)source;
    (void)cancellable;
    if (dom != NULL)
        virDomainFree(dom);
    g_task_return_int(task, m);
}

static void
answered(GObject *source, GAsyncResult *res, gpointer data)
{
    NsDaemon *d = data;
    g_autoptr(GError) error = NULL;
    gssize m = g_task_propagate_int(G_TASK(res), &error);

    (void)source;
    if (m < 0)
        return; /* cancelled: the daemon is going away */
    ns_manager_migration_answer(d->manager, ((MigrationQuestion *)g_task_get_task_data(G_TASK(res)))->uuid,
                                (NsMigration)m);
}

static void
ask_migration(gpointer data, const char *uuid)
{
    NsDaemon *d = data;
    MigrationQuestion *q = g_new0(MigrationQuestion, 1);
    virConnectPtr vc = ns_conn_get(d->conn);

    if (vc != NULL && virConnectRef(vc) == 0)
        q->vc = vc;
    q->uuid = g_strdup(uuid);
    g_autoptr(GTask) task = g_task_new(NULL, d->asking, answered, d);

    g_task_set_task_data(task, q, migration_question_free);
    g_task_set_return_on_cancel(task, FALSE);
    g_task_run_in_thread(task, ask_in_thread);
}

/* The control socket's limits from the configuration (at start and on reload). */
static NsServerLimits
server_limits(const NsDaemonConfig *config)
{
    return (NsServerLimits){ config->max_clients, config->max_clients_per_uid,
                             config->client_idle_timeout_s };
}

/* systemd's one-line status (systemctl status), when it changed. */
static void
notify_status(NsDaemon *d)
{
    g_autoptr(GPtrArray) domains = ns_manager_list(d->manager);
    guint running = 0;

    for (guint i = 0; i < domains->len; i++) {
        NsJob *job = ns_manager_get_job(domains->pdata[i]);

        running += job != NULL && !ns_job_is_done(job);
    }
    g_autofree char *status = g_strdup_printf("tracking %u domain%s, %u job%s running",
                                              domains->len, domains->len == 1 ? "" : "s",
                                              running, running == 1 ? "" : "s");

    if (g_strcmp0(status, d->notified_status) == 0)
        return;
    sd_notifyf(0, "STATUS=%s", status);
    g_free(d->notified_status);
    d->notified_status = g_steal_pointer(&status);
}

/* The metrics file now: the counters and every tracked domain's placement
 * (its live map's running counts: no walk, no kernel call). */
static void
write_metrics(NsDaemon *d)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) domains = ns_manager_list(d->manager);
    g_autoptr(GPtrArray) summaries =
        g_ptr_array_new_with_free_func((GDestroyNotify)ns_placement_summary_free);
    g_autofree NsMetricsDomain *shown = g_new0(NsMetricsDomain, domains->len + 1);

    for (guint i = 0; i < domains->len; i++) {
        NsManagedDomain *t = domains->pdata[i];
        g_autoptr(NsLiveMap) live = ns_manager_ref_live_map(t);
        NsPlacementSummary *s = live != NULL ? ns_live_map_summarize(live) : NULL;

        if (s != NULL)
            g_ptr_array_add(summaries, s);
        shown[i] = (NsMetricsDomain){ ns_manager_domain_name(t), ns_manager_domain_uuid(t), s,
                                      ns_manager_get_decisions(t) };
    }
    ns_metrics_prune(d->metrics, shown, domains->len);
    if (d->topology == NULL)
        d->topology = ns_topology_load(NULL, &error);
    else if (!ns_topology_refresh_memory(d->topology, &error))
        g_clear_pointer(&d->topology, ns_topology_free);
    if (error != NULL)
        g_debug("metrics without the nodes' free memory: %s", error->message);
    g_clear_error(&error);

    g_autofree char *text = ns_metrics_render(d->metrics, shown, domains->len, d->topology);

    if (!ns_metrics_write(d->config->metrics_dir, text, &error)) {
        if (!d->metrics_failing)
            g_warning("%s (said once until a write succeeds)", error->message);
        d->metrics_failing = TRUE;
    } else if (d->metrics_failing) {
        g_message("metrics written to %s again", d->config->metrics_dir);
        d->metrics_failing = FALSE;
    }
}

static gboolean
metrics_due(gpointer data)
{
    NsDaemon *d = data;

    d->metrics_source = 0;
    if (d->config->metrics_dir != NULL)
        write_metrics(d);
    return G_SOURCE_REMOVE;
}

/* One write for a burst of events, once the main loop is idle: by then a
 * stopped domain has left the manager's table. */
static void
schedule_metrics(NsDaemon *d)
{
    if (d->metrics_source == 0 && d->config->metrics_dir != NULL)
        d->metrics_source = g_idle_add(metrics_due, d);
}

static void
broadcast(gpointer data, NsControlEvent event, JsonNode *body)
{
    NsDaemon *d = data;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(body) ? json_node_get_object(body) : NULL;

    ns_server_broadcast(d->server, event, body);
    /* Every job start and end and every domain tracked or dropped is an
     * event; progress (4 a second per job) changes neither count. */
    if (event == NS_CONTROL_EVENT_PROGRESS)
        return;
    notify_status(d);
    if (event == NS_CONTROL_EVENT_JOB && o != NULL &&
        g_strcmp0(json_object_get_string_member_with_default(o, "event", NULL), "job-done") == 0 &&
        json_object_has_member(o, "job") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "job")))
        ns_metrics_count_job(d->metrics, json_object_get_object_member(o, "job"));
    schedule_metrics(d);
}

static gboolean
connected(gpointer data)
{
    return ns_conn_get(((NsDaemon *)data)->conn) != NULL;
}

/* ------------------------------------------------------ libvirt events */

static void
on_lifecycle(const char *uuid, const char *name, int event, int detail, gpointer data)
{
    NsDaemon *d = data;

    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
        /* The target of a live migration: its memory is still arriving. */
        if (detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED)
            ns_manager_domain_arriving(d->manager, uuid, name);
        else
            ns_manager_domain_started(d->manager, uuid, name, "lifecycle event");
        break;
    case VIR_DOMAIN_EVENT_SUSPENDED:
        /* Paused for a migration's switchover (or its post-copy phase). */
        if (detail == VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED || detail == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY)
            ns_manager_domain_leaving(d->manager, uuid, "switchover");
        break;
    case VIR_DOMAIN_EVENT_RESUMED:
        ns_manager_domain_resumed(d->manager, uuid, name,
                                  detail == VIR_DOMAIN_EVENT_RESUMED_MIGRATED   ? "migration done"
                                  : detail == VIR_DOMAIN_EVENT_RESUMED_POSTCOPY ? "post-copy migration"
                                                                                : "resumed",
                                  detail == VIR_DOMAIN_EVENT_RESUMED_POSTCOPY);
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
        ns_manager_domain_stopped(d->manager, uuid,
                                  detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED ? "migrated away"
                                                                              : "lifecycle event");
        break;
    default:
        break;
    }
}

static void
on_layout(const char *uuid, const char *name, const char *what, gpointer data)
{
    (void)name;
    ns_manager_layout_changed(((NsDaemon *)data)->manager, uuid, what);
}

static void
on_migration(const char *uuid, const char *name, int iteration, gpointer data)
{
    g_autofree char *what = g_strdup_printf("migration pass %d", iteration);

    (void)name;
    ns_manager_domain_leaving(((NsDaemon *)data)->manager, uuid, what);
}

static void
on_metadata(const char *uuid, const char *name, gpointer data)
{
    ns_manager_metadata_changed(((NsDaemon *)data)->manager, uuid, name);
}

static void
on_pinning(const char *uuid, const char *name, const char *const *keys, gpointer data)
{
    ns_manager_pinning_changed(((NsDaemon *)data)->manager, uuid, name, keys);
}

/* The running domains, listed in a thread: libvirtd may hold a domain's lock
 * while it runs our hook, and the main thread must stay free to read it. */
static void
list_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    GError *error = NULL;
    GPtrArray *out = ns_domain_list_running(data, &error);

    (void)source;
    (void)cancellable;
    if (out == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, out, (GDestroyNotify)g_ptr_array_unref);
}

static void
listed(GObject *source, GAsyncResult *res, gpointer data)
{
    NsDaemon *d = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) doms = g_task_propagate_pointer(G_TASK(res), &error);

    (void)source;
    if (doms == NULL) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return; /* the daemon is going away, or a new connection lists again */
        g_warning("%s: running domains are looked at as their events come", error->message);
        g_clear_object(&d->listing);
        return;
    }
    g_clear_object(&d->listing);
    /* Running domains: ours to watch, and a fresh look at each (a restart of
     * either daemon may have missed events). */
    for (guint i = 0; i < doms->len; i++) {
        const NsDomainListing *l = g_ptr_array_index(doms, i);

        ns_manager_domain_started(d->manager, l->uuid, l->name, "running at connect");
    }
    ns_manager_kick(d->manager);
}

static void
close_conn(gpointer vc)
{
    virConnectClose(vc);
}

static void
on_up(virConnectPtr vc, gpointer data)
{
    NsDaemon *d = data;
    g_autofree char *uri = virConnectGetURI(vc);

    g_message("connected to libvirt at %s%s", uri != NULL ? uri : "?",
              ns_conn_get_reconnects(d->conn) > 0 ? ", after a reconnect" : "");
    if (d->listing != NULL)
        g_cancellable_cancel(d->listing);
    g_clear_object(&d->listing);
    d->listing = g_cancellable_new();
    virConnectRef(vc);
    g_autoptr(GTask) task = g_task_new(NULL, d->listing, listed, d);

    g_task_set_task_data(task, vc, close_conn);
    g_task_set_return_on_cancel(task, FALSE);
    g_task_run_in_thread(task, list_in_thread);
    ns_manager_kick(d->manager);
}

static void
on_down(const char *reason, gpointer data)
{
    NsDaemon *d = data;

    g_warning("lost the libvirt connection (%s): reconnecting", reason);
    ns_manager_connection_lost(d->manager);
}

/* The manager checks the domains whose drift check is due (each its own
 * point in the interval, ns_manager_drift_tick()): every second, or an
 * eighth of a short interval. */
static guint
drift_tick_ms(const NsDaemonConfig *config)
{
    return CLAMP(config->drift_interval_s * 1000 / 8, 100u, 1000u);
}

static gboolean
drift_tick(gpointer data)
{
    ns_manager_drift_tick(((NsDaemon *)data)->manager, g_get_monotonic_time());
    return G_SOURCE_CONTINUE;
}

static void
on_request(NsClient *client, const NsControlRequest *req, gpointer data)
{
    ns_requests_dispatch(&((NsDaemon *)data)->requests, client, req);
}

/* ------------------------------------------------------------ public */

NsDaemon *
ns_daemon_new(NsDaemonConfig *config, GError **error)
{
    g_autoptr(NsDaemon) d = g_new0(NsDaemon, 1);
    const NsConnCallbacks cb = { on_up,     on_down,     on_lifecycle, on_pinning,
                                 on_layout, on_metadata, on_migration, NULL };
    NsConnCallbacks with_data = cb;
    const NsManagerHost host = { start_job, watches_layout, broadcast, NULL, ask_migration };
    NsManagerHost with_daemon = host;

    const NsServerLimits limits = server_limits(config);

    d->config = config;
    d->asking = g_cancellable_new();
    d->metrics = ns_metrics_new();
    with_daemon.data = d;
    d->manager = ns_manager_new(config, &with_daemon);
    d->requests = (NsRequestContext){ d->manager, connected, d };
    d->server = ns_server_new(config->socket_path, config->socket_group, &limits, on_request, d,
                              error);
    if (d->server == NULL)
        return NULL;
    with_data.data = d;
    d->conn = ns_conn_new(config->uri != NULL ? config->uri : "qemu:///system", 500, 30000,
                          &with_data);
    if (config->drift_interval_s > 0)
        d->drift_source = g_timeout_add(drift_tick_ms(config), drift_tick, d);
    g_message("numashiftd listening on %s", config->socket_path);
    if (config->metrics_dir != NULL)
        g_message("metrics for node_exporter in %s/%s", config->metrics_dir, NS_METRICS_FILE);
    schedule_metrics(d);
    return g_steal_pointer(&d);
}

/* Settings bound to a resource opened at start: a reload keeps the running
 * ones and says so, rather than half-applying them. */
static void
keep_restart_only(const NsDaemonConfig *old, NsDaemonConfig *config)
{
    struct {
        const char *key;
        char *const *was;
        char **now;
    } strings[] = {
        { "uri", &old->uri, &config->uri },
        { "socket", &old->socket_path, &config->socket_path },
        { "socket-group", &old->socket_group, &config->socket_group },
    };

    for (guint i = 0; i < G_N_ELEMENTS(strings); i++) {
        if (g_strcmp0(*strings[i].was, *strings[i].now) == 0)
            continue;
        g_warning("reload: [daemon] %s takes effect on restart; still %s", strings[i].key,
                  *strings[i].was != NULL ? *strings[i].was : "the default");
        g_free(*strings[i].now);
        *strings[i].now = g_strdup(*strings[i].was);
    }
}

void
ns_daemon_reload(NsDaemon *d, NsDaemonConfig *config)
{
    g_autoptr(NsDaemonConfig) old = d->config;

    keep_restart_only(old, config);
    d->config = config;
    if (old->drift_interval_s != config->drift_interval_s) {
        g_clear_handle_id(&d->drift_source, g_source_remove);
        if (config->drift_interval_s > 0)
            d->drift_source = g_timeout_add(drift_tick_ms(config), drift_tick, d);
    }
    const NsServerLimits limits = server_limits(config);

    ns_server_set_limits(d->server, &limits);
    g_message("configuration reloaded");
    ns_manager_set_config(d->manager, config);
    notify_status(d);
    if (g_strcmp0(old->metrics_dir, config->metrics_dir) != 0)
        g_message("metrics for node_exporter: %s", config->metrics_dir != NULL
                                                       ? config->metrics_dir
                                                       : "off");
    d->metrics_failing = FALSE;
    schedule_metrics(d);
}

void
ns_daemon_free(NsDaemon *daemon)
{
    if (daemon == NULL)
        return;
    if (daemon->drift_source != 0)
        g_source_remove(daemon->drift_source);
    g_clear_handle_id(&daemon->metrics_source, g_source_remove);
    if (daemon->listing != NULL)
        g_cancellable_cancel(daemon->listing);
    g_clear_object(&daemon->listing);
    g_cancellable_cancel(daemon->asking);
    g_clear_object(&daemon->asking);
    /* Jobs first (the manager cancels and joins them), then the rest. */
    ns_manager_free(daemon->manager);
    ns_conn_free(daemon->conn);
    ns_server_free(daemon->server);
    ns_daemon_config_free(daemon->config);
    g_free(daemon->notified_status);
    ns_metrics_free(daemon->metrics);
    ns_topology_free(daemon->topology);
    g_free(daemon);
}
