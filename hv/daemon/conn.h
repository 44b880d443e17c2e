/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's one libvirt connection: opened in a worker thread (the first
 * call after libvirtd starts can take seconds), watched with keepalives and
 * a close callback, reopened with exponential backoff, and its lifecycle,
 * tunable, layout (device, reboot), metadata and migration event callbacks registered again
 * after every reconnect.  Every
 * callback to the owner runs in the GLib main context that created it.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

typedef struct _NsConn NsConn;

typedef struct {
    /* The connection is up (again); @conn stays valid until @on_down. */
    void (*on_up)(virConnectPtr conn, gpointer data);
    /* The connection went away (libvirtd stopped, crashed, restarted). */
    void (*on_down)(const char *reason, gpointer data);
    /* A lifecycle event (virDomainEventType, its detail). */
    void (*on_lifecycle)(const char *uuid, const char *name, int event, int detail, gpointer data);
    /* A tunable event naming at least one cputune.vcpupin* / cputune.emulatorpin key;
     * @keys: the matching parameter names (NULL-terminated). */
    void (*on_pinning)(const char *uuid, const char *name, const char *const *keys, gpointer data);
    /* The guest's memory layout may have changed (a device plugged or
     * unplugged, a guest reset); @what says which, for the log. */
    void (*on_layout)(const char *uuid, const char *name, const char *what, gpointer data);
    /* numashift's element of the domain's metadata changed
     * (VIR_DOMAIN_EVENT_ID_METADATA_CHANGE in NS_DOMAIN_METADATA_URI). */
    void (*on_metadata)(const char *uuid, const char *name, gpointer data);
    /* An outgoing live migration made a pass over the guest's memory
     * (VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION; the first comes as it starts). */
    void (*on_migration)(const char *uuid, const char *name, int iteration, gpointer data);
    gpointer data;
} NsConnCallbacks;

/*
 * Start connecting to @uri (NULL: libvirt's default).  Backoff between
 * attempts: @backoff_min_ms doubling to @backoff_max_ms.
 * Context: main thread (the GLib main context the callbacks run in).
 */
NsConn *ns_conn_new(const char *uri, guint backoff_min_ms, guint backoff_max_ms,
                    const NsConnCallbacks *callbacks);

/* The open connection, or NULL while down.  Context: main thread. */
virConnectPtr ns_conn_get(NsConn *conn);

/* Whether the connection is up with the layout events registered (a cached
 * memory map may be trusted only then).  Context: main thread. */
gboolean ns_conn_watches_layout(NsConn *conn);

/* Reconnects so far (0 before the first loss).  Context: main thread. */
guint ns_conn_get_reconnects(NsConn *conn);

/* Close and free; no callback runs after it returns.  NULL is accepted.  Context: main thread. */
void ns_conn_free(NsConn *conn);

/* Whether a tunable parameter name is about vCPU or emulator pinning.  Context: any; pure. */
gboolean ns_conn_is_pinning_key(const char *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsConn, ns_conn_free)

G_END_DECLS
