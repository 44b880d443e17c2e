/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's settings: /etc/numashift/numashiftd.conf, a GKeyFile.
 * Every key is optional; an unknown group or key, or a value out of range,
 * is an error naming it (a typo must not silently fall back to a default).
 * docs/numashiftd.8 lists them.
 */
#pragma once

#include <glib.h>

#include "numashift/policy.h"

G_BEGIN_DECLS

#define NS_DAEMON_CONFIG_PATH "/etc/numashift/numashiftd.conf"

typedef struct {
    /* [daemon] */
    char *uri;               /* libvirt URI; NULL: qemu:///system */
    char *socket_path;       /* control socket */
    char *socket_group;      /* group allowed to change things besides root; NULL: root only */
    guint max_jobs;          /* jobs running at once, host-wide */
    double rate_limit_mib_s; /* host-wide MiB/s, shared by the running jobs; 0: none */
    guint workers;           /* engine workers per job; 0: the engine's default */
    char *worker_cpus;       /* their CPUs (libvirt list syntax); NULL: chosen away from
                                each domain's vCPUs (worker-cpus.h) */
    guint debounce_ms;       /* pinning events closer than this make one job */
    guint start_delay_ms;    /* after a domain starts, before its first look */
    guint drift_interval_s;  /* periodic placement check; 0: off */
    guint rescan_interval_s; /* a pinning job decides on a sample and the live map, without
                                a full scan first, while the map's last complete sweep
                                began within this; 0: always scan first */
    guint rescan_rate_mib_s; /* the background rescan: each quiet drift check scans this
                                many MiB of guest memory per second of drift interval
                                into the live map; 0: off */
    guint hot_sample_ms;     /* rebalance jobs move the 2 MiB blocks the guest writes in a
                                soft-dirty sample this long first (hot-sample.h); 0: off */
    guint max_clients;       /* control socket connections at once */
    guint max_clients_per_uid; /* of them, per non-root uid (root: the hook, the operator) */
    guint client_idle_timeout_s; /* a client with no request in flight and no subscription
                                    is closed after this long without a line; 0: never */
    /* [policy] */
    char *mode;              /* default policy mode for every domain ("follow") */
    NsPolicyOptions policy;
    /* [domain NAME] mode=..., per domain, by name */
    GHashTable *domain_modes; /* name -> mode string */
    /* [domain NAME] move-shared=true: also move the pages other processes map
     * (MPOL_MF_MOVE_ALL), by name */
    GHashTable *domains_moving_shared; /* set of names */
    /* [domain NAME] priority=N (-1000..1000, default 0): among pending jobs of
     * the same urgency, a higher priority starts first; by name */
    GHashTable *domain_priorities; /* name -> GINT_TO_POINTER(priority) */
} NsDaemonConfig;

#define NS_DAEMON_PRIORITY_MIN (-1000)
#define NS_DAEMON_PRIORITY_MAX 1000

/* The built-in defaults.  Context: any thread. */
NsDaemonConfig *ns_daemon_config_new_default(void);

/*
 * Read @path over the defaults.  A missing file is not an error when
 * @missing_ok; NS_ERROR_INVALID_INPUT for syntax, unknown keys, bad values.
 * Context: any thread.
 */
NsDaemonConfig *ns_daemon_config_load(const char *path, gboolean missing_ok, GError **error);

/* The policy mode for domain @name (its [domain NAME] entry, else [policy] mode).  Context: any thread. */
const char *ns_daemon_config_mode_for(const NsDaemonConfig *config, const char *name);

/* Whether domain @name's jobs move pages other processes map too ([domain NAME]
 * move-shared=true).  Context: any thread. */
gboolean ns_daemon_config_moves_shared(const NsDaemonConfig *config, const char *name);

/* Domain @name's priority ([domain NAME] priority=N; 0 without one, or for
 * a NULL @name).  Context: any thread. */
gint ns_daemon_config_priority_for(const NsDaemonConfig *config, const char *name);

/* NULL is accepted.  Context: any thread. */
void ns_daemon_config_free(NsDaemonConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsDaemonConfig, ns_daemon_config_free)

G_END_DECLS
