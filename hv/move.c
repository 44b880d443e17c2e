/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The move pipeline (include/numashift/move.h): numashiftd's jobs and
 * `numashift migrate --direct` both come through here, so a check made on
 * one path is made on the other.
 */
#include "numashift/move.h"

#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <urcu/urcu-memb.h>

#include "numashift/error.h"
#include "numashift/hot-sample.h"
#include "numashift/mappers.h"
#include "numashift/mover-lock.h"
#include "numashift/pacer.h"
#include "numashift/placement.h"
#include "numashift/topology.h"
#include "numashift/worker-cpus.h"

struct _NsMove {
    NsMoveSpec spec;
    NsPolicyOptions policy;

    GMutex lock; /* guards the fields below */
    GCond settled; /* released or cancelled */
    NsEngine *engine;
    gboolean want_pause, want_cancel, released;
    NsEngineReport *report;
    gint64 phase_us[NS_MOVE_PHASE_COUNT];

    /* The run thread's own. */
    GPtrArray *pinning;          /* the vCPU pinning the policy decided on; NULL: not read */
    NsWorkerCpus *worker_choice; /* where the engine's workers run */
    NsPacer *pacer;              /* the guest's vCPU run delay, from the run's start */
    GArray *pinned_cpus;         /* where the domain's pinned vCPUs may run; NULL: unknown */
    NsMoveKvmCountersFunc kvm_counters;
    gpointer kvm_counters_data;
};

static const char *const phase_names[NS_MOVE_PHASE_COUNT] = { "sample", "host",   "settle",
                                                              "scan",   "decide", "engine" };

NsMove *
ns_move_new(const NsMoveSpec *spec)
{
    NsMove *move = g_new0(NsMove, 1);

    move->spec = *spec;
    move->spec.mode_override = g_strdup(spec->mode_override);
    move->spec.mode_override_source = g_strdup(spec->mode_override_source);
    move->spec.sysfs_root = g_strdup(spec->sysfs_root);
    move->spec.holder = g_strdup(spec->holder);
    move->spec.worker_cpus = g_strdup(spec->worker_cpus);
    move->spec.reserved_cpus =
        spec->reserved_cpus != NULL ? g_array_copy((GArray *)spec->reserved_cpus) : NULL;
    if (spec->policy != NULL)
        move->policy = *spec->policy;
    else
        ns_policy_options_init(&move->policy);
    move->spec.policy = &move->policy;
    g_mutex_init(&move->lock);
    g_cond_init(&move->settled);
    move->released = !spec->held;
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
    g_free((char *)move->spec.mode_override_source);
    g_free((char *)move->spec.sysfs_root);
    g_free((char *)move->spec.holder);
    g_free((char *)move->spec.worker_cpus);
    if (move->spec.reserved_cpus != NULL)
        g_array_unref((GArray *)move->spec.reserved_cpus);
    g_clear_pointer(&move->pinned_cpus, g_array_unref);
    g_clear_pointer(&move->pinning, g_ptr_array_unref);
    g_clear_pointer(&move->worker_choice, ns_worker_cpus_free);
    g_clear_pointer(&move->pacer, ns_pacer_free);
    g_clear_pointer(&move->report, ns_engine_report_free);
    g_cond_clear(&move->settled);
    g_mutex_clear(&move->lock);
    g_free(move);
}

void
ns_move_set_kvm_counters(NsMove *move, NsMoveKvmCountersFunc counters, gpointer data)
{
    move->kvm_counters = counters;
    move->kvm_counters_data = data;
}

void
ns_move_set_process(NsMove *move, const NsProcess *process)
{
    move->spec.engine.process = process;
}

/* @after less @before into the run's report. */
static void
note_kvm_deltas(NsMove *move, const NsKvmCounters *before, const NsKvmCounters *after)
{
    g_mutex_lock(&move->lock);
    if (move->report != NULL) {
        NsKvmCounterDeltas *k = &move->report->kvm;

        k->pages_4k = after->pages_4k - before->pages_4k;
        k->pages_2m = after->pages_2m - before->pages_2m;
        k->pages_1g = after->pages_1g - before->pages_1g;
        k->remote_tlb_flush = after->remote_tlb_flush - before->remote_tlb_flush;
        k->remote_tlb_flush_requests =
            after->remote_tlb_flush_requests - before->remote_tlb_flush_requests;
        k->mmu_shadow_zapped = after->mmu_shadow_zapped - before->mmu_shadow_zapped;
        k->valid = TRUE;
    }
    g_mutex_unlock(&move->lock);
}

#define KPF_KSM_BIT 21                                   /* kpageflags: merged by KSM */
#define PAGEMAP_PRESENT (G_GUINT64_CONSTANT(1) << 63)
#define PAGEMAP_PFN_MASK ((G_GUINT64_CONSTANT(1) << 55) - 1)

/*
 * Of the pages in @tree that failed with EACCES, how many KSM merged: the
 * kernel's KPF_KSM flag of the frame each is on (pagemap, then
 * kpageflags; both need CAP_SYS_ADMIN).  0 when they cannot be read.
 */
static guint64
count_ksm_pages(const NsKernel *kernel, NsRadix *tree, const NsMemMap *map)
{
    NsKernelPages *pages = kernel->pages_open != NULL ? kernel->pages_open(kernel->data, map->pid)
                                                      : NULL;
    void *entries[64];
    guint64 gfns[64];
    guint64 next = 0;
    gsize n;
    guint64 ksm = 0;

    if (pages == NULL)
        return 0;
    /* Failed entries carry the FAILED tag: only they are visited. */
    do {
        urcu_memb_read_lock();
        n = ns_radix_gang_lookup_tag(tree, next, NS_RADIX_TAG_FAILED, G_N_ELEMENTS(entries),
                                     entries, gfns);
        urcu_memb_read_unlock();
        for (gsize i = 0; i < n; i++) {
            NsPageInfo info = ns_radix_page_info(entries[i]);
            const NsMemRange *r = ns_memmap_lookup(map, gfns[i] << NS_GUEST_PAGE_SHIFT);
            guint64 pm = 0;
            guint64 flags = 0;

            if (info.state != NS_PAGE_FAILED || info.error != EACCES || r == NULL)
                continue;
            if (kernel->pagemap_read(pages, (r->hva + (gfns[i] << NS_GUEST_PAGE_SHIFT) - r->gpa) >>
                                                NS_GUEST_PAGE_SHIFT,
                                     &pm, 1) == 1 &&
                (pm & PAGEMAP_PRESENT) &&
                kernel->kpageflags_read(pages, pm & PAGEMAP_PFN_MASK, &flags, 1) == 1 &&
                (flags & (G_GUINT64_CONSTANT(1) << KPF_KSM_BIT)))
                ksm++;
        }
        if (n > 0)
            next = gfns[n - 1] + 1;
    } while (n == G_N_ELEMENTS(entries) && next != 0);
    kernel->pages_close(pages);
    return ksm;
}

/*
 * Pages the kernel left with EACCES are mapped by other processes too:
 * name them in the report (shared_with), from the backing objects of
 * @map's ranges that are not anonymous memory (a share=on memfd or file
 * backend), and count those KSM merged (shared_ksm_pages).  Anonymous
 * memory has no one to name: KSM merged the page, or a fork shares it.
 */
static void
note_shared_mappers(NsMove *move, NsLiveMap *live, const NsMemMap *map)
{
    g_autofree char *maps_path = g_strdup_printf("/proc/%d/maps", (int)map->pid);
    g_autoptr(GArray) maps = NULL;
    g_autoptr(GArray) objects = g_array_new(FALSE, FALSE, sizeof(NsMappedObject));
    g_autoptr(GPtrArray) mappers = NULL;
    g_autofree char *text = NULL;

    g_mutex_lock(&move->lock);
    gboolean shared = move->report != NULL && move->report->failed_by_errno[EACCES] > 0;
    g_mutex_unlock(&move->lock);
    if (!shared)
        return;
    /* The backing objects of the ranges' mappings, then one pass over /proc. */
    maps = ns_memmap_read_maps(maps_path, TRUE, NULL);
    for (guint i = 0; maps != NULL && i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

        for (guint j = 0; j < maps->len; j++) {
            const NsMapsEntry *e = &g_array_index(maps, NsMapsEntry, j);
            NsMappedObject o = { e->dev_major, e->dev_minor, e->inode };

            if (r->hva < e->start || r->hva >= e->end || e->inode == 0)
                continue;
            g_array_append_val(objects, o); /* a backend met twice is matched twice: harmless */
            break;
        }
    }
    if (objects->len > 0)
        mappers = ns_mappers_find(NULL, map->pid, (const NsMappedObject *)objects->data,
                                  objects->len, NULL);
    text = ns_mappers_describe(mappers, 4);
    NsKernel kernel;

    ns_kernel_resolve(move->spec.engine.kernel, &kernel);
    guint64 ksm = count_ksm_pages(&kernel, ns_live_map_get_tree(live), map);

    g_mutex_lock(&move->lock);
    if (move->report != NULL) {
        g_strlcpy(move->report->shared_with, text, sizeof move->report->shared_with);
        move->report->shared_ksm_pages = ksm;
    }
    g_mutex_unlock(&move->lock);
}

const GArray *
ns_move_get_pinned_cpus(NsMove *move)
{
    return move->pinned_cpus;
}

void
ns_move_note_pinned_cpus(NsMove *move, const GArray *cpus)
{
    g_clear_pointer(&move->pinned_cpus, g_array_unref);
    move->pinned_cpus = g_array_copy((GArray *)cpus);
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
    g_cond_broadcast(&move->settled);
    g_mutex_unlock(&move->lock);
}

void
ns_move_release(NsMove *move)
{
    g_mutex_lock(&move->lock);
    move->released = TRUE;
    g_cond_broadcast(&move->settled);
    g_mutex_unlock(&move->lock);
}

gboolean
ns_move_settle(NsMove *move)
{
    gboolean released;

    g_mutex_lock(&move->lock);
    while (!move->released && !move->want_cancel)
        g_cond_wait(&move->settled, &move->lock);
    released = !move->want_cancel;
    g_mutex_unlock(&move->lock);
    return released;
}

gboolean
ns_move_is_held(NsMove *move)
{
    gboolean held;

    g_mutex_lock(&move->lock);
    held = !move->released;
    g_mutex_unlock(&move->lock);
    return held;
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
    if (move->report != NULL)
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

/* Whether a cancel was asked (for waits outside the engine). */
static gboolean
cancel_asked(gpointer data)
{
    NsMove *move = data;
    gboolean yes;

    g_mutex_lock(&move->lock);
    yes = move->want_cancel;
    g_mutex_unlock(&move->lock);
    return yes;
}

/* ------------------------------------------------------------ deciding */

/*
 * The nodes QEMU's cgroup lets it use (the kernel seam's cpuset_mems()),
 * or NULL when they cannot be read: then the domain XML's numatune is the
 * only restriction the policy sees.
 */
static GArray *
read_cpuset_mems(const NsMove *move, pid_t pid)
{
    NsKernel kernel;

    ns_kernel_resolve(move->spec.engine.kernel, &kernel);
    g_autofree char *mems = kernel.cpuset_mems != NULL ? kernel.cpuset_mems(kernel.data, pid)
                                                       : NULL;

    return mems != NULL ? ns_topology_parse_list(mems, 65535, NULL) : NULL;
}

/* What the pipeline asks of the domain (ns_move_run_on()). */
typedef struct {
    const NsDomainConfig *config;
    NsMovePinningFunc pinning;
    gpointer pinning_data;
} Facts;

/* The host's side of a decision: the topology with free memory, the
 * cgroup's nodes.  Read before a held run waits: none depends on pinning. */
typedef struct {
    NsTopology *topology;
    GArray *cpuset_mems; /* NULL: unknown */
} HostFacts;

static void
host_facts_clear(HostFacts *host)
{
    g_clear_pointer(&host->topology, ns_topology_free);
    g_clear_pointer(&host->cpuset_mems, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HostFacts, host_facts_clear)

static gboolean
load_host_facts(NsMove *move, pid_t pid, HostFacts *host, GError **error)
{
    host->topology = ns_topology_load(move->spec.sysfs_root, error);
    if (host->topology == NULL || !ns_topology_refresh_memory(host->topology, error))
        return FALSE;
    host->cpuset_mems = read_cpuset_mems(move, pid);
    return TRUE;
}

/* The domain's vCPU pinning, read now; kept in @move too, where the
 * workers must not run.  NULL with @error set when it cannot be read. */
static GPtrArray *
read_pinning(NsMove *move, const Facts *facts, GError **error)
{
    if (facts->pinning == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED,
                    "domain '%s': no vCPU pinning to rebalance on", facts->config->name);
        return NULL;
    }
    GPtrArray *pinning = facts->pinning(facts->pinning_data, error);

    if (pinning == NULL)
        return NULL;
    g_clear_pointer(&move->pinning, g_ptr_array_unref);
    move->pinning = g_ptr_array_ref(pinning);
    return pinning;
}

/*
 * The policy's decisions for @summary, from fresh pinning and @host.  With
 * the host's ledger: from free memory read again under its lock, less what
 * other runs promised, and when @promise, this run's own promises recorded
 * before the lock goes.  The pinning is read before the lock (a libvirt
 * round trip), so other runs never wait for this one's libvirt.
 */
static GArray *
decide(NsMove *move, const Facts *facts, HostFacts *host, const NsPlacementSummary *summary,
       const NsMemMap *map, gboolean promise, GError **error)
{
    g_autoptr(GPtrArray) pinning = read_pinning(move, facts, error);
    NsLedger *ledger = move->spec.ledger;
    GArray *decisions = NULL;

    if (pinning == NULL)
        return NULL;
    NsPolicyInput input = {
        .config = facts->config,
        .vcpu_affinity = pinning,
        .topology = host->topology,
        .placement = summary,
        .cpuset_mems = host->cpuset_mems,
        .map = map,
        .mode_override = move->spec.mode_override,
        .mode_override_source = move->spec.mode_override_source,
        .options = &move->policy,
        .ledger = ledger,
        .ledger_owner = move->spec.ledger_owner,
    };

    if (ledger == NULL)
        return ns_policy_decide(&input, error);
    ns_ledger_lock(ledger);
    if (ns_topology_refresh_memory(host->topology, error))
        decisions = ns_policy_decide(&input, error);
    for (guint i = 0; promise && decisions != NULL && i < decisions->len; i++) {
        const NsPolicyDecision *d = &g_array_index(decisions, NsPolicyDecision, i);

        if (d->target >= 0)
            ns_ledger_promise(ledger, move->spec.ledger_owner, (guint)d->target, d->page_size,
                              d->bytes);
    }
    ns_ledger_unlock(ledger);
    return decisions;
}

/*
 * Plan @d's memory: the whole cell, or when the reserve capped it, its
 * ranges in order up to @d->bytes of guest memory.  Moved bytes never
 * exceed @d->bytes: base-page memory is cut one huge page short (the
 * engine moves a THP whole, and the one the cut falls into may reach up to
 * 2 MiB past it); hugetlbfs memory is cut at its pages' boundaries, each
 * page charged whole, also the first one of a range that starts inside it.
 */
static gboolean
plan_decision(NsPlan *plan, const NsMemMap *map, const NsPolicyDecision *d, GError **error)
{
    if (d->reason != NS_POLICY_REASON_MOVE_CAPPED)
        return ns_plan_add_map(plan, map, d->cell, (guint)d->target, error);
    guint64 thp = 2 * 1024 * 1024;
    guint64 left = d->bytes;
    gboolean base_seen = FALSE;

    for (guint i = 0; i < map->ranges->len && left > 0; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 size;

        if (d->cell >= 0 && r->cell != d->cell)
            continue;
        if (r->page_size > NS_GUEST_PAGE_SIZE) {
            guint64 ps = r->page_size;
            guint64 first = r->hva & ~(ps - 1);
            guint64 pages = MIN(left / ps, (r->hva + r->size - first + ps - 1) / ps);
            guint64 end = MIN(first + pages * ps, r->hva + r->size);

            size = end > r->hva ? end - r->hva : 0;
            left -= pages * ps;
        } else {
            if (!base_seen) {
                base_seen = TRUE;
                left = left > thp ? (left - thp) & ~(guint64)(NS_GUEST_PAGE_SIZE - 1) : 0;
            }
            size = MIN(r->size, left);
            left -= size;
        }
        if (size > 0 && !ns_plan_add(plan, r->gpa, size, (guint)d->target, error))
            return FALSE;
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
plan_rebalance(NsMove *move, const Facts *facts, HostFacts *host,
               const NsPlacementSummary *summary, const NsMemMap *map, NsPlan *plan,
               GError **error)
{
    g_autoptr(GArray) decisions = decide(move, facts, host, summary, map, TRUE, error);

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

/* The operator's worker CPUs (NULL: none given; FALSE: a bad list). */
static gboolean
operator_cpus(const NsMove *move, GArray **ret_cpus, GError **error)
{
    g_autoptr(GError) local = NULL;

    *ret_cpus = NULL;
    if (move->spec.worker_cpus == NULL)
        return TRUE;
    *ret_cpus = ns_parse_cpulist(move->spec.worker_cpus, &local);
    if (*ret_cpus == NULL || (*ret_cpus)->len == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "worker CPUs '%s': %s",
                    move->spec.worker_cpus, local != NULL ? local->message : "no CPU");
        g_clear_pointer(ret_cpus, g_array_unref);
        return FALSE;
    }
    return TRUE;
}

/* Before anything moves: the operator's CPUs hold one numashift may use. */
static gboolean
check_operator_cpus(const NsMove *move, GError **error)
{
    g_autoptr(GArray) cpus = NULL;

    if (!operator_cpus(move, &cpus, error))
        return FALSE;
    if (cpus == NULL)
        return TRUE;
    g_autoptr(GArray) allowed = ns_kernel_thread_cpus(NULL);

    if (allowed == NULL) /* not known: none may be used, as before the check existed */
        allowed = g_array_new(FALSE, FALSE, sizeof(guint));
    return ns_worker_cpus_check_override(cpus, allowed, error);
}

/*
 * Where the engine's workers run (worker-cpus.h): away from the CPUs the
 * domain's vCPUs may run on, preferring the target nodes'.  The pinning is
 * the one the policy decided on, or read now for a move to a node; when it
 * cannot be read, every CPU counts as a vCPU's; a caller with no pinning
 * function has no vCPUs to avoid (a simulated guest).  Only the operator's
 * list can fail the run (a bad list); a host that cannot tell its CPUs
 * leaves the workers where they were, as before this choice existed.
 */
static gboolean
choose_worker_cpus(NsMove *move, const Facts *facts, HostFacts *host, const NsPlan *plan,
                   GError **error)
{
    g_autoptr(GArray) override = NULL;
    g_autoptr(GArray) targets = g_array_new(FALSE, FALSE, sizeof(guint));
    g_autoptr(GError) local = NULL;

    if (!operator_cpus(move, &override, error))
        return FALSE;
    if (host->topology == NULL) {
        host->topology = ns_topology_load(move->spec.sysfs_root, &local);
        if (host->topology == NULL) {
            g_warning("worker CPUs: left as they are: %s", local->message);
            return TRUE;
        }
    }
    if (move->pinning == NULL && facts->pinning == NULL) {
        /* A caller without vCPUs to tell of (a simulated guest). */
        move->pinning = g_ptr_array_new();
    } else if (move->pinning == NULL) {
        move->pinning = facts->pinning(facts->pinning_data, &local);
        if (move->pinning == NULL) {
            g_warning("worker CPUs: the vCPU pinning is unknown (%s): every CPU counts as a "
                      "vCPU's", local->message);
            g_clear_error(&local);
        }
    }
    g_autoptr(GArray) allowed = ns_kernel_thread_cpus(&local);

    if (allowed == NULL) {
        g_warning("worker CPUs: left as they are: %s", local->message);
        return TRUE;
    }
    for (guint i = 0; i < plan->steps->len; i++) {
        guint node = g_array_index(plan->steps, NsPlanStep, i).node;
        gboolean seen = FALSE;

        for (guint k = 0; k < targets->len && !seen; k++)
            seen = g_array_index(targets, guint, k) == node;
        if (!seen)
            g_array_append_val(targets, node);
    }
    NsWorkerCpusInput input = {
        .topology = host->topology,
        .allowed = allowed,
        .vcpu_pins = move->pinning,
        .emulator_cpus = facts->config->emulator_cpus,
        .reserved_cpus = move->spec.reserved_cpus,
        .target_nodes = targets,
        .cpus_override = override,
        .workers = move->spec.engine.workers != 0 ? move->spec.engine.workers
                                                  : NS_ENGINE_WORKERS_DEFAULT,
    };
    NsWorkerCpus *choice = ns_worker_cpus_choose(&input, error);

    if (choice == NULL)
        return FALSE;
    if (move->pinning != NULL) {
        g_autoptr(GArray) pinned = ns_worker_cpus_pinned(move->pinning, allowed);

        ns_move_note_pinned_cpus(move, pinned);
    }
    g_clear_pointer(&move->worker_choice, ns_worker_cpus_free);
    move->worker_choice = choice;
    if (move->spec.on_workers != NULL) {
        g_autofree char *line = ns_worker_cpus_describe(choice);

        move->spec.on_workers(line, move->spec.data);
    }
    return TRUE;
}

/*
 * The hugetlbfs pages of an operator's move that are not on the target
 * yet must fit the target's free huge pages of their size (the policy's
 * room, docs/policy.md), or nothing moves: asked page by page (one query
 * per huge page, however many ranges share it) before the first moves.
 */
static gboolean
check_huge_room(NsMove *move, const NsMemMap *map, GError **error)
{
    g_autoptr(GArray) heads = g_array_new(FALSE, FALSE, sizeof(void *));
    g_autoptr(GArray) sizes = g_array_new(FALSE, FALSE, sizeof(guint64));
    NsKernel kernel;

    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 ps = r->page_size;

        if (ps <= NS_GUEST_PAGE_SIZE || (move->spec.cell >= 0 && r->cell != move->spec.cell))
            continue;
        for (guint64 head = r->hva & ~(ps - 1); head < r->hva + r->size; head += ps) {
            if (heads->len > 0 &&
                g_array_index(heads, void *, heads->len - 1) == (void *)(uintptr_t)head)
                continue; /* the range before ended inside this page */
            g_array_append_val(heads, ((void *){ (void *)(uintptr_t)head }));
            g_array_append_val(sizes, ps);
        }
    }
    if (heads->len == 0)
        return TRUE;
    g_autofree int *status = g_new(int, heads->len);
    g_autoptr(NsTopology) topo = ns_topology_load(move->spec.sysfs_root, error);

    if (topo == NULL || !ns_topology_refresh_memory(topo, error))
        return FALSE;
    ns_kernel_resolve(move->spec.engine.kernel, &kernel);
    long rc = kernel.move_pages(kernel.data, map->pid, heads->len, (void **)heads->data, NULL,
                                status, 0);

    if (rc < 0) {
        ns_kernel_set_error(error, (int)-rc, map->pid, -1);
        return FALSE;
    }
    /* Per page size (a guest has one or two): the pages elsewhere now;
     * absent ones need none yet. */
    guint64 done_size = 0;

    for (;;) {
        guint64 ps = 0, need = 0;

        for (guint i = 0; i < heads->len; i++) {
            guint64 size = g_array_index(sizes, guint64, i);

            if (size > done_size && (ps == 0 || size < ps))
                ps = size;
        }
        if (ps == 0)
            return TRUE;
        for (guint i = 0; i < heads->len; i++)
            need += g_array_index(sizes, guint64, i) == ps && status[i] >= 0 &&
                    status[i] != (int)move->spec.to;
        if (!ns_policy_check_huge_room(topo, move->spec.to, ps, move->spec.cell, need, error))
            return FALSE;
        done_size = ps;
    }
}

static gboolean
plan_to_node(NsMove *move, const Facts *facts, const NsMemMap *map, NsPlan *plan,
             GError **error)
{
    if (ns_plan_add_map(plan, map, move->spec.cell, move->spec.to, error))
        return check_huge_room(move, map, error);
    if (move->spec.cell >= 0 && g_error_matches(*error, NS_ERROR, NS_ERROR_NOT_FOUND))
        g_prefix_error(error, "domain '%s': ", facts->config->name);
    return FALSE;
}

/* ------------------------------------------------------------- windows */

/*
 * The plan runs window by window: scan a window's pages (unless the whole
 * guest was just scanned), move them, then the next.  What the engine
 * holds is one window's queue, whatever the guest's size, and the first
 * pages move after one window's scan, not the whole guest's.
 */
#define WINDOW_BYTES (G_GUINT64_CONSTANT(128) << 20)
/* The first window is small, so the first pages move soon; each next one
 * doubles up to WINDOW_BYTES. */
#define WINDOW_FIRST_BYTES (G_GUINT64_CONSTANT(8) << 20)
#define WINDOW_ALIGN (G_GUINT64_CONSTANT(2) << 20)

/* The plan's steps inside [@start, @end), cut to it. */
static NsPlan *
plan_window(const NsPlan *plan, guint64 start, guint64 end)
{
    NsPlan *part = ns_plan_new();

    for (guint i = 0; i < plan->steps->len; i++) {
        NsPlanStep st = g_array_index(plan->steps, NsPlanStep, i);
        guint64 from = MAX(st.gpa, start), to = MIN(st.gpa + st.size, end);

        if (from >= to)
            continue;
        st.gpa = from;
        st.size = to - from;
        g_array_append_val(part->steps, st);
    }
    return part;
}

/* Add @w's counts to @sum; the outcome is the last window's. */
static void
report_add(NsEngineReport *sum, const NsEngineReport *w, gint64 since_start_us)
{
    if (sum->first_move_us < 0 && w->first_move_us >= 0)
        sum->first_move_us = since_start_us + w->first_move_us;
#define ADD(f) sum->f += w->f
    ADD(total_pages);
    ADD(planned_pages);
    ADD(planned_bytes);
    ADD(planned_huge);
    ADD(moved_pages);
    ADD(moved_bytes);
    ADD(moved_huge);
    ADD(in_place_pages);
    ADD(absent_pages);
    ADD(gone_pages);
    ADD(failed_pages);
    ADD(unmovable_pages);
    ADD(skipped_pages);
    ADD(remaining_pages);
    ADD(retries);
    ADD(calls);
    ADD(gigantic_calls);
    sum->gigantic_call_max_us = MAX(sum->gigantic_call_max_us, w->gigantic_call_max_us);
    ADD(split_huge);
    ADD(paused_us);
#undef ADD
    for (guint e = 0; e < NS_ENGINE_ERRNO_SLOTS; e++)
        sum->failed_by_errno[e] += w->failed_by_errno[e];
    sum->passes = MAX(sum->passes, w->passes);
    sum->workers = w->workers;
    memcpy(sum->worker_cpus, w->worker_cpus, sizeof(sum->worker_cpus));
    sum->worker_background = w->worker_background;
    if (w->worker_floor_steps > sum->worker_floor_steps) {
        sum->worker_floor_steps = w->worker_floor_steps;
        sum->worker_floor_nice = w->worker_floor_nice;
    }
    if (sum->worker_floor_errno == 0)
        sum->worker_floor_errno = w->worker_floor_errno;
    /* The pacer's figures run over the whole move: the last window's hold them. */
    sum->paced = sum->paced || w->paced;
    if (w->paced) {
        sum->vcpu_wait_baseline_permille = w->vcpu_wait_baseline_permille;
        sum->vcpu_wait_peak_permille = w->vcpu_wait_peak_permille;
        sum->pace_backoffs = w->pace_backoffs;
        sum->pace_slowest_level = w->pace_slowest_level;
    }
    if (sum->worker_bind_errno == 0)
        sum->worker_bind_errno = w->worker_bind_errno;
    sum->pid = w->pid;
    sum->outcome = w->outcome;
}

typedef struct {
    NsMove *move;
    guint64 plan_pages;   /* every page of the plan: the progress's total */
    NsEngineProgress base; /* the windows before this one */
    gint64 start_us;
} Progress;

/* One window's progress as the whole plan's: the caller sees one job. */
static void
on_window_progress(const NsEngineProgress *p, gpointer data)
{
    Progress *pr = data;
    NsEngineProgress all = *p;
    gint64 elapsed = g_get_monotonic_time() - pr->start_us;

    all.done_pages += pr->base.done_pages;
    all.moved_pages += pr->base.moved_pages;
    all.moved_bytes += pr->base.moved_bytes;
    all.total_pages = MAX(pr->plan_pages, all.done_pages + all.in_flight_pages);
    all.elapsed_us = elapsed;
    all.mib_per_s = elapsed > 0 ? (double)all.moved_bytes / (1024.0 * 1024.0) /
                                      ((double)elapsed / G_USEC_PER_SEC)
                                : 0.0;
    all.eta_us = all.moved_bytes > 0 && all.total_pages > all.done_pages
                     ? (gint64)((double)elapsed * (double)(all.total_pages - all.done_pages) /
                                (double)MAX(all.done_pages, G_GUINT64_CONSTANT(1)))
                     : p->eta_us;
    all.final = FALSE; /* the last window's final call is made by run_windows() */
    if (pr->move->spec.ledger != NULL)
        ns_ledger_delivered(pr->move->spec.ledger, pr->move->spec.ledger_owner, all.moved_bytes);
    if (!p->final && pr->move->spec.engine.progress != NULL)
        pr->move->spec.engine.progress(&all, pr->move->spec.engine.progress_data);
    if (p->final) {
        pr->base.done_pages = all.done_pages;
        pr->base.moved_pages = all.moved_pages;
        pr->base.moved_bytes = all.moved_bytes;
    }
}

/* One window's engine; TRUE when it ran to its end (DONE, DRY_RUN, CANCELLED). */
static gboolean
run_engine(NsMove *move, NsLiveMap *live, const NsMemMap *map, const NsPlan *plan,
           gboolean forgiven, Progress *pr, NsEngineReport **ret_report, GError **error)
{
    NsEngineOptions opts = move->spec.engine;

    /* What earlier jobs learnt about pages that cannot move. */
    opts.unmovable_minute = ns_live_map_minute(live, g_get_monotonic_time());
    opts.unmovable_forgiven = forgiven ? opts.unmovable_minute + 1 : 0;
    opts.progress = on_window_progress;
    opts.progress_data = pr;
    if (move->worker_choice != NULL) {
        opts.workers = move->worker_choice->workers;
        opts.worker_cpus = move->worker_choice->cpus;
        opts.worker_background = move->worker_choice->background;
    }
    opts.pacer = move->pacer;
    g_autoptr(NsEngine) engine =
        ns_engine_new(ns_live_map_get_tree(live), map, plan, &opts, error);

    if (engine == NULL)
        return FALSE;
    g_mutex_lock(&move->lock);
    move->engine = engine;
    if (move->want_pause)
        ns_engine_pause(engine);
    if (move->want_cancel)
        ns_engine_cancel(engine);
    g_mutex_unlock(&move->lock);

    gboolean ok = ns_engine_run(engine, error);

    *ret_report = ns_engine_get_report(engine);
    g_mutex_lock(&move->lock);
    move->engine = NULL;
    g_mutex_unlock(&move->lock);
    if (!ok && (*ret_report)->outcome == NS_ENGINE_OUTCOME_CANCELLED &&
        g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        /* A cancel is an outcome the report tells, not a failure. */
        g_clear_error(error);
        return TRUE;
    }
    return ok;
}

/* The windows of each of @plans in turn (the hot parts first, when
 * sampled), each scanned (unless @scanned) and moved in turn. */
static gboolean
run_windows(NsMove *move, NsLiveMap *live, const NsMemMap *map, const NsPlan *const *plans,
            guint n_plans, gboolean scanned, gint64 *clock, GError **error)
{
    guint64 align = WINDOW_ALIGN;
    g_autofree NsEngineReport *sum = g_new0(NsEngineReport, 1);
    Progress pr = { .move = move, .start_us = g_get_monotonic_time() };
    gboolean ok = TRUE, stop = FALSE;
    /* Taken once: every window of this run tries the forgiven pages. */
    gboolean forgiven = ns_live_map_take_forgiveness(live);
    guint64 visited = 0;
    const NsPlacementOptions scan_opts = { .kernel = move->spec.engine.kernel };

    /* Windows hold whole huge pages: a hugetlbfs page is one entry. */
    for (guint i = 0; i < map->ranges->len; i++)
        align = MAX(align, g_array_index(map->ranges, NsMemRange, i).page_size);
    guint64 window = MAX(WINDOW_FIRST_BYTES, align);
    const guint64 window_max = MAX(WINDOW_BYTES, align);

    for (guint p = 0; p < n_plans; p++)
        for (guint i = 0; i < plans[p]->steps->len; i++)
            pr.plan_pages +=
                g_array_index(plans[p]->steps, NsPlanStep, i).size >> NS_GUEST_PAGE_SHIFT;
    sum->first_move_us = -1;
    sum->outcome = NS_ENGINE_OUTCOME_DONE;
    phase_end(move, NS_MOVE_PHASE_ENGINE, clock);

    for (guint p = 0; !stop && p < n_plans; p++) {
    const NsPlan *plan = plans[p];
    guint64 next = 0;

    for (guint i = 0; !stop && i < plan->steps->len; i++) {
        const NsPlanStep *st = &g_array_index(plan->steps, NsPlanStep, i);

        for (guint64 start = MAX(next, st->gpa - st->gpa % align);
             !stop && start < st->gpa + st->size; start = next) {
            g_autoptr(NsPlan) part = plan_window(plan, start, start + window);
            g_autoptr(NsEngineReport) report = NULL;

            next = start + window;
            if (part->steps->len == 0)
                continue;
            window = MIN(window * 2, window_max);
            for (guint k = 0; k < part->steps->len; k++)
                visited += g_array_index(part->steps, NsPlanStep, k).size >> NS_GUEST_PAGE_SHIFT;
            if (!scanned && !ns_placement_scan_window(ns_live_map_get_tree(live), map, start,
                                                      next - start, &scan_opts, NULL, error))
                return FALSE;
            ok = run_engine(move, live, map, part, forgiven, &pr, &report, error);
            if (report != NULL)
                report_add(sum, report, report->first_move_us >= 0
                                            ? g_get_monotonic_time() - pr.start_us -
                                                  report->elapsed_us
                                            : 0);
            g_mutex_lock(&move->lock);
            g_clear_pointer(&move->report, ns_engine_report_free);
            move->report = g_memdup2(sum, sizeof *sum);
            g_mutex_unlock(&move->lock);
            /* Cancelled, a full node, a failed call: the rest stays put. */
            stop = !ok || report == NULL ||
                   (report->outcome != NS_ENGINE_OUTCOME_DONE &&
                    report->outcome != NS_ENGINE_OUTCOME_DRY_RUN);
        }
    }
    }
    /* Windows never reached are left behind, as pages the plan named. */
    sum->total_pages += pr.plan_pages - MIN(visited, pr.plan_pages);
    sum->remaining_pages += pr.plan_pages - MIN(visited, pr.plan_pages);
    sum->elapsed_us = g_get_monotonic_time() - pr.start_us;
    g_mutex_lock(&move->lock);
    g_clear_pointer(&move->report, ns_engine_report_free);
    move->report = g_memdup2(sum, sizeof *sum);
    g_mutex_unlock(&move->lock);
    if (move->spec.engine.progress != NULL) {
        NsEngineProgress last = {
            .done_pages = sum->total_pages - sum->remaining_pages,
            .total_pages = sum->total_pages,
            .moved_pages = sum->moved_pages,
            .moved_bytes = sum->moved_bytes,
            .mib_per_s = sum->elapsed_us > 0 ? (double)sum->moved_bytes / (1024.0 * 1024.0) /
                                                   ((double)sum->elapsed_us / G_USEC_PER_SEC)
                                             : 0.0,
            .eta_us = 0,
            .elapsed_us = sum->elapsed_us,
            .pass = sum->passes,
            .final = TRUE,
        };

        move->spec.engine.progress(&last, move->spec.engine.progress_data);
    }
    return ok;
}

/* ---------------------------------------------------------------- run */

/*
 * The sample a decision on a fresh live map weighs: one page in 16, and at
 * most about 4096 addresses (one query) however large the guest, so the
 * decision does not take longer as the guest grows.
 */
#define DECIDE_SAMPLE_STRIDE_MIN 16u
#define DECIDE_SAMPLE_MAX 4096u

static guint
decide_sample_stride(const NsMemMap *map)
{
    guint64 pages = 0;

    for (guint i = 0; i < map->ranges->len; i++)
        pages += g_array_index(map->ranges, NsMemRange, i).size >> NS_GUEST_PAGE_SHIFT;
    return (guint)MIN(MAX(pages / DECIDE_SAMPLE_MAX, (guint64)DECIDE_SAMPLE_STRIDE_MIN),
                      (guint64)G_MAXUINT32);
}

static void
stats_take_unmovable(NsPlacementStats *into, const NsPlacementStats *from)
{
    memcpy(into->unmovable, from->unmovable, sizeof into->unmovable);
    g_clear_pointer(&into->unmovable_nodes, g_array_unref);
    into->unmovable_nodes = g_array_copy(from->unmovable_nodes);
    g_clear_pointer(&into->shared_nodes, g_array_unref);
    if (from->shared_nodes != NULL)
        into->shared_nodes = g_array_copy(from->shared_nodes);
}

/* @stats less what this job will try after all: every unmovable page when
 * @all (forgiven), else those refused for being shared (move-shared:
 * MPOL_MF_MOVE_ALL moves them). */
static void
stats_forget_unmovable(NsPlacementStats *stats, gboolean all)
{
    for (guint n = 0; stats->unmovable_nodes != NULL && n < stats->unmovable_nodes->len; n++) {
        NsPlacementCount *stays = &g_array_index(stats->unmovable_nodes, NsPlacementCount, n);
        NsPlacementCount shared = { 0 };

        if (stats->shared_nodes != NULL && n < stats->shared_nodes->len)
            shared = g_array_index(stats->shared_nodes, NsPlacementCount, n);
        if (all)
            shared = *stays;
        stays->pages -= MIN(stays->pages, shared.pages);
        stays->bytes -= MIN(stays->bytes, shared.bytes);
    }
    for (guint k = 0; k < NS_UNMOVABLE_CAUSES; k++)
        if (all || k == NS_UNMOVABLE_SHARED)
            stats->unmovable[k] = (NsPlacementCount){ 0 };
}

/*
 * What the policy is to weigh as staying where it is: the live map's
 * unmovable pages, less those this job tries anyway.  Without this a
 * domain whose movable memory is all home stays put ("... cannot move")
 * and a forgiveness or move-shared never gets to try the rest.
 */
static void
forget_unmovable_tried(NsPlacementSummary *summary, const NsMove *move, NsLiveMap *live)
{
    gboolean all = ns_live_map_is_forgiven(live);

    if (!all && !move->spec.engine.move_shared)
        return;
    stats_forget_unmovable(&summary->all, all);
    for (guint i = 0; summary->cells != NULL && i < summary->cells->len; i++)
        stats_forget_unmovable(g_ptr_array_index(summary->cells, i), all);
}

/* What @known (the live map) knows cannot move, into @sample, cell by cell. */
static void
take_unmovable(NsPlacementSummary *sample, const NsPlacementSummary *known)
{
    stats_take_unmovable(&sample->all, &known->all);
    for (guint i = 0; i < sample->cells->len; i++) {
        NsPlacementStats *st = g_ptr_array_index(sample->cells, i);

        for (guint k = 0; k < known->cells->len; k++) {
            const NsPlacementStats *kn = g_ptr_array_index(known->cells, k);

            if (kn->cell == st->cell)
                stats_take_unmovable(st, kn);
        }
    }
}

/*
 * What the live map knows cannot move, into @sample (its running counts:
 * no walk): a sample cannot tell an unmovable page from one that can move,
 * and a drift check would otherwise decide to move memory that stays where
 * it is.  Only from a map that describes the guest's layout now.
 */
static void
take_known_unmovable(NsPlacementSummary *sample, const NsMove *move, NsLiveMap *live)
{
    if (ns_live_map_get_scanned_us(live) == 0)
        return;
    g_autoptr(NsPlacementSummary) known = ns_live_map_summarize(live);

    if (known == NULL)
        return;
    take_unmovable(sample, known);
    forget_unmovable_tried(sample, move, live);
}

/* Whether @plan's steps hold every page of @map's ranges. */
static gboolean
plan_covers(const NsPlan *plan, const NsMemMap *map)
{
    guint s = 0;

    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 at = r->gpa, end = r->gpa + r->size;

        for (; s < plan->steps->len && at < end; s++) {
            const NsPlanStep *st = &g_array_index(plan->steps, NsPlanStep, s);

            if (st->gpa + st->size <= at)
                continue;
            if (st->gpa > at)
                return FALSE;
            at = st->gpa + st->size;
            if (at >= end)
                break;
        }
        if (at < end)
            return FALSE;
    }
    return TRUE;
}

/* Whether @live's last full scan is recent enough to decide on. */
static gboolean
live_fresh(const NsMove *move, NsLiveMap *live)
{
    gint64 scanned = ns_live_map_get_scanned_us(live);

    return move->spec.fresh_us > 0 && scanned != 0 &&
           g_get_monotonic_time() - scanned < move->spec.fresh_us;
}

/* ns_move_run_on(), but for releasing the run's promises in the ledger. */
static gboolean
run_on(NsMove *move, const NsDomainConfig *config, NsMovePinningFunc pinning,
       gpointer pinning_data, const NsMemMap *map, NsLiveMap *live, GError **error)
{
    const NsMoveSpec *spec = &move->spec;
    const Facts facts = { .config = config, .pinning = pinning, .pinning_data = pinning_data };
    NsRadix *tree = ns_live_map_get_tree(live);
    gint64 clock = g_get_monotonic_time();
    g_autoptr(NsPlan) plan = ns_plan_new();
    gboolean scanned = FALSE;
    const NsPlacementOptions scan_opts = { .kernel = spec->engine.kernel };
    NsKernel kernel;

    g_return_val_if_fail(spec->engine.dry_run || spec->holder != NULL, FALSE);
    g_return_val_if_fail(ns_live_map_get_pid(live) == map->pid, FALSE);
    ns_kernel_resolve(spec->engine.kernel, &kernel);
    if (spec->kind == NS_MOVE_TO_NODE &&
        (!kernel.check_node(kernel.data, spec->to, error) ||
         !ns_policy_check_node(config, map, spec->cell, spec->to, error)))
        return FALSE;
    if (!check_operator_cpus(move, error))
        return FALSE;
    if (!spec->engine.dry_run && kernel.vcpu_waits != NULL) {
        /* One pacer for all the run's windows (the pace carries over).
         * Its baseline is the quiet interval the engine waits out before
         * the first move (ns_pacer_quiet()), not the time from here: the
         * scan and the decision that follow compete with the guest. */
        g_clear_pointer(&move->pacer, ns_pacer_free);
        move->pacer = ns_pacer_new(NULL, g_get_monotonic_time());
    }
    gboolean sampled = spec->kind == NS_MOVE_REBALANCE && spec->sample_stride > 0;
    g_auto(HostFacts) host = { NULL, NULL };

    if (sampled) {
        g_autoptr(NsPlacementSummary) sample = ns_placement_sample(map, spec->sample_stride,
                                                                        spec->engine.kernel, error);

        if (sample == NULL)
            return FALSE;
        take_known_unmovable(sample, move, live);
        if (!load_host_facts(move, map->pid, &host, error))
            return FALSE;
        /* Whether to go on at all: the decision that counts (and promises)
         * is the one on the whole guest below. */
        g_autoptr(GArray) decisions = decide(move, &facts, &host, sample, map, FALSE, error);

        if (decisions == NULL)
            return FALSE;
        phase_end(move, NS_MOVE_PHASE_SAMPLE, &clock);
        if (!any_target(decisions)) {
            /* In place: the full scan is not worth its cost; the live map
             * is kept current by one bounded step of the background rescan. */
            return spec->rescan_bytes == 0 ||
                   ns_live_map_rescan_step(live, map, spec->rescan_bytes, &scan_opts, NULL,
                                           error);
        }
    }
    /* The policy weighs the whole guest.  A live map that is fresh: a
     * sample says where pages are now (the guest touches new memory all
     * the time: the live map does not know those pages) and the live map
     * what cannot move.  Taken before a held run waits, with the host's
     * facts: when the burst of pinning events settles, only the pinning,
     * the policy and the move are left. */
    g_autoptr(NsPlacementSummary) summary = NULL;

    if (spec->kind == NS_MOVE_REBALANCE && !sampled && live_fresh(move, live)) {
        summary = ns_placement_sample(map, decide_sample_stride(map), spec->engine.kernel, error);
        if (summary == NULL)
            return FALSE;
        take_known_unmovable(summary, move, live);
        phase_end(move, NS_MOVE_PHASE_SAMPLE, &clock);
    }
    if (spec->kind == NS_MOVE_REBALANCE && host.topology == NULL) {
        if (!load_host_facts(move, map->pid, &host, error))
            return FALSE;
        phase_end(move, NS_MOVE_PHASE_HOST, &clock);
    }
    if (spec->held) {
        ns_move_settle(move); /* FALSE: cancelled, which the check below sees */
        phase_end(move, NS_MOVE_PHASE_SETTLE, &clock);
    }
    if (cancelled_early(move))
        return TRUE;
    /* From the first scan to the last batch no other mover may touch the
     * guest: the tree would describe pages someone else is moving.  A dry
     * run moves nothing and needs no lock. */
    g_autoptr(NsMoverLock) mover =
        spec->engine.dry_run ? NULL
                             : ns_mover_lock_take(config->uuid, spec->holder, error);

    if (!spec->engine.dry_run && mover == NULL)
        return FALSE;
    if (spec->kind == NS_MOVE_REBALANCE) {
        /* A drift the sample saw, or a live map that is not fresh: a full
         * scan first (the move then needs no other). */
        if (summary == NULL) {
            if (!ns_placement_scan(tree, map, &scan_opts, NULL, error))
                return FALSE;
            ns_live_map_set_scanned(live, map);
            scanned = TRUE;
            phase_end(move, NS_MOVE_PHASE_SCAN, &clock);
            summary = ns_placement_summarize(tree, map);
            forget_unmovable_tried(summary, move, live);
        }
        if (!plan_rebalance(move, &facts, &host, summary, map, plan, error))
            return FALSE;
    } else if (!plan_to_node(move, &facts, map, plan, error)) {
        return FALSE;
    }
    phase_end(move, NS_MOVE_PHASE_DECIDE, &clock);
    if (plan->steps->len == 0)
        return TRUE;
    if (cancelled_early(move))
        return TRUE;
    if (!spec->engine.dry_run && !choose_worker_cpus(move, &facts, &host, plan, error))
        return FALSE;
    NsKvmCounters kvm_before, kvm_after;
    gboolean kvm = !spec->engine.dry_run && move->kvm_counters != NULL &&
                   move->kvm_counters(move->kvm_counters_data, &kvm_before);
    /* Hot pages first: the 2 MiB blocks the guest wrote in a sample, then
     * the rest (hot-sample.h).  A sample that cannot be taken leaves the
     * address order, and the report says why. */
    g_autoptr(NsPlan) hot = NULL;
    g_autoptr(NsPlan) rest = NULL;
    guint64 hot_pages = 0;
    int hot_errno = 0;

    if (spec->hot_sample_us > 0 && !spec->engine.dry_run) {
        hot = ns_hot_sample(spec->engine.kernel, map, plan, spec->hot_sample_us, cancel_asked,
                            move, &hot_pages, &hot_errno);
        if (hot != NULL)
            rest = ns_plan_subtract(plan, hot);
    }
    const NsPlan *const split[] = { hot, rest };
    const NsPlan *const whole[] = { plan };
    gboolean ok = hot != NULL ? run_windows(move, live, map, split, 2, scanned, &clock, error)
                              : run_windows(move, live, map, whole, 1, scanned, &clock, error);

    if (spec->hot_sample_us > 0 && !spec->engine.dry_run) {
        g_mutex_lock(&move->lock);
        if (move->report != NULL) {
            move->report->hot_sample_us = spec->hot_sample_us;
            move->report->hot_pages = hot_pages;
            move->report->hot_errno = hot_errno;
        }
        g_mutex_unlock(&move->lock);
    }

    if (kvm && move->kvm_counters(move->kvm_counters_data, &kvm_after))
        note_kvm_deltas(move, &kvm_before, &kvm_after);
    note_shared_mappers(move, live, map);

    /* The live map describes the whole guest afterwards: windows that
     * covered all of it did; otherwise the rest is as old as it was, and
     * a full scan follows unless the map is fresh. */
    if (ok && !scanned && plan_covers(plan, map) && !spec->engine.dry_run &&
        (move->report == NULL || move->report->remaining_pages == 0)) {
        ns_live_map_set_scanned(live, map);
    } else if (ok && !scanned && !live_fresh(move, live)) {
        if (!ns_placement_scan(tree, map, &scan_opts, NULL, error))
            return FALSE;
        ns_live_map_set_scanned(live, map);
    }
    return ok;
}

gboolean
ns_move_run_on(NsMove *move, const NsDomainConfig *config, NsMovePinningFunc pinning,
               gpointer pinning_data, const NsMemMap *map, NsLiveMap *live, GError **error)
{
    gboolean ok;

    g_return_val_if_fail(move->spec.ledger == NULL || move->spec.ledger_owner != 0, FALSE);
    ok = run_on(move, config, pinning, pinning_data, map, live, error);
    /* Whatever the run promised other runs goes when it ends, however. */
    if (move->spec.ledger != NULL)
        ns_ledger_release(move->spec.ledger, move->spec.ledger_owner);
    return ok;
}
