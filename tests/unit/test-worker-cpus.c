/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the engine's copy workers run (worker-cpus.h), on the captured
 * sysfs tree of a test host (nodes 0-2, node N with CPU N; node 3 is
 * not there, a target without CPUs): every rule of the
 * choice, the operator's list, and the line that logs it.
 */
#include <glib.h>

#include "numashift/error.h"
#include "numashift/worker-cpus.h"

static GArray *
ids(const char *list)
{
    g_autoptr(GError) error = NULL;
    GArray *a = ns_topology_parse_list(list, 65535, &error);

    g_assert_no_error(error);
    return a;
}

/* Pin sets, one list per vCPU: "0", "1" → vCPU 0 on CPU 0, vCPU 1 on CPU 1. */
static GPtrArray *
pins(const char *const *lists)
{
    GPtrArray *p = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);

    for (; *lists != NULL; lists++)
        g_ptr_array_add(p, ids(*lists));
    return p;
}

typedef struct {
    NsTopology *topology;
    GArray *allowed;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *root = g_build_filename(g_getenv("NS_TEST_DATA"), "data", "sysfs",
                                             "vm-4node", NULL);

    f->topology = ns_topology_load(root, &error);
    g_assert_no_error(error);
    f->allowed = ids("0-2");
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    ns_topology_free(f->topology);
    g_array_unref(f->allowed);
}

static void
assert_choice(const NsWorkerCpus *c, const char *cpus, guint workers, gboolean background,
              NsWorkerCpuSource source)
{
    g_autofree char *got = ns_topology_format_list(c->cpus);

    g_assert_cmpstr(got, ==, cpus);
    g_assert_cmpuint(c->workers, ==, workers);
    g_assert_cmpint(c->background, ==, background);
    g_assert_cmpint(c->source, ==, source);
}

static NsWorkerCpus *
choose(Fixture *f, const GPtrArray *vcpu_pins, const char *targets, const GArray *emulator,
       const char *override, guint workers, GError **error)
{
    g_autoptr(GArray) target_nodes = ids(targets);
    g_autoptr(GArray) cpus_override = override != NULL ? ids(override) : NULL;
    NsWorkerCpusInput in = {
        .topology = f->topology,
        .allowed = f->allowed,
        .vcpu_pins = vcpu_pins,
        .emulator_cpus = emulator,
        .target_nodes = target_nodes,
        .cpus_override = cpus_override,
        .workers = workers,
    };

    return ns_worker_cpus_choose(&in, error);
}

static NsWorkerCpus *
choose_reserved(Fixture *f, const GPtrArray *vcpu_pins, const char *targets,
                const GArray *reserved)
{
    g_autoptr(GArray) target_nodes = ids(targets);
    NsWorkerCpusInput in = {
        .topology = f->topology,
        .allowed = f->allowed,
        .vcpu_pins = vcpu_pins,
        .reserved_cpus = reserved,
        .target_nodes = target_nodes,
        .workers = 2,
    };

    return ns_worker_cpus_choose(&in, NULL);
}

/* vCPUs pinned to CPUs 0 and 1: a move to node 2 copies on CPU 2, node 2's
 * own, with one worker (never more workers than CPUs). */
static void
test_target_node(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) p = pins((const char *const[]){ "0", "1", NULL });
    g_autoptr(NsWorkerCpus) c = choose(f, p, "2", NULL, NULL, 2, NULL);

    assert_choice(c, "2", 1, FALSE, NS_WORKER_CPUS_TARGET_NODE);
    g_autofree char *line = ns_worker_cpus_describe(c);

    g_assert_cmpstr(line, ==, "1 worker on CPU 2 (no pinned vCPU there; "
                              "the target nodes' ones among them)");
}

/* The target node's CPU is a vCPU's: the free CPU elsewhere (housekeeping);
 * a target node with no CPU at all (node 3) likewise. */
static void
test_housekeeping(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) p = pins((const char *const[]){ "0", "1", NULL });
    g_autoptr(NsWorkerCpus) c = choose(f, p, "1", NULL, NULL, 2, NULL);
    g_autoptr(NsWorkerCpus) cpuless = choose(f, p, "3", NULL, NULL, 2, NULL);

    assert_choice(c, "2", 1, FALSE, NS_WORKER_CPUS_HOUSEKEEPING);
    assert_choice(cpuless, "2", 1, FALSE, NS_WORKER_CPUS_HOUSEKEEPING);
}

/* A vCPU pinned to every CPU numashift may use floats: it reserves none.
 * The target node's one CPU for two workers: every free CPU, two workers;
 * two target nodes' CPUs for two workers: those; one worker: its node's. */
static void
test_floating_vcpus(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) p = pins((const char *const[]){ "0-2", "0-3", NULL });
    g_autoptr(NsWorkerCpus) c = choose(f, p, "0", NULL, NULL, 2, NULL);
    g_autoptr(NsWorkerCpus) two = choose(f, p, "0,1", NULL, NULL, 2, NULL);
    g_autoptr(NsWorkerCpus) one = choose(f, p, "1", NULL, NULL, 1, NULL);

    assert_choice(c, "0-2", 2, FALSE, NS_WORKER_CPUS_TARGET_NODE);
    assert_choice(two, "0-1", 2, FALSE, NS_WORKER_CPUS_TARGET_NODE);
    assert_choice(one, "1", 1, FALSE, NS_WORKER_CPUS_TARGET_NODE);
}

/* Every CPU pinned to a vCPU (or the pinning unknown): one worker at
 * SCHED_IDLE, on the emulator pin set when there is one. */
static void
test_none_free(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) p = pins((const char *const[]){ "0", "1", "2", NULL });
    g_autoptr(GArray) emulator = ids("1,7");
    g_autoptr(NsWorkerCpus) c = choose(f, p, "1", NULL, NULL, 2, NULL);
    g_autoptr(NsWorkerCpus) emu = choose(f, p, "1", emulator, NULL, 2, NULL);
    g_autoptr(NsWorkerCpus) unknown = choose(f, NULL, "1", NULL, NULL, 2, NULL);

    assert_choice(c, "0-2", 1, TRUE, NS_WORKER_CPUS_NONE_FREE);
    assert_choice(emu, "1", 1, TRUE, NS_WORKER_CPUS_NONE_FREE); /* 7 is not allowed */
    assert_choice(unknown, "0-2", 1, TRUE, NS_WORKER_CPUS_NONE_FREE);
    g_autofree char *line = ns_worker_cpus_describe(c);

    g_assert_cmpstr(line, ==, "1 worker at SCHED_IDLE on CPUs 0-2 (a vCPU is pinned to "
                              "every CPU numashift may use)");
}

/* The operator's CPUs: as given (only those numashift may use), at
 * SCHED_IDLE when a vCPU is pinned to one; none usable is an error. */
static void
test_operator(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) p = pins((const char *const[]){ "0", NULL });
    g_autoptr(GError) error = NULL;
    g_autoptr(NsWorkerCpus) c = choose(f, p, "1", NULL, "1-2,9", 4, NULL);
    g_autoptr(NsWorkerCpus) busy = choose(f, p, "1", NULL, "0-1", 4, NULL);
    g_autoptr(NsWorkerCpus) none = choose(f, p, "1", NULL, "8-9", 2, &error);

    assert_choice(c, "1-2", 2, FALSE, NS_WORKER_CPUS_OPERATOR);
    assert_choice(busy, "0-1", 1, TRUE, NS_WORKER_CPUS_OPERATOR);
    g_assert_null(none);
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_FOUND);
    {
        g_autoptr(GError) early = NULL;
        g_autoptr(GArray) asked = ids("8-9");
        g_autoptr(GArray) nothing = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GArray) some = ids("2,9");

        /* The same check, alone, before any work: the same line. */
        g_assert_false(ns_worker_cpus_check_override(asked, f->allowed, &early));
        g_assert_cmpstr(early->message, ==, error->message);
        g_clear_error(&early);
        g_assert_true(ns_worker_cpus_check_override(some, f->allowed, NULL));
        g_assert_false(ns_worker_cpus_check_override(asked, nothing, &early));
        g_assert_cmpstr(early->message, ==,
                        "worker CPUs 8-9: numashift may run on none of them (it may use none)");
    }
    g_assert_cmpstr(error->message, ==,
                    "worker CPUs 8-9: numashift may run on none of them (it may use 0-2)");
}

/*
 * Other domains' pinned vCPUs (numashiftd's reserved CPUs) are kept free
 * like this domain's: with CPU 2 reserved, a move to node 2 copies on
 * another free CPU; everything reserved or pinned, one worker at
 * SCHED_IDLE.  ns_worker_cpus_pinned(): the CPUs of pinned vCPUs only.
 */
static void
test_reserved(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) p = pins((const char *const[]){ "0", NULL });
    g_autoptr(GArray) two = ids("2");
    g_autoptr(GArray) one_two = ids("1-2");
    g_autoptr(NsWorkerCpus) c = choose_reserved(f, p, "2", two);
    g_autoptr(NsWorkerCpus) none = choose_reserved(f, p, "2", one_two);

    assert_choice(c, "1", 1, FALSE, NS_WORKER_CPUS_HOUSEKEEPING);
    assert_choice(none, "0-2", 1, TRUE, NS_WORKER_CPUS_NONE_FREE);

    g_autoptr(GPtrArray) mixed = pins((const char *const[]){ "1", "0-2", "2,5", NULL });
    g_autoptr(GArray) pinned = ns_worker_cpus_pinned(mixed, f->allowed);
    g_autofree char *text = ns_topology_format_list(pinned);

    g_assert_cmpstr(text, ==, "1-2"); /* the floating vCPU (0-2) reserves nothing */
    g_autoptr(GArray) unknown = ns_worker_cpus_pinned(NULL, f->allowed);

    g_assert_cmpuint(unknown->len, ==, 0);
}

static void
test_bad_input(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsWorkerCpus) none = choose(f, NULL, "1", NULL, NULL, 0, &error);

    g_assert_null(none);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    ns_worker_cpus_free(NULL);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
    ADD("/worker-cpus/target-node", test_target_node);
    ADD("/worker-cpus/housekeeping", test_housekeeping);
    ADD("/worker-cpus/floating-vcpus", test_floating_vcpus);
    ADD("/worker-cpus/none-free", test_none_free);
    ADD("/worker-cpus/operator", test_operator);
    ADD("/worker-cpus/reserved", test_reserved);
    ADD("/worker-cpus/bad-input", test_bad_input);
    return g_test_run();
}
