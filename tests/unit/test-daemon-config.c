/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's configuration file and the tunable-event key filter.
 *
 * Regression (the /daemon/pinning-key tests): libvirt's VIR_DOMAIN_TUNABLE_CPU_VCPUPIN
 * is the printf format "cputune.vcpupin%zu"; used as a prefix it matched
 * nothing, so numashiftd ignored every `virsh vcpupin`.  Instant; fails if
 * the filter goes back to the macro.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "conn.h"
#include "numashift/error.h"
#include "ns-test-file.h"

static NsDaemonConfig *
load_text(const char *text, GError **error)
{
    g_autofree char *path = ns_test_write_temp("ns-daemon-conf", text);
    NsDaemonConfig *c = ns_daemon_config_load(path, FALSE, error);

    g_unlink(path);
    return c;
}

static void
test_defaults(void)
{
    g_autoptr(NsDaemonConfig) c = ns_daemon_config_new_default();

    g_assert_null(c->uri);
    g_assert_cmpstr(c->socket_path, ==, "/run/numashift/control.sock");
    g_assert_cmpuint(c->max_jobs, ==, 1);
    g_assert_cmpuint(c->debounce_ms, ==, 500);
    g_assert_cmpuint(c->drift_interval_s, ==, 30);
    g_assert_cmpuint(c->rescan_rate_mib_s, ==, 64);
    g_assert_cmpuint(c->hot_sample_ms, ==, 0);
    g_assert_cmpuint(c->max_clients, ==, 32);
    g_assert_cmpuint(c->max_clients_per_uid, ==, 8);
    g_assert_cmpuint(c->client_idle_timeout_s, ==, 60);
    g_assert_cmpstr(c->mode, ==, "follow");
    g_assert_cmpuint(c->policy.reserve_mib, ==, NS_POLICY_RESERVE_MIB_DEFAULT);
    g_assert_cmpstr(ns_daemon_config_mode_for(c, "any", NULL), ==, "follow");
}

static void
test_missing(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsDaemonConfig) ok = ns_daemon_config_load("/nonexistent/numashiftd.conf", TRUE, &error);

    g_assert_no_error(error);
    g_assert_nonnull(ok);
    g_autoptr(NsDaemonConfig) bad = ns_daemon_config_load("/nonexistent/numashiftd.conf", FALSE, &error);

    g_assert_null(bad);
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
}

static void
test_full(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsDaemonConfig) c = load_text("# comment\n"
                                            "[daemon]\n"
                                            "uri=qemu+ssh://h/system\n"
                                            "socket=/run/x/c.sock\n"
                                            "socket-group=root\n"
                                            "max-jobs=3\n"
                                            "rate-limit-mib-s=250.5\n"
                                            "workers=4\n"
                                            "worker-cpus= 2-3,^3,8 \n"
                                            "debounce-ms=800\n"
                                            "start-delay-ms=0\n"
                                            "drift-interval-s=0\n"
                                            "rescan-interval-s=60\n"
                                            "rescan-rate-mib-s=16\n"
                                            "hot-sample-ms=500\n"
                                            "max-clients=5\n"
                                            "max-clients-per-uid=2\n"
                                            "client-idle-timeout-s=0\n"
                                            "metrics-dir= /var/lib/prometheus/node-exporter \n"
                                            "[policy]\n"
                                            "mode=off\n"
                                            "reserve-mib=1024\n"
                                            "min-remote-percent=25\n"
                                            "min-remote-mib=64\n"
                                            "[domain db1]\n"
                                            "mode=follow\n"
                                            "[domain dpdk1]\n"
                                            "move-shared=true\n"
                                            "[domain dpdk2]\n"
                                            "move-shared=false\n"
                                            "[domain db2]\n"
                                            "priority=-1000\n"
                                            "[domain db3]\n"
                                            "priority= 1000 \n",
                                            &error);

    g_assert_no_error(error);
    g_assert_cmpstr(c->uri, ==, "qemu+ssh://h/system");
    g_assert_cmpstr(c->socket_path, ==, "/run/x/c.sock");
    g_assert_cmpstr(c->socket_group, ==, "root");
    g_assert_cmpuint(c->max_jobs, ==, 3);
    g_assert_cmpfloat(c->rate_limit_mib_s, ==, 250.5);
    g_assert_cmpuint(c->workers, ==, 4);
    g_assert_cmpstr(c->worker_cpus, ==, "2-3,^3,8");
    g_assert_cmpuint(c->debounce_ms, ==, 800);
    g_assert_cmpuint(c->start_delay_ms, ==, 0);
    g_assert_cmpuint(c->drift_interval_s, ==, 0);
    g_assert_cmpuint(c->rescan_interval_s, ==, 60);
    g_assert_cmpuint(c->rescan_rate_mib_s, ==, 16);
    g_assert_cmpuint(c->hot_sample_ms, ==, 500);
    g_assert_cmpuint(c->max_clients, ==, 5);
    g_assert_cmpuint(c->max_clients_per_uid, ==, 2);
    g_assert_cmpuint(c->client_idle_timeout_s, ==, 0);
    g_assert_cmpstr(c->metrics_dir, ==, "/var/lib/prometheus/node-exporter");
    g_assert_cmpstr(c->mode, ==, "off");
    g_assert_cmpuint(c->policy.reserve_mib, ==, 1024);
    g_assert_cmpuint(c->policy.min_remote_percent, ==, 25);
    g_assert_cmpuint(c->policy.min_remote_mib, ==, 64);
    g_assert_cmpstr(ns_daemon_config_mode_for(c, "db1", NULL), ==, "follow");
    g_assert_cmpstr(ns_daemon_config_mode_for(c, "web", NULL), ==, "off");
    g_assert_true(ns_daemon_config_moves_shared(c, "dpdk1", NULL));
    g_assert_false(ns_daemon_config_moves_shared(c, "dpdk2", NULL));
    g_assert_false(ns_daemon_config_moves_shared(c, "db1", NULL));
    g_assert_false(ns_daemon_config_moves_shared(c, NULL, NULL));
    g_assert_cmpstr(ns_daemon_config_mode_for(c, "dpdk1", NULL), ==, "off");
    g_assert_cmpint(ns_daemon_config_priority_for(c, "db2", NULL), ==, -1000);
    g_assert_cmpint(ns_daemon_config_priority_for(c, "db3", NULL), ==, 1000);
    g_assert_cmpint(ns_daemon_config_priority_for(c, "db1", NULL), ==, 0);
    g_assert_cmpint(ns_daemon_config_priority_for(c, NULL, NULL), ==, 0);
}

static void
test_errors(void)
{
    static const struct {
        const char *text;
        const char *says;
    } cases[] = {
        { "[daemon]\nmax-jobz=2\n", "unknown key 'max-jobz'" },
        { "[deamon]\nmax-jobs=2\n", "unknown group [deamon]" },
        { "[daemon]\nmax-jobs=0\n", "max-jobs" },
        { "[daemon]\nmax-jobs=many\n", "max-jobs" },
        { "[daemon]\nworkers=65\n", "workers" },
        { "[daemon]\nworker-cpus=all\n", "worker-cpus: 'all' is not a CPU list" },
        { "[daemon]\nmetrics-dir=var/lib/x\n", "metrics-dir: 'var/lib/x' is not an absolute path" },
        { "[daemon]\nworker-cpus=\n", "worker-cpus" },
        { "[daemon]\ndebounce-ms=-1\n", "debounce-ms" },
        { "[daemon]\nrate-limit-mib-s=fast\n", "rate-limit-mib-s" },
        { "[daemon]\nrate-limit-mib-s=-5\n", "rate-limit-mib-s" },
        { "[daemon]\nrate-limit-mib-s=nan\n", "rate-limit-mib-s" },
        { "[daemon]\nsocket=relative.sock\n", "socket" },
        { "[daemon]\nuri=\n", "uri" },
        { "[daemon]\nmax-clients-per-uid=0\n", "max-clients-per-uid" },
        { "[daemon]\nclient-idle-timeout-s=1d\n", "client-idle-timeout-s" },
        /* GKeyFile has no end-of-line comments: the man page once had them. */
        { "[daemon]\nmax-jobs=1 # one at a time\n", "max-jobs" },
        { "[policy]\nmode=sometimes\n", "mode" },
        { "[policy]\nmin-remote-percent=101\n", "min-remote-percent" },
        { "[policy]\nreserve=5\n", "unknown key 'reserve'" },
        { "[domain ]\nmode=off\n", "no domain name or UUID" },
        { "[domain web]\nrate=5\n", "unknown key 'rate'" },
        { "[domain web]\nmode=never\n", "mode" },
        { "[domain web]\nmove-shared=yes\n", "[domain web] move-shared: 'yes' is not true or false" },
        { "[domain web]\npriority=high\n", "[domain web] priority" },
        { "[domain web]\npriority=1001\n", "[domain web] priority" },
        { "[domain web]\npriority=1.5\n", "[domain web] priority" },
        { "not a key file\n", "numashiftd" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(NsDaemonConfig) c = load_text(cases[i].text, &error);

        g_assert_null(c);
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        if (strstr(error->message, cases[i].says) == NULL && strstr(cases[i].says, "numashiftd") == NULL)
            g_error("case %zu: '%s' does not mention '%s'", i, error->message, cases[i].says);
    }
}

static void
test_pinning_key(void)
{
    g_assert_true(ns_conn_is_pinning_key("cputune.vcpupin0"));
    g_assert_true(ns_conn_is_pinning_key("cputune.vcpupin17"));
    g_assert_true(ns_conn_is_pinning_key("cputune.emulatorpin"));
    g_assert_false(ns_conn_is_pinning_key("cputune.vcpupin"));
    g_assert_false(ns_conn_is_pinning_key("cputune.vcpupinx"));
    g_assert_false(ns_conn_is_pinning_key("cputune.vcpupin%zu"));
    g_assert_false(ns_conn_is_pinning_key("cputune.iothreadpin1"));
    g_assert_false(ns_conn_is_pinning_key("cputune.shares"));
    g_assert_false(ns_conn_is_pinning_key("cputune.emulatorpin2"));
    g_assert_false(ns_conn_is_pinning_key(NULL));
}

/*
 * Issue #15: a domain name or a client's request reached the log as it
 * came, so "db1\r\n<3>forged" wrote a line of its own.  Control
 * characters and bytes that are not UTF-8 are written \xNN; UTF-8 names
 * stay readable.
 */
static void
test_log_escape(void)
{
    static const struct {
        const char *in;
        gssize len;
        const char *out;
    } cases[] = {
        { "domain db1 started", -1, "domain db1 started" },
        { "evil\r\nFORGED", -1, "evil\\x0d\\x0aFORGED" },
        { "\x1b[31mred\x1b[0m", -1, "\\x1b[31mred\\x1b[0m" },
        { "tab\there\x7f", -1, "tab\\x09here\\x7f" },
        { "caf\xc3\xa9 \xe2\x82\xac", -1, "caf\xc3\xa9 \xe2\x82\xac" }, /* UTF-8 as it is */
        { "bad\xff\xc3(", -1, "bad\\xff\\xc3(" },                 /* not UTF-8 */
        { "nul\0after", 9, "nul\\x00after" },                      /* a NUL inside @len */
        { "", -1, "" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *got = ns_log_escape(cases[i].in, cases[i].len);

        g_assert_cmpstr(got, ==, cases[i].out);
    }
}

/* The fields of the last line logged through the writer main() installs. */
static GHashTable *last_fields;

static GLogWriterOutput
capture_fields(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    g_hash_table_remove_all(last_fields);
    for (gsize i = 0; i < n_fields; i++)
        g_hash_table_insert(last_fields, g_strdup(fields[i].key),
                            fields[i].length < 0 ? g_strdup(fields[i].value)
                                                 : g_strndup(fields[i].value, (gsize)fields[i].length));
    return ns_log_write_escaped(level, fields, n_fields, data);
}

/*
 * Issue #16: journalctl NUMASHIFT_DOMAIN=db1 reads a domain's history, and
 * MESSAGE_ID a kind of event; fields a caller has not (no job, no name)
 * are left out rather than written empty.
 */
static void
test_log_domain_fields(void)
{
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NS_LOG_ID_JOB_DONE, "db1", "4df6-u", 12, "domain %s: %d", "db1", 7);
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "MESSAGE"), ==, "domain db1: 7");
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "MESSAGE_ID"), ==, NS_LOG_ID_JOB_DONE);
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "NUMASHIFT_DOMAIN"), ==, "db1");
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "NUMASHIFT_UUID"), ==, "4df6-u");
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "NUMASHIFT_JOB"), ==, "12");
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "PRIORITY"), ==, "5");

    /* (A warning would abort a GLib test.) */
    ns_log_domain(G_LOG_LEVEL_INFO, NULL, NULL, "4df6-u", 0, "x");
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "PRIORITY"), ==, "6");
    g_assert_false(g_hash_table_contains(last_fields, "MESSAGE_ID"));
    g_assert_false(g_hash_table_contains(last_fields, "NUMASHIFT_DOMAIN"));
    g_assert_false(g_hash_table_contains(last_fields, "NUMASHIFT_JOB"));
    g_assert_cmpstr(g_hash_table_lookup(last_fields, "NUMASHIFT_UUID"), ==, "4df6-u");

    /* The four IDs are distinct 128-bit IDs as journald wants them. */
    const char *ids[] = { NS_LOG_ID_JOB_STARTED, NS_LOG_ID_JOB_DONE, NS_LOG_ID_JOB_FAILED,
                          NS_LOG_ID_UNMOVABLE };

    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_assert_cmpuint(strlen(ids[i]), ==, 32);
        g_assert_cmpuint(strspn(ids[i], "0123456789abcdef"), ==, 32);
        for (guint j = 0; j < i; j++)
            g_assert_cmpstr(ids[i], !=, ids[j]);
    }
}

/* A directory for one test's files, removed with them at the end. */
typedef struct {
    char *dir;
} TempDir;

static void
temp_dir_remove(TempDir *t)
{
    g_autoptr(GDir) d = NULL;
    const char *name;
    g_autofree char *sub = g_build_filename(t->dir, "numashiftd.conf.d", NULL);

    d = g_dir_open(sub, 0, NULL);
    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(sub, name, NULL);

        g_unlink(p);
    }
    g_rmdir(sub);
    g_autofree char *main_file = g_build_filename(t->dir, "numashiftd.conf", NULL);

    g_unlink(main_file);
    g_rmdir(t->dir);
    g_free(t->dir);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TempDir, temp_dir_remove)

/* Writes @text to @dir/@name (@name may hold "numashiftd.conf.d/"). */
static void
put(const TempDir *t, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(t->dir, name, NULL);
    g_autofree char *parent = g_path_get_dirname(path);
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
}

static NsDaemonConfig *
load_dir(const TempDir *t, gboolean missing_ok, GError **error)
{
    g_autofree char *path = g_build_filename(t->dir, "numashiftd.conf", NULL);

    return ns_daemon_config_load(path, missing_ok, error);
}

/*
 * Issue #15: drop-ins, numashiftd.conf.d/NAME.conf, read after the main
 * file in byte order of their names; a later file's key wins, keys it
 * leaves alone stay (per domain too, key by key); hidden files and other
 * suffixes are not read; the files read are listed in order.
 */
static void
test_drop_ins(void)
{
    g_auto(TempDir) t = { g_dir_make_tmp("ns-conf-XXXXXX", NULL) };
    g_autoptr(GError) error = NULL;

    put(&t, "numashiftd.conf",
        "[daemon]\nmax-jobs=2\ndebounce-ms=700\n[domain web]\nmode=off\npriority=3\n");
    put(&t, "numashiftd.conf.d/20-late.conf", "[daemon]\nmax-jobs=4\n");
    put(&t, "numashiftd.conf.d/10-early.conf",
        "[daemon]\nmax-jobs=3\nworkers=2\n[domain web]\nmode=follow\n");
    put(&t, "numashiftd.conf.d/9-after-20.conf", "[domain web]\nmove-shared=true\n");
    put(&t, "numashiftd.conf.d/.#10-early.conf", "not a key file\n");
    put(&t, "numashiftd.conf.d/30.conf.dpkg-old", "[daemon]\nmax-jobs=9\n");
    put(&t, "numashiftd.conf.d/README", "not a key file\n");

    g_autoptr(NsDaemonConfig) c = load_dir(&t, FALSE, &error);

    g_assert_no_error(error);
    g_assert_cmpuint(c->max_jobs, ==, 4);
    g_assert_cmpuint(c->workers, ==, 2);
    g_assert_cmpuint(c->debounce_ms, ==, 700);
    g_assert_cmpstr(ns_daemon_config_mode_for(c, "web", NULL), ==, "follow");
    g_assert_cmpint(ns_daemon_config_priority_for(c, "web", NULL), ==, 3);
    g_assert_true(ns_daemon_config_moves_shared(c, "web", NULL));
    g_assert_cmpuint(c->sources->len, ==, 4);
    g_assert_true(g_str_has_suffix(c->sources->pdata[0], "/numashiftd.conf"));
    g_assert_true(g_str_has_suffix(c->sources->pdata[1], "/10-early.conf"));
    g_assert_true(g_str_has_suffix(c->sources->pdata[2], "/20-late.conf"));
    g_assert_true(g_str_has_suffix(c->sources->pdata[3], "/9-after-20.conf"));

    /* A drop-in turns a setting back off. */
    put(&t, "numashiftd.conf.d/99-off.conf", "[domain web]\nmove-shared=false\n");
    g_autoptr(NsDaemonConfig) off = load_dir(&t, FALSE, &error);

    g_assert_no_error(error);
    g_assert_false(ns_daemon_config_moves_shared(off, "web", NULL));

    /* A bad drop-in fails the whole load and names itself. */
    put(&t, "numashiftd.conf.d/50-typo.conf", "[daemon]\nmax-jobz=1\n");
    g_autoptr(NsDaemonConfig) bad = load_dir(&t, FALSE, &error);

    g_assert_null(bad);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "50-typo.conf: [daemon] unknown key 'max-jobz'"));
}

/*
 * Without the main file (the default path, missing_ok) the drop-ins are
 * still read; with --config (not missing_ok) a missing file stays an error.
 */
static void
test_drop_ins_without_main(void)
{
    g_auto(TempDir) t = { g_dir_make_tmp("ns-conf-XXXXXX", NULL) };
    g_autoptr(GError) error = NULL;

    put(&t, "numashiftd.conf.d/local.conf", "[daemon]\nmax-jobs=5\n");
    g_autoptr(NsDaemonConfig) c = load_dir(&t, TRUE, &error);

    g_assert_no_error(error);
    g_assert_cmpuint(c->max_jobs, ==, 5);
    g_assert_cmpuint(c->sources->len, ==, 1);
    g_autoptr(NsDaemonConfig) strict = load_dir(&t, FALSE, &error);

    g_assert_null(strict);
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
}

/*
 * Issue #15: [domain UUID] names a domain for good (names are reused and
 * renamed); its keys win over the same keys in [domain NAME], key by
 * key; the UUID matches in any case.  A UUID-shaped name is not looked up
 * as a name.
 */
static void
test_domain_uuid(void)
{
    const char *uuid = "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b";
    g_autoptr(GError) error = NULL;
    g_autoptr(NsDaemonConfig) c = load_text("[domain web]\n"
                                            "mode=off\n"
                                            "priority=-3\n"
                                            "move-shared=true\n"
                                            "[domain 6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B]\n"
                                            "priority=7\n",
                                            &error);

    g_assert_no_error(error);
    /* By UUID, named web: priority from the UUID, the rest from the name. */
    g_assert_cmpint(ns_daemon_config_priority_for(c, "web", uuid), ==, 7);
    g_assert_cmpstr(ns_daemon_config_mode_for(c, "web", uuid), ==, "off");
    g_assert_true(ns_daemon_config_moves_shared(c, "web", uuid));
    /* Renamed: the UUID's entry still applies, the old name's no longer. */
    g_assert_cmpint(ns_daemon_config_priority_for(c, "web-old", uuid), ==, 7);
    g_assert_null(ns_daemon_config_domain_mode(c, "web-old", uuid));
    g_assert_cmpstr(ns_daemon_config_mode_for(c, "web-old", uuid), ==, "follow");
    /* Another domain named web: the name's entry, not the UUID's. */
    g_assert_cmpint(ns_daemon_config_priority_for(c, "web", "00000000-0000-4000-8000-000000000000"),
                    ==, -3);
    /* The UUID given in upper case finds the entry too. */
    g_assert_cmpint(ns_daemon_config_priority_for(c, NULL, "6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B"),
                    ==, 7);
    /* A domain whose name is that UUID text but whose UUID differs. */
    g_assert_cmpint(ns_daemon_config_priority_for(c, uuid, "00000000-0000-4000-8000-000000000000"),
                    ==, 0);
    g_assert_cmpint(ns_daemon_config_priority_for(c, NULL, NULL), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    last_fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_log_set_writer_func(capture_fields, NULL, NULL);
    g_test_add_func("/daemon/log/escape", test_log_escape);
    g_test_add_func("/daemon/log/domain-fields", test_log_domain_fields);
    g_test_add_func("/daemon/config/defaults", test_defaults);
    g_test_add_func("/daemon/config/missing", test_missing);
    g_test_add_func("/daemon/config/full", test_full);
    g_test_add_func("/daemon/config/errors", test_errors);
    g_test_add_func("/daemon/config/drop-ins", test_drop_ins);
    g_test_add_func("/daemon/config/drop-ins-without-main", test_drop_ins_without_main);
    g_test_add_func("/daemon/config/domain-uuid", test_domain_uuid);
    g_test_add_func("/daemon/pinning-key/regress-format-macro", test_pinning_key);
    return g_test_run();
}
