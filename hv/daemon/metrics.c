/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's metrics (see metrics.h).  Names and units follow
 * Prometheus' conventions (base units: bytes, seconds; counters end in
 * _total; a ratio is 0..1); docs/numashiftd.8 lists them.
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "numashift/error.h"
#include "numashift/json-check.h"

/* Job durations: a quiet drift check takes milliseconds, a move of a large
 * guest minutes. */
static const double duration_buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
#define N_BUCKETS G_N_ELEMENTS(duration_buckets)

/* Per-domain counters, dropped when the domain stops. */
typedef struct {
    char *name;
    guint64 moved_bytes;
    gboolean has_kvm;
    guint64 remote_tlb_flush;
} DomainCounters;

struct _NsMetrics {
    GHashTable *jobs;          /* "trigger\nstate" -> guint64 *: numashift_jobs_total */
    guint64 moved_bytes;       /* numashift_moved_bytes_total */
    guint64 buckets[N_BUCKETS]; /* cumulative counts, le each bound */
    guint64 duration_count;
    double duration_sum;
    GHashTable *domains;       /* uuid -> DomainCounters */
};

static void
domain_counters_free(gpointer p)
{
    DomainCounters *c = p;

    g_free(c->name);
    g_free(c);
}

NsMetrics *
ns_metrics_new(void)
{
    NsMetrics *m = g_new0(NsMetrics, 1);

    m->jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, domain_counters_free);
    return m;
}

void
ns_metrics_free(NsMetrics *metrics)
{
    if (metrics == NULL)
        return;
    g_hash_table_unref(metrics->jobs);
    g_hash_table_unref(metrics->domains);
    g_free(metrics);
}

/* A trigger as a label: a bounded set, whatever the job's free text says
 * ("request from uid 0" is a request). */
static const char *
trigger_class(const char *trigger)
{
    static const char *const known[] = { "pinning", "start", "drift", "layout",
                                         "reload",  "policy", "hook" };

    if (trigger == NULL)
        return "other";
    if (g_str_has_prefix(trigger, "request"))
        return "request";
    for (guint i = 0; i < G_N_ELEMENTS(known); i++) {
        if (strcmp(trigger, known[i]) == 0)
            return known[i];
    }
    return "other";
}

void
ns_metrics_count_job(NsMetrics *m, JsonObject *job)
{
    const char *state = ns_json_member_string(job, "state", NULL);
    const char *uuid = ns_json_member_string(job, "uuid", NULL);
    g_autofree char *key = g_strdup_printf("%s\n%s", trigger_class(ns_json_member_string(job, "trigger", NULL)),
                                           state != NULL ? state : "unknown");
    guint64 *count = g_hash_table_lookup(m->jobs, key);

    if (count == NULL) {
        count = g_new0(guint64, 1);
        g_hash_table_insert(m->jobs, g_steal_pointer(&key), count);
    }
    (*count)++;

    gint64 elapsed_us = ns_json_member_int(job, "elapsed_us", -1);

    if (elapsed_us >= 0) {
        double s = (double)elapsed_us / G_USEC_PER_SEC;

        for (guint i = 0; i < N_BUCKETS; i++)
            m->buckets[i] += s <= duration_buckets[i];
        m->duration_count++;
        m->duration_sum += s;
    }

    JsonObject *report = ns_json_member_object(job, "report");
    gint64 moved = ns_json_member_int(report, "moved_bytes", -1);
    gint64 flushes = ns_json_member_int(ns_json_member_object(report, "kvm"), "remote_tlb_flush", -1);

    if (moved > 0)
        m->moved_bytes += (guint64)moved;
    if (uuid == NULL)
        return;
    DomainCounters *c = g_hash_table_lookup(m->domains, uuid);

    if (c == NULL) {
        c = g_new0(DomainCounters, 1);
        g_hash_table_insert(m->domains, g_strdup(uuid), c);
    }
    if (ns_json_member_string(job, "domain", NULL) != NULL) {
        g_free(c->name);
        c->name = g_strdup(ns_json_member_string(job, "domain", NULL));
    }
    if (moved > 0)
        c->moved_bytes += (guint64)moved;
    if (flushes >= 0) {
        c->has_kvm = TRUE;
        c->remote_tlb_flush += (guint64)flushes;
    }
}

void
ns_metrics_prune(NsMetrics *m, const NsMetricsDomain *domains, guint n)
{
    GHashTableIter it;
    gpointer uuid;

    g_hash_table_iter_init(&it, m->domains);
    while (g_hash_table_iter_next(&it, &uuid, NULL)) {
        gboolean tracked = FALSE;

        for (guint i = 0; i < n && !tracked; i++)
            tracked = strcmp(domains[i].uuid, uuid) == 0;
        if (!tracked)
            g_hash_table_iter_remove(&it);
    }
}

/* ------------------------------------------------------------ the text */

/* A label value as the format wants it: \\, \" and \n escaped. */
static void
append_label_value(GString *out, const char *value)
{
    for (const char *p = value != NULL ? value : ""; *p != '\0'; p++) {
        if (*p == '\\')
            g_string_append(out, "\\\\");
        else if (*p == '"')
            g_string_append(out, "\\\"");
        else if (*p == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *p);
    }
}

static void
header(GString *out, const char *name, const char *type, const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{domain="..",uuid=".." + @more (already formatted, may be "")} */
static void
domain_series(GString *out, const char *name, const char *domain, const char *uuid,
              const char *more)
{
    g_string_append_printf(out, "%s{domain=\"", name);
    append_label_value(out, domain);
    g_string_append(out, "\",uuid=\"");
    append_label_value(out, uuid);
    g_string_append_printf(out, "\"%s} ", more);
}

/* 12 significant digits: microseconds of a sum of job times up to ~30
 * years, without binary noise ("701.53999999999996"). */
static void
append_double(GString *out, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append(out, g_ascii_formatd(buf, sizeof buf, "%.12g", v));
}

static gint
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of @table in byte order: the file's lines stay in one order. */
static GPtrArray *
sorted_keys(GHashTable *table)
{
    GPtrArray *keys = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;

    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, &k, NULL))
        g_ptr_array_add(keys, k);
    g_ptr_array_sort(keys, compare_strings);
    return keys;
}

static void
render_counters(GString *out, const NsMetrics *m)
{
    g_autoptr(GPtrArray) jobs = sorted_keys(m->jobs);

    header(out, "numashift_jobs_total", "counter",
           "Jobs ended since numashiftd started, by trigger and final state.");
    for (guint i = 0; i < jobs->len; i++) {
        const char *key = jobs->pdata[i];
        const char *nl = strchr(key, '\n');

        g_string_append_printf(out, "numashift_jobs_total{trigger=\"%.*s\",state=\"", (int)(nl - key),
                               key);
        append_label_value(out, nl + 1);
        g_string_append_printf(out, "\"} %" G_GUINT64_FORMAT "\n",
                               *(guint64 *)g_hash_table_lookup(m->jobs, key));
    }
    header(out, "numashift_moved_bytes_total", "counter",
           "Guest memory moved between host NUMA nodes since numashiftd started.");
    g_string_append_printf(out, "numashift_moved_bytes_total %" G_GUINT64_FORMAT "\n", m->moved_bytes);

    header(out, "numashift_job_duration_seconds", "histogram",
           "Wall time of the jobs that ran, from start to end.");
    for (guint i = 0; i < N_BUCKETS; i++) {
        g_string_append(out, "numashift_job_duration_seconds_bucket{le=\"");
        append_double(out, duration_buckets[i]);
        g_string_append_printf(out, "\"} %" G_GUINT64_FORMAT "\n", m->buckets[i]);
    }
    g_string_append_printf(out,
                           "numashift_job_duration_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT
                           "\nnumashift_job_duration_seconds_sum ",
                           m->duration_count);
    append_double(out, m->duration_sum);
    g_string_append_printf(out, "\nnumashift_job_duration_seconds_count %" G_GUINT64_FORMAT "\n",
                           m->duration_count);

    g_autoptr(GPtrArray) uuids = sorted_keys(m->domains);

    header(out, "numashift_domain_moved_bytes_total", "counter",
           "Memory of a running domain moved between host NUMA nodes.");
    for (guint i = 0; i < uuids->len; i++) {
        const DomainCounters *c = g_hash_table_lookup(m->domains, uuids->pdata[i]);

        domain_series(out, "numashift_domain_moved_bytes_total", c->name, uuids->pdata[i], "");
        g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", c->moved_bytes);
    }
    header(out, "numashift_kvm_remote_tlb_flush_total", "counter",
           "KVM's remote TLB flushes of a domain counted during numashift's moves "
           "(KVM guests only: QMP query-stats).");
    for (guint i = 0; i < uuids->len; i++) {
        const DomainCounters *c = g_hash_table_lookup(m->domains, uuids->pdata[i]);

        if (!c->has_kvm)
            continue;
        domain_series(out, "numashift_kvm_remote_tlb_flush_total", c->name, uuids->pdata[i], "");
        g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", c->remote_tlb_flush);
    }
}

gboolean
ns_metrics_local_share(const NsPlacementSummary *placement, JsonArray *decisions,
                       double *ret_share)
{
    guint64 local = 0, placed = 0;

    if (placement == NULL || decisions == NULL)
        return FALSE;
    for (guint i = 0; i < json_array_get_length(decisions); i++) {
        JsonNode *e = json_array_get_element(decisions, i);
        JsonObject *d = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        gint64 home = ns_json_member_int(d, "home", -1);
        JsonNode *cell = d != NULL ? json_object_get_member(d, "cell") : NULL;
        const NsPlacementStats *stats =
            cell != NULL && JSON_NODE_HOLDS_VALUE(cell) ? ns_placement_summary_cell(placement, (gint)json_node_get_int(cell))
                                                        : NULL;

        if (home < 0 || stats == NULL)
            continue;
        local += ns_placement_stats_node(stats, (guint)home).bytes;
        placed += ns_placement_stats_placed_bytes(stats);
    }
    if (placed == 0)
        return FALSE;
    *ret_share = (double)local / (double)placed;
    return TRUE;
}

/* numashift_domain_memory_bytes of one cell (a guest without vNUMA cells: "0"). */
static void
render_cell(GString *out, const NsMetricsDomain *d, const NsPlacementStats *stats)
{
    for (guint n = 0; stats->nodes != NULL && n < stats->nodes->len; n++) {
        const NsPlacementCount *c = &g_array_index(stats->nodes, NsPlacementCount, n);
        g_autofree char *more =
            g_strdup_printf(",cell=\"%d\",node=\"%u\"", MAX(stats->cell, 0), n);

        if (c->pages == 0)
            continue;
        domain_series(out, "numashift_domain_memory_bytes", d->name, d->uuid, more);
        g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", c->bytes);
    }
}

static void
render_domains(GString *out, const NsMetricsDomain *domains, guint n)
{
    header(out, "numashift_domain_memory_bytes", "gauge",
           "Guest memory of a running domain on each host NUMA node, by vNUMA cell, "
           "as numashiftd's live placement map has it.");
    for (guint i = 0; i < n; i++) {
        const NsPlacementSummary *s = domains[i].placement;

        if (s == NULL)
            continue;
        if (s->cells->len == 0)
            render_cell(out, &domains[i], &s->all);
        for (guint c = 0; c < s->cells->len; c++)
            render_cell(out, &domains[i], s->cells->pdata[c]);
    }
    header(out, "numashift_domain_local_ratio", "gauge",
           "Share (0..1) of a domain's placed memory on the node where its cell's vCPUs run "
           "(cells whose vCPUs favour no node left out).");
    for (guint i = 0; i < n; i++) {
        double share;

        if (!ns_metrics_local_share(domains[i].placement, domains[i].decisions, &share))
            continue;
        domain_series(out, "numashift_domain_local_ratio", domains[i].name, domains[i].uuid, "");
        append_double(out, share);
        g_string_append_c(out, '\n');
    }
    header(out, "numashift_domain_unmovable_bytes", "gauge",
           "Guest memory numashift found it cannot move, by reason "
           "(pinned: a device holds it; shared: another process maps it; fault).");
    for (guint i = 0; i < n; i++) {
        static const char *const reasons[NS_UNMOVABLE_CAUSES] = { "pinned", "shared", "fault" };
        const NsPlacementSummary *s = domains[i].placement;

        for (guint r = 0; s != NULL && r < NS_UNMOVABLE_CAUSES; r++) {
            g_autofree char *more = g_strdup_printf(",reason=\"%s\"", reasons[r]);

            domain_series(out, "numashift_domain_unmovable_bytes", domains[i].name, domains[i].uuid,
                          more);
            g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", s->all.unmovable[r].bytes);
        }
    }
}

static void
render_nodes(GString *out, const NsTopology *topology)
{
    header(out, "numashift_node_free_bytes", "gauge", "Free memory of each host NUMA node (MemFree).");
    for (guint i = 0; i < topology->nodes->len; i++) {
        const NsNode *node = topology->nodes->pdata[i];

        if (node->has_memory)
            g_string_append_printf(out, "numashift_node_free_bytes{node=\"%u\"} %" G_GUINT64_FORMAT "\n",
                                   node->id, node->mem_free);
    }
    header(out, "numashift_node_hugepages_free", "gauge",
           "Free hugetlbfs pages of each host NUMA node, by page size in bytes.");
    for (guint i = 0; i < topology->nodes->len; i++) {
        const NsNode *node = topology->nodes->pdata[i];

        for (guint p = 0; node->huge_pools != NULL && p < node->huge_pools->len; p++) {
            const NsHugePool *pool = &g_array_index(node->huge_pools, NsHugePool, p);

            g_string_append_printf(out,
                                   "numashift_node_hugepages_free{node=\"%u\",page_size=\"%" G_GUINT64_FORMAT
                                   "\"} %" G_GUINT64_FORMAT "\n",
                                   node->id, pool->page_size, pool->free);
        }
    }
}

char *
ns_metrics_render(const NsMetrics *metrics, const NsMetricsDomain *domains, guint n,
                  const NsTopology *topology)
{
    GString *out = g_string_new(NULL);

    render_counters(out, metrics);
    render_domains(out, domains, n);
    if (topology != NULL)
        render_nodes(out, topology);
    return g_string_free(out, FALSE);
}

gboolean
ns_metrics_write(const char *dir, const char *text, GError **error)
{
    g_autofree char *path = g_build_filename(dir, NS_METRICS_FILE, NULL);
    /* "numashift.prom.XXXXXX": node_exporter reads *.prom only. */
    g_autofree char *tmp = g_strconcat(path, ".XXXXXX", NULL);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
    gsize len = strlen(text);
    gsize done = 0;
    int err = 0;

    if (fd < 0) {
        err = errno;
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot write metrics in %s: %s", dir,
                    g_strerror(err));
        return FALSE;
    }
    /* The umask (077 under the unit) must not hide the file from node_exporter. */
    if (fchmod(fd, 0644) != 0)
        err = errno;
    while (err == 0 && done < len) {
        ssize_t w = write(fd, text + done, len - done);

        if (w < 0 && errno != EINTR)
            err = errno;
        else if (w > 0)
            done += (gsize)w;
    }
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        g_unlink(tmp);
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot write metrics to %s: %s", path,
                    g_strerror(err));
        return FALSE;
    }
    return TRUE;
}
