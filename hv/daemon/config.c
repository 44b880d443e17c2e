/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* numashiftd.conf: defaults, parsing, strict validation. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "numashift/control.h"
#include "numashift/engine.h"
#include "numashift/error.h"

static void
domain_settings_free(gpointer data)
{
    NsDomainSettings *dc = data;

    g_free(dc->mode);
    g_free(dc);
}

NsDaemonConfig *
ns_daemon_config_new_default(void)
{
    NsDaemonConfig *c = g_new0(NsDaemonConfig, 1);

    c->socket_path = g_strdup(NS_CONTROL_SOCKET_PATH);
    c->max_jobs = 1;
    c->debounce_ms = 500;
    c->start_delay_ms = 1000;
    c->drift_interval_s = 30;
    c->rescan_interval_s = 300;
    c->rescan_rate_mib_s = 64;
    c->max_clients = 32;
    c->max_clients_per_uid = 8;
    c->client_idle_timeout_s = 60;
    c->mode = g_strdup("follow");
    ns_policy_options_init(&c->policy);
    c->domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, domain_settings_free);
    c->sources = g_ptr_array_new_with_free_func(g_free);
    return c;
}

void
ns_daemon_config_free(NsDaemonConfig *config)
{
    if (config == NULL)
        return;
    g_free(config->uri);
    g_free(config->socket_path);
    g_free(config->socket_group);
    g_free(config->metrics_dir);
    g_free(config->worker_cpus);
    g_free(config->mode);
    g_hash_table_unref(config->domains);
    g_ptr_array_unref(config->sources);
    g_free(config);
}

/* The table's key for @key: a UUID in lower case (libvirt prints them so;
 * an operator may not), a name as it is. */
static char *
domain_key(const char *key)
{
    return g_uuid_string_is_valid(key) ? g_ascii_strdown(key, -1) : g_strdup(key);
}

NsDomainSettings *
ns_daemon_config_domain_entry(NsDaemonConfig *config, const char *key)
{
    g_autofree char *k = domain_key(key);
    NsDomainSettings *dc = g_hash_table_lookup(config->domains, k);

    if (dc == NULL) {
        dc = g_new0(NsDomainSettings, 1);
        g_hash_table_insert(config->domains, g_steal_pointer(&k), dc);
    }
    return dc;
}

/* The domain's entries: by UUID first (it wins), then by name; NULL where none. */
static void
domain_entries(const NsDaemonConfig *config, const char *name, const char *uuid,
               const NsDomainSettings *out[2])
{
    g_autofree char *k = uuid != NULL && g_uuid_string_is_valid(uuid) ? domain_key(uuid) : NULL;

    out[0] = k != NULL ? g_hash_table_lookup(config->domains, k) : NULL;
    /* A name shaped like a UUID would be looked up as one: libvirt allows it,
     * numashiftd.conf(5) says that such a group means the UUID. */
    out[1] = name != NULL && !g_uuid_string_is_valid(name) ? g_hash_table_lookup(config->domains, name)
                                                           : NULL;
}

const char *
ns_daemon_config_domain_mode(const NsDaemonConfig *config, const char *name, const char *uuid)
{
    const NsDomainSettings *e[2];

    domain_entries(config, name, uuid, e);
    for (guint i = 0; i < 2; i++)
        if (e[i] != NULL && e[i]->mode != NULL)
            return e[i]->mode;
    return NULL;
}

const char *
ns_daemon_config_mode_for(const NsDaemonConfig *config, const char *name, const char *uuid)
{
    const char *mode = ns_daemon_config_domain_mode(config, name, uuid);

    return mode != NULL ? mode : config->mode;
}

gboolean
ns_daemon_config_moves_shared(const NsDaemonConfig *config, const char *name, const char *uuid)
{
    const NsDomainSettings *e[2];

    domain_entries(config, name, uuid, e);
    for (guint i = 0; i < 2; i++)
        if (e[i] != NULL && e[i]->has_move_shared)
            return e[i]->move_shared;
    return FALSE;
}

gint
ns_daemon_config_priority_or(const NsDaemonConfig *config, const char *name, const char *uuid,
                             gint fallback)
{
    const NsDomainSettings *e[2];

    domain_entries(config, name, uuid, e);
    for (guint i = 0; i < 2; i++)
        if (e[i] != NULL && e[i]->has_priority)
            return e[i]->priority;
    return fallback;
}

gint
ns_daemon_config_priority_for(const NsDaemonConfig *config, const char *name, const char *uuid)
{
    return ns_daemon_config_priority_or(config, name, uuid, 0);
}

/* One key's value as an unsigned number in [min, max]. */
static gboolean
get_uint(GKeyFile *kf, const char *group, const char *key, guint64 min, guint64 max,
         guint64 *ret, GError **error)
{
    g_autofree char *text = g_key_file_get_value(kf, group, key, NULL);
    g_autoptr(GError) e = NULL;

    if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, min, max, ret, &e)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] %s: %s", group, key, e->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
get_rate(GKeyFile *kf, const char *group, const char *key, double *ret, GError **error)
{
    g_autofree char *text = g_key_file_get_value(kf, group, key, NULL);
    char *end = NULL;
    double v;

    errno = 0;
    v = g_ascii_strtod(g_strstrip(text), &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= 0) || v > NS_CONTROL_RATE_MAX) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "[%s] %s: '%s' is not a rate in MiB/s (0 for none)", group, key, text);
        return FALSE;
    }
    *ret = v;
    return TRUE;
}

static gboolean
check_mode(const char *group, const char *key, const char *mode, GError **error)
{
    NsPolicyMode m;
    g_autoptr(GError) e = NULL;

    if (!ns_policy_mode_from_string(mode, &m, &e)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] %s: %s", group, key, e->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
load_daemon(GKeyFile *kf, NsDaemonConfig *c, GError **error)
{
    const char *g = "daemon";
    g_auto(GStrv) keys = g_key_file_get_keys(kf, g, NULL, NULL);

    for (char **k = keys; k != NULL && *k != NULL; k++) {
        guint64 v = 0;

        if (strcmp(*k, "uri") == 0 || strcmp(*k, "socket") == 0 || strcmp(*k, "socket-group") == 0) {
            g_autofree char *s = g_key_file_get_string(kf, g, *k, NULL);
            char **into = **k == 'u' ? &c->uri : strcmp(*k, "socket") == 0 ? &c->socket_path
                                                                           : &c->socket_group;

            if (s == NULL || *g_strstrip(s) == '\0' ||
                (strcmp(*k, "socket") == 0 && !g_path_is_absolute(s))) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] %s: '%s' is not valid", g,
                            *k, s != NULL ? s : "");
                return FALSE;
            }
            g_free(*into);
            *into = g_steal_pointer(&s);
        } else if (strcmp(*k, "metrics-dir") == 0) {
            g_autofree char *s = g_strstrip(g_key_file_get_value(kf, g, *k, NULL));

            /* Empty: no metrics (a drop-in can turn them off again). */
            if (*s != '\0' && !g_path_is_absolute(s)) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "[%s] %s: '%s' is not an absolute path", g, *k, s);
                return FALSE;
            }
            g_free(c->metrics_dir);
            c->metrics_dir = *s != '\0' ? g_steal_pointer(&s) : NULL;
        } else if (strcmp(*k, "rate-limit-mib-s") == 0) {
            if (!get_rate(kf, g, *k, &c->rate_limit_mib_s, error))
                return FALSE;
        } else if (strcmp(*k, "max-jobs") == 0) {
            if (!get_uint(kf, g, *k, 1, 64, &v, error))
                return FALSE;
            c->max_jobs = (guint)v;
        } else if (strcmp(*k, "workers") == 0) {
            if (!get_uint(kf, g, *k, 0, NS_ENGINE_WORKERS_MAX, &v, error))
                return FALSE;
            c->workers = (guint)v;
        } else if (strcmp(*k, "worker-cpus") == 0) {
            g_autofree char *s = g_strstrip(g_key_file_get_value(kf, g, *k, NULL));
            g_autoptr(GArray) cpus = ns_parse_cpulist(s, NULL);

            if (cpus == NULL || cpus->len == 0) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "[%s] %s: '%s' is not a CPU list (\"2-3,8\")", g, *k, s);
                return FALSE;
            }
            g_free(c->worker_cpus);
            c->worker_cpus = g_steal_pointer(&s);
        } else if (strcmp(*k, "debounce-ms") == 0) {
            if (!get_uint(kf, g, *k, 0, 60000, &v, error))
                return FALSE;
            c->debounce_ms = (guint)v;
        } else if (strcmp(*k, "start-delay-ms") == 0) {
            if (!get_uint(kf, g, *k, 0, 600000, &v, error))
                return FALSE;
            c->start_delay_ms = (guint)v;
        } else if (strcmp(*k, "drift-interval-s") == 0) {
            if (!get_uint(kf, g, *k, 0, 86400, &v, error))
                return FALSE;
            c->drift_interval_s = (guint)v;
        } else if (strcmp(*k, "rescan-interval-s") == 0) {
            if (!get_uint(kf, g, *k, 0, 86400, &v, error))
                return FALSE;
            c->rescan_interval_s = (guint)v;
        } else if (strcmp(*k, "rescan-rate-mib-s") == 0) {
            if (!get_uint(kf, g, *k, 0, 1048576, &v, error))
                return FALSE;
            c->rescan_rate_mib_s = (guint)v;
        } else if (strcmp(*k, "hot-sample-ms") == 0) {
            if (!get_uint(kf, g, *k, 0, 60000, &v, error))
                return FALSE;
            c->hot_sample_ms = (guint)v;
        } else if (strcmp(*k, "max-clients") == 0) {
            if (!get_uint(kf, g, *k, 1, 4096, &v, error))
                return FALSE;
            c->max_clients = (guint)v;
        } else if (strcmp(*k, "max-clients-per-uid") == 0) {
            if (!get_uint(kf, g, *k, 1, 4096, &v, error))
                return FALSE;
            c->max_clients_per_uid = (guint)v;
        } else if (strcmp(*k, "client-idle-timeout-s") == 0) {
            if (!get_uint(kf, g, *k, 0, 86400, &v, error))
                return FALSE;
            c->client_idle_timeout_s = (guint)v;
        } else {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] unknown key '%s'", g, *k);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
load_policy(GKeyFile *kf, NsDaemonConfig *c, GError **error)
{
    const char *g = "policy";
    g_auto(GStrv) keys = g_key_file_get_keys(kf, g, NULL, NULL);

    for (char **k = keys; k != NULL && *k != NULL; k++) {
        guint64 v = 0;

        if (strcmp(*k, "mode") == 0) {
            g_autofree char *s = g_strstrip(g_key_file_get_value(kf, g, *k, NULL));

            if (!check_mode(g, *k, s, error))
                return FALSE;
            g_free(c->mode);
            c->mode = g_steal_pointer(&s);
        } else if (strcmp(*k, "reserve-mib") == 0) {
            if (!get_uint(kf, g, *k, 0, G_MAXUINT32, &v, error))
                return FALSE;
            c->policy.reserve_mib = v;
        } else if (strcmp(*k, "min-remote-percent") == 0) {
            if (!get_uint(kf, g, *k, 0, 100, &v, error))
                return FALSE;
            c->policy.min_remote_percent = (guint)v;
        } else if (strcmp(*k, "min-remote-mib") == 0) {
            if (!get_uint(kf, g, *k, 0, G_MAXUINT32, &v, error))
                return FALSE;
            c->policy.min_remote_mib = v;
        } else {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] unknown key '%s'", g, *k);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
load_domain(GKeyFile *kf, const char *group, NsDaemonConfig *c, GError **error)
{
    const char *name = group + strlen("domain ");
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
    NsDomainSettings *dc;

    if (*name == '\0') {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s]: no domain name or UUID", group);
        return FALSE;
    }
    dc = ns_daemon_config_domain_entry(c, name);
    for (char **k = keys; k != NULL && *k != NULL; k++) {
        g_autofree char *s = g_strstrip(g_key_file_get_value(kf, group, *k, NULL));

        if (strcmp(*k, "move-shared") == 0) {
            if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "[%s] %s: '%s' is not true or false", group, *k, s);
                return FALSE;
            }
            dc->has_move_shared = TRUE;
            dc->move_shared = strcmp(s, "true") == 0;
        } else if (strcmp(*k, "priority") == 0) {
            gint64 v;
            g_autoptr(GError) e = NULL;

            if (!g_ascii_string_to_signed(s, 10, NS_DAEMON_PRIORITY_MIN, NS_DAEMON_PRIORITY_MAX, &v,
                                          &e)) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] %s: %s", group, *k,
                            e->message);
                return FALSE;
            }
            dc->has_priority = TRUE;
            dc->priority = (gint)v;
        } else if (strcmp(*k, "mode") == 0) {
            if (!check_mode(group, *k, s, error))
                return FALSE;
            g_free(dc->mode);
            dc->mode = g_steal_pointer(&s);
        } else {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] unknown key '%s'", group, *k);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * Applies one file over @c.  FALSE with @missing set (and no error) when
 * the file does not exist and that is allowed.
 */
static gboolean
load_file(NsDaemonConfig *c, const char *path, gboolean missing_ok, gboolean *missing,
          GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) e = NULL;

    *missing = FALSE;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
        if (missing_ok && g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            *missing = TRUE;
            return FALSE;
        }
        g_set_error(error, NS_ERROR,
                    e->domain == G_FILE_ERROR ? NS_ERROR_IO : NS_ERROR_INVALID_INPUT, "%s: %s",
                    path, e->message);
        return FALSE;
    }
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

    for (char **g = groups; *g != NULL; g++) {
        gboolean ok;

        if (strcmp(*g, "daemon") == 0)
            ok = load_daemon(kf, c, &e);
        else if (strcmp(*g, "policy") == 0)
            ok = load_policy(kf, c, &e);
        else if (g_str_has_prefix(*g, "domain "))
            ok = load_domain(kf, *g, c, &e);
        else {
            g_set_error(&e, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "unknown group [%s] (daemon, policy, domain NAME, domain UUID)", *g);
            ok = FALSE;
        }
        if (!ok) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s: %s", path, e->message);
            return FALSE;
        }
    }
    g_ptr_array_add(c->sources, g_strdup(path));
    return TRUE;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @dir's *.conf files in byte order of their names; empty when @dir does not exist. */
static GPtrArray *
drop_in_files(const char *dir, GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) e = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &e);
    const char *name;

    if (d == NULL) {
        if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return g_steal_pointer(&names);
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "%s: %s", dir, e->message);
        return NULL;
    }
    while ((name = g_dir_read_name(d)) != NULL)
        /* Hidden files are skipped: editors leave .#NAME.conf lock links. */
        if (g_str_has_suffix(name, ".conf") && name[0] != '.')
            g_ptr_array_add(names, g_build_filename(dir, name, NULL));
    g_ptr_array_sort(names, compare_names);
    return g_steal_pointer(&names);
}

NsDaemonConfig *
ns_daemon_config_load(const char *path, gboolean missing_ok, GError **error)
{
    g_autoptr(NsDaemonConfig) c = ns_daemon_config_new_default();
    g_autofree char *dir = g_strconcat(path, ".d", NULL);
    g_autoptr(GPtrArray) drop_ins = NULL;
    gboolean missing;

    if (!load_file(c, path, missing_ok, &missing, error) && !missing)
        return NULL;
    drop_ins = drop_in_files(dir, error);
    if (drop_ins == NULL)
        return NULL;
    for (guint i = 0; i < drop_ins->len; i++) {
        /* Listed a moment ago: one removed since then is an error, not a default. */
        if (!load_file(c, drop_ins->pdata[i], FALSE, &missing, error))
            return NULL;
    }
    return g_steal_pointer(&c);
}
