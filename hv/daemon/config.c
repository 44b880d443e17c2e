/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* numashiftd.conf: defaults, parsing, strict validation. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "numashift/control.h"
#include "numashift/engine.h"
#include "numashift/error.h"

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
    c->domain_modes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    c->domains_moving_shared = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    c->domain_priorities = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
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
    g_free(config->worker_cpus);
    g_free(config->mode);
    g_hash_table_unref(config->domain_modes);
    g_hash_table_unref(config->domains_moving_shared);
    g_hash_table_unref(config->domain_priorities);
    g_free(config);
}

gboolean
ns_daemon_config_moves_shared(const NsDaemonConfig *config, const char *name)
{
    return name != NULL && g_hash_table_contains(config->domains_moving_shared, name);
}

gint
ns_daemon_config_priority_for(const NsDaemonConfig *config, const char *name)
{
    return name != NULL ? GPOINTER_TO_INT(g_hash_table_lookup(config->domain_priorities, name)) : 0;
}

const char *
ns_daemon_config_mode_for(const NsDaemonConfig *config, const char *name)
{
    const char *mode = name != NULL ? g_hash_table_lookup(config->domain_modes, name) : NULL;

    return mode != NULL ? mode : config->mode;
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

    if (*name == '\0') {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s]: no domain name", group);
        return FALSE;
    }
    for (char **k = keys; k != NULL && *k != NULL; k++) {
        g_autofree char *s = g_strstrip(g_key_file_get_value(kf, group, *k, NULL));

        if (strcmp(*k, "move-shared") == 0) {
            if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "[%s] %s: '%s' is not true or false", group, *k, s);
                return FALSE;
            }
            if (strcmp(s, "true") == 0)
                g_hash_table_add(c->domains_moving_shared, g_strdup(name));
            else
                g_hash_table_remove(c->domains_moving_shared, name);
            continue;
        }
        if (strcmp(*k, "priority") == 0) {
            gint64 v;
            g_autoptr(GError) e = NULL;

            if (!g_ascii_string_to_signed(s, 10, NS_DAEMON_PRIORITY_MIN, NS_DAEMON_PRIORITY_MAX, &v,
                                          &e)) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] %s: %s", group, *k,
                            e->message);
                return FALSE;
            }
            g_hash_table_replace(c->domain_priorities, g_strdup(name), GINT_TO_POINTER((gint)v));
            continue;
        }
        if (strcmp(*k, "mode") != 0) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "[%s] unknown key '%s'", group, *k);
            return FALSE;
        }
        if (!check_mode(group, *k, s, error))
            return FALSE;
        g_hash_table_replace(c->domain_modes, g_strdup(name), g_steal_pointer(&s));
    }
    return TRUE;
}

NsDaemonConfig *
ns_daemon_config_load(const char *path, gboolean missing_ok, GError **error)
{
    g_autoptr(NsDaemonConfig) c = ns_daemon_config_new_default();
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) e = NULL;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
        if (missing_ok && g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return g_steal_pointer(&c);
        g_set_error(error, NS_ERROR,
                    e->domain == G_FILE_ERROR ? NS_ERROR_IO : NS_ERROR_INVALID_INPUT, "%s: %s",
                    path, e->message);
        return NULL;
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
                        "unknown group [%s] (daemon, policy, domain NAME)", *g);
            ok = FALSE;
        }
        if (!ok) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s: %s", path, e->message);
            return NULL;
        }
    }
    return g_steal_pointer(&c);
}
