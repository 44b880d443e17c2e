/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd: moves running guests' memory to the NUMA nodes their vCPUs
 * run on, when their pinning changes, when they start, and when their
 * memory drifts.  Runs in the foreground (systemd, or a supervisor, keeps
 * it); logs through g_log, which goes to the journal when stderr is
 * connected to it and to stderr otherwise.  docs/numashiftd.8.
 */
#include <locale.h>
#include <stdio.h>
#include <sys/stat.h>

#include <glib-unix.h>
#include <systemd/sd-daemon.h>
#include <urcu/urcu-memb.h>
#include <glib.h>

#include <libvirt/virterror.h>

#include "daemon.h"
#include "log.h"

/* libvirt prints every error on stderr by default; ours are reported where they matter. */
static void
libvirt_error_to_debug(void *data, virErrorPtr err)
{
    (void)data;
    g_debug("libvirt: %s", err != NULL && err->message != NULL ? err->message : "error");
}

/* What a reload needs: where the file is and what the command line overrides. */
typedef struct {
    NsDaemon *daemon;
    const char *path;
    gboolean missing_ok;
    const char *socket_path;
    const char *uri;
} Reload;

/* Reads the file and applies the command line over it, as at start. */
static NsDaemonConfig *
load_config(const Reload *r, GError **error)
{
    g_autoptr(NsDaemonConfig) config = ns_daemon_config_load(r->path, r->missing_ok, error);

    if (config == NULL)
        return NULL;
    if (r->socket_path != NULL) {
        g_free(config->socket_path);
        config->socket_path = g_strdup(r->socket_path);
    }
    if (r->uri != NULL) {
        g_free(config->uri);
        config->uri = g_strdup(r->uri);
    }
    return g_steal_pointer(&config);
}

/* The files a configuration came from, for the log and --check-config. */
static char *
config_sources(const NsDaemonConfig *config)
{
    g_autoptr(GString) s = g_string_new(NULL);

    for (guint i = 0; i < config->sources->len; i++)
        g_string_append_printf(s, "%s%s", i > 0 ? ", " : "", (char *)config->sources->pdata[i]);
    return config->sources->len > 0 ? g_string_free(g_steal_pointer(&s), FALSE)
                                    : g_strdup("no file: the built-in defaults");
}

static gboolean
on_reload_signal(gpointer data)
{
    const Reload *r = data;
    g_autoptr(GError) error = NULL;
    NsDaemonConfig *config = load_config(r, &error);

    /* systemd 252 has no notify-reload; RELOADING=1 ... READY=1 still shows the reload. */
    sd_notify(0, "RELOADING=1");
    if (config == NULL)
        g_warning("reload: %s; keeping the running configuration", error->message);
    else {
        g_autofree char *sources = config_sources(config);

        g_message("reload: configuration from %s", sources);
        ns_daemon_reload(r->daemon, config);
    }
    sd_notify(0, "READY=1");
    return G_SOURCE_CONTINUE;
}

static gboolean
on_quit_signal(gpointer loop)
{
    g_message("stopping: cancelling running jobs (pages in flight finish)");
    sd_notify(0, "STOPPING=1");
    g_main_loop_quit(loop);
    return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    g_autofree char *socket_path = NULL;
    g_autofree char *uri = NULL;
    gboolean check = FALSE;
    gboolean version = FALSE;
    const GOptionEntry entries[] = {
        { "config", 'f', 0, G_OPTION_ARG_FILENAME, &config_path,
          "Configuration file (default " NS_DAEMON_CONFIG_PATH ")", "FILE" },
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
          "Control socket path (overrides the file)", "PATH" },
        { "connect", 'c', 0, G_OPTION_ARG_STRING, &uri, "libvirt URI (overrides the file)", "URI" },
        { "check-config", 0, 0, G_OPTION_ARG_NONE, &check, "Check the configuration and exit",
          NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- move guests' memory to their vCPUs' NUMA nodes");
    g_autoptr(GError) error = NULL;

    setlocale(LC_ALL, "");
    g_log_set_writer_func(ns_log_write_escaped, NULL, NULL);
    /* The main thread reads the live placement maps (status) and drops
     * them (the last reference frees a tree after a grace period). */
    urcu_memb_register_thread();
    virSetErrorFunc(NULL, libvirt_error_to_debug);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "numashiftd: %s (see numashiftd --help)\n", error->message);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "numashiftd: unexpected argument '%s' (see numashiftd --help)\n", argv[1]);
        return 2;
    }
    if (version) {
        printf("numashiftd %s\n", NS_VERSION);
        return 0;
    }
    Reload reload = {
        .path = config_path != NULL ? config_path : NS_DAEMON_CONFIG_PATH,
        .missing_ok = config_path == NULL,
        .socket_path = socket_path,
        .uri = uri,
    };
    g_autoptr(NsDaemonConfig) config = load_config(&reload, &error);

    if (config == NULL) {
        fprintf(stderr, "numashiftd: %s\n", error->message);
        return 1;
    }
    g_autofree char *sources = config_sources(config);

    if (check) {
        printf("configuration ok (%s)\n", sources);
        return 0;
    }
    g_message("configuration: %s", sources);
    /* The control socket is created 0600 from the start, not chmod-ed after a window. */
    umask(077);
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(NsDaemon) daemon = ns_daemon_new(g_steal_pointer(&config), &error);

    if (daemon == NULL) {
        fprintf(stderr, "numashiftd: %s\n", error->message);
        return 1;
    }
    reload.daemon = daemon;
    g_unix_signal_add(SIGHUP, on_reload_signal, &reload);
    g_unix_signal_add(SIGINT, on_quit_signal, loop);
    g_unix_signal_add(SIGTERM, on_quit_signal, loop);
    /* The control socket is bound and listening: clients (the hook) may come. */
    sd_notify(0, "READY=1");
    g_main_loop_run(loop);
    return 0;
}
