/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's manager (hv/daemon/manager.c) without libvirt: jobs are the
 * manager's real NsJobs whose thread runs the test's function instead of
 * the move pipeline (ns_job_start_run()), held at a gate the test opens;
 * events are recorded.  What the numa suite can only catch by timing (one
 * decision per burst of pinning events, every serial ending in one
 * job-done, the job slots) is checked here deterministically.
 *
 * Pinning jobs start held at the first event of a burst (they prepare
 * while the debounce runs) and are released when it fires: the gated run
 * waits in ns_move_settle() first, as the pipeline does.
 *
 * Every wait iterates the main context under its own deadline and fails
 * naming what it waited for.
 */
#include <glib.h>
#include <string.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#include "manager.h"
#include "numashift/error.h"
#include "numashift/move.h"
#include "numashift/radix.h"
#include "numashift/topology.h"

#define UUID_A "aaaaaaaa-0000-4000-8000-000000000001"
#define UUID_B "bbbbbbbb-0000-4000-8000-000000000002"

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean open;     /* jobs may end */
    guint started;     /* jobs whose run passed ns_move_settle() (released, or never held) */
    gboolean fail_before_settle; /* runs fail while preparing (QEMU gone, say) */
    const char *pinned_uuid; /* this domain's runs find its vCPUs pinned to CPUs 2-3 */
} Gate;

typedef struct {
    NsDaemonConfig *config;
    NsManager *manager;
    Gate gate;
    gboolean connected;
    GPtrArray *specs;  /* of char *: "kind serial trigger uuid" per job started */
    GPtrArray *events; /* of JsonNode *: every event body, in order */
    GPtrArray *questions; /* of char *: the UUID of each ask_migration, in order */
} Fixture;

static gboolean
gated_run(NsJob *job, NsMove *move, gpointer data, GError **error)
{
    Gate *gate = data;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    g_mutex_lock(&gate->lock);
    gboolean fail = gate->fail_before_settle;

    g_mutex_unlock(&gate->lock);
    if (fail) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_NOT_RUNNING, "QEMU went away");
        return FALSE;
    }
    if (!ns_move_settle(move))
        return TRUE; /* cancelled while held: nothing was done */
    g_mutex_lock(&gate->lock);
    if (gate->pinned_uuid != NULL && strcmp(ns_job_get_spec(job)->uuid, gate->pinned_uuid) == 0) {
        g_autoptr(GArray) cpus = ns_topology_parse_list("2-3", 64, NULL);

        ns_move_note_pinned_cpus(move, cpus);
    }
    gate->started++;
    g_cond_broadcast(&gate->cond);
    while (!gate->open && g_cond_wait_until(&gate->cond, &gate->lock, deadline))
        ;
    gboolean opened = gate->open;

    g_mutex_unlock(&gate->lock);
    if (!opened)
        g_error("a job waited 10 s at a gate the test never opened");
    return TRUE;
}

static NsJob *
fake_start(gpointer data, const NsJobSpec *spec, const NsJobCallbacks *callbacks)
{
    Fixture *f = data;

    if (!f->connected)
        return NULL;
    g_autofree char *reserved =
        spec->reserved_cpus != NULL ? ns_topology_format_list(spec->reserved_cpus) : NULL;

    g_ptr_array_add(f->specs, g_strdup_printf("%s %" G_GUINT64_FORMAT " %s %s%s%s%s%s%s",
                                              spec->kind == NS_JOB_MIGRATE ? "migrate"
                                                                           : "rebalance",
                                              spec->serial, spec->trigger, spec->uuid,
                                              reserved != NULL ? " reserved=" : "",
                                              reserved != NULL ? reserved : "",
                                              spec->move_shared ? " move-shared" : "",
                                              spec->mode_override_source != NULL ? " mode-source=" : "",
                                              spec->mode_override_source != NULL ? spec->mode_override_source : ""));
    return ns_job_start_run(gated_run, &f->gate, spec, callbacks);
}

static gboolean
fake_watches_layout(gpointer data)
{
    return TRUE;
}

static void
fake_broadcast(gpointer data, NsControlEvent event, JsonNode *body)
{
    Fixture *f = data;

    g_ptr_array_add(f->events, json_node_copy(body));
}

static void
fake_ask_migration(gpointer data, const char *uuid)
{
    Fixture *f = data;

    g_ptr_array_add(f->questions, g_strdup(uuid));
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    const NsManagerHost host = { fake_start, fake_watches_layout, fake_broadcast, f, fake_ask_migration };

    g_mutex_init(&f->gate.lock);
    g_cond_init(&f->gate.cond);
    f->config = ns_daemon_config_new_default();
    f->config->debounce_ms = 100;
    f->config->start_delay_ms = 10;
    f->config->max_jobs = 1;
    f->connected = TRUE;
    f->specs = g_ptr_array_new_with_free_func(g_free);
    f->events = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    f->questions = g_ptr_array_new_with_free_func(g_free);
    f->manager = ns_manager_new(f->config, &host);
}

static void
open_gate(Fixture *f)
{
    g_mutex_lock(&f->gate.lock);
    f->gate.open = TRUE;
    g_cond_broadcast(&f->gate.cond);
    g_mutex_unlock(&f->gate.lock);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    open_gate(f);
    ns_manager_free(f->manager);
    g_ptr_array_unref(f->specs);
    g_ptr_array_unref(f->events);
    g_ptr_array_unref(f->questions);
    ns_daemon_config_free(f->config);
    g_cond_clear(&f->gate.cond);
    g_mutex_clear(&f->gate.lock);
}

/* Events whose "event" member is @what (and, for job events, whose job
 * has @state when not NULL). */
static guint
count_events(Fixture *f, const char *what, const char *state)
{
    guint n = 0;

    for (guint i = 0; i < f->events->len; i++) {
        JsonObject *o = json_node_get_object(f->events->pdata[i]);

        if (strcmp(json_object_get_string_member(o, "event"), what) != 0)
            continue;
        if (state != NULL &&
            g_strcmp0(json_object_get_string_member_with_default(
                          json_object_get_object_member(o, "job"), "state", ""),
                      state) != 0)
            continue;
        n++;
    }
    return n;
}

/* The job-done event of @serial, or NULL. */
static JsonObject *
job_done_of(Fixture *f, guint64 serial)
{
    JsonObject *found = NULL;

    for (guint i = 0; i < f->events->len; i++) {
        JsonObject *o = json_node_get_object(f->events->pdata[i]);

        if (strcmp(json_object_get_string_member(o, "event"), "job-done") == 0 &&
            (guint64)json_object_get_int_member(json_object_get_object_member(o, "job"),
                                                "serial") == serial) {
            g_assert_null(found); /* exactly one per serial */
            found = json_object_get_object_member(o, "job");
        }
    }
    return found;
}

typedef gboolean (*Predicate)(Fixture *f, gconstpointer arg);

/* Iterate the main context until @pred holds; fail after @secs naming @what. */
static void
wait_for(Fixture *f, Predicate pred, gconstpointer arg, guint secs, const char *what)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;

    while (!pred(f, arg)) {
        if (g_get_monotonic_time() >= deadline)
            g_error("timed out after %u s waiting for %s", secs, what);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

/* Let @ms pass with the main context running (timers fire). */
static void
run_for(guint ms)
{
    gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;

    while (g_get_monotonic_time() < until) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

static gboolean
jobs_started(Fixture *f, gconstpointer n)
{
    return f->specs->len >= GPOINTER_TO_UINT(n);
}

static gboolean
job_done_count(Fixture *f, gconstpointer n)
{
    return count_events(f, "job-done", NULL) >= GPOINTER_TO_UINT(n);
}

static gboolean
gate_reached(Fixture *f, gconstpointer n)
{
    g_mutex_lock(&f->gate.lock);
    gboolean ok = f->gate.started >= GPOINTER_TO_UINT(n);

    g_mutex_unlock(&f->gate.lock);
    return ok;
}

/* A time by which every drift check is due, whatever its backoff. */
static gint64
far_future(void)
{
    return g_get_monotonic_time() + (gint64)3600 * 64 * G_USEC_PER_SEC;
}

/* A domain started and its start job done, the gate closed again. */
static NsManagedDomain *
started_idle(Fixture *f, const char *uuid, const char *name)
{
    guint done = count_events(f, "job-done", NULL);

    ns_manager_domain_started(f->manager, uuid, name, "test");
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 1), 10, "the start job's job-done");
    g_mutex_lock(&f->gate.lock);
    f->gate.open = FALSE;
    g_mutex_unlock(&f->gate.lock);
    return ns_manager_find(f->manager, uuid);
}

static guint
gate_count(Fixture *f)
{
    g_mutex_lock(&f->gate.lock);
    guint n = f->gate.started;

    g_mutex_unlock(&f->gate.lock);
    return n;
}

static const char *
job_state(NsJob *job)
{
    static char state[32];
    g_autoptr(JsonNode) desc = ns_job_describe(job);

    g_strlcpy(state, json_object_get_string_member(json_node_get_object(desc), "state"),
              sizeof state);
    return state;
}

/*
 * Pinning events closer together than the debounce make one job, started
 * held at the first event ("settling": it prepares meanwhile) and released
 * when the debounce fires after the last.
 */
static void
test_pinning_debounced(Fixture *f, gconstpointer data)
{
    const char *keys[] = { "cputune.vcpupin0", NULL };
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    guint before = f->specs->len, reached = gate_count(f);

    g_assert_nonnull(a);
    g_assert_true(ns_manager_find(f->manager, "a") == a);
    for (guint i = 0; i < 5; i++) {
        ns_manager_pinning_changed(f->manager, UUID_A, "a", keys);
        g_assert_cmpuint(f->specs->len, ==, before + 1); /* from the first event on */
        run_for(20); /* 5 events 20 ms apart, debounce 100 ms */
    }
    g_assert_true(ns_job_is_held(ns_manager_get_job(a)));
    g_assert_cmpstr(job_state(ns_manager_get_job(a)), ==, "settling");
    g_assert_false(gate_reached(f, GUINT_TO_POINTER(reached + 1)));
    wait_for(f, gate_reached, GUINT_TO_POINTER(reached + 1), 10,
             "the pinning job's release when the debounce fires");
    g_assert_false(ns_job_is_held(ns_manager_get_job(a)));
    run_for(300); /* no second job from the same burst */
    g_assert_cmpuint(f->specs->len, ==, before + 1);
    g_assert_true(g_str_has_prefix(f->specs->pdata[before], "rebalance "));
    g_assert_nonnull(strstr(f->specs->pdata[before], " pinning " UUID_A));
    g_assert_cmpuint(count_events(f, "pinning", NULL), ==, 5);
}

/* Issue #16: a client wrote numashift's policy into the domain's libvirt
 * metadata (numashift policy --mode/--priority, or any libvirt client):
 * the domain is decided again at once, with an operator's urgency, and an
 * event says so; a domain numashiftd does not track is left alone. */
static void
test_metadata_changed(Fixture *f, gconstpointer data)
{
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    guint before = f->specs->len;

    g_assert_nonnull(a);
    ns_manager_metadata_changed(f->manager, "00000000-0000-4000-8000-00000000dead", "other");
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before);
    ns_manager_metadata_changed(f->manager, UUID_A, "a");
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 1), 10, "the policy job's start");
    g_assert_true(g_str_has_prefix(f->specs->pdata[before], "rebalance "));
    g_assert_nonnull(strstr(f->specs->pdata[before], " policy " UUID_A));
    g_assert_cmpuint(count_events(f, "metadata", NULL), ==, 1);
}

/*
 * Issue #16, live migration.  Leaving: once a migration of A begins, no job
 * of A starts (a request waits) until A resumes here, its migration failed;
 * its running job is cancelled.  Arriving: B, started here as a
 * migration's target, is not looked at while its memory arrives, even when
 * the hook also says it started; it is once it runs.
 */
static void
test_live_migration(Fixture *f, gconstpointer data)
{
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    guint before = f->specs->len, done = count_events(f, "job-done", NULL);

    ns_manager_rebalance(f->manager, a, "request");
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 1), 10, "A's request job");
    ns_manager_domain_leaving(f->manager, UUID_A, "migration pass 1");
    ns_manager_domain_leaving(f->manager, UUID_A, "migration pass 2"); /* renews, says nothing */
    g_assert_cmpuint(count_events(f, "migrating", NULL), ==, 1);
    ns_manager_rebalance(f->manager, a, "request");
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 1), 10, "A's first job to end");
    run_for(100);
    g_assert_cmpuint(f->specs->len, ==, before + 1); /* the second waits: A is leaving */
    ns_manager_domain_resumed(f->manager, UUID_A, "a", "resumed", FALSE);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 2), 10, "A's waiting job once A stays");
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 2), 10, "A's second job to end");

    ns_manager_domain_arriving(f->manager, UUID_B, "b");
    ns_manager_domain_started(f->manager, UUID_B, "b", "hook");
    run_for(300); /* start-delay-ms is 10 in this fixture */
    g_assert_cmpuint(f->specs->len, ==, before + 2);
    ns_manager_domain_resumed(f->manager, UUID_B, "b", "migration done", FALSE);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 3), 10, "B's look once it runs here");
    g_assert_nonnull(strstr(f->specs->pdata[before + 2], " start " UUID_B));
    g_assert_cmpuint(count_events(f, "arriving", NULL), ==, 1);
}

static gboolean
questions_asked(Fixture *f, gconstpointer n)
{
    return f->questions->len >= GPOINTER_TO_UINT(n);
}

/*
 * Issue #16, the migrations that send no event.  A migration cancelled (or
 * failed) before its switchover says nothing: the domain used to wait out
 * a 30 s window before its jobs ran again.  Now the manager asks libvirt
 * while A leaves, once a question is answered: "still migrating away"
 * keeps its request waiting, "no migration" lets it run.  B arrives and
 * resumes in post-copy (running here, memory still coming): no look until
 * libvirt says the migration is over.  An answer for a domain no longer
 * tracked, or one nobody asked for, changes nothing.
 */
static void
test_migration_answers(Fixture *f, gconstpointer data)
{
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    guint before = f->specs->len;

    ns_manager_domain_leaving(f->manager, UUID_A, "migration pass 1");
    ns_manager_rebalance(f->manager, a, "request");
    ns_manager_migration_answer(f->manager, UUID_A, NS_MIGRATION_NONE); /* not asked: ignored */
    run_for(100);
    g_assert_cmpuint(f->specs->len, ==, before);
    wait_for(f, questions_asked, GUINT_TO_POINTER(1), 10, "the manager's first question about A");
    g_assert_cmpstr(f->questions->pdata[0], ==, UUID_A);
    ns_manager_migration_answer(f->manager, UUID_A, NS_MIGRATION_OUT);
    run_for(100);
    g_assert_cmpuint(f->specs->len, ==, before); /* still leaving */
    wait_for(f, questions_asked, GUINT_TO_POINTER(2), 10, "the manager's second question about A");
    ns_manager_migration_answer(f->manager, UUID_A, NS_MIGRATION_UNKNOWN);
    run_for(100);
    g_assert_cmpuint(f->specs->len, ==, before); /* unknown: the window decides */
    wait_for(f, questions_asked, GUINT_TO_POINTER(3), 10, "the manager's third question about A");
    ns_manager_migration_answer(f->manager, UUID_A, NS_MIGRATION_NONE); /* cancelled */
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 1), 10, "A's request once its migration ended");
    g_assert_nonnull(strstr(f->specs->pdata[before], " request " UUID_A));
    open_gate(f);
    guint asked = f->questions->len;

    run_for(2500);
    g_assert_cmpuint(f->questions->len, ==, asked); /* A stays: no more questions */

    ns_manager_domain_arriving(f->manager, UUID_B, "b");
    ns_manager_domain_resumed(f->manager, UUID_B, "b", "post-copy migration", TRUE);
    run_for(300); /* start-delay-ms is 10 in this fixture */
    g_assert_cmpuint(f->specs->len, ==, before + 1);
    wait_for(f, questions_asked, GUINT_TO_POINTER(asked + 1), 10, "the manager's question about B");
    g_assert_cmpstr(f->questions->pdata[asked], ==, UUID_B);
    ns_manager_migration_answer(f->manager, UUID_B, NS_MIGRATION_IN);
    run_for(300);
    g_assert_cmpuint(f->specs->len, ==, before + 1); /* pages still arriving */
    wait_for(f, questions_asked, GUINT_TO_POINTER(asked + 2), 10, "the manager's next question about B");
    ns_manager_migration_answer(f->manager, UUID_B, NS_MIGRATION_NONE);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 2), 10, "B's look once post-copy ended");
    g_assert_nonnull(strstr(f->specs->pdata[before + 1], " start " UUID_B));

    ns_manager_migration_answer(f->manager, "cccccccc-0000-4000-8000-000000000003", NS_MIGRATION_NONE);
}

/* The held job fails while preparing: the debounce starts another, not held. */
static void
test_pinning_held_failed(Fixture *f, gconstpointer data)
{
    const char *keys[] = { "cputune.vcpupin0", NULL };
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    guint before = f->specs->len, done = count_events(f, "job-done", NULL);

    /* The manager warns of the failed job: that warning is this test's point. */
    GLogLevelFlags fatal = g_log_set_always_fatal(G_LOG_FATAL_MASK);

    f->gate.fail_before_settle = TRUE;
    ns_manager_pinning_changed(f->manager, UUID_A, "a", keys);
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 1), 10, "the failed held job's job-done");
    g_log_set_always_fatal(fatal);
    g_assert_cmpuint(count_events(f, "job-done", "failed"), ==, 1);
    g_mutex_lock(&f->gate.lock);
    f->gate.fail_before_settle = FALSE;
    g_mutex_unlock(&f->gate.lock);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 2), 10,
             "a second pinning job when the debounce fires");
    g_assert_nonnull(strstr(f->specs->pdata[before + 1], " pinning " UUID_A));
    g_assert_false(ns_job_is_held(ns_manager_get_job(a)));
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 2), 10, "the second job's job-done");
}

/* The domain stops while its pinning job is held: it ends, nothing follows. */
static void
test_pinning_stopped_while_settling(Fixture *f, gconstpointer data)
{
    const char *keys[] = { "cputune.vcpupin0", NULL };
    started_idle(f, UUID_A, "a");
    guint before = f->specs->len;
    guint done = count_events(f, "job-done", NULL), reached = gate_count(f);

    ns_manager_pinning_changed(f->manager, UUID_A, "a", keys);
    g_assert_cmpuint(f->specs->len, ==, before + 1);
    ns_manager_domain_stopped(f->manager, UUID_A, "test");
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 1), 10,
             "the held job's job-done after its domain stopped");
    g_assert_null(ns_manager_find(f->manager, UUID_A));
    run_for(300); /* past the debounce: nothing starts, nothing passed the wait */
    g_assert_cmpuint(f->specs->len, ==, before + 1);
    g_assert_cmpuint(gate_count(f), ==, reached);
}

/*
 * A pinning burst while another job of the domain runs: the burst's job
 * waits for the slot; the debounce firing first makes it start released.
 */
static void
test_pinning_behind_running_job(Fixture *f, gconstpointer data)
{
    const char *keys[] = { "cputune.vcpupin0", NULL };
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    guint before = f->specs->len, reached = gate_count(f);

    ns_manager_rebalance(f->manager, a, "request");
    wait_for(f, gate_reached, GUINT_TO_POINTER(reached + 1), 10, "the request's job to run");
    ns_manager_pinning_changed(f->manager, UUID_A, "a", keys);
    run_for(300); /* the debounce fires while the request's job runs */
    g_assert_cmpuint(f->specs->len, ==, before + 1);
    open_gate(f);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 2), 10, "the pinning job");
    g_assert_nonnull(strstr(f->specs->pdata[before + 1], " pinning " UUID_A));
    wait_for(f, gate_reached, GUINT_TO_POINTER(reached + 2), 10,
             "the pinning job to run without waiting");
}

/*
 * One job slot: B's migrate waits behind A's running job; B stops: its
 * follower gets job-done "cancelled" (not-running) for that serial, and no
 * job ever runs for it.  Issue #9's hang, at the manager's level.
 */
static void
test_stopped_while_pending(Fixture *f, gconstpointer data)
{
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    NsManagedDomain *b = started_idle(f, UUID_B, "b");
    NsJobSpec *spec = g_new0(NsJobSpec, 1);
    guint before = f->specs->len;

    ns_manager_rebalance(f->manager, a, "request");
    wait_for(f, gate_reached, GUINT_TO_POINTER(3), 10, "A's job to run");
    spec->kind = NS_JOB_MIGRATE;
    spec->trigger = g_strdup("request from uid 0");
    spec->to = 1;
    spec->cell = -1;
    guint64 serial = ns_manager_migrate(f->manager, b, spec);

    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before + 1); /* B waits for the slot */
    ns_manager_domain_stopped(f->manager, UUID_B, "test");
    JsonObject *done = job_done_of(f, serial);

    g_assert_nonnull(done);
    g_assert_cmpstr(json_object_get_string_member(done, "state"), ==, "cancelled");
    g_assert_cmpstr(json_object_get_string_member(done, "error_code"), ==, "not-running");
    g_assert_null(ns_manager_find(f->manager, UUID_B));
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(4), 10, "A's job-done");
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before + 1); /* nothing ran for B */
}

/*
 * Superseding: while A's job runs, a pending rebalance is served by the
 * pending migrate that replaces it (job-done "superseded", superseded_by
 * the migrate's serial); a rebalance after a pending migrate gets the
 * migrate's serial; every serial ends in exactly one job-done.
 */
static void
test_supersede(Fixture *f, gconstpointer data)
{
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    guint64 first = ns_manager_rebalance(f->manager, a, "request");

    wait_for(f, gate_reached, GUINT_TO_POINTER(2), 10, "A's first job to run");
    guint64 pending = ns_manager_rebalance(f->manager, a, "request");
    guint64 again = ns_manager_rebalance(f->manager, a, "request");

    g_assert_cmpuint(pending, !=, first);
    g_assert_cmpuint(again, ==, pending); /* one pending rebalance serves both */
    NsJobSpec *spec = g_new0(NsJobSpec, 1);

    spec->kind = NS_JOB_MIGRATE;
    spec->trigger = g_strdup("request from uid 0");
    spec->cell = -1;
    guint64 migrate = ns_manager_migrate(f->manager, a, spec);
    JsonObject *superseded = job_done_of(f, pending);

    g_assert_nonnull(superseded);
    g_assert_cmpstr(json_object_get_string_member(superseded, "state"), ==, "superseded");
    g_assert_cmpint(json_object_get_int_member(superseded, "superseded_by"), ==, (gint64)migrate);
    g_assert_cmpuint(ns_manager_rebalance(f->manager, a, "request"), ==, migrate);

    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(4), 10, "the migrate's job-done");
    g_assert_nonnull(job_done_of(f, first));
    g_assert_nonnull(job_done_of(f, migrate));
    g_assert_true(g_str_has_prefix(g_ptr_array_index(f->specs, f->specs->len - 1), "migrate "));
}

/*
 * Issue #11: the workers of one domain's job keep off the CPUs of every
 * other tracked domain's pinned vCPUs.  A's job finds A's vCPUs pinned to
 * CPUs 2-3; B's next job is told to keep off them, A's own is not (its
 * own pinning it reads itself); once A stops, nobody reserves them.
 */
static void
test_reserved_cpus(Fixture *f, gconstpointer data)
{
    f->gate.pinned_uuid = UUID_A;
    NsManagedDomain *a = started_idle(f, UUID_A, "a");

    g_assert_null(strstr(f->specs->pdata[0], "reserved="));
    NsManagedDomain *b = started_idle(f, UUID_B, "b");

    g_assert_nonnull(strstr(f->specs->pdata[1], " " UUID_B " reserved=2-3"));
    ns_manager_rebalance(f->manager, a, "request");
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(3), 10, "A's second job-done");
    g_assert_null(strstr(f->specs->pdata[2], "reserved="));
    ns_manager_domain_stopped(f->manager, UUID_A, "test");
    ns_manager_rebalance(f->manager, b, "request");
    wait_for(f, job_done_count, GUINT_TO_POINTER(4), 10, "B's second job-done");
    g_assert_null(strstr(f->specs->pdata[3], "reserved="));
}

/* Without a libvirt connection nothing starts; a kick after it starts what waits. */
static void
test_kick_after_connect(Fixture *f, gconstpointer data)
{
    f->connected = FALSE;
    ns_manager_domain_started(f->manager, UUID_A, "a", "test");
    run_for(100);
    g_assert_cmpuint(f->specs->len, ==, 0);
    f->connected = TRUE;
    ns_manager_kick(f->manager);
    g_assert_cmpuint(f->specs->len, ==, 1);
    g_assert_nonnull(strstr(f->specs->pdata[0], " start " UUID_A));
    /* Issue #16: a job names its domain, not only its UUID (numashift jobs). */
    NsJob *job = ns_manager_get_job(ns_manager_find(f->manager, UUID_A));
    g_autoptr(JsonNode) desc = ns_job_describe(job);

    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(desc), "domain"), ==, "a");
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(desc), "uuid"), ==, UUID_A);

    /* Drift checks leave a domain with a job alone. */
    ns_manager_drift_tick(f->manager, far_future());
    g_assert_cmpuint(f->specs->len, ==, 1);
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(1), 10, "the start job's job-done");
    ns_manager_drift_tick(f->manager, far_future());
    g_assert_cmpuint(f->specs->len, ==, 2);
    g_assert_nonnull(strstr(f->specs->pdata[1], " drift " UUID_A));
}

/* The description's drift_check_in_ms of @uuid, in intervals. */
static double
drift_check_in(Fixture *f, const char *uuid)
{
    g_autoptr(JsonNode) desc = ns_manager_describe(f->manager, ns_manager_find(f->manager, uuid));
    JsonObject *o = json_node_get_object(desc);

    return (double)json_object_get_int_member(o, "drift_check_in_ms") /
           (f->config->drift_interval_s * 1000.0);
}

/*
 * Issue #14: drift checks are spread over their interval, not queued all
 * at once, and a domain whose jobs fail backs off.  Sixteen domains whose
 * start jobs ended together come due 0.75 to 1.25 intervals later, each
 * at its own time (spread over at least a fifth of an interval); a tick
 * before any is due starts nothing.  A domain whose jobs fail is checked
 * after 2, 4, ... up to 32 intervals (each within its +-25%), and one job
 * that succeeds brings it back to one.
 */
static void
test_drift_spread_and_backoff(Fixture *f, gconstpointer data)
{
    double lo = 2.0, hi = 0.0;

    f->config->drift_interval_s = 60;
    for (guint i = 0; i < 16; i++) {
        g_autofree char *uuid = g_strdup_printf("dddddddd-0000-4000-8000-%012u", i);
        g_autofree char *name = g_strdup_printf("d%u", i);

        started_idle(f, uuid, name);
    }
    for (guint i = 0; i < 16; i++) {
        g_autofree char *uuid = g_strdup_printf("dddddddd-0000-4000-8000-%012u", i);
        double in = drift_check_in(f, uuid);

        g_assert_cmpfloat(in, >, 0.74);
        g_assert_cmpfloat(in, <=, 1.25);
        lo = MIN(lo, in);
        hi = MAX(hi, in);
    }
    g_assert_cmpfloat(hi - lo, >=, 0.2);
    ns_manager_drift_tick(f->manager, g_get_monotonic_time());
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, 16); /* the start jobs only */

    /* Backoff: the next job fails, and the one after, ... */
    NsManagedDomain *a = ns_manager_find(f->manager, "dddddddd-0000-4000-8000-000000000000");

    /* The manager warns of each failed job (and of the backoff): expected here. */
    GLogLevelFlags fatal = g_log_set_always_fatal(G_LOG_FATAL_MASK);

    g_mutex_lock(&f->gate.lock);
    f->gate.fail_before_settle = TRUE;
    g_mutex_unlock(&f->gate.lock);
    for (guint fails = 1; fails <= 7; fails++) {
        guint done = count_events(f, "job-done", NULL);
        double backoff = (double)(1u << MIN(fails, 5u));
        double in;

        ns_manager_rebalance(f->manager, a, "request");
        wait_for(f, job_done_count, GUINT_TO_POINTER(done + 1), 10, "a failed job's job-done");
        in = drift_check_in(f, "dddddddd-0000-4000-8000-000000000000");
        g_assert_cmpfloat(in, >, 0.74 * backoff);
        g_assert_cmpfloat(in, <=, 1.25 * backoff);
    }
    g_log_set_always_fatal(fatal);
    /* The drift check itself comes when due, and a success resets the backoff. */
    g_mutex_lock(&f->gate.lock);
    f->gate.fail_before_settle = FALSE;
    g_mutex_unlock(&f->gate.lock);
    open_gate(f);
    guint done = count_events(f, "job-done", NULL);

    ns_manager_drift_tick(f->manager, far_future());
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 16), 10, "every domain's drift check");
    g_assert_cmpfloat(drift_check_in(f, "dddddddd-0000-4000-8000-000000000000"), <=, 1.25);
}

/* The trigger and domain of the @i-th job started ("pinning " UUID). */
static char *
started_as(Fixture *f, guint i)
{
    /* "kind serial trigger uuid [reserved=...]" */
    g_auto(GStrv) w = g_strsplit(f->specs->pdata[i], " ", -1);

    return g_strdup_printf("%s %s", w[2], w[3]);
}

/* [domain KEY] priority=N, as a file would set it (KEY a name or a UUID). */
static void
set_priority(NsDaemonConfig *config, const char *key, gint priority)
{
    NsDomainSettings *dc = ns_daemon_config_domain_entry(config, key);

    dc->has_priority = TRUE;
    dc->priority = priority;
}

/* [domain KEY] move-shared=true. */
static void
set_move_shared(NsDaemonConfig *config, const char *key)
{
    NsDomainSettings *dc = ns_daemon_config_domain_entry(config, key);

    dc->has_move_shared = TRUE;
    dc->move_shared = TRUE;
}

/*
 * Issue #14: with every slot taken, pending jobs start most urgent first:
 * an operator's request, then a pinning change, then a domain's start,
 * then drift checks, those of a domain with a higher configured priority
 * ([domain NAME] priority=N) first; not in the order they arrived.
 */
static void
test_queue_order(Fixture *f, gconstpointer data)
{
    const char *keys[] = { "cputune.vcpupin0", NULL };
    const char *lo = "11111111-0000-4000-8000-000000000001";
    const char *hi = "22222222-0000-4000-8000-000000000002";
    const char *pin = "33333333-0000-4000-8000-000000000003";
    const char *req = "44444444-0000-4000-8000-000000000004";
    const char *fresh = "55555555-0000-4000-8000-000000000005";
    const char *blocker = "66666666-0000-4000-8000-000000000006";

    set_priority(f->config, "hi", 5);
    set_priority(f->config, "lo", -5);
    started_idle(f, lo, "lo");
    started_idle(f, hi, "hi");
    started_idle(f, pin, "pin");
    NsManagedDomain *r = started_idle(f, req, "req");
    guint before = f->specs->len, reached = gate_count(f);

    /* The one slot: a start job held at the gate. */
    ns_manager_domain_started(f->manager, blocker, "blocker", "test");
    wait_for(f, gate_reached, GUINT_TO_POINTER(reached + 1), 10, "the blocker's start job at the gate");
    /* Arrivals, least urgent first. */
    ns_manager_drift_tick(f->manager, far_future());
    ns_manager_domain_started(f->manager, fresh, "fresh", "test");
    run_for(50); /* its start delay */
    ns_manager_pinning_changed(f->manager, pin, "pin", keys);
    ns_manager_rebalance(f->manager, r, "request");
    g_assert_cmpuint(f->specs->len, ==, before + 1);

    open_gate(f);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 6), 10, "the five queued jobs to start");
    wait_for(f, job_done_count, GUINT_TO_POINTER(before + 6), 10, "the five queued jobs to end");
    const char *want[] = { "request", "pinning", "start", "drift", "drift" };
    const char *uuids[] = { req, pin, fresh, hi, lo };

    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        g_autofree char *got = started_as(f, before + 1 + i);
        g_autofree char *expected = g_strdup_printf("%s %s", want[i], uuids[i]);

        g_assert_cmpstr(got, ==, expected);
    }
}

/*
 * A round of pinning changes (issue #14): three domains re-pinned one
 * after the other, each event within the debounce of the last but the
 * first domain's debounce past by the third's event; one job slot.
 * The lowest-priority domain's job, held since its own event, must not
 * decide first: the round settles together (every event restarts the
 * settling debounces) and its held job yields the slot; the jobs then
 * decide highest priority first.  Without the round, "lo" is released
 * before "hi" has changed; without the yield, "lo" decides first anyway.
 */
static void
test_pinning_round_priority(Fixture *f, gconstpointer data)
{
    const char *keys[] = { "cputune.vcpupin0", NULL };
    const char *lo = "11111111-0000-4000-8000-000000000001";
    const char *mid = "22222222-0000-4000-8000-000000000002";
    const char *hi = "33333333-0000-4000-8000-000000000003";

    /* "hi" by its UUID, which wins over its name's entry: [domain UUID]
     * reaches the queue (were the name's read, "hi" would decide last). */
    set_priority(f->config, hi, 5);
    set_priority(f->config, "hi", -9);
    set_priority(f->config, "lo", -5);
    started_idle(f, lo, "lo");
    started_idle(f, mid, "mid");
    started_idle(f, hi, "hi");
    guint before = f->specs->len, done = count_events(f, "job-done", NULL);

    /* A debounce wide enough for a loaded machine's timer slack. */
    f->config->debounce_ms = 1000;
    ns_manager_pinning_changed(f->manager, lo, "lo", keys);
    run_for(700);
    ns_manager_pinning_changed(f->manager, mid, "mid", keys);
    run_for(700); /* 1.4 s after lo's event: its own debounce would have fired */
    ns_manager_pinning_changed(f->manager, hi, "hi", keys);
    g_assert_cmpuint(f->specs->len, ==, before + 1); /* lo's held job has the slot */
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 1), 10, "lo's held job to yield");
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(done + 4), 10, "the round's three jobs");
    const char *order[] = { lo, hi, mid, lo };

    g_assert_cmpuint(f->specs->len, ==, before + 4);
    for (guint i = 0; i < G_N_ELEMENTS(order); i++) {
        g_autofree char *want = g_strdup_printf(" pinning %s", order[i]);

        g_assert_true(g_str_has_suffix(f->specs->pdata[before + i], want));
    }
}

/* The description requests answer with, and the runtime mode. */
static void
test_describe_and_mode(Fixture *f, gconstpointer data)
{
    NsManagedDomain *a = started_idle(f, UUID_A, "a");
    g_autoptr(JsonNode) before = ns_manager_describe(f->manager, a);
    JsonObject *o = json_node_get_object(before);
    g_autoptr(GPtrArray) all = ns_manager_list(f->manager);

    g_assert_cmpuint(all->len, ==, 1);
    g_assert_cmpstr(ns_manager_domain_uuid(a), ==, UUID_A);
    g_assert_cmpstr(ns_manager_domain_name(a), ==, "a");
    g_assert_cmpstr(json_object_get_string_member(o, "mode"), ==, "follow");
    g_assert_false(json_object_has_member(o, "placement")); /* a worker's: status */
    g_assert_null(ns_manager_ref_live_map(a));              /* no scan yet */
    g_autoptr(JsonNode) nowhere = ns_manager_placement_json(NULL, NULL);

    g_assert_true(JSON_NODE_HOLDS_NULL(nowhere));
    g_assert_nonnull(ns_manager_get_job(a));
    g_assert_false(ns_manager_control_job(f->manager, a, NS_CONTROL_OP_PAUSE)); /* none runs */

    ns_manager_set_mode(f->manager, a, "off");
    g_autoptr(JsonNode) after = ns_manager_describe(f->manager, a);

    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(after), "mode"), ==, "off");
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(after), "mode_source"), ==,
                    "runtime");
    g_assert_false(json_object_has_member(json_node_get_object(after), "placement"));
    g_assert_cmpuint(count_events(f, "policy", NULL), ==, 1);

    /* A layout change and a lost connection drop the kept memory map. */
    ns_manager_layout_changed(f->manager, UUID_A, "device added");
    ns_manager_connection_lost(f->manager);

    /* A reload that turns the mode on rebalances (the runtime mode first
     * goes back to the file's say). */
    guint n = f->specs->len;
    g_autoptr(NsDaemonConfig) off = ns_daemon_config_new_default();

    ns_manager_set_mode(f->manager, a, "follow"); /* rebalance at once */
    wait_for(f, jobs_started, GUINT_TO_POINTER(n + 1), 10, "the policy job");
    /* The policy is told who set the mode, for its words ("opted out by
     * numashift policy at run time", not "by configuration"). */
    g_assert_nonnull(strstr(f->specs->pdata[n], " mode-source=numashift policy at run time"));
    open_gate(f);
    wait_for(f, job_done_count, GUINT_TO_POINTER(2), 10, "the policy job's job-done");
    g_free(off->mode);
    off->mode = g_strdup("off");
    ns_manager_set_config(f->manager, off);
    ns_manager_set_config(f->manager, f->config);
}

/*
 * Issue #13: a DIMM plugged into a vNUMA cell is allocated where the
 * domain's numatune puts it, not where the cell's vCPUs run.  numashiftd
 * looks at the domain start-delay-ms after a layout change (trigger
 * "layout") instead of leaving it to the next drift check, which may be
 * off or minutes away; a burst of device events makes one look, a domain
 * that stops before the look gets none, and an unknown one is ignored.
 */
static void
test_layout_change_looks(Fixture *f, gconstpointer data)
{
    started_idle(f, UUID_A, "a");
    guint before = f->specs->len;

    ns_manager_layout_changed(f->manager, UUID_A, "device dimm0 added");
    ns_manager_layout_changed(f->manager, UUID_A, "device dimm1 added");
    g_assert_cmpuint(f->specs->len, ==, before); /* not at once: after the delay */
    open_gate(f);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 1), 10, "the job after the layout change");
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before + 1);
    g_autofree char *first = started_as(f, before);

    g_assert_cmpstr(first, ==, "layout " UUID_A);
    wait_for(f, job_done_count, GUINT_TO_POINTER(2), 10, "the layout job's job-done");

    ns_manager_layout_changed(f->manager, "00000000-0000-4000-8000-00000000dead", "device added");
    ns_manager_layout_changed(f->manager, UUID_A, "device dimm2 added");
    ns_manager_domain_stopped(f->manager, UUID_A, "test");
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before + 1);
}

/* A copy of the fixture's configuration, for a reload to compare against. */
static NsDaemonConfig *
fixture_config_copy(const Fixture *f)
{
    NsDaemonConfig *c = ns_daemon_config_new_default();

    c->debounce_ms = f->config->debounce_ms;
    c->start_delay_ms = f->config->start_delay_ms;
    c->max_jobs = f->config->max_jobs;
    return c;
}

/*
 * Issue #13: `[domain NAME] move-shared=true` loaded by a reload (SIGHUP)
 * applies at once: the domain is rebalanced (trigger "reload") with
 * move_shared set, its pages held as shared tried again.  Reloading the
 * same setting, or turning it on for a domain whose mode is off, starts
 * nothing; nor does turning it off.
 */
static void
test_reload_move_shared(Fixture *f, gconstpointer data)
{
    g_autoptr(NsDaemonConfig) same = fixture_config_copy(f);
    g_autoptr(NsDaemonConfig) shared = fixture_config_copy(f);
    g_autoptr(NsDaemonConfig) shared_again = fixture_config_copy(f);
    g_autoptr(NsDaemonConfig) off = fixture_config_copy(f);

    started_idle(f, UUID_A, "a");
    guint before = f->specs->len;

    ns_manager_set_config(f->manager, same);
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before);

    set_move_shared(shared, "a");
    set_move_shared(shared_again, "a");
    ns_manager_set_config(f->manager, shared);
    open_gate(f);
    wait_for(f, jobs_started, GUINT_TO_POINTER(before + 1), 10, "the job after move-shared was turned on");
    g_assert_cmpstr(f->specs->pdata[before], ==,
                    "rebalance 2 reload " UUID_A " move-shared");
    wait_for(f, job_done_count, GUINT_TO_POINTER(2), 10, "the reload job's job-done");

    ns_manager_set_config(f->manager, shared_again);
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before + 1);

    /* Turned off, then on again for a domain the file turns off: nothing. */
    ns_manager_set_config(f->manager, off);
    run_for(50);
    g_free(shared_again->mode);
    shared_again->mode = g_strdup("off");
    ns_manager_set_config(f->manager, shared_again);
    run_for(50);
    g_assert_cmpuint(f->specs->len, ==, before + 1);
    ns_manager_set_config(f->manager, f->config);
}

/* Where a live map's pages are, as status answers it (a worker runs this). */
static void
test_placement_json(void)
{
    g_autoptr(GError) error = NULL;
    NsLiveMap *live = ns_live_map_new(getpid(), &error);
    g_autoptr(NsMemMap) map = ns_memmap_new(getpid());
    NsMemRange r = { .gpa = 0, .size = 16 * 4096, .hva = 0x7f0000000000, .page_size = 4096,
                     .backend = g_strdup("pc.ram"), .offset = 0, .cell = -1 };

    g_assert_no_error(error);
    g_array_append_val(map->ranges, r);
    for (guint64 gfn = 0; gfn < 12; gfn++)
        g_assert_cmpint(ns_radix_insert(ns_live_map_get_tree(live), gfn,
                                        ns_radix_mk_present(gfn < 8 ? 0 : 1, 0)), ==, 0);
    ns_live_map_set_scanned(live, map);
    g_autoptr(JsonNode) node = ns_manager_placement_json(live, NULL);
    JsonObject *o = json_node_get_object(node);
    JsonObject *guest = json_object_get_object_member(o, "guest");

    g_assert_cmpint(json_object_get_int_member(o, "pid"), ==, getpid());
    g_assert_cmpint(json_object_get_int_member(o, "scanned_ms_ago"), >=, 0);
    g_assert_cmpint(json_object_get_int_member(guest, "present_pages"), ==, 12);
    g_assert_cmpint(json_object_get_int_member(guest, "total_pages"), ==, 12);
    /* No decisions yet: no local share, said as null. */
    g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(o, "local_ratio")));

    /* The vCPUs' home is node 0: 8 of the 12 pages are local. */
    g_autoptr(JsonNode) decisions = json_from_string("[{\"cell\": -1, \"home\": 0}]", NULL);
    g_autoptr(JsonNode) with_home =
        ns_manager_placement_json(live, json_node_get_array(decisions));

    g_assert_cmpfloat_with_epsilon(
        json_object_get_double_member(json_node_get_object(with_home), "local_ratio"), 8.0 / 12.0,
        1e-9);
    ns_live_map_unref(live);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    urcu_memb_register_thread();
#define MANAGER_TEST(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    MANAGER_TEST("/manager/drift-spread-and-backoff", test_drift_spread_and_backoff);
    MANAGER_TEST("/manager/queue-order", test_queue_order);
    MANAGER_TEST("/manager/pinning-round-priority", test_pinning_round_priority);
    g_test_add_func("/manager/placement-json", test_placement_json);
    MANAGER_TEST("/manager/pinning-debounced", test_pinning_debounced);
    MANAGER_TEST("/manager/metadata-changed", test_metadata_changed);
    MANAGER_TEST("/manager/live-migration", test_live_migration);
    MANAGER_TEST("/manager/migration-answers", test_migration_answers);
    MANAGER_TEST("/manager/pinning-held-failed", test_pinning_held_failed);
    MANAGER_TEST("/manager/pinning-stopped-while-settling", test_pinning_stopped_while_settling);
    MANAGER_TEST("/manager/pinning-behind-running-job", test_pinning_behind_running_job);
    MANAGER_TEST("/manager/stopped-while-pending", test_stopped_while_pending);
    MANAGER_TEST("/manager/supersede", test_supersede);
    MANAGER_TEST("/manager/kick-after-connect", test_kick_after_connect);
    MANAGER_TEST("/manager/reserved-cpus", test_reserved_cpus);
    MANAGER_TEST("/manager/describe-and-mode", test_describe_and_mode);
    MANAGER_TEST("/manager/layout-change-looks", test_layout_change_looks);
    MANAGER_TEST("/manager/reload-move-shared", test_reload_move_shared);
#undef MANAGER_TEST
    int rc = g_test_run();

    urcu_memb_unregister_thread();
    return rc;
}
