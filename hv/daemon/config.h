/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's settings: /etc/numashift/numashiftd.conf and its drop-ins in
 * /etc/numashift/numashiftd.conf.d/, GKeyFiles.
 * Every key is optional; an unknown group or key, or a value out of range,
 * is an error naming it (a typo must not silently fall back to a default).
 * docs/numashiftd.conf.5 lists them.
 */
#pragma once

#include <glib.h>

#include "numashift/domain-config.h"
#include "numashift/policy.h"

G_BEGIN_DECLS

#define NS_DAEMON_CONFIG_PATH "/etc/numashift/numashiftd.conf"

/* One [domain ...] group's settings; what no file set keeps its "has" FALSE. */
typedef struct {
    char *mode;             /* policy mode; NULL: not set */
    gboolean has_move_shared;
    gboolean move_shared;   /* also move the pages other processes map (MPOL_MF_MOVE_ALL) */
    gboolean has_priority;
    gint priority;          /* among pending jobs of the same urgency, higher first */
} NsDomainSettings;

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
    char *metrics_dir;       /* node_exporter's textfile directory: numashift.prom is
                                written there (metrics.h); NULL: no metrics */
    /* [policy] */
    char *mode;              /* default policy mode for every domain ("follow") */
    NsPolicyOptions policy;
    /* [domain NAME] and [domain UUID]: per-domain settings, keyed by the
     * name or the UUID (lower case), each field set only where a file set it */
    GHashTable *domains; /* key -> NsDomainSettings */
    /* the files read, in order (the main file, then its drop-ins) */
    GPtrArray *sources;
} NsDaemonConfig;

#define NS_DAEMON_PRIORITY_MIN NS_DOMAIN_PRIORITY_MIN
#define NS_DAEMON_PRIORITY_MAX NS_DOMAIN_PRIORITY_MAX

/* The built-in defaults.  Context: any thread. */
NsDaemonConfig *ns_daemon_config_new_default(void);

/*
 * Read @path, then its drop-ins (@path + ".d/" *.conf, in byte order of
 * their names, as systemd orders its own), each over what came before: a
 * key a later file sets replaces the earlier value, keys it leaves alone
 * stay.  A missing @path is not an error when @missing_ok (its drop-ins
 * are still read); a missing drop-in directory never is.
 * NS_ERROR_INVALID_INPUT for syntax, unknown keys, bad values, naming the
 * file; NS_ERROR_IO for a file that cannot be read.
 * Context: any thread.
 */
NsDaemonConfig *ns_daemon_config_load(const char *path, gboolean missing_ok, GError **error);

/*
 * The [domain KEY] entry for @key (a name, or a UUID in any case),
 * created empty if there is none: for the loader and for tests.
 * Context: any thread, not concurrently with readers of @config.
 */
NsDomainSettings *ns_daemon_config_domain_entry(NsDaemonConfig *config, const char *key);

/*
 * The policy mode set for the domain named @name with UUID @uuid (either
 * may be NULL): its [domain UUID] entry's, else its [domain NAME] entry's,
 * else NULL.  A UUID outlives renames and a name can be reused by another
 * domain, so the UUID's entry wins wherever both set a key.
 * Context: any thread.
 */
const char *ns_daemon_config_domain_mode(const NsDaemonConfig *config, const char *name,
                                         const char *uuid);

/* ns_daemon_config_domain_mode(), else [policy] mode.  Context: any thread. */
const char *ns_daemon_config_mode_for(const NsDaemonConfig *config, const char *name,
                                      const char *uuid);

/* Whether the domain's jobs move pages other processes map too
 * (move-shared=true in its UUID's entry, else its name's; FALSE without).
 * Context: any thread. */
gboolean ns_daemon_config_moves_shared(const NsDaemonConfig *config, const char *name,
                                       const char *uuid);

/* The domain's priority (priority=N in its UUID's entry, else its name's;
 * 0 without one).  Context: any thread. */
gint ns_daemon_config_priority_for(const NsDaemonConfig *config, const char *name,
                                   const char *uuid);

/* The same with @fallback where no entry sets one (the domain's libvirt
 * metadata priority, numashiftd's manager passes): a host's configuration
 * beats what travels with the domain.  Context: any thread. */
gint ns_daemon_config_priority_or(const NsDaemonConfig *config, const char *name,
                                  const char *uuid, gint fallback);

/* NULL is accepted.  Context: any thread. */
void ns_daemon_config_free(NsDaemonConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsDaemonConfig, ns_daemon_config_free)

G_END_DECLS
