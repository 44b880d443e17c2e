/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy, rule by rule, with hand-made facts: sysfs trees written to a
 * temporary directory (2 and 4 nodes, two CPUs each, free memory chosen
 * per test) and the captured 4-node tree (a memoryless node), domain XML
 * parsed by the real parser, vCPU affinity as CPU lists and placement
 * summaries built by hand.  Every reason code, the tie-breaks, spread
 * pinning, the reserve cap and the hysteresis thresholds, the opt-outs and
 * the error paths.  The worked examples of docs/policy.md are tested as
 * written (test_doc_examples).
 */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "ns-test-sysfs.h"
#include "numashift/domain.h"
#include "numashift/error.h"
#include "numashift/placement.h"
#include "numashift/policy.h"
#include "numashift/topology.h"

#define MIB (G_GUINT64_CONSTANT(1) << 20)

/* ------------------------------------------------------------------------
 * Facts
 */


/*
 * A host of @nodes online nodes, node n with CPUs 2n and 2n+1 and 8 GiB of
 * which @free_mib[n] MiB are free (NULL: 4 GiB each), loaded from a sysfs
 * tree written for the purpose and removed at once.
 */
static NsTopology *host_huge(guint nodes, const guint64 *free_mib, guint64 pool_kib,
                             const guint64 *free_pages);

static NsTopology *
host(guint nodes, const guint64 *free_mib)
{
    return host_huge(nodes, free_mib, 0, NULL);
}

/* As host(), each node also with a pool of 512 hugetlbfs pages of
 * @pool_kib KiB, @free_pages[n] of them free (pool_kib 0: no pools). */
static NsTopology *
host_huge(guint nodes, const guint64 *free_mib, guint64 pool_kib, const guint64 *free_pages)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *root = g_dir_make_tmp("ns-policy-XXXXXX", &error);
    g_autofree char *last = g_strdup_printf("0-%u\n", nodes - 1);
    NsTopology *topo;

    g_assert_no_error(error);
    ns_test_sysfs_write(root, "possible", last);
    ns_test_sysfs_write(root, "online", last);
    ns_test_sysfs_write(root, "has_memory", last);
    for (guint n = 0; n < nodes; n++) {
        g_autofree char *cpus = g_strdup_printf("node%u/cpulist", n);
        g_autofree char *cpus_text = g_strdup_printf("%u-%u\n", 2 * n, 2 * n + 1);
        g_autofree char *dist = g_strdup_printf("node%u/distance", n);
        g_autofree char *mem = g_strdup_printf("node%u/meminfo", n);
        g_autofree char *mem_text = g_strdup_printf(
            "Node %u MemTotal: %u kB\nNode %u MemFree: %" G_GUINT64_FORMAT " kB\n", n,
            8192u * 1024, n, (free_mib != NULL ? free_mib[n] : 4096) * 1024);
        GString *row = g_string_new(NULL);

        for (guint m = 0; m < nodes; m++)
            g_string_append_printf(row, "%s%u", m > 0 ? " " : "", m == n ? 10 : 20);
        g_string_append_c(row, '\n');
        ns_test_sysfs_write(root, cpus, cpus_text);
        ns_test_sysfs_write(root, dist, row->str);
        ns_test_sysfs_write(root, mem, mem_text);
        if (pool_kib > 0) {
            g_autofree char *nr = g_strdup_printf(
                "node%u/hugepages/hugepages-%" G_GUINT64_FORMAT "kB/nr_hugepages", n, pool_kib);
            g_autofree char *fr = g_strdup_printf(
                "node%u/hugepages/hugepages-%" G_GUINT64_FORMAT "kB/free_hugepages", n, pool_kib);
            g_autofree char *fr_text = g_strdup_printf("%" G_GUINT64_FORMAT "\n", free_pages[n]);

            ns_test_sysfs_write(root, nr, "512\n");
            ns_test_sysfs_write(root, fr, fr_text);
        }
        g_string_free(row, TRUE);
    }
    topo = ns_topology_load(root, &error);
    g_assert_no_error(error);
    ns_test_sysfs_remove(root);
    return topo;
}

/* A domain with @vcpus vCPUs; @extra goes inside <domain> (cells, numatune, metadata). */
static NsDomainConfig *
domain(guint vcpus, const char *extra)
{
    g_autofree char *xml = g_strdup_printf("<domain type='kvm'><name>g</name>"
                                           "<memory unit='MiB'>1024</memory><vcpu>%u</vcpu>"
                                           "%s</domain>",
                                           vcpus, extra != NULL ? extra : "");
    g_autoptr(GError) error = NULL;
    NsDomainConfig *config = ns_domain_config_parse(xml, &error);

    g_assert_no_error(error);
    return config;
}

#define META_POLICY(mode)                                                             \
    "<metadata><numashift:policy xmlns:numashift='" NS_DOMAIN_METADATA_URI "' mode='" \
    mode "'/></metadata>"

/* Per-vCPU affinity from CPU lists ("" = no CPU), as ns_domain_get_vcpu_pinning(). */
static GPtrArray *
affinity(const char *const *lists, guint n)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);

    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) error = NULL;
        GArray *cpus = ns_topology_parse_list(lists[i], NS_TOPOLOGY_MAX_CPU, &error);

        g_assert_no_error(error);
        g_ptr_array_add(out, cpus);
    }
    return out;
}

#define AFFINITY(...) \
    affinity((const char *const[]){__VA_ARGS__}, G_N_ELEMENTS(((const char *const[]){__VA_ARGS__})))

static NsPlacementStats *
stats_new(gint cell)
{
    NsPlacementStats *s = g_new0(NsPlacementStats, 1);

    s->cell = cell;
    s->nodes = g_array_new(FALSE, TRUE, sizeof(NsPlacementCount));
    return s;
}

static void
stats_free(gpointer p)
{
    NsPlacementStats *s = p;

    g_array_unref(s->nodes);
    g_free(s);
}

static NsPlacementSummary *
summary_new(void)
{
    NsPlacementSummary *sum = g_new0(NsPlacementSummary, 1);

    sum->all.cell = -1;
    sum->all.nodes = g_array_new(FALSE, TRUE, sizeof(NsPlacementCount));
    sum->cells = g_ptr_array_new_with_free_func(stats_free);
    return sum;
}

static void
stats_add(NsPlacementStats *s, guint node, guint64 mib)
{
    NsPlacementCount *c;

    if (s->nodes->len <= node)
        g_array_set_size(s->nodes, node + 1);
    c = &g_array_index(s->nodes, NsPlacementCount, node);
    c->bytes += mib * MIB;
    c->pages += mib * MIB / 4096;
}

/* @mib MiB of cell @cell (-1: a guest without vNUMA) on host node @node. */
static void
place(NsPlacementSummary *sum, gint cell, guint node, guint64 mib)
{
    stats_add(&sum->all, node, mib);
    if (cell < 0)
        return;
    for (guint i = 0; i < sum->cells->len; i++) {
        NsPlacementStats *s = g_ptr_array_index(sum->cells, i);

        if (s->cell == cell) {
            stats_add(s, node, mib);
            return;
        }
    }
    g_ptr_array_add(sum->cells, stats_new(cell));
    stats_add(g_ptr_array_index(sum->cells, sum->cells->len - 1), node, mib);
}

/* The facts of one test; freed with case_clear(). */
typedef struct {
    NsTopology *topo;
    NsDomainConfig *config;
    GPtrArray *affinity;
    NsPlacementSummary *placement;
    GArray *cpuset_mems;
    NsPolicyOptions opts;
    NsPolicyInput in;
} Case;

static void
case_clear(Case *c)
{
    g_clear_pointer(&c->topo, ns_topology_free);
    g_clear_pointer(&c->config, ns_domain_config_free);
    g_clear_pointer(&c->affinity, g_ptr_array_unref);
    g_clear_pointer(&c->placement, ns_placement_summary_free);
    g_clear_pointer(&c->cpuset_mems, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Case, case_clear)

/* Takes ownership of everything; options start at the defaults. */
static void
case_init(Case *c, NsTopology *topo, NsDomainConfig *config, GPtrArray *aff)
{
    c->topo = topo;
    c->config = config;
    c->affinity = aff;
    c->placement = summary_new();
    ns_policy_options_init(&c->opts);
    c->in = (NsPolicyInput){
        .config = config,
        .vcpu_affinity = aff,
        .topology = topo,
        .placement = c->placement,
        .options = &c->opts,
    };
}

static GArray *
decide_ok(Case *c)
{
    g_autoptr(GError) error = NULL;
    GArray *out;

    c->in.cpuset_mems = c->cpuset_mems;
    out = ns_policy_decide(&c->in, &error);
    g_assert_no_error(error);
    g_assert_nonnull(out);
    return out;
}

static const NsPolicyDecision *
at(const GArray *decisions, guint i)
{
    g_assert_cmpuint(i, <, decisions->len);
    return &g_array_index(decisions, NsPolicyDecision, i);
}

static void
assert_move(const NsPolicyDecision *d, gint cell, gint node, guint64 mib, NsPolicyReason reason)
{
    g_test_message("cell %d: %s: %s", d->cell, ns_policy_reason_to_string(d->reason), d->message);
    if (d->reason != reason)
        g_error("expected %s, got %s: %s", ns_policy_reason_to_string(reason),
                ns_policy_reason_to_string(d->reason), d->message);
    g_assert_cmpint(d->cell, ==, cell);
    g_assert_cmpint(d->target, ==, node);
    g_assert_cmpint(d->home, ==, node);
    g_assert_cmpuint(d->bytes, ==, mib * MIB);
}

static void
assert_stay(const NsPolicyDecision *d, gint cell, gint home, NsPolicyReason reason)
{
    g_test_message("cell %d: %s: %s", d->cell, ns_policy_reason_to_string(d->reason), d->message);
    if (d->reason != reason)
        g_error("expected %s, got %s: %s", ns_policy_reason_to_string(reason),
                ns_policy_reason_to_string(d->reason), d->message);
    g_assert_cmpint(d->cell, ==, cell);
    g_assert_cmpint(d->target, ==, -1);
    g_assert_cmpint(d->home, ==, home);
    g_assert_cmpuint(d->bytes, ==, 0);
}

static void
assert_says(const NsPolicyDecision *d, const char *part)
{
    g_assert_nonnull(d->message);
    g_assert_null(strchr(d->message, '\n'));
    if (strstr(d->message, part) == NULL)
        g_error("message '%s' does not say '%s'", d->message, part);
}

static void
assert_error_says(const GError *error, const char *part)
{
    g_assert_nonnull(error);
    if (strstr(error->message, part) == NULL)
        g_error("error '%s' does not say '%s'", error->message, part);
}

static void
decide_fails(Case *c, const char *part)
{
    g_autoptr(GError) error = NULL;
    GArray *out;

    c->in.cpuset_mems = c->cpuset_mems;
    out = ns_policy_decide(&c->in, &error);
    g_assert_null(out);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    if (strstr(error->message, part) == NULL)
        g_error("error '%s' does not say '%s'", error->message, part);
}

#define TWO_CELLS                                                          \
    "<cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/>"        \
    "<cell id='1' cpus='2-3' memory='512' unit='MiB'/></numa></cpu>"

/* ------------------------------------------------------------------------
 * Names and defaults
 */

static void
test_mode_strings(void)
{
    NsPolicyMode mode = NS_POLICY_MODE_OFF;
    static const char *const bad[] = {"", "OFF", "Follow", "follow ", "on", "auto"};

    g_assert_true(ns_policy_mode_from_string("follow", &mode, NULL));
    g_assert_cmpint(mode, ==, NS_POLICY_MODE_FOLLOW);
    g_assert_true(ns_policy_mode_from_string("off", &mode, NULL));
    g_assert_cmpint(mode, ==, NS_POLICY_MODE_OFF);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        mode = NS_POLICY_MODE_OFF;
        g_assert_false(ns_policy_mode_from_string(bad[i], &mode, &error));
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_assert_cmpint(mode, ==, NS_POLICY_MODE_OFF); /* untouched */
    }
    g_assert_false(ns_policy_mode_from_string(NULL, &mode, NULL));

    g_assert_cmpstr(ns_policy_mode_to_string(NS_POLICY_MODE_FOLLOW), ==, "follow");
    g_assert_cmpstr(ns_policy_mode_to_string(NS_POLICY_MODE_OFF), ==, "off");
    g_assert_null(ns_policy_mode_to_string((NsPolicyMode)2));
    g_assert_null(ns_policy_mode_to_string((NsPolicyMode)-1));
}

static void
test_reason_strings(void)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint r = NS_POLICY_REASON_MOVE; r <= NS_POLICY_REASON_PINNED; r++) {
        const char *name = ns_policy_reason_to_string((NsPolicyReason)r);

        g_assert_nonnull(name);
        g_assert_false(g_hash_table_contains(seen, name));
        g_hash_table_add(seen, (gpointer)name);
    }
    g_assert_cmpstr(ns_policy_reason_to_string(NS_POLICY_REASON_MOVE_CAPPED), ==, "move-capped");
    g_assert_cmpstr(ns_policy_reason_to_string(NS_POLICY_REASON_PINNED), ==, "pinned");
    g_assert_null(ns_policy_reason_to_string((NsPolicyReason)(NS_POLICY_REASON_PINNED + 1)));
}

static void
test_options_init(void)
{
    NsPolicyOptions opts;

    memset(&opts, 0xff, sizeof(opts));
    ns_policy_options_init(&opts);
    g_assert_cmpuint(opts.reserve_mib, ==, 256);
    g_assert_cmpuint(opts.min_remote_percent, ==, 10);
    g_assert_cmpuint(opts.min_remote_mib, ==, 16);
}

/* ------------------------------------------------------------------------
 * Following the vCPUs
 */

static void
test_whole_guest(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* Two vCPUs pinned to node 1's CPUs, all memory on node 0. */
    case_init(&c, host(2, NULL), domain(2, NULL), AFFINITY("2", "3"));
    place(c.placement, -1, 0, 256);
    out = decide_ok(&c);
    g_assert_cmpuint(out->len, ==, 1);
    assert_move(at(out, 0), -1, 1, 256, NS_POLICY_REASON_MOVE);
    g_assert_cmpuint(at(out, 0)->remote_bytes, ==, 256 * MIB);
    g_assert_cmpstr(at(out, 0)->message, ==, "vCPUs 0-1 run on node 1: 256 of 256 MiB elsewhere");

    /* NULL options are the defaults. */
    c.in.options = NULL;
    g_clear_pointer(&out, g_array_unref);
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 256, NS_POLICY_REASON_MOVE);
}

static void
test_majority(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* Three vCPUs on node 2, one on node 0: node 2. */
    case_init(&c, host(4, NULL), domain(4, NULL), AFFINITY("0", "4", "5", "4-5"));
    place(c.placement, -1, 0, 512);
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 2, 512, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "vCPUs 0-3 weigh most on node 2 (3 of 4)");
}

static void
test_cells(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* Cell 0 (vCPUs 0-1) runs on node 2, cell 1 (vCPUs 2-3) on node 3; the
     * whole guest's majority is irrelevant. */
    case_init(&c, host(4, NULL), domain(4, TWO_CELLS), AFFINITY("4", "5", "6", "7"));
    place(c.placement, 0, 0, 512);
    place(c.placement, 1, 3, 500);
    place(c.placement, 1, 1, 12);
    out = decide_ok(&c);
    g_assert_cmpuint(out->len, ==, 2);
    assert_move(at(out, 0), 0, 2, 512, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "vCPUs 0-1 run on node 2");
    /* 12 of 512 MiB off node 3: 2%, below the hysteresis. */
    assert_stay(at(out, 1), 1, 3, NS_POLICY_REASON_HYSTERESIS);
    g_assert_cmpuint(at(out, 1)->remote_bytes, ==, 12 * MIB);
}

static void
test_in_place(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    case_init(&c, host(2, NULL), domain(1, NULL), AFFINITY("1"));
    place(c.placement, -1, 0, 256);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, 0, NS_POLICY_REASON_IN_PLACE);
    g_assert_cmpstr(at(out, 0)->message, ==, "vCPU 0 runs on node 0: all 256 MiB already there");
}

/*
 * Issue #10: memory that cannot move (shared with another process, pinned)
 * kept the policy deciding "move" at every drift check, for a move that
 * could never happen.  Unmovable memory now counts apart: it is neither a
 * reason to move nor part of the move.
 */
static void
test_unmovable_apart(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;
    NsPlacementStats *all;

    case_init(&c, host(2, NULL), domain(2, NULL), AFFINITY("2", "3"));
    place(c.placement, -1, 1, 200);
    place(c.placement, -1, 0, 56); /* left behind ... */
    all = &c.placement->all;
    all->unmovable_nodes = g_array_new(FALSE, TRUE, sizeof(NsPlacementCount));
    g_array_set_size(all->unmovable_nodes, 1);
    g_array_index(all->unmovable_nodes, NsPlacementCount, 0).bytes = 56 * MIB; /* ... for good */
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, 1, NS_POLICY_REASON_IN_PLACE);
    g_assert_cmpuint(at(out, 0)->remote_bytes, ==, 0);
    assert_says(at(out, 0), "all movable memory already there, 56.0 MiB elsewhere cannot move");

    /* Part of it unmovable: only the rest moves. */
    g_array_index(all->unmovable_nodes, NsPlacementCount, 0).bytes = 16 * MIB;
    g_clear_pointer(&out, g_array_unref);
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 40, NS_POLICY_REASON_MOVE);
    g_array_unref(g_steal_pointer(&all->unmovable_nodes));
}

static void
test_spread_pinning(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* vCPU 0 may run on both nodes (1/2 each), vCPU 1 on node 1 only:
     * node 1 weighs 1.5 of 2.  CPU 99 is in no node and counts for nothing. */
    case_init(&c, host(2, NULL), domain(2, NULL), AFFINITY("0-3,99", "2"));
    place(c.placement, -1, 0, 256);
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 256, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "vCPUs 0-1 weigh most on node 1 (1.5 of 2)");
}

static void
test_spread_rounding(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* On 8 nodes, node 1 collects 1/3 + 1/3 + 1/4 and node 2 collects
     * 1/4 + 1/3 + 1/3, in vCPU order: the same weight, but the double sums
     * differ in the last bit.  They must tie (and the tie go to node 2,
     * which holds the memory), not let node 1 win by rounding. */
    case_init(&c, host(8, NULL), domain(5, NULL),
              AFFINITY("2,6,8",      /* nodes 1,3,4 */
                       "2,10,12",    /* nodes 1,5,6 */
                       "0,2,4,14",   /* nodes 0,1,2,7 */
                       "4,6,10",     /* nodes 2,3,5 */
                       "4,8,12"));   /* nodes 2,4,6 */
    place(c.placement, -1, 2, 200);
    place(c.placement, -1, 0, 56);
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 2, 56, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "vCPUs 0-4 weigh the same on nodes 1-2, node 2 holds most of the memory");
}

static void
test_unpinned(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* Every vCPU may run everywhere: no node is preferred, stay. */
    case_init(&c, host(2, NULL), domain(2, NULL), AFFINITY("0-3", "0-3"));
    place(c.placement, -1, 0, 200);
    place(c.placement, -1, 1, 56);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, -1, NS_POLICY_REASON_NO_PREFERENCE);
    assert_says(at(out, 0), "vCPUs 0-1 weigh the same on every node with CPUs");
    g_assert_cmpuint(at(out, 0)->remote_bytes, ==, 0);

    /* One pinned vCPU decides over any number of unpinned ones. */
    g_clear_pointer(&out, g_array_unref);
    g_ptr_array_unref(c.affinity);
    c.affinity = AFFINITY("0-3", "0-3", "0-3", "3");
    c.in.vcpu_affinity = c.affinity;
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 200, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "weigh most on node 1 (2.5 of 4)");
}

static void
test_one_vcpu(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* Singular wording, unpinned and tied. */
    case_init(&c, host(4, NULL), domain(1, NULL), AFFINITY("0-7"));
    place(c.placement, -1, 0, 256);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, -1, NS_POLICY_REASON_NO_PREFERENCE);
    g_assert_cmpstr(at(out, 0)->message, ==,
                    "vCPU 0 weighs the same on every node with CPUs (unpinned or spread evenly)");

    g_clear_pointer(&out, g_array_unref);
    g_ptr_array_unref(c.affinity);
    c.affinity = AFFINITY("2-5");
    c.in.vcpu_affinity = c.affinity;
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 256, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "vCPU 0 weighs the same on nodes 1-2, node 1 has the lowest id: ");
}

static void
test_even_split(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* One vCPU on each node of a 2-node host: as good as unpinned. */
    case_init(&c, host(2, NULL), domain(2, NULL), AFFINITY("0", "2"));
    place(c.placement, -1, 0, 128);
    place(c.placement, -1, 1, 128);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, -1, NS_POLICY_REASON_NO_PREFERENCE);
}

static void
test_no_affinity(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* An empty CPU list, a CPU no node has, and a cell vCPU (5) beyond
     * what libvirt reported: nothing to weigh. */
    case_init(&c, host(2, NULL),
              domain(6, "<cpu><numa><cell id='0' cpus='0-1,5' memory='512' unit='MiB'/>"
                        "</numa></cpu>"),
              AFFINITY("", "64"));
    place(c.placement, 0, 0, 256);
    out = decide_ok(&c);
    assert_stay(at(out, 0), 0, -1, NS_POLICY_REASON_NO_PREFERENCE);
    g_assert_cmpstr(at(out, 0)->message, ==, "no vCPU has an affinity on a known node");
}

static void
test_tie_lowest_id(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* vCPUs on nodes 1 and 2 of 4, memory on node 0: neither tied node
     * holds any, the lowest id wins. */
    case_init(&c, host(4, NULL), domain(2, NULL), AFFINITY("2", "4"));
    place(c.placement, -1, 0, 256);
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 256, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "vCPUs 0-1 weigh the same on nodes 1-2, node 1 has the lowest id");

    /* Equal holdings on both tied nodes: the lowest id again. */
    g_clear_pointer(&out, g_array_unref);
    ns_placement_summary_free(c.placement);
    c.placement = summary_new();
    c.in.placement = c.placement;
    place(c.placement, -1, 1, 100);
    place(c.placement, -1, 2, 100);
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 100, NS_POLICY_REASON_MOVE);
    assert_says(at(out, 0), "node 1 has the lowest id");
}

static void
test_tie_memory(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* The tied node already holding the memory wins: nothing moves. */
    case_init(&c, host(4, NULL), domain(2, NULL), AFFINITY("2", "4"));
    place(c.placement, -1, 2, 256);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, 2, NS_POLICY_REASON_IN_PLACE);
    assert_says(at(out, 0), "weigh the same on nodes 1-2, node 2 holds most of the memory");
}

/* ------------------------------------------------------------------------
 * Where memory may not go
 */

static void
test_numatune_nodeset(void)
{
    static const struct {
        const char *numatune;
        NsPolicyReason reason;
        const char *says;
    } cases[] = {
        {"<numatune><memory mode='strict' nodeset='0'/></numatune>", NS_POLICY_REASON_NOT_ALLOWED,
         "vCPUs 0-1 run on node 1, outside the allowed nodeset 0"},
        {"<numatune><memory nodeset='0'/></numatune>", NS_POLICY_REASON_NOT_ALLOWED,
         "outside the allowed nodeset 0"}, /* libvirt's default mode is strict */
        {"<numatune><memory mode='restrictive' nodeset='0'/></numatune>",
         NS_POLICY_REASON_NOT_ALLOWED, "outside the allowed nodeset 0"},
        {"<numatune><memory mode='strict' nodeset='0-1'/></numatune>", NS_POLICY_REASON_MOVE,
         "run on node 1"},
        /* preferred says where to allocate first, it forbids nothing */
        {"<numatune><memory mode='preferred' nodeset='0'/></numatune>", NS_POLICY_REASON_MOVE,
         "run on node 1"},
        /* placement='auto': numad's choice lives in cpuset.mems */
        {"<numatune><memory mode='strict' placement='auto'/></numatune>", NS_POLICY_REASON_MOVE,
         "run on node 1"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;

        case_init(&c, host(2, NULL), domain(2, cases[i].numatune), AFFINITY("2", "3"));
        place(c.placement, -1, 0, 256);
        out = decide_ok(&c);
        if (cases[i].reason == NS_POLICY_REASON_MOVE)
            assert_move(at(out, 0), -1, 1, 256, NS_POLICY_REASON_MOVE);
        else
            assert_stay(at(out, 0), -1, 1, cases[i].reason);
        assert_says(at(out, 0), cases[i].says);
    }
}

static void
test_cpuset_mems(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    case_init(&c, host(4, NULL),
              domain(4, TWO_CELLS "<numatune><memory mode='strict' nodeset='0-2'/></numatune>"),
              AFFINITY("2", "3", "4", "5"));
    place(c.placement, 0, 0, 256);
    place(c.placement, 1, 0, 256);

    /* cpuset.mems 1,3 and numatune 0-2: only node 1 is allowed. */
    c.cpuset_mems = ns_topology_parse_list("1,3", NS_TOPOLOGY_MAX_NODE, NULL);
    out = decide_ok(&c);
    assert_move(at(out, 0), 0, 1, 256, NS_POLICY_REASON_MOVE);
    assert_stay(at(out, 1), 1, 2, NS_POLICY_REASON_NOT_ALLOWED);
    assert_says(at(out, 1), "vCPUs 2-3 run on node 2, outside the allowed nodeset 1");

    /* No overlap at all: nothing is allowed. */
    g_clear_pointer(&out, g_array_unref);
    g_array_unref(c.cpuset_mems);
    c.cpuset_mems = ns_topology_parse_list("3", NS_TOPOLOGY_MAX_NODE, NULL);
    out = decide_ok(&c);
    assert_stay(at(out, 0), 0, 1, NS_POLICY_REASON_NOT_ALLOWED);
    assert_says(at(out, 0), "outside the allowed nodeset none");

    /* cpuset.mems alone restricts too. */
    g_clear_pointer(&out, g_array_unref);
    ns_domain_config_free(c.config);
    c.config = domain(4, TWO_CELLS);
    c.in.config = c.config;
    out = decide_ok(&c);
    assert_stay(at(out, 0), 0, 1, NS_POLICY_REASON_NOT_ALLOWED);
    assert_says(at(out, 0), "outside the allowed nodeset 3");
}

static void
test_interleave(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    case_init(&c, host(2, NULL),
              domain(2, "<numatune><memory mode='interleave' nodeset='0-1'/></numatune>"),
              AFFINITY("2", "3"));
    place(c.placement, -1, 0, 128);
    place(c.placement, -1, 1, 128);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, -1, NS_POLICY_REASON_INTERLEAVE);
    g_assert_cmpstr(at(out, 0)->message, ==,
                    "numatune interleaves the memory over nodes 0-1 on purpose");
}

/*
 * Per-cell binds: OpenStack Nova's layout binds each vNUMA cell to a host
 * node with <memnode mode='strict'>, which QEMU turns into mbind(MPOL_BIND)
 * on the cell's backend.  Moving such a cell elsewhere would leave it
 * there while every page the guest faults in afterwards lands back on the
 * bound node (issue #13: numashiftd moved a strictly bound cell across
 * when one vCPU was re-pinned).  Cell 1's vCPUs run on node 1; both cells
 * sit on node 0.
 */
static void
test_memnode(void)
{
    static const struct {
        const char *memnodes;
        NsPolicyReason reason; /* of cell 1 */
        const char *says;
    } cases[] = {
        {"<memnode cellid='0' mode='strict' nodeset='0'/>"
         "<memnode cellid='1' mode='strict' nodeset='0'/>",
         NS_POLICY_REASON_NOT_ALLOWED,
         "vCPUs 2-3 run on node 1, outside the allowed nodeset 0: cell 1 is bound to nodes 0 "
         "(numatune memnode strict)"},
        /* libvirt's default memnode mode is strict */
        {"<memnode cellid='1' nodeset='0'/>", NS_POLICY_REASON_NOT_ALLOWED,
         "cell 1 is bound to nodes 0"},
        {"<memnode cellid='1' mode='strict' nodeset='0-1'/>", NS_POLICY_REASON_MOVE,
         "run on node 1"},
        /* a bind of another cell does not bind this one */
        {"<memnode cellid='0' mode='strict' nodeset='0'/>", NS_POLICY_REASON_MOVE, "run on node 1"},
        {"<memnode cellid='1' mode='preferred' nodeset='0'/>", NS_POLICY_REASON_MOVE,
         "run on node 1"},
        {"<memnode cellid='1' mode='interleave' nodeset='0-1'/>", NS_POLICY_REASON_INTERLEAVE,
         "numatune memnode interleaves cell 1 over nodes 0-1 on purpose"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *extra = g_strdup_printf(
            TWO_CELLS "<numatune><memory mode='preferred' nodeset='0'/>%s</numatune>",
            cases[i].memnodes);
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;

        case_init(&c, host(2, NULL), domain(4, extra), AFFINITY("0", "1", "2", "3"));
        place(c.placement, 0, 0, 256);
        place(c.placement, 1, 0, 256);
        out = decide_ok(&c);
        assert_stay(at(out, 0), 0, 0, NS_POLICY_REASON_IN_PLACE);
        if (cases[i].reason == NS_POLICY_REASON_MOVE)
            assert_move(at(out, 1), 1, 1, 256, NS_POLICY_REASON_MOVE);
        else
            assert_stay(at(out, 1), 1, cases[i].reason == NS_POLICY_REASON_INTERLEAVE ? -1 : 1,
                        cases[i].reason);
        assert_says(at(out, 1), cases[i].says);
    }
}

/* libvirt's 'restrictive' (memory and memnode alike, libvirt wants both):
 * no mbind on the backend, only the domain's cpuset.mems: the cell may go
 * anywhere in the domain-wide nodeset. */
static void
test_memnode_restrictive(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    case_init(&c, host(2, NULL),
              domain(4, TWO_CELLS "<numatune><memory mode='restrictive' nodeset='0-1'/>"
                                  "<memnode cellid='0' mode='restrictive' nodeset='0'/>"
                                  "<memnode cellid='1' mode='restrictive' nodeset='0'/></numatune>"),
              AFFINITY("0", "1", "2", "3"));
    place(c.placement, 0, 0, 256);
    place(c.placement, 1, 0, 256);
    out = decide_ok(&c);
    assert_move(at(out, 1), 1, 1, 256, NS_POLICY_REASON_MOVE);
}

/* A map of two cells' backends, ram-node0 and ram-node1 (128 MiB each),
 * QEMU's policy on ram-node1 being @policy over @nodes ("" for none). */
static NsMemMap *
two_backend_map(const char *policy, const char *nodes)
{
    NsMemMap *map = ns_memmap_new(1);
    g_autoptr(GArray) ids = *nodes != '\0' ? ns_topology_parse_list(nodes, 64, NULL) : NULL;

    for (guint i = 0; i < 2; i++) {
        NsMemRange r = {
            .gpa = i * 128 * MIB,
            .size = 128 * MIB,
            .hva = 0x7f0000000000 + i * 256 * MIB,
            .page_size = 4096,
            .backend = g_strdup_printf("ram-node%u", i),
            .cell = (gint)i,
        };

        g_array_append_val(map->ranges, r);
    }
    g_ptr_array_add(map->backends, ns_mem_backend_new("ram-node0", 128 * MIB, FALSE, "preferred",
                                                      NULL));
    g_ptr_array_add(map->backends, ns_mem_backend_new("ram-node1", 128 * MIB, FALSE, policy, ids));
    return map;
}

/* What QEMU applied counts even where the XML says nothing of it (a
 * <qemu:commandline> backend, a memnode changed since): query-memdev. */
static void
test_backend_policy(void)
{
    static const struct {
        const char *policy, *nodes;
        NsPolicyReason reason;
        const char *says;
    } cases[] = {
        {"bind", "0", NS_POLICY_REASON_NOT_ALLOWED,
         "vCPUs 2-3 run on node 1, outside the allowed nodeset 0: QEMU binds backend ram-node1 "
         "to nodes 0"},
        {"bind", "0-1", NS_POLICY_REASON_MOVE, "run on node 1"},
        {"interleave", "0-1", NS_POLICY_REASON_INTERLEAVE,
         "QEMU interleaves backend ram-node1 over nodes 0-1 on purpose"},
        {"preferred", "0", NS_POLICY_REASON_MOVE, "run on node 1"},
        {"default", "", NS_POLICY_REASON_MOVE, "run on node 1"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autoptr(NsMemMap) map = two_backend_map(cases[i].policy, cases[i].nodes);

        case_init(&c, host(2, NULL), domain(4, TWO_CELLS), AFFINITY("0", "1", "2", "3"));
        c.in.map = map;
        place(c.placement, 0, 0, 128);
        place(c.placement, 1, 0, 128);
        out = decide_ok(&c);
        assert_stay(at(out, 0), 0, 0, NS_POLICY_REASON_IN_PLACE);
        if (cases[i].reason == NS_POLICY_REASON_MOVE)
            assert_move(at(out, 1), 1, 1, 128, NS_POLICY_REASON_MOVE);
        else
            assert_stay(at(out, 1), 1, cases[i].reason == NS_POLICY_REASON_INTERLEAVE ? -1 : 1,
                        cases[i].reason);
        assert_says(at(out, 1), cases[i].says);
    }
}

/* The two-cell map of two_backend_map(), backed by hugetlbfs pages of @page_size. */
static NsMemMap *
huge_map(guint64 page_size)
{
    NsMemMap *map = two_backend_map("default", "");

    for (guint i = 0; i < map->ranges->len; i++)
        g_array_index(map->ranges, NsMemRange, i).page_size = page_size;
    return map;
}

/*
 * Cells backed by hugetlbfs: the room on the home is its free huge pages
 * of that size, never MemFree (issue #13: an empty pool ended the job "out
 * of memory" while MemFree looked ample), in whole pages, with no reserve;
 * a cap names the pool ("node 1 has 40 free 2 MiB pages; cell 1 needs 64").
 */
static void
test_huge_pages(void)
{
    static const struct {
        guint64 free_pages; /* on node 1 */
        NsPolicyReason reason;
        guint64 mib;
        const char *says;
    } cases[] = {
        {200, NS_POLICY_REASON_MOVE, 128, "128 of 128 MiB elsewhere, in 64 2 MiB pages"},
        {40, NS_POLICY_REASON_MOVE_CAPPED, 80,
         "node 1 has 40 free 2 MiB pages; cell 1 needs 64: capped to 80 MiB"},
        /* plenty of MemFree (4 GiB) makes no difference to an empty pool */
        {0, NS_POLICY_REASON_RESERVE, 0, "node 1 has 0 free 2 MiB pages; cell 1 needs 64"},
        /* a cap under the 16 MiB minimum is not worth a job */
        {7, NS_POLICY_REASON_RESERVE, 0, "node 1 has 7 free 2 MiB pages"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const guint64 free_pages[] = { 0, cases[i].free_pages };
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autoptr(NsMemMap) map = huge_map(2 * MIB);

        case_init(&c, host_huge(2, NULL, 2048, free_pages), domain(4, TWO_CELLS),
                  AFFINITY("0", "1", "2", "3"));
        c.in.map = map;
        place(c.placement, 0, 0, 128);
        place(c.placement, 1, 0, 128);
        out = decide_ok(&c);
        assert_stay(at(out, 0), 0, 0, NS_POLICY_REASON_IN_PLACE);
        if (cases[i].reason == NS_POLICY_REASON_RESERVE)
            assert_stay(at(out, 1), 1, 1, cases[i].reason);
        else
            assert_move(at(out, 1), 1, 1, cases[i].mib, cases[i].reason);
        assert_says(at(out, 1), cases[i].says);
    }

    /* Two cells to one pool: the second gets what the first left. */
    {
        const guint64 free_pages[] = { 0, 100 };
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autoptr(NsMemMap) map = huge_map(2 * MIB);

        case_init(&c, host_huge(2, NULL, 2048, free_pages), domain(4, TWO_CELLS),
                  AFFINITY("2", "3", "2", "3"));
        c.in.map = map;
        place(c.placement, 0, 0, 128);
        place(c.placement, 1, 0, 128);
        out = decide_ok(&c);
        assert_move(at(out, 0), 0, 1, 128, NS_POLICY_REASON_MOVE);
        assert_move(at(out, 1), 1, 1, 72, NS_POLICY_REASON_MOVE_CAPPED);
        assert_says(at(out, 1), "node 1 has 36 free 2 MiB pages; cell 1 needs 64");
    }

    /* 1 GiB pages: a cell of one page needs one free page; no pool of that size, no room. */
    {
        const guint64 free_pages[] = { 0, 1 };
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autoptr(NsMemMap) map = huge_map(1024 * MIB);

        case_init(&c, host_huge(2, NULL, 1024 * 1024, free_pages), domain(4, TWO_CELLS),
                  AFFINITY("0", "1", "2", "3"));
        c.in.map = map;
        place(c.placement, 1, 0, 1024);
        out = decide_ok(&c);
        assert_move(at(out, 1), 1, 1, 1024, NS_POLICY_REASON_MOVE);
        assert_says(at(out, 1), "in 1 1 GiB pages");

        g_clear_pointer(&out, g_array_unref);
        ns_topology_free(c.topo);
        c.topo = host_huge(2, NULL, 2048, free_pages);
        c.in.topology = c.topo;
        out = decide_ok(&c);
        assert_stay(at(out, 1), 1, 1, NS_POLICY_REASON_RESERVE);
        assert_says(at(out, 1), "node 1 has 0 free 1 GiB pages; cell 1 needs 1");
    }
}

/* An operator's move of hugetlbfs memory: the target's free pages of that
 * size, checked before anything moves (ns_policy_check_huge_room()). */
static void
test_check_huge_room(void)
{
    const guint64 free_pages[] = { 3, 40 };
    g_autoptr(NsTopology) topo = host_huge(2, NULL, 2048, free_pages);
    g_autoptr(GError) error = NULL;

    g_assert_true(ns_policy_check_huge_room(topo, 1, 2 * MIB, 0, 40, NULL));
    g_assert_true(ns_policy_check_huge_room(topo, 1, 2 * MIB, -1, 0, NULL));
    g_assert_false(ns_policy_check_huge_room(topo, 1, 2 * MIB, 0, 128, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_FAILED);
    g_assert_cmpstr(error->message, ==,
                    "node 1 has 40 free 2 MiB pages; cell 0 needs 128: nothing moved");
    g_clear_error(&error);
    /* No pool of that size, or no such node: no room. */
    g_assert_false(ns_policy_check_huge_room(topo, 0, 1024 * MIB, -1, 1, &error));
    assert_error_says(error, "node 0 has 0 free 1 GiB pages; the guest needs 1");
    g_clear_error(&error);
    g_assert_false(ns_policy_check_huge_room(topo, 7, 2 * MIB, -1, 1, &error));
    assert_error_says(error, "node 7 has 0 free 2 MiB pages");
}

/*
 * A numatune nodeset in libvirt's own syntax with an exclusion ("0-3,^2",
 * as in libvirt's documentation) made every decision of the domain fail:
 * the policy parsed it with the kernel's list syntax, which has no "^",
 * while the move pipeline's check used libvirt's.  Both now read it one
 * way; if the kernel-syntax parse came back, decide_ok() fails here.
 */
static void
test_numatune_exclusion(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    case_init(&c, host(4, NULL),
              domain(2, "<numatune><memory mode='strict' nodeset='0-3,^2'/></numatune>"),
              AFFINITY("4", "5"));
    place(c.placement, -1, 0, 256);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, 2, NS_POLICY_REASON_NOT_ALLOWED);
    assert_says(at(out, 0), "outside the allowed nodeset 0-1,3");
}

/*
 * A device assigned through VFIO maps all guest RAM for its DMA and pins
 * it: such a guest stays, saying why, and an operator's move is refused
 * before anything is tried (never retried).  USB host devices are not
 * VFIO: they pin nothing.
 */
static void
test_pinned_by_device(void)
{
    static const struct {
        const char *devices;
        const char *says; /* NULL: not pinned */
    } cases[] = {
        {"<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' "
         "bus='0x03' slot='0x00' function='0x1'/></source></hostdev>",
         "guest memory is pinned by device assignment (hostdev pci 0000:03:00.1): it "
         "cannot move"},
        {"<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address "
         "uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>",
         "(hostdev mdev c2177883-f1bb-47f0-914d-32a22e3a8804)"},
        {"<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' "
         "bus='0x02' slot='0x10' function='0x2'/></source></interface>",
         "(interface hostdev 0000:02:10.2)"},
        /* decimal, as libvirt also accepts; no domain: 0 */
        {"<hostdev mode='subsystem' type='pci'><source><address bus='3' slot='31' "
         "function='7'/></source></hostdev>",
         "(hostdev pci 0000:03:1f.7)"},
        /* not a number: as written */
        {"<hostdev mode='subsystem' type='pci'><source><address bus='x3'/></source></hostdev>",
         "(hostdev pci 0:x3:0.0)"},
        {"<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/>"
         "<product id='0xbeef'/></source></hostdev><interface type='network'><source "
         "network='default'/></interface>",
         NULL},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *extra = g_strdup_printf("<devices>%s</devices>", cases[i].devices);
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autoptr(GError) error = NULL;

        case_init(&c, host(2, NULL), domain(2, extra), AFFINITY("2", "3"));
        place(c.placement, -1, 0, 256);
        out = decide_ok(&c);
        if (cases[i].says == NULL) {
            assert_move(at(out, 0), -1, 1, 256, NS_POLICY_REASON_MOVE);
            g_assert_true(ns_policy_check_node(c.config, NULL, -1, 1, NULL));
            continue;
        }
        assert_stay(at(out, 0), -1, -1, NS_POLICY_REASON_PINNED);
        assert_says(at(out, 0), cases[i].says);
        g_assert_false(ns_policy_check_node(c.config, NULL, -1, 1, &error));
        g_assert_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED);
        assert_error_says(error, cases[i].says);
    }
}

/* An operator's "move to node N" (ns_policy_check_node()): the same binds. */
static void
test_check_node(void)
{
    static const struct {
        const char *numatune;
        gint cell;
        guint node;
        const char *refusal; /* NULL: allowed */
    } cases[] = {
        {"<memory mode='strict' nodeset='0-1'/>", -1, 1, NULL},
        {"<memory mode='strict' nodeset='0-1'/>", -1, 2,
         "node 2 is outside the nodes domain 'g' may use: 0-1 (numatune strict)"},
        {"<memory mode='restrictive' nodeset='2'/>", -1, 0, "(numatune restrictive)"},
        {"<memory mode='restrictive' nodeset='2'/>", -1, 2, NULL},
        {"<memory mode='preferred' nodeset='0'/>", -1, 3, NULL},
        {"<memory mode='interleave' nodeset='0'/>", -1, 3, NULL},
        {"<memory mode='strict' nodeset='0-3,^2'/>", -1, 2, "may use: 0-3,^2"},
        /* cell 1 bound to node 0: the whole guest and cell 1 may not go to 1, cell 0 may */
        {"<memnode cellid='1' mode='strict' nodeset='0'/>", -1, 1,
         "node 1 is not allowed for vNUMA cell 1 of domain 'g': cell 1 is bound to nodes 0 "
         "(numatune memnode strict)"},
        {"<memnode cellid='1' mode='strict' nodeset='0'/>", 1, 1, "cell 1 is bound to nodes 0"},
        {"<memnode cellid='1' mode='strict' nodeset='0'/>", 0, 1, NULL},
        {"<memnode cellid='1' mode='strict' nodeset='0'/>", 1, 0, NULL},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *extra = g_strdup_printf(TWO_CELLS "<numatune>%s</numatune>",
                                                 cases[i].numatune);
        g_autoptr(NsDomainConfig) config = domain(4, extra);
        g_autoptr(GError) error = NULL;
        gboolean ok = ns_policy_check_node(config, NULL, cases[i].cell, cases[i].node, &error);

        g_test_message("case %u: %s", i, ok ? "allowed" : error->message);
        if (cases[i].refusal == NULL) {
            g_assert_no_error(error);
            g_assert_true(ok);
        } else {
            g_assert_false(ok);
            g_assert_error(error, NS_ERROR, NS_ERROR_PERMISSION);
            assert_error_says(error, cases[i].refusal);
        }
    }

    /* QEMU's bind on cell 1's backend, the XML silent. */
    g_autoptr(NsDomainConfig) config = domain(4, TWO_CELLS);
    g_autoptr(NsMemMap) map = two_backend_map("bind", "0");
    g_autoptr(GError) error = NULL;

    g_assert_true(ns_policy_check_node(config, map, 0, 1, NULL));
    g_assert_false(ns_policy_check_node(config, map, -1, 1, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_PERMISSION);
    assert_error_says(error, "QEMU binds backend ram-node1 to nodes 0");
    g_clear_error(&error);
    g_assert_true(ns_policy_check_node(config, NULL, 1, 1, NULL));

    /* A nodeset that does not parse. */
    g_autoptr(NsDomainConfig) bad = domain(4, TWO_CELLS "<numatune><memnode cellid='0' "
                                              "mode='strict' nodeset='0-x'/></numatune>");

    g_assert_false(ns_policy_check_node(bad, NULL, 0, 0, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
}

static void
test_memoryless_node(void)
{
    g_autofree char *tree = g_build_filename(g_getenv("NS_TEST_DATA"), "data", "sysfs",
                                             "vm-4node", NULL);
    g_autoptr(GError) error = NULL;
    NsTopology *topo = ns_topology_load(tree, &error);
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* The captured 4-node VM: node 2 has CPU 2 and no memory, node 3 is
     * offline.  The vCPUs run on node 2: nowhere to put memory. */
    g_assert_no_error(error);
    case_init(&c, topo, domain(2, NULL), AFFINITY("2", "2"));
    place(c.placement, -1, 0, 64);
    c.opts.reserve_mib = 0;
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, 2, NS_POLICY_REASON_NODE_UNUSABLE);
    g_assert_cmpstr(at(out, 0)->message, ==, "vCPUs 0-1 run on node 2, but node 2 has no memory");

    /* Node 1 (CPU 1) has memory: the vCPUs there take it (free memory as
     * captured, ~166 MiB, is enough for 64 MiB with no reserve). */
    g_clear_pointer(&out, g_array_unref);
    g_ptr_array_unref(c.affinity);
    c.affinity = AFFINITY("1", "1-2");
    c.in.vcpu_affinity = c.affinity;
    out = decide_ok(&c);
    assert_move(at(out, 0), -1, 1, 64, NS_POLICY_REASON_MOVE);
}

static void
test_offline_node(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;
    NsNode *n1;

    /* A node taken offline after the vCPUs were pinned to its CPUs: its
     * CPUs belong to no online node, so they weigh nothing. */
    case_init(&c, host(2, NULL), domain(1, NULL), AFFINITY("2"));
    n1 = g_ptr_array_index(c.topo->nodes, 1);
    n1->online = FALSE;
    n1->has_memory = FALSE;
    place(c.placement, -1, 0, 256);
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, -1, NS_POLICY_REASON_NO_PREFERENCE);
}

/* ------------------------------------------------------------------------
 * Hysteresis and the reserve
 */

static void
test_hysteresis(void)
{
    static const struct {
        guint64 home_mib, away_mib;
        guint percent;
        guint64 min_mib;
        NsPolicyReason reason;
        const char *says;
    } cases[] = {
        /* 20 of 256 MiB away: 7% < 10% */
        {236, 20, 10, 16, NS_POLICY_REASON_HYSTERESIS,
         "vCPUs 0-1 run on node 1: only 7% (20 MiB) remote: below hysteresis 10%"},
        /* exactly 10% moves */
        {900, 100, 10, 16, NS_POLICY_REASON_MOVE, "100 of 1000 MiB elsewhere"},
        /* 12 of 100 MiB: 12% but under 16 MiB */
        {88, 12, 10, 16, NS_POLICY_REASON_HYSTERESIS, "vCPUs 0-1 run on node 1: only 12 MiB (12%) remote: below the 16 MiB minimum"},
        /* exactly the minimum moves */
        {84, 16, 10, 16, NS_POLICY_REASON_MOVE, "16 of 100 MiB elsewhere"},
        /* no hysteresis at all: any remote memory moves */
        {1000, 1, 0, 0, NS_POLICY_REASON_MOVE, "1 of 1001 MiB elsewhere"},
        /* 100%: only when nothing at all is at home */
        {1, 999, 100, 0, NS_POLICY_REASON_HYSTERESIS, "only 99% (999 MiB) remote"},
        {0, 999, 100, 0, NS_POLICY_REASON_MOVE, "999 of 999 MiB elsewhere"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;

        case_init(&c, host(2, NULL), domain(2, NULL), AFFINITY("2", "3"));
        if (cases[i].home_mib > 0)
            place(c.placement, -1, 1, cases[i].home_mib);
        place(c.placement, -1, 0, cases[i].away_mib);
        c.opts.min_remote_percent = cases[i].percent;
        c.opts.min_remote_mib = cases[i].min_mib;
        out = decide_ok(&c);
        if (cases[i].reason == NS_POLICY_REASON_MOVE)
            assert_move(at(out, 0), -1, 1, cases[i].away_mib, NS_POLICY_REASON_MOVE);
        else
            assert_stay(at(out, 0), -1, 1, cases[i].reason);
        g_assert_cmpuint(at(out, 0)->remote_bytes, ==, cases[i].away_mib * MIB);
        assert_says(at(out, 0), cases[i].says);
    }
}

static void
test_reserve(void)
{
    static const struct {
        guint64 free_mib, reserve_mib, remote_mib, bytes_mib;
        NsPolicyReason reason;
        const char *says;
    } cases[] = {
        /* plenty of room */
        {4096, 256, 1000, 1000, NS_POLICY_REASON_MOVE, "1000 of 1000 MiB elsewhere"},
        /* exactly enough room */
        {1256, 256, 1000, 1000, NS_POLICY_REASON_MOVE, "1000 of 1000 MiB elsewhere"},
        /* 1024 - 512: capped to 512 MiB */
        {1024, 512, 1000, 512, NS_POLICY_REASON_MOVE_CAPPED,
         "vCPUs 0-1 run on node 1: 1000 of 1000 MiB elsewhere; node 1 would fall under its "
         "512 MiB reserve: capped to 512 MiB"},
        /* free below the reserve: no room */
        {200, 256, 1000, 0, NS_POLICY_REASON_RESERVE,
         "vCPUs 0-1 run on node 1: node 1 would fall under its 256 MiB reserve: no room"},
        /* free == reserve: no room */
        {256, 256, 1000, 0, NS_POLICY_REASON_RESERVE, "no room"},
        /* room for 10 MiB: a job below the 16 MiB minimum is not worth it */
        {266, 256, 1000, 0, NS_POLICY_REASON_RESERVE,
         "room for only 10 MiB, below the 16 MiB minimum"},
        /* no reserve at all: everything free may be used */
        {600, 0, 1000, 600, NS_POLICY_REASON_MOVE_CAPPED,
         "node 1 would run out of free memory: capped to 600 MiB"},
        {10, 0, 1000, 0, NS_POLICY_REASON_RESERVE,
         "node 1 would run out of free memory: room for only 10 MiB, below the 16 MiB minimum"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const guint64 free_mib[] = {4096, cases[i].free_mib};
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;

        case_init(&c, host(2, free_mib), domain(2, NULL), AFFINITY("2", "3"));
        place(c.placement, -1, 0, cases[i].remote_mib);
        c.opts.reserve_mib = cases[i].reserve_mib;
        out = decide_ok(&c);
        if (cases[i].bytes_mib > 0)
            assert_move(at(out, 0), -1, 1, cases[i].bytes_mib, cases[i].reason);
        else
            assert_stay(at(out, 0), -1, 1, cases[i].reason);
        g_assert_cmpuint(at(out, 0)->remote_bytes, ==, cases[i].remote_mib * MIB);
        assert_says(at(out, 0), cases[i].says);
    }
}

static void
test_reserve_shared(void)
{
    const guint64 free_mib[] = {4096, 1024};
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* Both cells' vCPUs run on node 1, which has 1024 - 256 = 768 MiB of
     * room: cell 0 takes 512, cell 1 gets the remaining 256. */
    case_init(&c, host(2, free_mib), domain(4, TWO_CELLS), AFFINITY("2", "2", "3", "3"));
    place(c.placement, 0, 0, 512);
    place(c.placement, 1, 0, 512);
    out = decide_ok(&c);
    assert_move(at(out, 0), 0, 1, 512, NS_POLICY_REASON_MOVE);
    assert_move(at(out, 1), 1, 1, 256, NS_POLICY_REASON_MOVE_CAPPED);
    assert_says(at(out, 1), "capped to 256 MiB");

    /* A third cell would find no room left. */
    g_clear_pointer(&out, g_array_unref);
    ns_domain_config_free(c.config);
    c.config = domain(6, "<cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/>"
                         "<cell id='1' cpus='2-3' memory='512' unit='MiB'/>"
                         "<cell id='2' cpus='4-5' memory='512' unit='MiB'/></numa></cpu>");
    c.in.config = c.config;
    g_ptr_array_unref(c.affinity);
    c.affinity = AFFINITY("2", "2", "3", "3", "2", "3");
    c.in.vcpu_affinity = c.affinity;
    place(c.placement, 2, 0, 100);
    out = decide_ok(&c);
    g_assert_cmpuint(out->len, ==, 3);
    assert_stay(at(out, 2), 2, 1, NS_POLICY_REASON_RESERVE);
    assert_says(at(out, 2), "no room");
}

/*
 * The host's ledger (issue #14): another running job promised node 1
 * memory it has not brought yet, so node 1's MemFree overstates the room;
 * the decision counts the promise (not its own), caps or stays, and says
 * so.  Without the ledger two jobs deciding in turn would both take the
 * same room and together push node 1 under its reserve.
 */
static void
test_ledger_shares_room(void)
{
    static const struct {
        guint64 promised_mib, own_mib, bytes_mib;
        NsPolicyReason reason;
        const char *says;
    } cases[] = {
        /* 1024 free - 256 reserve - 300 promised: 468 of the 1000 MiB */
        {300, 0, 468, NS_POLICY_REASON_MOVE_CAPPED,
         "node 1 would fall under its 256 MiB reserve, counting 300 MiB promised to other "
         "jobs: capped to 468 MiB"},
        /* the room is all promised */
        {768, 0, 0, NS_POLICY_REASON_RESERVE,
         "node 1 would fall under its 256 MiB reserve, counting 768 MiB promised to other "
         "jobs: no room"},
        /* its own earlier promise (a held job deciding again) does not count */
        {0, 700, 768, NS_POLICY_REASON_MOVE_CAPPED,
         "node 1 would fall under its 256 MiB reserve: capped to 768 MiB"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const guint64 free_mib[] = {4096, 1024};
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autoptr(NsLedger) ledger = ns_ledger_new();

        case_init(&c, host(2, free_mib), domain(2, NULL), AFFINITY("2", "3"));
        place(c.placement, -1, 0, 1000);
        c.opts.reserve_mib = 256;
        ns_ledger_lock(ledger);
        ns_ledger_promise(ledger, 1, 1, 0, cases[i].promised_mib * MIB);
        ns_ledger_promise(ledger, 2, 1, 0, cases[i].own_mib * MIB);
        ns_ledger_promise(ledger, 1, 0, 0, 4000 * MIB); /* another node: no matter */
        c.in.ledger = ledger;
        c.in.ledger_owner = 2;
        out = decide_ok(&c);
        ns_ledger_unlock(ledger);
        if (cases[i].bytes_mib > 0)
            assert_move(at(out, 0), -1, 1, cases[i].bytes_mib, cases[i].reason);
        else
            assert_stay(at(out, 0), -1, 1, cases[i].reason);
        g_assert_cmpuint(at(out, 0)->page_size, ==, 0);
        assert_says(at(out, 0), cases[i].says);
    }

    /* A hugetlbfs pool: 100 free 2 MiB pages on node 1, 70 promised to
     * another job (half a page rounds up), so cell 1 gets 29 of its 64. */
    {
        const guint64 free_pages[] = { 0, 100 };
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autoptr(NsMemMap) map = huge_map(2 * MIB);
        g_autoptr(NsLedger) ledger = ns_ledger_new();

        case_init(&c, host_huge(2, NULL, 2048, free_pages), domain(4, TWO_CELLS),
                  AFFINITY("0", "1", "2", "3"));
        c.in.map = map;
        place(c.placement, 0, 0, 128);
        place(c.placement, 1, 0, 128);
        ns_ledger_lock(ledger);
        ns_ledger_promise(ledger, 1, 1, 2 * MIB, 70 * 2 * MIB - MIB);
        ns_ledger_promise(ledger, 1, 1, 0, 4000 * MIB); /* base pages: not the pool */
        c.in.ledger = ledger;
        c.in.ledger_owner = 2;
        out = decide_ok(&c);
        ns_ledger_unlock(ledger);
        assert_move(at(out, 1), 1, 1, 60, NS_POLICY_REASON_MOVE_CAPPED);
        g_assert_cmpuint(at(out, 1)->page_size, ==, 2 * MIB);
        assert_says(at(out, 1), "node 1 has 30 free 2 MiB pages (not counting 70 promised to "
                                "other jobs); cell 1 needs 64: capped to 60 MiB");
    }
}

/* ------------------------------------------------------------------------
 * Opting out, nothing to do, errors
 */

static void
test_opt_out(void)
{
    static const struct {
        const char *metadata;
        const char *override;
        NsPolicyReason reason;
        const char *says;
        const char *override_source;
    } cases[] = {
        {META_POLICY("off"), NULL, NS_POLICY_REASON_OPTED_OUT, "opted out by metadata", NULL},
        {META_POLICY("follow"), NULL, NS_POLICY_REASON_MOVE, "run on node 1", NULL},
        {NULL, "off", NS_POLICY_REASON_OPTED_OUT, "opted out by configuration", NULL},
        {META_POLICY("follow"), "off", NS_POLICY_REASON_OPTED_OUT, "opted out by configuration", NULL},
        {META_POLICY("off"), "follow", NS_POLICY_REASON_MOVE, "run on node 1", NULL},
        /* the override wins, so a bad metadata mode is not even read */
        {META_POLICY("sideways"), "off", NS_POLICY_REASON_OPTED_OUT, "by configuration", NULL},
        /* set over numashiftd's control socket: said so, not "configuration" */
        {META_POLICY("follow"), "off", NS_POLICY_REASON_OPTED_OUT,
         "opted out by numashift policy at run time", "numashift policy at run time"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;
        g_autofree char *extra = g_strconcat(TWO_CELLS, cases[i].metadata, NULL);

        case_init(&c, host(2, NULL), domain(4, extra), AFFINITY("2", "3", "2", "3"));
        place(c.placement, 0, 0, 256);
        place(c.placement, 1, 0, 256);
        c.in.mode_override = cases[i].override;
        c.in.mode_override_source = cases[i].override_source;
        out = decide_ok(&c);
        g_assert_cmpuint(out->len, ==, 2);
        for (guint k = 0; k < 2; k++) {
            if (cases[i].reason == NS_POLICY_REASON_MOVE)
                assert_move(at(out, k), (gint)k, 1, 256, NS_POLICY_REASON_MOVE);
            else
                assert_stay(at(out, k), (gint)k, -1, cases[i].reason);
            assert_says(at(out, k), cases[i].says);
        }
    }
}

static void
test_nothing_placed(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GArray) out = NULL;

    /* A guest whose pages are not backed yet, and a vNUMA guest whose map
     * has no cell attribution: nothing to act on. */
    case_init(&c, host(2, NULL), domain(2, NULL), AFFINITY("2", "3"));
    out = decide_ok(&c);
    assert_stay(at(out, 0), -1, 1, NS_POLICY_REASON_NOTHING_PLACED);
    g_assert_cmpstr(at(out, 0)->message, ==,
                    "vCPUs 0-1 run on node 1, but none of this memory is placed yet");

    g_clear_pointer(&out, g_array_unref);
    ns_domain_config_free(c.config);
    c.config = domain(2, "<cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/>"
                         "</numa></cpu>");
    c.in.config = c.config;
    place(c.placement, -1, 0, 512);
    out = decide_ok(&c);
    assert_stay(at(out, 0), 0, 1, NS_POLICY_REASON_NOTHING_PLACED);
    g_assert_cmpstr(at(out, 0)->message, ==,
                    "vCPUs 0-1 run on node 1, but the memory map has no range of cell 0");
}

static void
test_errors(void)
{
    g_auto(Case) c = { 0 };
    g_autoptr(GError) error = NULL;
    NsPolicyInput empty = { 0 };

    g_assert_null(ns_policy_decide(NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    g_assert_null(ns_policy_decide(&empty, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);

    case_init(&c, host(2, NULL), domain(2, META_POLICY("sideways")), AFFINITY("2", "3"));
    place(c.placement, -1, 0, 256);
    decide_fails(&c, "domain g, metadata: unknown numashift policy mode 'sideways'");

    c.in.mode_override = "OFF";
    decide_fails(&c, "domain g, configuration: unknown numashift policy mode 'OFF'");
    c.in.mode_override_source = "numashift policy at run time";
    decide_fails(&c, "domain g, numashift policy at run time: unknown numashift policy mode 'OFF'");
    c.in.mode_override = NULL;
    c.in.mode_override_source = NULL;

    ns_domain_config_free(c.config);
    c.config = domain(2, "<numatune><memory mode='strict' nodeset='0-x'/></numatune>");
    c.in.config = c.config;
    decide_fails(&c, "numatune nodeset");

    ns_domain_config_free(c.config);
    c.config = domain(2, NULL);
    c.in.config = c.config;
    c.opts.min_remote_percent = 101;
    decide_fails(&c, "above 100%");
    c.opts.min_remote_percent = 10;
    c.opts.reserve_mib = G_MAXUINT64 / 1024;
    decide_fails(&c, "too large");
    c.opts.reserve_mib = 0;
    c.opts.min_remote_mib = G_MAXUINT64;
    decide_fails(&c, "too large");
    c.opts.min_remote_mib = 0;

    for (guint i = 0; i < 4; i++) {
        NsPolicyInput in = c.in;

        if (i == 0)
            in.config = NULL;
        else if (i == 1)
            in.vcpu_affinity = NULL;
        else if (i == 2)
            in.topology = NULL;
        else
            in.placement = NULL;
        g_assert_null(ns_policy_decide(&in, &error));
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_clear_error(&error);
    }
}

/* ------------------------------------------------------------------------
 * docs/policy.md's worked examples, as written there.
 */

static void
test_doc_examples(void)
{
    /* Example 1: a 4-vCPU guest without vNUMA re-pinned from node 0 to node 1. */
    {
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;

        case_init(&c, host(2, (const guint64[]){6144, 3072}), domain(4, NULL),
                  AFFINITY("2", "3", "2", "3"));
        place(c.placement, -1, 0, 2048);
        out = decide_ok(&c);
        assert_move(at(out, 0), -1, 1, 2048, NS_POLICY_REASON_MOVE);
        g_assert_cmpstr(at(out, 0)->message, ==,
                        "vCPUs 0-3 run on node 1: 2048 of 2048 MiB elsewhere");
    }
    /* Example 2: the same guest, node 1 with 1280 MiB free. */
    {
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;

        case_init(&c, host(2, (const guint64[]){6144, 1280}), domain(4, NULL),
                  AFFINITY("2", "3", "2", "3"));
        place(c.placement, -1, 0, 2048);
        out = decide_ok(&c);
        assert_move(at(out, 0), -1, 1, 1024, NS_POLICY_REASON_MOVE_CAPPED);
        g_assert_cmpstr(at(out, 0)->message, ==,
                        "vCPUs 0-3 run on node 1: 2048 of 2048 MiB elsewhere; node 1 would "
                        "fall under its 256 MiB reserve: capped to 1024 MiB");
    }
    /* Example 3: two vNUMA cells on a 4-node host, one spread, one drifted a little. */
    {
        g_auto(Case) c = { 0 };
        g_autoptr(GArray) out = NULL;

        case_init(&c, host(4, NULL),
                  domain(4, "<cpu><numa><cell id='0' cpus='0-1' memory='1024' unit='MiB'/>"
                            "<cell id='1' cpus='2-3' memory='1024' unit='MiB'/></numa></cpu>"),
                  AFFINITY("2-3", "0-3", "6", "7"));
        place(c.placement, 0, 0, 1024);
        place(c.placement, 1, 3, 984);
        place(c.placement, 1, 2, 40);
        out = decide_ok(&c);
        assert_move(at(out, 0), 0, 1, 1024, NS_POLICY_REASON_MOVE);
        g_assert_cmpstr(at(out, 0)->message, ==,
                        "vCPUs 0-1 weigh most on node 1 (1.5 of 2): 1024 of 1024 MiB elsewhere");
        assert_stay(at(out, 1), 1, 3, NS_POLICY_REASON_HYSTERESIS);
        g_assert_cmpstr(at(out, 1)->message, ==,
                        "vCPUs 2-3 run on node 3: only 3% (40 MiB) remote: below hysteresis "
                        "10%");
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/policy/mode-strings", test_mode_strings);
    g_test_add_func("/policy/reason-strings", test_reason_strings);
    g_test_add_func("/policy/options-init", test_options_init);
    g_test_add_func("/policy/whole-guest", test_whole_guest);
    g_test_add_func("/policy/majority", test_majority);
    g_test_add_func("/policy/cells", test_cells);
    g_test_add_func("/policy/in-place", test_in_place);
    g_test_add_func("/policy/unmovable-apart", test_unmovable_apart);
    g_test_add_func("/policy/spread-pinning", test_spread_pinning);
    g_test_add_func("/policy/spread-rounding", test_spread_rounding);
    g_test_add_func("/policy/unpinned", test_unpinned);
    g_test_add_func("/policy/one-vcpu", test_one_vcpu);
    g_test_add_func("/policy/even-split", test_even_split);
    g_test_add_func("/policy/no-affinity", test_no_affinity);
    g_test_add_func("/policy/tie-lowest-id", test_tie_lowest_id);
    g_test_add_func("/policy/tie-memory", test_tie_memory);
    g_test_add_func("/policy/numatune-nodeset", test_numatune_nodeset);
    g_test_add_func("/policy/cpuset-mems", test_cpuset_mems);
    g_test_add_func("/policy/interleave", test_interleave);
    g_test_add_func("/policy/memnode", test_memnode);
    g_test_add_func("/policy/memnode-restrictive", test_memnode_restrictive);
    g_test_add_func("/policy/backend-policy", test_backend_policy);
    g_test_add_func("/policy/numatune-exclusion", test_numatune_exclusion);
    g_test_add_func("/policy/huge-pages", test_huge_pages);
    g_test_add_func("/policy/check-huge-room", test_check_huge_room);
    g_test_add_func("/policy/check-node", test_check_node);
    g_test_add_func("/policy/pinned-by-device", test_pinned_by_device);
    g_test_add_func("/policy/memoryless-node", test_memoryless_node);
    g_test_add_func("/policy/offline-node", test_offline_node);
    g_test_add_func("/policy/hysteresis", test_hysteresis);
    g_test_add_func("/policy/reserve", test_reserve);
    g_test_add_func("/policy/reserve-shared", test_reserve_shared);
    g_test_add_func("/policy/ledger-shares-room", test_ledger_shares_room);
    g_test_add_func("/policy/opt-out", test_opt_out);
    g_test_add_func("/policy/nothing-placed", test_nothing_placed);
    g_test_add_func("/policy/errors", test_errors);
    g_test_add_func("/policy/doc-examples", test_doc_examples);
    return g_test_run();
}
