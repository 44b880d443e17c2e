/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy: facts in, one decision per vNUMA cell out (rules in
 * policy.h, worked examples in docs/policy.md).
 *
 * Each decision is a chain of checks, cheapest and most final first: the
 * mode, numatune's own intent, the vCPUs' home node, whether that node may
 * and can take memory, whether enough is off home to be worth a job, and
 * how much room the home has above its reserve.  The first check that says
 * "stay" writes the reason; a decision that passes them all moves.
 *
 * Weights are sums of 1/k in double precision.  The same terms summed in a
 * different order can differ in the last bit, so weights within
 * WEIGHT_EPSILON of each other count as equal (a real difference is at
 * least 1/(k1*k2) for k up to the node count: far above it).
 */
#include "numashift/policy.h"

#include <string.h>

#include "numashift/error.h"

#define MIB (G_GUINT64_CONSTANT(1) << 20)
#define WEIGHT_EPSILON 1e-9

/* ------------------------------------------------------------------------
 * Names
 */

static const char *const mode_names[] = {
    [NS_POLICY_MODE_FOLLOW] = "follow",
    [NS_POLICY_MODE_OFF] = "off",
};

static const char *const reason_names[] = {
    [NS_POLICY_REASON_MOVE] = "move",
    [NS_POLICY_REASON_MOVE_CAPPED] = "move-capped",
    [NS_POLICY_REASON_IN_PLACE] = "in-place",
    [NS_POLICY_REASON_HYSTERESIS] = "hysteresis",
    [NS_POLICY_REASON_OPTED_OUT] = "opted-out",
    [NS_POLICY_REASON_INTERLEAVE] = "interleave",
    [NS_POLICY_REASON_NO_PREFERENCE] = "no-preference",
    [NS_POLICY_REASON_NODE_UNUSABLE] = "node-unusable",
    [NS_POLICY_REASON_NOT_ALLOWED] = "not-allowed",
    [NS_POLICY_REASON_RESERVE] = "reserve",
    [NS_POLICY_REASON_NOTHING_PLACED] = "nothing-placed",
    [NS_POLICY_REASON_PINNED] = "pinned",
};

void
ns_policy_options_init(NsPolicyOptions *opts)
{
    opts->reserve_mib = NS_POLICY_RESERVE_MIB_DEFAULT;
    opts->min_remote_percent = NS_POLICY_MIN_REMOTE_PERCENT_DEFAULT;
    opts->min_remote_mib = NS_POLICY_MIN_REMOTE_MIB_DEFAULT;
}

gboolean
ns_policy_mode_from_string(const char *text, NsPolicyMode *ret_mode, GError **error)
{
    for (guint i = 0; i < G_N_ELEMENTS(mode_names); i++) {
        if (text != NULL && strcmp(text, mode_names[i]) == 0) {
            *ret_mode = (NsPolicyMode)i;
            return TRUE;
        }
    }
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                "unknown numashift policy mode '%s' (expected 'follow' or 'off')",
                text != NULL ? text : "(null)");
    return FALSE;
}

const char *
ns_policy_mode_to_string(NsPolicyMode mode)
{
    return (guint)mode < G_N_ELEMENTS(mode_names) ? mode_names[mode] : NULL;
}

const char *
ns_policy_reason_to_string(NsPolicyReason reason)
{
    return (guint)reason < G_N_ELEMENTS(reason_names) ? reason_names[reason] : NULL;
}

/* ------------------------------------------------------------------------
 * Helpers
 */

/* "0-1,4" for an ascending id list; "none" when empty. */
static char *
format_ids(const GArray *ids)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < ids->len;) {
        guint first = g_array_index(ids, guint, i);
        guint last = first;

        while (++i < ids->len && g_array_index(ids, guint, i) == last + 1)
            last++;
        if (s->len > 0)
            g_string_append_c(s, ',');
        if (last == first)
            g_string_append_printf(s, "%u", first);
        else
            g_string_append_printf(s, "%u-%u", first, last);
    }
    if (s->len == 0)
        g_string_append(s, "none");
    return g_string_free(s, FALSE);
}

static gboolean
list_contains(const GArray *ids, guint id)
{
    for (guint i = 0; i < ids->len; i++) {
        if (g_array_index(ids, guint, i) == id)
            return TRUE;
    }
    return FALSE;
}

/* Ids in both ascending lists; either may be NULL ("every id"); NULL if both are. */
static GArray *
intersect(const GArray *a, const GArray *b)
{
    GArray *out;

    if (a == NULL || b == NULL) {
        const GArray *only = a != NULL ? a : b;

        return only != NULL ? g_array_copy((GArray *)only) : NULL;
    }
    out = g_array_new(FALSE, FALSE, sizeof(guint));
    for (guint i = 0; i < a->len; i++) {
        if (list_contains(b, g_array_index(a, guint, i)))
            g_array_append_val(out, g_array_index(a, guint, i));
    }
    return out;
}

static guint64
stats_bytes_on(const NsPlacementStats *stats, guint node)
{
    return stats != NULL ? ns_placement_stats_node(stats, node).bytes : 0;
}

/* Bytes of @stats found unmovable (livemap.h) on nodes other than @home. */
static guint64
stats_unmovable_off(const NsPlacementStats *stats, guint home)
{
    guint64 sum = 0;

    for (guint n = 0; stats != NULL && stats->unmovable_nodes != NULL &&
                      n < stats->unmovable_nodes->len;
         n++)
        if (n != home)
            sum += g_array_index(stats->unmovable_nodes, NsPlacementCount, n).bytes;
    return sum;
}

/* ------------------------------------------------------------------------
 * Bindings: which nodes a guest's memory may use
 */

/* Why a guest with an assigned device stays. */
static char *
pinned_message(const NsDomainConfig *config)
{
    return g_strdup_printf("guest memory is pinned by device assignment (%s): it cannot move",
                           config->pinning_device);
}

/* A libvirt nodeset ("0-3,^2") as NS_ERROR_INVALID_INPUT saying @what on failure. */
static GArray *
parse_nodeset(const char *nodeset, const char *what, GError **error)
{
    g_autoptr(GError) local = NULL;
    GArray *nodes = ns_parse_cpulist(nodeset, &local);

    if (nodes == NULL)
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s nodeset: %s", what,
                    local->message);
    return nodes;
}

/*
 * The domain-wide numatune's nodes into *@ret (NULL: any node): strict and
 * restrictive bind the memory to the nodeset (libvirt puts it in
 * cpuset.mems too); preferred and interleave do not forbid nodes.
 */
static gboolean
numatune_nodes(const NsDomainConfig *cfg, GArray **ret, GError **error)
{
    *ret = NULL;
    if (cfg->numatune_nodeset == NULL || (g_strcmp0(cfg->numatune_mode, "strict") != 0 &&
                                          g_strcmp0(cfg->numatune_mode, "restrictive") != 0))
        return TRUE;
    *ret = parse_nodeset(cfg->numatune_nodeset, "numatune", error);
    return *ret != NULL;
}

/* What binds one unit's memory beyond the domain-wide numatune. */
typedef struct {
    GArray *nodes;      /* of guint: the nodes it may use; NULL: no bind of its own */
    GString *bound_by;  /* what narrowed @nodes, "; "-separated; empty: nothing */
    char *interleaved;  /* what interleaves it on purpose; NULL: nothing */
} Binding;

static void
binding_clear(Binding *b)
{
    g_clear_pointer(&b->nodes, g_array_unref);
    if (b->bound_by != NULL)
        g_string_free(b->bound_by, TRUE);
    b->bound_by = NULL;
    g_clear_pointer(&b->interleaved, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Binding, binding_clear)

/* Narrow @b to @nodes, saying @why. */
static void
binding_narrow(Binding *b, const GArray *nodes, const char *why)
{
    GArray *narrowed = intersect(b->nodes, nodes);

    g_clear_pointer(&b->nodes, g_array_unref);
    b->nodes = narrowed;
    g_string_append_printf(b->bound_by, "%s%s", b->bound_by->len > 0 ? "; " : "", why);
}

/* @cell's <memnode>: strict binds the cell to its nodeset (QEMU's backend
 * gets policy bind); interleave spreads it on purpose; preferred forbids
 * nothing; restrictive leaves the cell to the domain-wide nodeset (libvirt
 * then gives the backend no policy and binds through cpuset.mems only). */
static gboolean
bind_memnode(const NsDomainCell *cell, Binding *b, GError **error)
{
    if (cell->memnode_mode == NULL)
        return TRUE;
    if (strcmp(cell->memnode_mode, "interleave") == 0) {
        if (b->interleaved == NULL)
            b->interleaved = g_strdup_printf("numatune memnode interleaves cell %u over nodes %s",
                                             cell->id, cell->memnode_nodeset);
        return TRUE;
    }
    if (strcmp(cell->memnode_mode, "strict") != 0)
        return TRUE;

    g_autofree char *what = g_strdup_printf("cell %u memnode", cell->id);
    g_autoptr(GArray) nodes = parse_nodeset(cell->memnode_nodeset, what, error);

    if (nodes == NULL)
        return FALSE;
    g_autofree char *why = g_strdup_printf("cell %u is bound to nodes %s (numatune memnode strict)",
                                           cell->id, cell->memnode_nodeset);

    binding_narrow(b, nodes, why);
    return TRUE;
}

/* QEMU's policy on each backend holding @cell's RAM in @map (query-memdev:
 * what QEMU really passed to mbind(2), whatever the XML says). */
static void
bind_backends(const NsMemMap *map, gint cell, Binding *b)
{
    const char *last = NULL;

    for (guint i = 0; map != NULL && i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        const NsMemBackend *be;

        if (r->cell != cell || g_strcmp0(r->backend, last) == 0)
            continue;
        last = r->backend;
        be = ns_memmap_find_backend(map, r->backend);
        if (be == NULL || be->policy == NULL)
            continue;

        g_autofree char *nodes = format_ids(be->host_nodes);

        if (strcmp(be->policy, "bind") == 0) {
            g_autofree char *why = g_strdup_printf("QEMU binds backend %s to nodes %s", be->id,
                                                   nodes);

            binding_narrow(b, be->host_nodes, why);
        } else if (strcmp(be->policy, "interleave") == 0 && b->interleaved == NULL) {
            b->interleaved = g_strdup_printf("QEMU interleaves backend %s over nodes %s", be->id,
                                             nodes);
        }
    }
}

static const NsDomainCell *
config_cell(const NsDomainConfig *cfg, gint cell)
{
    for (guint i = 0; cell >= 0 && i < cfg->cells->len; i++)
        if (g_array_index(cfg->cells, NsDomainCell, i).id == (guint)cell)
            return &g_array_index(cfg->cells, NsDomainCell, i);
    return NULL;
}

/* Fill @b (zeroed by the caller) for @cell (-1: a guest without vNUMA, or
 * the RAM no cell owns). */
static gboolean
bind_unit(const NsDomainConfig *cfg, const NsMemMap *map, gint cell, Binding *b, GError **error)
{
    const NsDomainCell *c = config_cell(cfg, cell);

    b->bound_by = g_string_new(NULL);
    if (c != NULL && !bind_memnode(c, b, error))
        return FALSE;
    bind_backends(map, cell, b);
    return TRUE;
}

static gboolean
check_unit_node(const NsDomainConfig *cfg, const NsMemMap *map, gint cell, guint node,
                GError **error)
{
    g_auto(Binding) b = { 0 };

    if (!bind_unit(cfg, map, cell, &b, error))
        return FALSE;
    if (b.nodes == NULL || list_contains(b.nodes, node))
        return TRUE;
    g_autofree char *whose = cell >= 0 ? g_strdup_printf("vNUMA cell %d", cell)
                                       : g_strdup("the memory");

    g_set_error(error, NS_ERROR, NS_ERROR_PERMISSION, "node %u is not allowed for %s of domain '%s': %s",
                node, whose, cfg->name, b.bound_by->str);
    return FALSE;
}

gboolean
ns_policy_check_node(const NsDomainConfig *config, const NsMemMap *map, gint cell, guint node,
                     GError **error)
{
    g_autoptr(GArray) numatune = NULL;

    if (config->pinning_device != NULL) {
        g_autofree char *why = pinned_message(config);

        g_set_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED, "domain '%s': %s", config->name, why);
        return FALSE;
    }

    if (!numatune_nodes(config, &numatune, error))
        return FALSE;
    if (numatune != NULL && !list_contains(numatune, node)) {
        g_set_error(error, NS_ERROR, NS_ERROR_PERMISSION,
                    "node %u is outside the nodes domain '%s' may use: %s (numatune %s)", node,
                    config->name, config->numatune_nodeset, config->numatune_mode);
        return FALSE;
    }
    if (cell >= 0)
        return check_unit_node(config, map, cell, node, error);
    /* The whole guest: every cell, and any RAM no cell owns. */
    for (guint i = 0; i < config->cells->len; i++)
        if (!check_unit_node(config, map, (gint)g_array_index(config->cells, NsDomainCell, i).id,
                             node, error))
            return FALSE;
    return check_unit_node(config, map, -1, node, error);
}

/* ------------------------------------------------------------------------
 * One call's state
 */

typedef struct {
    guint node;
    guint64 page_size;
    guint64 bytes;
} PlannedHuge;

typedef struct {
    const NsPolicyInput *in;
    NsPolicyOptions opts;
    NsPolicyMode mode;
    const char *mode_source; /* "configuration", "metadata" or NULL (default) */
    gboolean interleave;
    GArray *allowed;         /* of guint; NULL: every node */
    guint64 *planned;        /* bytes already planned per node id by earlier cells */
    guint64 *promised;       /* bytes other running moves promised per node id (base
                                pages: out of MemFree), from the ledger */
    GArray *planned_huge;    /* of PlannedHuge: the same, per node and huge page pool */
} Ctx;

static gboolean
ctx_init(Ctx *ctx, const NsPolicyInput *in, GError **error)
{
    const NsDomainConfig *cfg = in->config;
    const char *mode_text = in->mode_override != NULL ? in->mode_override : cfg->numashift_policy;
    g_autoptr(GArray) numatune = NULL;
    g_autoptr(GError) local = NULL;

    ctx->in = in;
    if (in->options != NULL)
        ctx->opts = *in->options;
    else
        ns_policy_options_init(&ctx->opts);
    if (ctx->opts.min_remote_percent > 100) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "policy hysteresis %u%% is above 100%%", ctx->opts.min_remote_percent);
        return FALSE;
    }
    /* Keeps every MiB -> bytes product below 2^64. */
    if (ctx->opts.reserve_mib > G_MAXUINT64 / MIB || ctx->opts.min_remote_mib > G_MAXUINT64 / MIB) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "policy reserve or minimum is too large");
        return FALSE;
    }

    ctx->mode = NS_POLICY_MODE_FOLLOW;
    ctx->mode_source = NULL;
    if (mode_text != NULL) {
        ctx->mode_source = in->mode_override == NULL           ? "metadata"
                           : in->mode_override_source != NULL ? in->mode_override_source
                                                              : "configuration";
        if (!ns_policy_mode_from_string(mode_text, &ctx->mode, &local)) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "domain %s, %s: %s",
                        cfg->name != NULL ? cfg->name : "(unnamed)", ctx->mode_source,
                        local->message);
            return FALSE;
        }
    }

    ctx->interleave = g_strcmp0(cfg->numatune_mode, "interleave") == 0;

    if (!numatune_nodes(cfg, &numatune, error))
        return FALSE;
    ctx->allowed = intersect(numatune, in->cpuset_mems);
    ctx->planned = g_new0(guint64, (gsize)in->topology->max_node + 1);
    ctx->promised = g_new0(guint64, (gsize)in->topology->max_node + 1);
    for (guint n = 0; in->ledger != NULL && n <= in->topology->max_node; n++)
        ctx->promised[n] = ns_ledger_promised(in->ledger, in->ledger_owner, n, 0);
    ctx->planned_huge = g_array_new(FALSE, TRUE, sizeof(PlannedHuge));
    return TRUE;
}

static void
ctx_clear(Ctx *ctx)
{
    g_clear_pointer(&ctx->allowed, g_array_unref);
    g_clear_pointer(&ctx->planned, g_free);
    g_clear_pointer(&ctx->promised, g_free);
    g_clear_pointer(&ctx->planned_huge, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Ctx, ctx_clear)

/* ------------------------------------------------------------------------
 * The home node
 */

typedef struct {
    gint node;        /* -1: no preference */
    GArray *weighed;  /* vCPUs whose affinity lies on known nodes */
    GArray *tied;     /* nodes sharing the top weight, when more than one */
    double weight;    /* of the home */
    double total;     /* of all vCPUs */
    gboolean by_memory; /* a tie went to the node with most memory (else lowest id) */
} Home;

static void
home_clear(Home *h)
{
    g_clear_pointer(&h->weighed, g_array_unref);
    g_clear_pointer(&h->tied, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Home, home_clear)

/* Add 1/k to each of the k nodes @cpus span (CPUs no online node lists are
 * ignored); FALSE if they span none. */
static gboolean
weigh_vcpu(const NsTopology *topo, const GArray *cpus, double *weights, gboolean *seen)
{
    guint k = 0;

    memset(seen, 0, ((gsize)topo->max_node + 1) * sizeof(*seen));
    for (guint i = 0; cpus != NULL && i < cpus->len; i++) {
        gint node = ns_topology_node_of_cpu(topo, g_array_index(cpus, guint, i));

        if (node >= 0 && !seen[node]) {
            seen[node] = TRUE;
            k++;
        }
    }
    for (guint n = 0; n <= topo->max_node; n++) {
        if (seen[n])
            weights[n] += 1.0 / k;
    }
    return k > 0;
}

/* Fill @h (zeroed by the caller).  @vcpus: the unit's vCPUs, or NULL for
 * every vCPU with an affinity. */
static void
find_home(const Ctx *ctx, const GArray *vcpus, const NsPlacementStats *stats, Home *h)
{
    const NsTopology *topo = ctx->in->topology;
    const GPtrArray *affinity = ctx->in->vcpu_affinity;
    guint nvcpus = vcpus != NULL ? vcpus->len : affinity->len;
    g_autofree double *weights = g_new0(double, (gsize)topo->max_node + 1);
    g_autofree gboolean *seen = g_new0(gboolean, (gsize)topo->max_node + 1);
    guint cpu_nodes = 0;
    guint top_count = 0;
    gint best = -1;

    h->node = -1;
    h->weighed = g_array_new(FALSE, FALSE, sizeof(guint));
    h->tied = g_array_new(FALSE, FALSE, sizeof(guint));

    for (guint i = 0; i < nvcpus; i++) {
        guint v = vcpus != NULL ? g_array_index(vcpus, guint, i) : i;

        /* A vCPU libvirt reported no affinity for (hot-unplugged) weighs nothing. */
        if (v < affinity->len &&
            weigh_vcpu(topo, g_ptr_array_index(affinity, v), weights, seen)) {
            g_array_append_val(h->weighed, v);
            h->total += 1;
        }
    }
    for (guint n = 0; n <= topo->max_node; n++) {
        if (best < 0 || weights[n] > weights[best] + WEIGHT_EPSILON)
            best = (gint)n;
    }
    for (guint i = 0; i < topo->nodes->len; i++) {
        const NsNode *node = g_ptr_array_index(topo->nodes, i);

        if (!node->online || node->cpus->len == 0)
            continue;
        cpu_nodes++;
        if (weights[node->id] >= weights[best] - WEIGHT_EPSILON) {
            top_count++;
            g_array_append_val(h->tied, node->id);
        }
    }
    /* Nothing weighed, or every node with CPUs weighs the same (all vCPUs
     * unpinned, or spread evenly): the vCPUs point nowhere in particular,
     * and consolidating the memory on one node would help no one. */
    if (h->total == 0 || (cpu_nodes >= 2 && top_count == cpu_nodes))
        return;

    if (top_count > 1) {
        /* A tie: the tied node holding most of this memory moves the least;
         * equal holdings (none, say) go to the lowest id, first in @tied. */
        guint64 most = 0;
        guint holders = 0;

        best = (gint)g_array_index(h->tied, guint, 0);
        for (guint i = 0; i < h->tied->len; i++) {
            guint n = g_array_index(h->tied, guint, i);
            guint64 bytes = stats_bytes_on(stats, n);

            if (bytes > most) {
                best = (gint)n;
                most = bytes;
                holders = 1;
            } else if (bytes == most && most > 0) {
                holders++;
            }
        }
        h->by_memory = holders == 1;
    } else {
        g_array_set_size(h->tied, 0);
    }
    h->node = best;
    h->weight = weights[best];
}

static char *
format_weight(double w)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    return g_strdup(g_ascii_formatd(buf, sizeof(buf), "%.3g", w));
}

/* "vCPUs 0-1 run on node 1", "vCPUs 0-3 weigh most on node 1 (2.5 of 4)",
 * "vCPUs 0-1 weigh the same on nodes 0-1, node 1 holds most of the memory". */
static char *
describe_home(const Home *h)
{
    g_autofree char *vcpus = format_ids(h->weighed);
    gboolean one = h->weighed->len == 1;
    const char *noun = one ? "vCPU" : "vCPUs";
    const char *s = one ? "s" : ""; /* the verb's */

    if (h->tied->len > 0) {
        g_autofree char *nodes = format_ids(h->tied);

        return g_strdup_printf("%s %s weigh%s the same on nodes %s, node %d %s", noun, vcpus, s,
                               nodes, h->node,
                               h->by_memory ? "holds most of the memory" : "has the lowest id");
    }
    if (h->weight >= h->total - WEIGHT_EPSILON)
        return g_strdup_printf("%s %s run%s on node %d", noun, vcpus, s, h->node);

    g_autofree char *w = format_weight(h->weight);
    g_autofree char *t = format_weight(h->total);

    return g_strdup_printf("%s %s weigh%s most on node %d (%s of %s)", noun, vcpus, s, h->node,
                           w, t);
}

/* ------------------------------------------------------------------------
 * One decision
 */

/* What moving more would do to the home node. */
static char *
reserve_phrase(const NsPolicyOptions *opts)
{
    if (opts->reserve_mib == 0)
        return g_strdup("would run out of free memory");
    return g_strdup_printf("would fall under its %" G_GUINT64_FORMAT " MiB reserve",
                           opts->reserve_mib);
}

/* reserve_phrase(), and what other running moves promised @node, which
 * counted against its room: "would fall under its 64 MiB reserve,
 * counting 100 MiB promised to other jobs". */
static char *
room_limit_phrase(const Ctx *ctx, gint node)
{
    g_autofree char *limit = reserve_phrase(&ctx->opts);

    if (ctx->promised[node] == 0)
        return g_steal_pointer(&limit);
    return g_strdup_printf("%s, counting %" G_GUINT64_FORMAT " MiB promised to other jobs", limit,
                           ctx->promised[node] / MIB);
}

static void
stay(NsPolicyDecision *d, NsPolicyReason reason, char *message)
{
    d->target = -1;
    d->bytes = 0;
    d->reason = reason;
    d->message = message;
}

/*
 * The hugetlbfs page size backing @cell's RAM in @map (the largest, should
 * its backends differ), or 0 for base pages and THP (smaps' KernelPageSize
 * is 4 kB for those) or an unknown map.
 */
static guint64
unit_huge_page_size(const NsMemMap *map, gint cell)
{
    guint64 size = 0;

    for (guint i = 0; map != NULL && i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

        if (r->cell == cell && r->page_size > NS_GUEST_PAGE_SIZE)
            size = MAX(size, r->page_size);
    }
    return size;
}

/* "2 MiB", "1 GiB". */
static char *
format_page_size(guint64 bytes)
{
    if (bytes >= 1024 * MIB && bytes % (1024 * MIB) == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT " GiB", bytes / (1024 * MIB));
    if (bytes % MIB == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT " MiB", bytes / MIB);
    return g_strdup_printf("%" G_GUINT64_FORMAT " KiB", bytes / 1024);
}

/* "node 1 has 40 free 2 MiB pages; cell 0 needs 128", and when other moves
 * hold @promised of the pool's pages: "node 1 has 40 free 2 MiB pages (not
 * counting 8 promised to other jobs); ..." */
static char *
huge_room_phrase(guint node, guint64 room, guint64 page_size, gint cell, guint64 need,
                 guint64 promised)
{
    g_autofree char *size = format_page_size(page_size);
    g_autofree char *whose = cell >= 0 ? g_strdup_printf("cell %d", cell) : g_strdup("the guest");
    g_autofree char *others =
        promised > 0
            ? g_strdup_printf(" (not counting %" G_GUINT64_FORMAT " promised to other jobs)", promised)
            : g_strdup("");

    return g_strdup_printf("node %u has %" G_GUINT64_FORMAT " free %s pages%s; %s needs %" G_GUINT64_FORMAT,
                           node, room, size, others, whose, need);
}

gboolean
ns_policy_check_huge_room(const NsTopology *topology, guint node, guint64 page_size, gint cell,
                          guint64 need, GError **error)
{
    const NsNode *n = ns_topology_get_node(topology, node);
    const NsHugePool *pool = n != NULL ? ns_node_get_huge_pool(n, page_size) : NULL;
    guint64 room = pool != NULL ? pool->free : 0;

    if (need <= room)
        return TRUE;
    g_autofree char *phrase = huge_room_phrase(node, room, page_size, cell, need, 0);

    g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "%s: nothing moved", phrase);
    return FALSE;
}

/* What earlier cells of this call send to @node's pool of @page_size pages. */
static guint64 *
planned_huge(Ctx *ctx, guint node, guint64 page_size)
{
    PlannedHuge fresh = { node, page_size, 0 };

    for (guint i = 0; i < ctx->planned_huge->len; i++) {
        PlannedHuge *p = &g_array_index(ctx->planned_huge, PlannedHuge, i);

        if (p->node == node && p->page_size == page_size)
            return &p->bytes;
    }
    g_array_append_val(ctx->planned_huge, fresh);
    return &g_array_index(ctx->planned_huge, PlannedHuge, ctx->planned_huge->len - 1).bytes;
}

/*
 * The room of a cell backed by hugetlbfs pages of @huge bytes: the home's
 * free pages of that size (less what earlier cells send there), never its
 * MemFree (a pool's pages are not in MemFree, and MemFree says nothing of
 * the pool) and no reserve (the pool is memory set aside for huge pages
 * already).  Counted in whole pages: a page moves whole.
 */
static void
decide_huge(Ctx *ctx, NsPolicyDecision *d, const char *why, const NsNode *node, guint64 huge,
            guint64 remote, guint64 placed)
{
    const NsHugePool *pool = ns_node_get_huge_pool(node, huge);
    guint64 *planned = planned_huge(ctx, node->id, huge);
    guint64 free_pages = pool != NULL ? pool->free : 0;
    /* Pages other running moves will take from the pool, whole pages. */
    guint64 promised = ctx->in->ledger != NULL
        ? ns_ledger_promised(ctx->in->ledger, ctx->in->ledger_owner, node->id, huge)
        : 0;
    guint64 promised_pages = (promised + huge - 1) / huge;
    guint64 taken = *planned / huge + promised_pages; /* planned: whole pages */
    guint64 room = free_pages > taken ? free_pages - taken : 0;
    guint64 need = remote / huge + (remote % huge != 0);
    g_autofree char *size = format_page_size(huge);
    g_autofree char *pools = huge_room_phrase((guint)d->home, room, huge, d->cell, need,
                                              promised_pages);

    /* As for base pages: a cap below the hysteresis minimum is not worth a job. */
    if (room == 0 || (room < need && room * huge < ctx->opts.min_remote_mib * MIB)) {
        stay(d, NS_POLICY_REASON_RESERVE, g_strdup_printf("%s: %s", why, pools));
        return;
    }
    d->target = d->home;
    d->bytes = MIN(need, room) * huge;
    *planned += d->bytes;
    if (room < need) {
        d->reason = NS_POLICY_REASON_MOVE_CAPPED;
        d->message = g_strdup_printf("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                     " MiB elsewhere; %s: capped to %" G_GUINT64_FORMAT " MiB",
                                     why, remote / MIB, placed / MIB, pools, d->bytes / MIB);
    } else {
        d->reason = NS_POLICY_REASON_MOVE;
        d->message = g_strdup_printf("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                     " MiB elsewhere, in %" G_GUINT64_FORMAT " %s pages",
                                     why, remote / MIB, placed / MIB, need, size);
    }
}

static void
decide_unit(Ctx *ctx, gint cell, const GArray *vcpus, const Binding *binding, NsPolicyDecision *d)
{
    const NsTopology *topo = ctx->in->topology;
    const NsPlacementStats *stats = ns_placement_summary_cell(ctx->in->placement, cell);
    const guint64 placed = ns_placement_stats_placed_bytes(stats);
    const NsNode *node;
    g_autofree char *why = NULL;
    guint64 remote;
    guint64 budget;
    guint64 reserve = ctx->opts.reserve_mib * MIB;
    guint64 min_bytes = ctx->opts.min_remote_mib * MIB;
    g_auto(Home) h = { 0 };

    memset(d, 0, sizeof(*d));
    d->cell = cell;
    d->home = -1;

    if (ctx->mode == NS_POLICY_MODE_OFF) {
        stay(d, NS_POLICY_REASON_OPTED_OUT, g_strdup_printf("opted out by %s", ctx->mode_source));
        return;
    }
    if (ctx->in->config->pinning_device != NULL) {
        stay(d, NS_POLICY_REASON_PINNED, pinned_message(ctx->in->config));
        return;
    }
    if (ctx->interleave) {
        const char *set = ctx->in->config->numatune_nodeset;

        stay(d, NS_POLICY_REASON_INTERLEAVE,
             g_strdup_printf("numatune interleaves the memory over nodes %s on purpose",
                             set != NULL ? set : "(auto)"));
        return;
    }
    if (binding->interleaved != NULL) {
        stay(d, NS_POLICY_REASON_INTERLEAVE,
             g_strdup_printf("%s on purpose", binding->interleaved));
        return;
    }

    find_home(ctx, vcpus, stats, &h);
    if (h.node < 0) {
        g_autofree char *ids = format_ids(h.weighed);

        stay(d, NS_POLICY_REASON_NO_PREFERENCE,
             h.weighed->len == 0
                 ? g_strdup("no vCPU has an affinity on a known node")
                 : g_strdup_printf("%s %s weigh%s the same on every node with CPUs "
                                   "(unpinned or spread evenly)",
                                   h.weighed->len == 1 ? "vCPU" : "vCPUs", ids,
                                   h.weighed->len == 1 ? "s" : ""));
        return;
    }
    d->home = h.node;
    /* Memory found unmovable stays where it is: remote, but not what a
     * move could fix, so it counts apart (and no move is planned for it). */
    const guint64 unmovable_remote = stats_unmovable_off(stats, (guint)h.node);

    d->remote_bytes = placed - stats_bytes_on(stats, (guint)h.node) - unmovable_remote;
    why = describe_home(&h);

    node = ns_topology_get_node(topo, (guint)d->home);
    /* has_memory implies online; and only online nodes own CPUs, so an
     * offline node never got here in the first place. */
    if (!node->has_memory) {
        stay(d, NS_POLICY_REASON_NODE_UNUSABLE,
             g_strdup_printf("%s, but node %d has no memory", why, d->home));
        return;
    }
    if (ctx->allowed != NULL && !list_contains(ctx->allowed, (guint)d->home)) {
        g_autofree char *set = format_ids(ctx->allowed);

        stay(d, NS_POLICY_REASON_NOT_ALLOWED,
             g_strdup_printf("%s, outside the allowed nodeset %s", why, set));
        return;
    }
    if (binding->nodes != NULL && !list_contains(binding->nodes, (guint)d->home)) {
        g_autoptr(GArray) both = intersect(ctx->allowed, binding->nodes);
        g_autofree char *set = format_ids(both);

        stay(d, NS_POLICY_REASON_NOT_ALLOWED,
             g_strdup_printf("%s, outside the allowed nodeset %s: %s", why, set,
                             binding->bound_by->str));
        return;
    }
    if (placed == 0) {
        /* No stats at all: the memory map attributes no range to this cell,
         * so no plan could name its memory either. */
        stay(d, NS_POLICY_REASON_NOTHING_PLACED,
             stats == NULL
                 ? g_strdup_printf("%s, but the memory map has no range of cell %d", why, cell)
                 : g_strdup_printf("%s, but none of this memory is placed yet", why));
        return;
    }

    remote = d->remote_bytes;
    if (remote == 0 && unmovable_remote > 0) {
        stay(d, NS_POLICY_REASON_IN_PLACE,
             g_strdup_printf("%s: all movable memory already there, %.1f MiB elsewhere "
                             "cannot move",
                             why, (double)unmovable_remote / (double)MIB));
        return;
    }
    if (remote == 0) {
        stay(d, NS_POLICY_REASON_IN_PLACE,
             g_strdup_printf("%s: all %" G_GUINT64_FORMAT " MiB already there", why,
                             placed / MIB));
        return;
    }
    if (remote * 100 < placed * ctx->opts.min_remote_percent) {
        stay(d, NS_POLICY_REASON_HYSTERESIS,
             g_strdup_printf("%s: only %" G_GUINT64_FORMAT "%% (%" G_GUINT64_FORMAT
                             " MiB) remote: below hysteresis %u%%",
                             why, remote * 100 / placed, remote / MIB,
                             ctx->opts.min_remote_percent));
        return;
    }
    if (remote < min_bytes) {
        stay(d, NS_POLICY_REASON_HYSTERESIS,
             g_strdup_printf("%s: only %" G_GUINT64_FORMAT " MiB (%" G_GUINT64_FORMAT
                             "%%) remote: below the %" G_GUINT64_FORMAT " MiB minimum",
                             why, remote / MIB, remote * 100 / placed,
                             ctx->opts.min_remote_mib));
        return;
    }

    const guint64 huge = unit_huge_page_size(ctx->in->map, cell);

    if (huge > 0) {
        decide_huge(ctx, d, why, node, huge, remote, placed);
        d->page_size = d->target >= 0 ? huge : 0;
        return;
    }
    /* Room above the reserve, less what earlier cells already send there.
     * Memory leaving the node is not counted: it leaves while ours arrives. */
    const guint64 taken = ctx->planned[d->home] + ctx->promised[d->home];

    budget = node->mem_free > reserve + taken ? node->mem_free - reserve - taken : 0;
    /* A cap that leaves less than the hysteresis minimum is the small job
     * the hysteresis exists to avoid. */
    if (budget < remote && (budget == 0 || budget < min_bytes)) {
        g_autofree char *room = budget == 0
            ? g_strdup("no room")
            : g_strdup_printf("room for only %" G_GUINT64_FORMAT " MiB, below the %"
                              G_GUINT64_FORMAT " MiB minimum", budget / MIB,
                              ctx->opts.min_remote_mib);

        g_autofree char *limit = room_limit_phrase(ctx, d->home);

        stay(d, NS_POLICY_REASON_RESERVE,
             g_strdup_printf("%s: node %d %s: %s", why, d->home, limit, room));
        return;
    }

    d->target = d->home;
    d->bytes = MIN(remote, budget);
    ctx->planned[d->home] += d->bytes;
    if (d->bytes < remote) {
        g_autofree char *limit = room_limit_phrase(ctx, d->home);

        d->reason = NS_POLICY_REASON_MOVE_CAPPED;
        d->message = g_strdup_printf("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                     " MiB elsewhere; node %d %s: capped to %"
                                     G_GUINT64_FORMAT " MiB",
                                     why, remote / MIB, placed / MIB, d->home, limit,
                                     d->bytes / MIB);
    } else {
        d->reason = NS_POLICY_REASON_MOVE;
        d->message = g_strdup_printf("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                     " MiB elsewhere", why, remote / MIB, placed / MIB);
    }
}

static void
decision_clear(gpointer p)
{
    NsPolicyDecision *d = p;

    g_clear_pointer(&d->message, g_free);
}

GArray *
ns_policy_decide(const NsPolicyInput *input, GError **error)
{
    g_autoptr(GArray) out = NULL;
    g_auto(Ctx) ctx = { 0 };

    if (input == NULL || input->config == NULL || input->vcpu_affinity == NULL ||
        input->topology == NULL || input->placement == NULL) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "policy input lacks the config, vCPU affinity, topology or placement");
        return NULL;
    }
    if (!ctx_init(&ctx, input, error))
        return NULL;

    out = g_array_new(FALSE, TRUE, sizeof(NsPolicyDecision));
    g_array_set_clear_func(out, decision_clear);
    if (input->config->cells->len == 0) {
        g_auto(Binding) b = { 0 };

        if (!bind_unit(input->config, input->map, -1, &b, error))
            return NULL;
        g_array_set_size(out, 1);
        decide_unit(&ctx, -1, NULL, &b, &g_array_index(out, NsPolicyDecision, 0));
    } else {
        g_array_set_size(out, input->config->cells->len);
        for (guint i = 0; i < input->config->cells->len; i++) {
            const NsDomainCell *cell = &g_array_index(input->config->cells, NsDomainCell, i);
            g_auto(Binding) b = { 0 };

            if (!bind_unit(input->config, input->map, (gint)cell->id, &b, error))
                return NULL;
            decide_unit(&ctx, (gint)cell->id, cell->vcpus, &b,
                        &g_array_index(out, NsPolicyDecision, i));
        }
    }
    return g_steal_pointer(&out);
}
