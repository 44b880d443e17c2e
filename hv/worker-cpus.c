/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the engine's copy workers run (include/numashift/worker-cpus.h).
 */
#include "numashift/worker-cpus.h"

#include "numashift/error.h"

static gboolean
holds(const GArray *ids, guint id)
{
    for (guint i = 0; ids != NULL && i < ids->len; i++)
        if (g_array_index(ids, guint, i) == id)
            return TRUE;
    return FALSE;
}

/*
 * Whether some vCPU is pinned to @cpu: its pin set holds @cpu but not
 * every CPU numashift may use.  A vCPU that may run anywhere floats: the
 * scheduler moves it off a CPU a worker keeps busy, so it reserves no CPU.
 * Unknown pinning reserves them all.
 */
static gboolean
vcpu_pinned_to(const NsWorkerCpusInput *in, guint cpu)
{
    if (in->vcpu_pins == NULL)
        return TRUE;
    for (guint v = 0; v < in->vcpu_pins->len; v++) {
        const GArray *pins = g_ptr_array_index(in->vcpu_pins, v);
        gboolean floats = TRUE;

        if (!holds(pins, cpu))
            continue;
        for (guint i = 0; i < in->allowed->len && floats; i++)
            floats = holds(pins, g_array_index(in->allowed, guint, i));
        if (!floats)
            return TRUE;
    }
    return FALSE;
}

/* Whether a pinned vCPU, of this domain or another, may run on @cpu. */
static gboolean
busy(const NsWorkerCpusInput *in, guint cpu)
{
    return vcpu_pinned_to(in, cpu) || holds(in->reserved_cpus, cpu);
}

static gboolean
on_target_node(const NsWorkerCpusInput *in, guint cpu)
{
    gint node = ns_topology_node_of_cpu(in->topology, cpu);

    return node >= 0 && holds(in->target_nodes, (guint)node);
}

static NsWorkerCpus *
choice_new(GArray *cpus, guint wanted, gboolean background, NsWorkerCpuSource source)
{
    NsWorkerCpus *c = g_new0(NsWorkerCpus, 1);

    c->cpus = cpus;
    c->background = background;
    c->source = source;
    c->workers = background ? 1 : MAX(1u, MIN(wanted, cpus->len));
    return c;
}

gboolean
ns_worker_cpus_check_override(const GArray *cpus_override, const GArray *allowed,
                              GError **error)
{
    for (guint i = 0; i < cpus_override->len; i++)
        if (holds(allowed, g_array_index(cpus_override, guint, i)))
            return TRUE;
    g_autofree char *asked = ns_topology_format_list(cpus_override);
    g_autofree char *usable = allowed->len > 0 ? ns_topology_format_list(allowed) : g_strdup("none");

    g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                "worker CPUs %s: numashift may run on none of them (it may use %s)", asked,
                usable);
    return FALSE;
}

NsWorkerCpus *
ns_worker_cpus_choose(const NsWorkerCpusInput *in, GError **error)
{
    if (in->topology == NULL || in->allowed == NULL || in->allowed->len == 0 ||
        in->workers == 0) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "worker CPUs: no topology, no allowed CPU or no worker");
        return NULL;
    }
    if (in->cpus_override != NULL) {
        g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));
        gboolean pinned = FALSE;

        for (guint i = 0; i < in->cpus_override->len; i++) {
            guint cpu = g_array_index(in->cpus_override, guint, i);

            if (holds(in->allowed, cpu)) {
                g_array_append_val(cpus, cpu);
                pinned = pinned || busy(in, cpu);
            }
        }
        if (cpus->len == 0 && !ns_worker_cpus_check_override(in->cpus_override, in->allowed, error))
            return NULL;
        /* The operator's word, but a vCPU's CPU still gets only idle time. */
        return pinned ? choice_new(g_steal_pointer(&cpus), 1, TRUE, NS_WORKER_CPUS_OPERATOR)
                    : choice_new(g_steal_pointer(&cpus), in->workers, FALSE,
                                 NS_WORKER_CPUS_OPERATOR);
    }
    g_autoptr(GArray) target = g_array_new(FALSE, FALSE, sizeof(guint));
    g_autoptr(GArray) free_cpus = g_array_new(FALSE, FALSE, sizeof(guint));

    for (guint i = 0; i < in->allowed->len; i++) {
        guint cpu = g_array_index(in->allowed, guint, i);

        if (busy(in, cpu))
            continue;
        g_array_append_val(free_cpus, cpu);
        if (on_target_node(in, cpu))
            g_array_append_val(target, cpu);
    }
    if (target->len > 0) {
        /* Too few there for the workers wanted: the other free CPUs too
         * (a copy stream more beats a copy that lands remote). */
        if (target->len < in->workers)
            return choice_new(g_steal_pointer(&free_cpus), in->workers, FALSE,
                              NS_WORKER_CPUS_TARGET_NODE);
        return choice_new(g_steal_pointer(&target), in->workers, FALSE,
                          NS_WORKER_CPUS_TARGET_NODE);
    }
    if (free_cpus->len > 0)
        return choice_new(g_steal_pointer(&free_cpus), in->workers, FALSE,
                          NS_WORKER_CPUS_HOUSEKEEPING);
    g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));

    for (guint i = 0; in->emulator_cpus != NULL && i < in->emulator_cpus->len; i++) {
        guint cpu = g_array_index(in->emulator_cpus, guint, i);

        if (holds(in->allowed, cpu))
            g_array_append_val(cpus, cpu);
    }
    if (cpus->len == 0)
        g_array_append_vals(cpus, in->allowed->data, in->allowed->len);
    return choice_new(g_steal_pointer(&cpus), 1, TRUE, NS_WORKER_CPUS_NONE_FREE);
}

char *
ns_worker_cpus_describe(const NsWorkerCpus *c)
{
    g_autofree char *list = ns_topology_format_list(c->cpus);
    const char *why = "";

    switch (c->source) {
    case NS_WORKER_CPUS_TARGET_NODE:
        why = "no pinned vCPU there; the target nodes' ones among them";
        break;
    case NS_WORKER_CPUS_HOUSEKEEPING:
        why = "no pinned vCPU there; none such on the target nodes";
        break;
    case NS_WORKER_CPUS_NONE_FREE:
        why = "a vCPU is pinned to every CPU numashift may use";
        break;
    case NS_WORKER_CPUS_OPERATOR:
        why = c->background ? "the operator's; a vCPU is pinned there"
                            : "the operator's";
        break;
    }
    return g_strdup_printf("%u worker%s%s on CPU%s %s (%s)", c->workers,
                           c->workers == 1 ? "" : "s", c->background ? " at SCHED_IDLE" : "",
                           c->cpus->len == 1 ? "" : "s", list, why);
}

GArray *
ns_worker_cpus_pinned(const GPtrArray *vcpu_pins, const GArray *allowed)
{
    GArray *cpus = g_array_new(FALSE, FALSE, sizeof(guint));
    NsWorkerCpusInput in = { .vcpu_pins = vcpu_pins, .allowed = allowed };

    for (guint i = 0; vcpu_pins != NULL && i < allowed->len; i++) {
        guint cpu = g_array_index(allowed, guint, i);

        if (vcpu_pinned_to(&in, cpu))
            g_array_append_val(cpus, cpu);
    }
    return cpus;
}

void
ns_worker_cpus_free(NsWorkerCpus *c)
{
    if (c == NULL)
        return;
    g_array_unref(c->cpus);
    g_free(c);
}
