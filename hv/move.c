/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The move pipeline (include/numashift/move.h): numashiftd's jobs and
 * `numashift migrate --direct` both come through here, so a check made on
 * one path is made on the other.
 */
#include "numashift/move.h"

#include <string.h>

#include <gio/gio.h>

#include "numashift/error.h"
#include "numashift/mover-lock.h"
#include "numashift/placement.h"
#include "numashift/topology.h"

struct _NsMove {
    NsMoveSpec spec;
    NsPolicyOptions policy;

    GMutex lock; /* guards the fields below */
    NsEngine *engine;
    gboolean want_pause, want_cancel;
    NsEngineReport *report;
    gint64 phase_us[NS_MOVE_PHASE_COUNT];
};

static const char *const phase_names[NS_MOVE_PHASE_COUNT] = { "sample", "scan", "decide",
                                                              "engine" };

NsMove *
ns_move_new(const NsMoveSpec *spec)
{
    NsMove *move = g_new0(NsMove, 1);

    move->spec = *spec;
    move->spec.mode_override = g_strdup(spec->mode_override);
    move->spec.sysfs_root = g_strdup(spec->sysfs_root);
    move->spec.holder = g_strdup(spec->holder);
    if (spec->policy != NULL)
        move->policy = *spec->policy;
    else
        ns_policy_options_init(&move->policy);
    move->spec.policy = &move->policy;
    g_mutex_init(&move->lock);
    for (guint i = 0; i < NS_MOVE_PHASE_COUNT; i++)
        move->phase_us[i] = -1;
    return move;
}

void
ns_move_free(NsMove *move)
{
    if (move == NULL)
        return;
    g_free((char *)move->spec.mode_override);
    g_free((char *)move->spec.sysfs_root);
    g_free((char *)move->spec.holder);
    g_clear_pointer(&move->report, ns_engine_report_free);
    g_mutex_clear(&move->lock);
    g_free(move);
}

const char *
ns_move_phase_to_string(NsMovePhase phase)
{
    return phase < NS_MOVE_PHASE_COUNT ? phase_names[phase] : "unknown";
}

gint64
ns_move_get_phase_us(NsMove *move, NsMovePhase phase)
{
    gint64 us;

    g_return_val_if_fail(phase < NS_MOVE_PHASE_COUNT, -1);
    g_mutex_lock(&move->lock);
    us = move->phase_us[phase];
    g_mutex_unlock(&move->lock);
    return us;
}

static void
phase_end(NsMove *move, NsMovePhase phase, gint64 *since)
{
    gint64 now = g_get_monotonic_time();

    g_mutex_lock(&move->lock);
    move->phase_us[phase] = now - *since;
    g_mutex_unlock(&move->lock);
    *since = now;
}

/* ------------------------------------------------------------ controls */

void
ns_move_pause(NsMove *move)
{
    g_mutex_lock(&move->lock);
    move->want_pause = TRUE;
    if (move->engine != NULL)
        ns_engine_pause(move->engine);
    g_mutex_unlock(&move->lock);
}

void
ns_move_resume(NsMove *move)
{
    g_mutex_lock(&move->lock);
    move->want_pause = FALSE;
    if (move->engine != NULL)
        ns_engine_resume(move->engine);
    g_mutex_unlock(&move->lock);
}

void
ns_move_cancel(NsMove *move)
{
    g_mutex_lock(&move->lock);
    move->want_cancel = TRUE;
    if (move->engine != NULL)
        ns_engine_cancel(move->engine);
    g_mutex_unlock(&move->lock);
}

gboolean
ns_move_is_paused(NsMove *move)
{
    gboolean paused;

    g_mutex_lock(&move->lock);
    paused = move->want_pause;
    g_mutex_unlock(&move->lock);
    return paused;
}

NsEngineReport *
ns_move_get_report(NsMove *move)
{
    NsEngineReport *copy = NULL;

    g_mutex_lock(&move->lock);
    if (move->engine != NULL)
        copy = ns_engine_get_report(move->engine);
    else if (move->report != NULL)
        copy = g_memdup2(move->report, sizeof *move->report);
    g_mutex_unlock(&move->lock);
    return copy;
}

/*
 * Whether the run was cancelled before its engine started: then its report
 * says "cancelled" with nothing moved, as an engine cancelled at once would.
 */
static gboolean
cancelled_early(NsMove *move)
{
    gboolean yes;

    g_mutex_lock(&move->lock);
    yes = move->want_cancel;
    if (yes && move->report == NULL) {
        move->report = g_new0(NsEngineReport, 1);
        move->report->outcome = NS_ENGINE_OUTCOME_CANCELLED;
        move->report->first_move_us = -1;
    }
    g_mutex_unlock(&move->lock);
    return yes;
}

/* ------------------------------------------------------------- checks */

gboolean
ns_move_check_numatune(const NsDomainConfig *c, guint node, GError **error)
{
    if (c->numatune_nodeset == NULL || c->numatune_mode == NULL ||
        (strcmp(c->numatune_mode, "strict") != 0 && strcmp(c->numatune_mode, "restrictive") != 0))
        return TRUE;
    g_autoptr(GArray) allowed = ns_parse_cpulist(c->numatune_nodeset, error);

    if (allowed == NULL)
        return FALSE;
    for (guint i = 0; i < allowed->len; i++)
        if (g_array_index(allowed, guint, i) == node)
            return TRUE;
    g_set_error(error, NS_ERROR, NS_ERROR_PERMISSION,
                "node %u is outside the nodes domain '%s' may use: %s (numatune %s)", node,
                c->name, c->numatune_nodeset, c->numatune_mode);
    return FALSE;
}

/* ------------------------------------------------------------ deciding */

/*
 * The nodes QEMU's cgroup lets it use (cgroup v2 cpuset.mems.effective),
 * or NULL when that cannot be read (cgroup v1, no cpuset): then the
 * domain XML's numatune is the only restriction the policy sees.
 */
static GArray *
read_cpuset_mems(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int)pid);
    g_autofree char *text = NULL;
    g_autofree char *mems = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (char **l = lines; *l != NULL; l++) {
        if (!g_str_has_prefix(*l, "0::/"))
            continue;
        g_autofree char *file =
            g_strdup_printf("/sys/fs/cgroup%s/cpuset.mems.effective", *l + strlen("0::"));

        if (!g_file_get_contents(file, &mems, NULL, NULL))
            return NULL;
        g_strstrip(mems);
        if (*mems == '\0')
            return NULL;
        return ns_topology_parse_list(mems, 65535, NULL);
    }
    return NULL;
}

/* The policy's decisions for @summary, from fresh facts (pinning, free memory, cpuset). */
static GArray *
decide(NsMove *move, NsDomain *dom, const NsPlacementSummary *summary, GError **error)
{
    g_autoptr(GPtrArray) pinning = ns_domain_get_vcpu_pinning(dom, error);

    if (pinning == NULL)
        return NULL;
    g_autoptr(NsTopology) topo = ns_topology_load(move->spec.sysfs_root, error);

    if (topo == NULL || !ns_topology_refresh_memory(topo, error))
        return NULL;
    g_autoptr(GArray) cpuset = read_cpuset_mems(ns_domain_get_pid(dom));
    NsPolicyInput input = {
        .config = ns_domain_get_config(dom),
        .vcpu_affinity = pinning,
        .topology = topo,
        .placement = summary,
        .cpuset_mems = cpuset,
        .mode_override = move->spec.mode_override,
        .options = &move->policy,
    };
    return ns_policy_decide(&input, error);
}

/*
 * Plan @d's memory: the whole cell, or when the reserve capped it, its
 * ranges in order up to @d->bytes of guest memory less one huge page.
 * Moved bytes never exceed the planned ranges' size plus the huge page
 * the cut falls into, so the cap holds (it may move less).
 */
static gboolean
plan_decision(NsPlan *plan, const NsMemMap *map, const NsPolicyDecision *d, GError **error)
{
    if (d->reason != NS_POLICY_REASON_MOVE_CAPPED)
        return ns_plan_add_map(plan, map, d->cell, (guint)d->target, error);
    /* The engine moves a huge page whole: the one the cut falls into may
     * reach up to 2 MiB past it, so the cut leaves that much room. */
    guint64 huge = 2 * 1024 * 1024;
    guint64 left = d->bytes > huge ? (d->bytes - huge) & ~(guint64)(NS_GUEST_PAGE_SIZE - 1) : 0;

    for (guint i = 0; i < map->ranges->len && left > 0; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

        if (d->cell >= 0 && r->cell != d->cell)
            continue;
        guint64 size = MIN(r->size, left);

        if (!ns_plan_add(plan, r->gpa, size, (guint)d->target, error))
            return FALSE;
        left -= size;
    }
    return TRUE;
}

static gboolean
any_target(const GArray *decisions)
{
    for (guint i = 0; i < decisions->len; i++)
        if (g_array_index(decisions, NsPolicyDecision, i).target >= 0)
            return TRUE;
    return FALSE;
}

static gboolean
plan_rebalance(NsMove *move, NsDomain *dom, NsRadix *tree, const NsMemMap *map, NsPlan *plan,
               GError **error)
{
    g_autoptr(NsPlacementSummary) summary = ns_placement_summarize(tree, map);
    g_autoptr(GArray) decisions = decide(move, dom, summary, error);

    if (decisions == NULL)
        return FALSE;
    if (move->spec.on_decisions != NULL)
        move->spec.on_decisions(decisions, move->spec.data);
    for (guint i = 0; i < decisions->len; i++) {
        const NsPolicyDecision *d = &g_array_index(decisions, NsPolicyDecision, i);

        if (d->target >= 0 && d->bytes > 0 && !plan_decision(plan, map, d, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
plan_to_node(NsMove *move, NsDomain *dom, const NsMemMap *map, NsPlan *plan, GError **error)
{
    if (ns_plan_add_map(plan, map, move->spec.cell, move->spec.to, error))
        return TRUE;
    if (move->spec.cell >= 0 && g_error_matches(*error, NS_ERROR, NS_ERROR_NOT_FOUND))
        g_prefix_error(error, "domain '%s': ", ns_domain_get_config(dom)->name);
    return FALSE;
}

/* ---------------------------------------------------------------- run */

static gboolean
run_engine(NsMove *move, NsLiveMap *live, const NsMemMap *map, const NsPlan *plan,
           gint64 *clock, GError **error)
{
    NsEngineOptions opts = move->spec.engine;

    /* What earlier jobs learnt about pages that cannot move. */
    opts.unmovable_minute = ns_live_map_minute(live, g_get_monotonic_time());
    opts.unmovable_forgiven = ns_live_map_take_forgiveness(live) ? opts.unmovable_minute + 1 : 0;
    g_autoptr(NsEngine) engine =
        ns_engine_new(ns_live_map_get_tree(live), map, plan, &opts, error);

    if (engine == NULL)
        return FALSE;
    phase_end(move, NS_MOVE_PHASE_ENGINE, clock);
    g_mutex_lock(&move->lock);
    move->engine = engine;
    if (move->want_pause)
        ns_engine_pause(engine);
    if (move->want_cancel)
        ns_engine_cancel(engine);
    g_mutex_unlock(&move->lock);

    gboolean ok = ns_engine_run(engine, error);
    NsEngineReport *report = ns_engine_get_report(engine);

    g_mutex_lock(&move->lock);
    move->engine = NULL;
    move->report = report;
    g_mutex_unlock(&move->lock);
    if (!ok && report->outcome == NS_ENGINE_OUTCOME_CANCELLED &&
        g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        /* A cancel is an outcome the report tells, not a failure. */
        g_clear_error(error);
        return TRUE;
    }
    return ok;
}

gboolean
ns_move_run(NsMove *move, NsDomain *dom, const NsMemMap *map, NsLiveMap *live, GError **error)
{
    const NsMoveSpec *spec = &move->spec;
    NsRadix *tree = ns_live_map_get_tree(live);
    gint64 clock = g_get_monotonic_time();
    g_autoptr(NsPlan) plan = ns_plan_new();

    g_return_val_if_fail(spec->engine.dry_run || spec->holder != NULL, FALSE);
    g_return_val_if_fail(ns_live_map_get_pid(live) == map->pid, FALSE);
    if (spec->kind == NS_MOVE_TO_NODE &&
        (!ns_engine_check_node(spec->to, error) ||
         !ns_move_check_numatune(ns_domain_get_config(dom), spec->to, error)))
        return FALSE;
    if (spec->kind == NS_MOVE_REBALANCE && spec->sample_stride > 0) {
        g_autoptr(NsPlacementSummary) sample = ns_placement_sample(map, spec->sample_stride, error);
        g_autoptr(GArray) decisions = sample != NULL ? decide(move, dom, sample, error) : NULL;

        if (decisions == NULL)
            return FALSE;
        phase_end(move, NS_MOVE_PHASE_SAMPLE, &clock);
        if (!any_target(decisions))
            return TRUE; /* in place: the full scan is not worth its cost */
    }
    if (cancelled_early(move))
        return TRUE;
    /* From the scan to the last batch no other mover may touch the guest:
     * the tree would describe pages someone else is moving.  A dry run
     * moves nothing and needs no lock. */
    g_autoptr(NsMoverLock) mover =
        spec->engine.dry_run ? NULL
                             : ns_mover_lock_take(ns_domain_get_config(dom)->uuid, spec->holder,
                                                  error);

    if (!spec->engine.dry_run && mover == NULL)
        return FALSE;
    if (!ns_placement_scan(tree, map, NULL, NULL, error))
        return FALSE;
    ns_live_map_set_scanned(live, map);
    phase_end(move, NS_MOVE_PHASE_SCAN, &clock);
    if (spec->kind == NS_MOVE_REBALANCE ? !plan_rebalance(move, dom, tree, map, plan, error)
                                        : !plan_to_node(move, dom, map, plan, error))
        return FALSE;
    phase_end(move, NS_MOVE_PHASE_DECIDE, &clock);
    if (plan->steps->len == 0)
        return TRUE;
    if (cancelled_early(move))
        return TRUE;
    return run_engine(move, live, map, plan, &clock, error);
}
