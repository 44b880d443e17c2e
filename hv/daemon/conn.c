/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's libvirt connection.
 *
 * libvirt's event implementation must be registered once per process before
 * the first connection (a libvirt rule, hence the one GOnce here); it is
 * GLib's default main context, run by the daemon's main loop.  Callbacks
 * only copy what an event says and queue it as an idle source: all state
 * lives on the main thread, so nothing here needs a lock beyond the
 * reference count (kept atomic for the GTask that opens connections).
 *
 * Lifetime: the NsConn is reference-counted; every marshalled event holds a
 * reference and checks `closed` on arrival, so an event that races
 * ns_conn_free() is dropped, never delivered to a freed owner.
 */
#include "conn.h"
#include "numashift/domain-config.h"
#include "numashift/mainloop.h"

#include <gio/gio.h>
#include <libvirt/virterror.h>
#include <string.h>

struct _NsConn {
    gint refs;
    gboolean closed;
    char *uri;
    guint backoff_min_ms, backoff_max_ms, backoff_ms;
    NsConnCallbacks cb;
    GMainContext *context;
    virConnectPtr conn;
    int lifecycle_id, tunable_id;
    int metadata_id;        /* -1: none (numashift's metadata changes go unseen) */
    int migration_id;       /* -1: none (outgoing migrations seen at switchover only) */
    int layout_ids[3];      /* device added, device removed, reboot; -1: none */
    gboolean layout_watched; /* all of layout_ids took on this connection */
    gboolean connecting;
    guint retry_source;
    guint reconnects;
    gboolean was_up;
};

static NsConn *
conn_ref(NsConn *c)
{
    g_atomic_int_inc(&c->refs);
    return c;
}

static void
conn_unref(gpointer p)
{
    NsConn *c = p;

    if (!g_atomic_int_dec_and_test(&c->refs))
        return;
    g_free(c->uri);
    g_main_context_unref(c->context);
    g_free(c);
}

/* ------------------------------------------------------- libvirt's loop */

/*
 * Since libvirt 6.1 the default event implementation is GLib's default
 * main context: the daemon's own main loop drives libvirt's sockets,
 * keepalives and timers, and libvirt's callbacks arrive on the main
 * thread.  (A second thread running virEventRunDefaultImpl() would iterate
 * that same context and deadlock against the main thread.)
 */
static gpointer
register_event_impl(gpointer data)
{
    (void)data;
    return GINT_TO_POINTER(virEventRegisterDefaultImpl() == 0);
}

/* ------------------------------------------------- events, marshalled */

typedef enum { EV_LIFECYCLE, EV_PINNING, EV_LAYOUT, EV_METADATA, EV_MIGRATION, EV_CLOSED } EventKind;

typedef struct {
    NsConn *conn;
    EventKind kind;
    char *uuid, *name;
    int event, detail;
    GStrv keys;
    char *reason; /* EV_CLOSED: why; EV_LAYOUT: what happened */
} Event;

static void
event_free(gpointer p)
{
    Event *e = p;

    conn_unref(e->conn);
    g_free(e->uuid);
    g_free(e->name);
    g_strfreev(e->keys);
    g_free(e->reason);
    g_free(e);
}

static void handle_down(NsConn *c, const char *reason);

static gboolean
deliver_event(gpointer p)
{
    Event *e = p;
    NsConn *c = e->conn;

    if (c->closed)
        return G_SOURCE_REMOVE;
    switch (e->kind) {
    case EV_LIFECYCLE:
        if (c->cb.on_lifecycle != NULL)
            c->cb.on_lifecycle(e->uuid, e->name, e->event, e->detail, c->cb.data);
        break;
    case EV_PINNING:
        if (c->cb.on_pinning != NULL)
            c->cb.on_pinning(e->uuid, e->name, (const char *const *)e->keys, c->cb.data);
        break;
    case EV_LAYOUT:
        if (c->cb.on_layout != NULL)
            c->cb.on_layout(e->uuid, e->name, e->reason, c->cb.data);
        break;
    case EV_METADATA:
        if (c->cb.on_metadata != NULL)
            c->cb.on_metadata(e->uuid, e->name, c->cb.data);
        break;
    case EV_MIGRATION:
        if (c->cb.on_migration != NULL)
            c->cb.on_migration(e->uuid, e->name, e->event, c->cb.data);
        break;
    case EV_CLOSED:
        handle_down(c, e->reason);
        break;
    }
    return G_SOURCE_REMOVE;
}

/* Deliver @e later on the owner's context: libvirt calls us with its own
 * locks held (the close callback's, for one), and the owner may call back. */
static void
post(NsConn *c, Event *e)
{
    e->conn = conn_ref(c);
    ns_main_post(c->context, deliver_event, e, event_free);
}

static Event *
event_for(virDomainPtr dom, EventKind kind)
{
    Event *e = g_new0(Event, 1);
    char uuid[VIR_UUID_STRING_BUFLEN];

    e->kind = kind;
    e->uuid = g_strdup(virDomainGetUUIDString(dom, uuid) == 0 ? uuid : "");
    e->name = g_strdup(virDomainGetName(dom) != NULL ? virDomainGetName(dom) : "");
    return e;
}

static int
on_lifecycle_event(virConnectPtr vc, virDomainPtr dom, int event, int detail, void *opaque)
{
    Event *e = event_for(dom, EV_LIFECYCLE);

    (void)vc;
    g_debug("libvirt: lifecycle event %d/%d for %s", event, detail, e->name);
    e->event = event;
    e->detail = detail;
    post(opaque, e);
    return 0;
}

gboolean
ns_conn_is_pinning_key(const char *key)
{
    /* VIR_DOMAIN_TUNABLE_CPU_VCPUPIN is a format ("cputune.vcpupin%zu"), not a prefix. */
    const char *rest;

    if (key == NULL)
        return FALSE;
    if (strcmp(key, VIR_DOMAIN_TUNABLE_CPU_EMULATORPIN) == 0)
        return TRUE;
    if (!g_str_has_prefix(key, "cputune.vcpupin"))
        return FALSE;
    rest = key + strlen("cputune.vcpupin");
    return *rest != '\0' && strspn(rest, "0123456789") == strlen(rest);
}

static void
on_tunable_event(virConnectPtr vc, virDomainPtr dom, virTypedParameterPtr params, int nparams,
                 void *opaque)
{
    g_autoptr(GStrvBuilder) keys = g_strv_builder_new();
    gboolean any = FALSE;

    (void)vc;
    g_debug("libvirt: tunable event with %d parameter(s)", nparams);
    for (int i = 0; i < nparams; i++) {
        if (ns_conn_is_pinning_key(params[i].field)) {
            g_strv_builder_add(keys, params[i].field);
            any = TRUE;
        }
    }
    if (!any)
        return; /* cputune shares, quotas, iothread pins: not our business */
    Event *e = event_for(dom, EV_PINNING);

    e->keys = g_strv_builder_end(keys);
    post(opaque, e);
}

static void
post_layout(virDomainPtr dom, char *what, void *opaque)
{
    Event *e = event_for(dom, EV_LAYOUT);

    e->reason = what;
    post(opaque, e);
}

static void
on_device_added(virConnectPtr vc, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)vc;
    post_layout(dom, g_strdup_printf("device %s added", alias != NULL ? alias : "?"), opaque);
}

static void
on_device_removed(virConnectPtr vc, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)vc;
    post_layout(dom, g_strdup_printf("device %s removed", alias != NULL ? alias : "?"), opaque);
}

static void
on_reboot(virConnectPtr vc, virDomainPtr dom, void *opaque)
{
    (void)vc;
    post_layout(dom, g_strdup("guest reset"), opaque);
}

/* Metadata of ours only: other tools' elements and <title>/<description>
 * changes are not our business. */
static void
on_metadata_event(virConnectPtr vc, virDomainPtr dom, int type, const char *nsuri, void *opaque)
{
    (void)vc;
    if (type != VIR_DOMAIN_METADATA_ELEMENT || g_strcmp0(nsuri, NS_DOMAIN_METADATA_URI) != 0)
        return;
    post(opaque, event_for(dom, EV_METADATA));
}

static void
on_migration_iteration(virConnectPtr vc, virDomainPtr dom, int iteration, void *opaque)
{
    Event *e = event_for(dom, EV_MIGRATION);

    (void)vc;
    e->event = iteration;
    post(opaque, e);
}

/* The events after which a guest's memory map may differ; without them a
 * cached map could miss memory plugged in meanwhile. */
static void
register_layout(NsConn *c, virConnectPtr vc)
{
    const struct {
        int id;
        virConnectDomainEventGenericCallback cb;
    } events[G_N_ELEMENTS(c->layout_ids)] = {
        { VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK(on_device_added) },
        { VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK(on_device_removed) },
        { VIR_DOMAIN_EVENT_ID_REBOOT, VIR_DOMAIN_EVENT_CALLBACK(on_reboot) },
    };

    c->layout_watched = TRUE;
    for (guint i = 0; i < G_N_ELEMENTS(events); i++) {
        c->layout_ids[i] = virConnectDomainEventRegisterAny(vc, NULL, events[i].id, events[i].cb,
                                                            conn_ref(c), conn_unref);
        if (c->layout_ids[i] < 0) {
            conn_unref(c);
            c->layout_watched = FALSE;
            g_debug("libvirt: event %d not available: %s", events[i].id,
                    virGetLastErrorMessage());
        }
    }
}

static void
on_close(virConnectPtr vc, int reason, void *opaque)
{
    static const char *const reasons[] = { "error", "end of file", "keepalive timeout",
                                           "client closed" };
    Event *e = g_new0(Event, 1);

    (void)vc;
    e->kind = EV_CLOSED;
    e->reason = g_strdup(reason >= 0 && reason < (int)G_N_ELEMENTS(reasons) ? reasons[reason]
                                                                           : "unknown reason");
    post(opaque, e);
}

/* --------------------------------------------------------- connecting */

static void try_connect(NsConn *c);

static gboolean
retry_now(gpointer p)
{
    NsConn *c = p;

    c->retry_source = 0;
    try_connect(c);
    return G_SOURCE_REMOVE;
}

static void
schedule_retry(NsConn *c)
{
    if (c->closed || c->retry_source != 0)
        return;
    c->retry_source = g_timeout_add(c->backoff_ms, retry_now, c);
    c->backoff_ms = MIN(c->backoff_ms * 2, c->backoff_max_ms);
}

/* A connection opened after its NsConn went away. */
static void
close_unused(gpointer vc)
{
    virConnectClose(vc);
}

static void
open_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    const char *uri = data;
    virConnectPtr vc = virConnectOpen(uri);

    (void)source;
    (void)cancellable;
    if (vc == NULL) {
        const char *msg = virGetLastErrorMessage();

        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                                msg != NULL ? msg : "cannot connect");
        return;
    }
    g_task_return_pointer(task, vc, close_unused);
}

static void
opened(GObject *source, GAsyncResult *res, gpointer data)
{
    NsConn *c = data;
    g_autoptr(GError) error = NULL;
    virConnectPtr vc = g_task_propagate_pointer(G_TASK(res), &error);

    (void)source;
    c->connecting = FALSE;
    if (c->closed) {
        if (vc != NULL)
            virConnectClose(vc);
        conn_unref(c);
        return;
    }
    if (vc == NULL) {
        g_debug("libvirt connection to %s failed: %s; retrying in %u ms",
                c->uri != NULL ? c->uri : "the default URI", error->message, c->backoff_ms);
        schedule_retry(c);
        conn_unref(c);
        return;
    }
    /* A dead libvirtd must be noticed even with no call in progress. */
    if (virConnectSetKeepAlive(vc, 5, 3) < 0)
        g_debug("libvirt keepalive not available: %s", virGetLastErrorMessage());
    /* libvirt calls the free function only for registrations that took. */
    c->lifecycle_id = virConnectDomainEventRegisterAny(
        vc, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle_event),
        conn_ref(c), conn_unref);
    if (c->lifecycle_id < 0)
        conn_unref(c);
    c->tunable_id = virConnectDomainEventRegisterAny(
        vc, NULL, VIR_DOMAIN_EVENT_ID_TUNABLE, VIR_DOMAIN_EVENT_CALLBACK(on_tunable_event),
        conn_ref(c), conn_unref);
    if (c->tunable_id < 0)
        conn_unref(c);
    register_layout(c, vc);
    c->metadata_id = virConnectDomainEventRegisterAny(
        vc, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, VIR_DOMAIN_EVENT_CALLBACK(on_metadata_event),
        conn_ref(c), conn_unref);
    if (c->metadata_id < 0) {
        conn_unref(c);
        g_warning("libvirt: no metadata change events (%s): a policy written into a domain's "
                  "metadata applies from its next job", virGetLastErrorMessage());
    }
    c->migration_id = virConnectDomainEventRegisterAny(
        vc, NULL, VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
        VIR_DOMAIN_EVENT_CALLBACK(on_migration_iteration), conn_ref(c), conn_unref);
    if (c->migration_id < 0) {
        conn_unref(c);
        g_warning("libvirt: no migration iteration events (%s): an outgoing live migration is "
                  "seen at its switchover only", virGetLastErrorMessage());
    }
    /* No reference for the close callback: a driver without one (test:///)
     * stores nothing and would never free it; release() unregisters it
     * before the last reference goes. */
    if (c->lifecycle_id < 0 || c->tunable_id < 0 ||
        virConnectRegisterCloseCallback(vc, on_close, c, NULL) < 0) {
        g_warning("libvirt: cannot register event callbacks: %s; reconnecting",
                  virGetLastErrorMessage());
        c->conn = vc;
        handle_down(c, "event registration failed");
        conn_unref(c);
        return;
    }
    c->conn = vc;
    c->backoff_ms = c->backoff_min_ms;
    if (c->was_up)
        c->reconnects++;
    c->was_up = TRUE;
    if (c->cb.on_up != NULL)
        c->cb.on_up(vc, c->cb.data);
    conn_unref(c);
}

static void
try_connect(NsConn *c)
{
    if (c->closed || c->connecting || c->conn != NULL)
        return;
    c->connecting = TRUE;
    g_autoptr(GTask) task = g_task_new(NULL, NULL, opened, conn_ref(c));

    g_task_set_task_data(task, g_strdup(c->uri), g_free);
    g_task_run_in_thread(task, open_in_thread);
}

static void
release(NsConn *c)
{
    virConnectPtr vc = g_steal_pointer(&c->conn);

    if (vc == NULL)
        return;
    /* On a dead connection these fail; libvirt still drops its references. */
    if (c->lifecycle_id >= 0)
        virConnectDomainEventDeregisterAny(vc, c->lifecycle_id);
    if (c->tunable_id >= 0)
        virConnectDomainEventDeregisterAny(vc, c->tunable_id);
    if (c->metadata_id >= 0)
        virConnectDomainEventDeregisterAny(vc, c->metadata_id);
    if (c->migration_id >= 0)
        virConnectDomainEventDeregisterAny(vc, c->migration_id);
    c->metadata_id = c->migration_id = -1;
    for (guint i = 0; i < G_N_ELEMENTS(c->layout_ids); i++) {
        if (c->layout_ids[i] >= 0)
            virConnectDomainEventDeregisterAny(vc, c->layout_ids[i]);
        c->layout_ids[i] = -1;
    }
    c->layout_watched = FALSE;
    virConnectUnregisterCloseCallback(vc, on_close);
    c->lifecycle_id = c->tunable_id = -1;
    virConnectClose(vc);
}

static void
handle_down(NsConn *c, const char *reason)
{
    if (c->conn == NULL)
        return;
    release(c);
    if (c->cb.on_down != NULL)
        c->cb.on_down(reason, c->cb.data);
    schedule_retry(c);
}

/* ------------------------------------------------------------- public */

NsConn *
ns_conn_new(const char *uri, guint backoff_min_ms, guint backoff_max_ms,
            const NsConnCallbacks *callbacks)
{
    static GOnce loop_once = G_ONCE_INIT;
    NsConn *c = g_new0(NsConn, 1);

    if (!GPOINTER_TO_INT(g_once(&loop_once, register_event_impl, NULL)))
        g_warning("libvirt: cannot register its event loop: events will not arrive");
    c->refs = 1;
    c->uri = g_strdup(uri);
    c->backoff_min_ms = MAX(backoff_min_ms, 10);
    c->backoff_max_ms = MAX(backoff_max_ms, c->backoff_min_ms);
    c->backoff_ms = c->backoff_min_ms;
    c->cb = *callbacks;
    c->context = g_main_context_ref_thread_default();
    c->lifecycle_id = c->tunable_id = c->metadata_id = c->migration_id = -1;
    for (guint i = 0; i < G_N_ELEMENTS(c->layout_ids); i++)
        c->layout_ids[i] = -1;
    try_connect(c);
    return c;
}

virConnectPtr
ns_conn_get(NsConn *conn)
{
    return conn->conn;
}

gboolean
ns_conn_watches_layout(NsConn *conn)
{
    return conn->conn != NULL && conn->layout_watched;
}

guint
ns_conn_get_reconnects(NsConn *conn)
{
    return conn->reconnects;
}

void
ns_conn_free(NsConn *conn)
{
    if (conn == NULL)
        return;
    conn->closed = TRUE;
    if (conn->retry_source != 0)
        g_source_remove(conn->retry_source);
    release(conn);
    conn_unref(conn);
}
