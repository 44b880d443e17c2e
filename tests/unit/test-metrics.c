/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's metrics (hv/daemon/metrics.c): what ended jobs count, the
 * text the file holds for a known placement, label escaping, the local
 * share, the atomic write under a restrictive umask, and that Prometheus'
 * own checker (promtool, Debian's prometheus package) accepts the text.
 */
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "metrics.h"
#include "ns-test-require.h"
#include "numashift/error.h"

#define MIB (1024 * 1024)

static JsonObject *
parse_object(const char *json)
{
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static JsonArray *
parse_array(const char *json)
{
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    return json_array_ref(json_node_get_array(json_parser_get_root(p)));
}

/* A stats block with @mib_on_node[n] MiB at node n (4 KiB pages). */
static NsPlacementStats *
stats_new(gint cell, const guint64 *mib_on_node, guint n_nodes)
{
    NsPlacementStats *s = g_new0(NsPlacementStats, 1);

    s->cell = cell;
    s->nodes = g_array_new(FALSE, TRUE, sizeof(NsPlacementCount));
    for (guint n = 0; n < n_nodes; n++) {
        NsPlacementCount c = { mib_on_node[n] * 256, mib_on_node[n] * MIB };

        g_array_append_val(s->nodes, c);
    }
    return s;
}

static void
stats_free(gpointer p)
{
    NsPlacementStats *s = p;

    g_array_unref(s->nodes);
    g_free(s);
}

/* Two cells: cell 0 has 96 MiB on node 0 and 32 on node 1, cell 1 all
 * 128 MiB on node 1; 8 MiB of the guest pinned. */
static NsPlacementSummary *
two_cells(void)
{
    NsPlacementSummary *s = g_new0(NsPlacementSummary, 1);
    const guint64 c0[] = { 96, 32 }, c1[] = { 0, 128 }, all[] = { 96, 160 };
    NsPlacementStats *a = stats_new(-1, all, 2);

    s->all = *a;
    g_free(a);
    s->all.unmovable[NS_UNMOVABLE_PINNED] = (NsPlacementCount){ 2048, 8 * MIB };
    s->cells = g_ptr_array_new_with_free_func(stats_free);
    g_ptr_array_add(s->cells, stats_new(0, c0, 2));
    g_ptr_array_add(s->cells, stats_new(1, c1, 2));
    return s;
}

static void
summary_free(NsPlacementSummary *s)
{
    g_array_unref(s->all.nodes);
    g_ptr_array_unref(s->cells);
    g_free(s);
}

static void
assert_has_line(const char *text, const char *line)
{
    g_autofree char *with_nl = g_strdup_printf("\n%s\n", line);
    g_autofree char *padded = g_strdup_printf("\n%s", text);

    if (strstr(padded, with_nl) == NULL)
        g_error("no line '%s' in:\n%s", line, text);
}

static void
test_count_jobs(void)
{
    g_autoptr(NsMetrics) m = ns_metrics_new();
    g_autoptr(JsonObject) moved = parse_object(
        "{\"uuid\":\"u1\",\"domain\":\"db1\",\"trigger\":\"pinning\",\"state\":\"done\","
        "\"elapsed_us\":1500000,\"report\":{\"moved_bytes\":1048576,"
        "\"kvm\":{\"remote_tlb_flush\":7}}}");
    g_autoptr(JsonObject) quiet = parse_object(
        "{\"uuid\":\"u1\",\"domain\":\"db1\",\"trigger\":\"drift\",\"state\":\"nothing-to-do\","
        "\"elapsed_us\":20000}");
    g_autoptr(JsonObject) request = parse_object(
        "{\"uuid\":\"u2\",\"domain\":\"web\",\"trigger\":\"request from uid 0\","
        "\"state\":\"cancelled\",\"elapsed_us\":700000000,\"report\":{\"moved_bytes\":4096}}");
    /* A pending job dropped before it ran: counted, no duration. */
    g_autoptr(JsonObject) superseded = parse_object(
        "{\"serial\":9,\"kind\":\"rebalance\",\"trigger\":\"some new trigger\","
        "\"state\":\"superseded\"}");
    const NsMetricsDomain domains[] = { { "db1", "u1", NULL, NULL }, { "web", "u2", NULL, NULL } };

    ns_metrics_count_job(m, moved);
    ns_metrics_count_job(m, quiet);
    ns_metrics_count_job(m, quiet);
    ns_metrics_count_job(m, request);
    ns_metrics_count_job(m, superseded);
    g_autofree char *text = ns_metrics_render(m, domains, 2, NULL);

    assert_has_line(text, "numashift_jobs_total{trigger=\"pinning\",state=\"done\"} 1");
    assert_has_line(text, "numashift_jobs_total{trigger=\"drift\",state=\"nothing-to-do\"} 2");
    assert_has_line(text, "numashift_jobs_total{trigger=\"request\",state=\"cancelled\"} 1");
    assert_has_line(text, "numashift_jobs_total{trigger=\"other\",state=\"superseded\"} 1");
    assert_has_line(text, "numashift_moved_bytes_total 1052672");
    assert_has_line(text, "numashift_job_duration_seconds_bucket{le=\"0.05\"} 2");
    assert_has_line(text, "numashift_job_duration_seconds_bucket{le=\"2.5\"} 3");
    assert_has_line(text, "numashift_job_duration_seconds_bucket{le=\"600\"} 3");
    assert_has_line(text, "numashift_job_duration_seconds_bucket{le=\"+Inf\"} 4");
    assert_has_line(text, "numashift_job_duration_seconds_count 4");
    assert_has_line(text, "numashift_job_duration_seconds_sum 701.54");
    assert_has_line(text, "numashift_domain_moved_bytes_total{domain=\"db1\",uuid=\"u1\"} 1048576");
    assert_has_line(text, "numashift_domain_moved_bytes_total{domain=\"web\",uuid=\"u2\"} 4096");
    assert_has_line(text, "numashift_kvm_remote_tlb_flush_total{domain=\"db1\",uuid=\"u1\"} 7");
    /* No KVM counters seen for web (TCG): no series rather than a false 0. */
    g_assert_null(strstr(text, "numashift_kvm_remote_tlb_flush_total{domain=\"web\""));

    /* web stopped: its counters go, the host's stay. */
    ns_metrics_prune(m, domains, 1);
    g_autofree char *after = ns_metrics_render(m, domains, 1, NULL);

    g_assert_null(strstr(after, "uuid=\"u2\""));
    assert_has_line(after, "numashift_moved_bytes_total 1052672");
}

static void
test_placement(void)
{
    g_autoptr(NsMetrics) m = ns_metrics_new();
    NsPlacementSummary *s = two_cells();
    g_autoptr(JsonArray) decisions =
        parse_array("[{\"cell\":0,\"home\":0},{\"cell\":1,\"home\":1}]");
    const NsMetricsDomain domains[] = {
        { "db1", "u1", s, decisions },
        { "fresh", "u3", NULL, NULL }, /* not scanned yet: no placement series */
    };
    g_autofree char *text = ns_metrics_render(m, domains, 2, NULL);

    assert_has_line(text,
                    "numashift_domain_memory_bytes{domain=\"db1\",uuid=\"u1\",cell=\"0\",node=\"0\"} 100663296");
    assert_has_line(text,
                    "numashift_domain_memory_bytes{domain=\"db1\",uuid=\"u1\",cell=\"0\",node=\"1\"} 33554432");
    assert_has_line(text,
                    "numashift_domain_memory_bytes{domain=\"db1\",uuid=\"u1\",cell=\"1\",node=\"1\"} 134217728");
    /* No pages there: no series. */
    g_assert_null(strstr(text, "cell=\"1\",node=\"0\""));
    /* (96 + 128) of 256 MiB on their cell's home. */
    assert_has_line(text, "numashift_domain_local_ratio{domain=\"db1\",uuid=\"u1\"} 0.875");
    assert_has_line(text,
                    "numashift_domain_unmovable_bytes{domain=\"db1\",uuid=\"u1\",reason=\"pinned\"} 8388608");
    assert_has_line(text,
                    "numashift_domain_unmovable_bytes{domain=\"db1\",uuid=\"u1\",reason=\"shared\"} 0");
    g_assert_null(strstr(text, "uuid=\"u3\""));
    summary_free(s);
}

static void
test_local_share(void)
{
    NsPlacementSummary *s = two_cells();
    double share = -1;
    g_autoptr(JsonArray) one_home = parse_array("[{\"cell\":0,\"home\":1},{\"cell\":1,\"home\":-1}]");
    g_autoptr(JsonArray) no_home = parse_array("[{\"cell\":0,\"home\":-1},{\"cell\":1,\"home\":-1}]");
    g_autoptr(JsonArray) whole = parse_array("[{\"cell\":-1,\"home\":1}]");
    g_autoptr(JsonArray) unknown_cell = parse_array("[{\"cell\":5,\"home\":0}]");

    /* Only cells with a home count: cell 0's 32 of 128 MiB. */
    g_assert_true(ns_metrics_local_share(s, one_home, &share));
    g_assert_cmpfloat_with_epsilon(share, 0.25, 1e-9);
    /* The vCPUs favour no node anywhere (mode off, interleave): no share. */
    g_assert_false(ns_metrics_local_share(s, no_home, &share));
    g_assert_false(ns_metrics_local_share(s, unknown_cell, &share));
    g_assert_false(ns_metrics_local_share(s, NULL, &share));
    g_assert_false(ns_metrics_local_share(NULL, whole, &share));
    /* No vNUMA: decision cell -1, the whole guest (160 of 256 MiB on node 1). */
    g_assert_true(ns_metrics_local_share(s, whole, &share));
    g_assert_cmpfloat_with_epsilon(share, 0.625, 1e-9);
    summary_free(s);
}

static void
test_escaping(void)
{
    g_autoptr(NsMetrics) m = ns_metrics_new();
    g_autoptr(JsonObject) job = parse_object(
        "{\"uuid\":\"u1\",\"domain\":\"a\\\"b\\\\c\\nd\",\"trigger\":\"drift\",\"state\":\"done\","
        "\"elapsed_us\":1,\"report\":{\"moved_bytes\":1}}");
    const NsMetricsDomain domains[] = { { "a\"b\\c\nd", "u1", NULL, NULL } };

    ns_metrics_count_job(m, job);
    g_autofree char *text = ns_metrics_render(m, domains, 1, NULL);

    assert_has_line(text, "numashift_domain_moved_bytes_total{domain=\"a\\\"b\\\\c\\nd\",uuid=\"u1\"} 1");
}

static void
test_nodes(void)
{
    g_autoptr(NsMetrics) m = ns_metrics_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(NsTopology) topo = ns_topology_load(NULL, &error);

    g_assert_no_error(error);
    g_autofree char *text = ns_metrics_render(m, NULL, 0, topo);
    const NsNode *node0 = ns_topology_get_node(topo, 0);

    g_assert_nonnull(node0);
    g_autofree char *prefix = g_strdup_printf("\nnumashift_node_free_bytes{node=\"%u\"} ", node0->id);

    g_assert_nonnull(strstr(text, prefix));
}

/* The umask of numashiftd's unit (077) must not make the file unreadable
 * to node_exporter (another user); the rename replaces the last file
 * whole, and no temporary file is left. */
static void
test_write(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("ns-metrics-XXXXXX", &error);
    g_autofree char *path = g_build_filename(dir, NS_METRICS_FILE, NULL);
    g_autofree char *got = NULL;
    mode_t old = umask(077);
    GStatBuf st;

    g_assert_no_error(error);
    g_assert_true(ns_metrics_write(dir, "a 1\n", &error));
    g_assert_no_error(error);
    g_assert_true(ns_metrics_write(dir, "a 2\n", &error));
    umask(old);
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0644);
    g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
    g_assert_cmpstr(got, ==, "a 2\n");

    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    guint entries = 0;

    while (g_dir_read_name(d) != NULL)
        entries++;
    g_assert_cmpuint(entries, ==, 1);

    /* A directory that is not there: one error naming it. */
    g_autofree char *missing = g_build_filename(dir, "nope", NULL);

    g_assert_false(ns_metrics_write(missing, "a 1\n", &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
    g_assert_nonnull(strstr(error->message, missing));
    g_unlink(path);
    g_rmdir(dir);
}

/* Prometheus' own linter on a full file (counters, histogram, gauges, nodes). */
static void
test_promtool(void)
{
    g_autofree char *promtool = g_find_program_in_path("promtool");

    if (!ns_test_require_installed(promtool != NULL, "promtool (Debian package prometheus)"))
        return;
    g_autoptr(NsMetrics) m = ns_metrics_new();
    g_autoptr(JsonObject) job = parse_object(
        "{\"uuid\":\"u1\",\"domain\":\"db1\",\"trigger\":\"pinning\",\"state\":\"done\","
        "\"elapsed_us\":1500000,\"report\":{\"moved_bytes\":1048576,"
        "\"kvm\":{\"remote_tlb_flush\":7}}}");
    NsPlacementSummary *s = two_cells();
    g_autoptr(JsonArray) decisions = parse_array("[{\"cell\":0,\"home\":0},{\"cell\":1,\"home\":1}]");
    const NsMetricsDomain domains[] = { { "db1", "u1", s, decisions } };
    g_autoptr(GError) error = NULL;
    g_autoptr(NsTopology) topo = ns_topology_load(NULL, &error);

    g_assert_no_error(error);
    ns_metrics_count_job(m, job);
    g_autofree char *text = ns_metrics_render(m, domains, 1, topo);
    g_autoptr(GSubprocess) p = g_subprocess_new(
        G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
        &error, promtool, "check", "metrics", NULL);
    g_autofree char *out = NULL;

    g_assert_no_error(error);
    g_assert_true(g_subprocess_communicate_utf8(p, text, NULL, &out, NULL, &error));
    g_assert_no_error(error);
    if (!g_subprocess_get_if_exited(p) || g_subprocess_get_exit_status(p) != 0 || *out != '\0')
        g_error("promtool check metrics: %s\non:\n%s", out, text);
    summary_free(s);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/metrics/count-jobs", test_count_jobs);
    g_test_add_func("/metrics/placement", test_placement);
    g_test_add_func("/metrics/local-share", test_local_share);
    g_test_add_func("/metrics/escaping", test_escaping);
    g_test_add_func("/metrics/nodes", test_nodes);
    g_test_add_func("/metrics/write", test_write);
    g_test_add_func("/metrics/promtool", test_promtool);
    return g_test_run();
}
