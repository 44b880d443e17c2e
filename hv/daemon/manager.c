/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's manager (see manager.h): tracked domains, triggers, the job
 * queue.  Everything here runs on the main thread; jobs run in their own
 * threads and report back through the main context.
 */
#include "manager.h"

#include <string.h>

#include "log.h"
#include "metrics.h"
#include "numashift/error.h"
#include "numashift/placement.h"

struct _NsManagedDomain {
    NsManager *manager;
    char *uuid;
    char *name;
    char *runtime_mode;      /* set over the control socket; beats the config */
    guint debounce_source;
    guint look_source;       /* a look due start-delay-ms after a start or a layout change */
    const char *look_trigger; /* its trigger: "start" or "layout" (static) */
    NsJob *job;              /* running, or the last one (done) */
    NsJobSpec *pending;      /* waiting for a slot */
    guint pinning_events;    /* since the daemon started, for the record */
    gint64 pinning_at_us;    /* the last pinning event's time */
    gint64 settling_since_us; /* monotonic: the first event of the burst its debounce waits on */
    gboolean stopped;        /* the domain stopped while its job ran: drop it when done */
    NsMemMap *memmap;        /* the last job's memory map, for the next to recheck; NULL: none */
    guint layout_changes;    /* layout events so far: a job's map is kept only if none came */
    guint job_layout;        /* layout_changes when the running job started */
    NsLiveMap *live;         /* the live placement map of its QEMU, from the first scan;
                                a running job's may be newer (live_map()) */
    GArray *pinned_cpus;     /* CPUs its pinned vCPUs may run on, as its last job found
                                them: other domains' workers keep off; NULL: unknown */
    gint64 drift_due_us;     /* monotonic: its next drift check is due then */
    guint drift_round;       /* drift checks scheduled so far (their jitter) */
    guint failures;          /* jobs failed in a row: drift checks back off */
    JsonNode *decisions;     /* the policy's last decisions for it (an array), kept for
                                its local share; NULL: none yet */
    gboolean has_metadata_priority;
    gint metadata_priority;  /* its libvirt metadata's priority, as its last job read it */
    gboolean arriving;       /* an incoming live migration: memory still arriving */
    gint64 leaving_until_us; /* monotonic: migrating away (no job starts) until then,
                                renewed by each of the migration's events; 0: not */
    guint leaving_source;    /* ends the leaving window if no event renews it */
    guint migration_poll;    /* asks libvirt about its migration while leaving or arriving */
    gboolean migration_asked; /* an answer is due */
    gint64 unanswered_since_us; /* arriving in post-copy: libvirt could not tell since; 0: it can */
};

typedef NsManagedDomain Tracked;


struct _NsManager {
    const NsDaemonConfig *config;
    NsManagerHost host;
    GHashTable *domains; /* uuid -> Tracked */
    GQueue queue;        /* Tracked with a pending job, in arrival order */
    guint running;
    guint64 next_serial; /* job numbers, for clients to follow the job they asked for */
    NsLedger *ledger;    /* what running jobs promised each node: their decisions share
                            the nodes' room (ledger.h); outlives every job */
};

void
ns_job_spec_free(NsJobSpec *spec)
{
    if (spec == NULL)
        return;
    g_free(spec->uuid);
    g_free(spec->name);
    g_free(spec->trigger);
    g_free(spec->mode_override);
    g_free(spec->mode_override_source);
    g_free(spec->worker_cpus);
    g_free(spec);
}

static void
tracked_free(gpointer p)
{
    Tracked *t = p;

    if (t->debounce_source != 0)
        g_source_remove(t->debounce_source);
    if (t->look_source != 0)
        g_source_remove(t->look_source);
    if (t->leaving_source != 0)
        g_source_remove(t->leaving_source);
    g_clear_handle_id(&t->migration_poll, g_source_remove);
    g_queue_remove(&t->manager->queue, t);
    ns_job_spec_free(t->pending);
    if (t->job != NULL) {
        ns_job_cancel(t->job, NULL);
        ns_job_free(t->job);
    }
    g_free(t->uuid);
    g_free(t->name);
    g_free(t->runtime_mode);
    ns_memmap_free(t->memmap);
    ns_live_map_unref(t->live);
    g_clear_pointer(&t->pinned_cpus, g_array_unref);
    g_clear_pointer(&t->decisions, json_node_unref);
    g_free(t);
}

/* The domain's live map as readers should see it: a running job's (it may
 * have started one for a new QEMU), else the last one; NULL before any. */
static NsLiveMap *
live_map(Tracked *t)
{
    NsLiveMap *live = t->job != NULL ? ns_job_get_live(t->job) : NULL;

    return live != NULL ? live : t->live;
}

/* Drift checks back off to at most 2^DRIFT_BACKOFF_MAX intervals after failures. */
#define DRIFT_BACKOFF_MAX 5

static gint64
drift_interval_us(const NsManager *d)
{
    return (gint64)MAX(d->config->drift_interval_s, 1u) * G_USEC_PER_SEC;
}

/*
 * A fraction in [0, 1) for @t's @round-th drift check: a hash of its UUID
 * and the round, so every domain gets its own and the next round another,
 * and a test with the same UUIDs sees the same ones.
 */
static double
drift_jitter(const Tracked *t, guint round)
{
    guint h = g_str_hash(t->uuid) ^ (round * 0x9e3779b9u);

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return (double)(h % 1000u) / 1000.0;
}

/* A domain's first drift check: anywhere in the interval after @now_us, so
 * the domains a daemon finds at its start do not all come due together. */
static gint64
first_drift_due(const NsManager *d, const Tracked *t, gint64 now_us)
{
    return now_us + (gint64)((double)drift_interval_us(d) * drift_jitter(t, 0));
}

/*
 * After a check (or any job) ended at @now_us: 0.75 to 1.25 intervals on,
 * the interval doubled per failed job in a row up to 2^DRIFT_BACKOFF_MAX.
 * The spread keeps domains whose jobs ended together (one burst of pinning
 * changes, a daemon restart) from being checked together ever after.
 */
static gint64
next_drift_due(const NsManager *d, Tracked *t, gint64 now_us)
{
    gint64 interval = drift_interval_us(d) << MIN(t->failures, (guint)DRIFT_BACKOFF_MAX);

    return now_us + (gint64)((double)interval * (0.75 + 0.5 * drift_jitter(t, ++t->drift_round)));
}

static Tracked *
track(NsManager *d, const char *uuid, const char *name)
{
    Tracked *t = g_hash_table_lookup(d->domains, uuid);

    if (t == NULL) {
        t = g_new0(Tracked, 1);
        t->manager = d;
        t->uuid = g_strdup(uuid);
        t->drift_due_us = first_drift_due(d, t, g_get_monotonic_time());
        g_hash_table_insert(d->domains, t->uuid, t);
        ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, name, uuid, 0, "tracking domain %s (%s)",
                      name != NULL ? name : "?", uuid);
    }
    t->stopped = FALSE;
    if (name != NULL && g_strcmp0(t->name, name) != 0) {
        g_free(t->name);
        t->name = g_strdup(name);
    }
    return t;
}

static void
broadcast(NsManager *d, NsControlEvent event, JsonBuilder *b)
{
    g_autoptr(JsonNode) body = json_builder_get_root(b);

    d->host.broadcast(d->host.data, event, body);
}

/* A JSON object builder with "domain" and "uuid" already in. */
static JsonBuilder *
event_builder(const Tracked *t, const char *what)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, what);
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, t->name != NULL ? t->name : "");
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, t->uuid);
    json_builder_set_member_name(b, "time_us");
    json_builder_add_int_value(b, g_get_real_time());
    return b;
}

static void
emit(Tracked *t, NsControlEvent event, const char *what, const char *key, JsonNode *value)
{
    g_autoptr(JsonBuilder) b = event_builder(t, what);

    if (key != NULL) {
        json_builder_set_member_name(b, key);
        json_builder_add_value(b, value);
    }
    json_builder_end_object(b);
    broadcast(t->manager, event, b);
}

/* Who set a runtime mode, in the decisions' words ("opted out by ..."). */
#define RUNTIME_MODE_SOURCE "numashift policy at run time"

/* The mode the policy must use for @t, or NULL to let the domain's metadata decide. */
static const char *
mode_override(NsManager *d, const Tracked *t)
{
    const char *mode = t->runtime_mode != NULL
                           ? t->runtime_mode
                           : ns_daemon_config_domain_mode(d->config, t->name, t->uuid);

    if (mode != NULL)
        return mode;
    /* A host-wide "off" wins over metadata; "follow" leaves the metadata its say. */
    return strcmp(d->config->mode, "follow") != 0 ? d->config->mode : NULL;
}

/* ---------------------------------------------------------------- jobs */

static void start_queued(NsManager *d);

static void
on_job_decision(NsJob *job, JsonNode *decisions, gpointer data)
{
    Tracked *t = data;

    g_clear_pointer(&t->decisions, json_node_unref);
    t->decisions = json_node_ref(decisions);
    for (guint i = 0; i < json_array_get_length(json_node_get_array(decisions)); i++) {
        JsonObject *o = json_array_get_object_element(json_node_get_array(decisions), i);

        ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, ns_job_get_spec(job)->serial,
                      "domain %s cell %" G_GINT64_FORMAT ": %s (%s; trigger %s)", t->name,
                      json_object_get_int_member(o, "cell"), json_object_get_string_member(o, "message"),
                      json_object_get_string_member(o, "reason"), ns_job_get_spec(job)->trigger);
    }
    g_autoptr(JsonBuilder) b = event_builder(t, "decision");

    json_builder_set_member_name(b, "trigger");
    json_builder_add_string_value(b, ns_job_get_spec(job)->trigger);
    json_builder_set_member_name(b, "decisions");
    json_builder_add_value(b, json_node_copy(decisions));
    json_builder_end_object(b);
    broadcast(t->manager, NS_CONTROL_EVENT_POLICY, b);
}

static void
on_job_progress(NsJob *job, const NsEngineProgress *p, gpointer data)
{
    Tracked *t = data;
    g_autoptr(JsonBuilder) b = event_builder(t, "progress");

    (void)job;
    ns_job_add_progress(b, p);
    json_builder_set_member_name(b, "paused");
    json_builder_add_boolean_value(b, p->paused);
    json_builder_end_object(b);
    broadcast(t->manager, NS_CONTROL_EVENT_PROGRESS, b);
}

/* ", its SCHED_IDLE worker starved: raised to nice N" when the engine's
 * floor stepped up (engine.h), else "": in the job's log line. */
static char *
floor_note(JsonObject *desc)
{
    JsonNode *report = json_object_get_member(desc, "report");
    JsonNode *floor = report != NULL && JSON_NODE_HOLDS_OBJECT(report)
                          ? json_object_get_member(json_node_get_object(report), "worker_floor")
                          : NULL;

    if (floor == NULL || !JSON_NODE_HOLDS_OBJECT(floor))
        return g_strdup("");
    return g_strdup_printf(", its SCHED_IDLE worker starved: raised to nice %" G_GINT64_FORMAT,
                           json_object_get_int_member(json_node_get_object(floor), "nice"));
}

/* "N MiB unmovable (pinned ..., shared ...)" when the job's report found
 * memory it cannot move: its own line, so journalctl MESSAGE_ID finds it. */
static void
log_unmovable(const Tracked *t, guint64 serial, JsonObject *desc)
{
    JsonNode *r = json_object_get_member(desc, "report");
    JsonObject *report = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    gint64 pages = report != NULL ? json_object_get_int_member_with_default(report, "unmovable_pages", 0) : 0;

    if (pages <= 0)
        return;
    JsonNode *by = json_object_get_member(report, "failed_by_errno");
    g_autoptr(GString) causes = g_string_new(NULL);

    if (by != NULL && JSON_NODE_HOLDS_OBJECT(by)) {
        g_autoptr(GList) names = json_object_get_members(json_node_get_object(by));

        for (GList *l = names; l != NULL; l = l->next)
            g_string_append_printf(causes, "%s%s %" G_GINT64_FORMAT, causes->len > 0 ? ", " : "",
                                   (const char *)l->data,
                                   json_object_get_int_member(json_node_get_object(by), l->data));
    }
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NS_LOG_ID_UNMOVABLE, t->name, t->uuid, serial,
                  "domain %s: job %" G_GUINT64_FORMAT ": %" G_GINT64_FORMAT
                  " pages found unmovable, left alone until their backoff ends (failed: %s)",
                  t->name, serial, pages, causes->len > 0 ? causes->str : "?");
}

static void
on_job_done(NsJob *job, gpointer data)
{
    Tracked *t = data;
    NsManager *d = t->manager;
    g_autoptr(JsonNode) desc = ns_job_describe(job);
    JsonObject *o = json_node_get_object(desc);
    const GError *error = ns_job_get_error(job);
    const guint64 serial = ns_job_get_spec(job)->serial;

    d->running--;
    /* A domain whose jobs fail (its QEMU's monitor stuck, a node full) is
     * checked less and less often, not every interval for ever. */
    t->failures = error != NULL ? t->failures + 1 : 0;
    t->drift_due_us = next_drift_due(d, t, g_get_monotonic_time());
    if (error != NULL) {
        g_autofree char *backoff =
            t->failures > 1
                ? g_strdup_printf(" (%u failed in a row: next drift check in %" G_GINT64_FORMAT " s)",
                                  t->failures,
                                  (t->drift_due_us - g_get_monotonic_time() + G_USEC_PER_SEC / 2) /
                                      G_USEC_PER_SEC)
                : g_strdup("");

        ns_log_domain(G_LOG_LEVEL_WARNING, NS_LOG_ID_JOB_FAILED, t->name, t->uuid, serial,
                      "domain %s: %s job %" G_GUINT64_FORMAT " (trigger %s) ended: %s: %s%s", t->name,
                      json_object_get_string_member(o, "kind"), serial, ns_job_get_spec(job)->trigger,
                      json_object_get_string_member(o, "state"), error->message, backoff);
    } else if (strcmp(ns_job_get_spec(job)->trigger, "drift") == 0 &&
             strcmp(json_object_get_string_member(o, "state"), "nothing-to-do") == 0)
        /* every 30 s: not news */
        ns_log_domain(G_LOG_LEVEL_DEBUG, NS_LOG_ID_JOB_DONE, t->name, t->uuid, serial,
                      "domain %s: drift check: in place", t->name);
    else {
        g_autofree char *floor = floor_note(o);

        ns_log_domain(G_LOG_LEVEL_MESSAGE, NS_LOG_ID_JOB_DONE, t->name, t->uuid, serial,
                      "domain %s: %s job %" G_GUINT64_FORMAT " (trigger %s) ended: %s%s", t->name,
                      json_object_get_string_member(o, "kind"), serial, ns_job_get_spec(job)->trigger,
                      json_object_get_string_member(o, "state"), floor);
    }
    log_unmovable(t, serial, o);
    emit(t, NS_CONTROL_EVENT_JOB, "job-done", "job", json_node_copy(desc));
    /* Keep the map for the next job unless the layout may have changed
     * since this one read it (a device event, or a map read before the
     * guest's firmware shadowed its BIOS), or the job failed (QEMU may be
     * gone). */
    g_clear_pointer(&t->memmap, ns_memmap_free);
    if (error == NULL && ns_job_get_memmap(job) != NULL && !ns_job_get_memmap(job)->unsettled &&
        t->job_layout == t->layout_changes)
        t->memmap = ns_memmap_copy(ns_job_get_memmap(job));
    /* Its metadata's priority, when the job got as far as its XML. */
    gboolean has_priority;
    gint priority;

    if (ns_job_get_metadata_priority(job, &has_priority, &priority)) {
        t->has_metadata_priority = has_priority;
        t->metadata_priority = priority;
    }
    /* Where its vCPUs are pinned, for other domains' workers to keep off. */
    if (ns_job_get_pinned_cpus(job) != NULL) {
        g_clear_pointer(&t->pinned_cpus, g_array_unref);
        t->pinned_cpus = g_array_copy((GArray *)ns_job_get_pinned_cpus(job));
    }
    /* The live map goes on (a new QEMU's, if the job started one). */
    if (ns_job_get_live(job) != NULL && ns_job_get_live(job) != t->live) {
        ns_live_map_unref(t->live);
        t->live = ns_live_map_ref(ns_job_get_live(job));
    }
    /* Its domain stopped meanwhile: forget it (the Call delivering this
     * still holds the job; the Tracked is not used after this). */
    if (t->stopped)
        g_hash_table_remove(d->domains, t->uuid);
    start_queued(d);
}

static gint
cpu_cmp(gconstpointer a, gconstpointer b)
{
    guint x = *(const guint *)a, y = *(const guint *)b;

    return (x > y) - (x < y);
}

/* The CPUs every other tracked domain's pinned vCPUs may run on, ascending. */
static GArray *
others_pinned_cpus(NsManager *d, const Tracked *t)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    GArray *cpus = g_array_new(FALSE, FALSE, sizeof(guint));
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const Tracked *other = value;

        for (guint i = 0; other != t && other->pinned_cpus != NULL && i < other->pinned_cpus->len;
             i++) {
            guint cpu = g_array_index(other->pinned_cpus, guint, i);

            if (g_hash_table_add(seen, GUINT_TO_POINTER(cpu + 1)))
                g_array_append_val(cpus, cpu);
        }
    }
    g_array_sort(cpus, cpu_cmp);
    return cpus;
}

/* Start @t's pending job; FALSE when the host cannot start jobs now. */
static gboolean
start_job(NsManager *d, Tracked *t)
{
    const NsJobCallbacks cb = { on_job_decision, on_job_progress, on_job_done, t };
    g_autoptr(JsonNode) desc = NULL;
    g_autoptr(GArray) reserved = others_pinned_cpus(d, t);
    NsJob *job;

    t->pending->rate_mib_s = t->pending->rate_mib_s > 0 ? t->pending->rate_mib_s
                             : d->config->rate_limit_mib_s > 0
                                 ? d->config->rate_limit_mib_s / d->config->max_jobs
                                 : 0;
    /* A map is worth reusing only while libvirt tells us of layout changes. */
    t->pending->memmap = d->host.watches_layout(d->host.data) ? t->memmap : NULL;
    t->pending->live = t->live; /* the job takes its own reference */
    t->pending->ledger = d->ledger;
    t->pending->reserved_cpus = reserved->len > 0 ? reserved : NULL; /* the job copies it */
    job = d->host.start_job(d->host.data, t->pending, &cb);
    t->pending->reserved_cpus = NULL;
    if (job == NULL)
        return FALSE;
    g_clear_pointer(&t->job, ns_job_free); /* the previous one, done */
    t->job = job;
    t->job_layout = t->layout_changes;
    g_clear_pointer(&t->pending, ns_job_spec_free);
    d->running++;
    desc = ns_job_describe(t->job);
    ns_log_domain(ns_job_get_spec(job)->kind == NS_JOB_REBALANCE &&
                          strcmp(ns_job_get_spec(job)->trigger, "drift") == 0
                      ? G_LOG_LEVEL_DEBUG /* every 30 s: not news */
                      : G_LOG_LEVEL_MESSAGE,
                  NS_LOG_ID_JOB_STARTED, t->name, t->uuid, ns_job_get_spec(job)->serial,
                  "domain %s: %s job %" G_GUINT64_FORMAT " (trigger %s) started", t->name,
                  ns_job_get_spec(job)->kind == NS_JOB_REBALANCE ? "rebalance" : "migrate",
                  ns_job_get_spec(job)->serial, ns_job_get_spec(job)->trigger);
    emit(t, NS_CONTROL_EVENT_JOB, "job-started", "job", g_steal_pointer(&desc));
    return TRUE;
}

/*
 * How urgent a pending job is: an operator's request (a migrate, a
 * rebalance asked for, a policy or configuration change) before a pinning
 * change, before a domain's start, before a drift check.
 */
static guint
trigger_rank(const NsJobSpec *spec)
{
    if (spec->kind == NS_JOB_MIGRATE || g_str_has_prefix(spec->trigger, "request") ||
        strcmp(spec->trigger, "policy") == 0 || strcmp(spec->trigger, "reload") == 0)
        return 3;
    if (strcmp(spec->trigger, "pinning") == 0)
        return 2;
    if (strcmp(spec->trigger, "drift") == 0)
        return 0;
    return 1; /* "start", "layout" */
}

/* A domain's priority: numashiftd.conf's for it, else its libvirt
 * metadata's (numashift policy --priority; known from its first job), else 0. */
static gint
priority_of(const NsManager *d, const Tracked *t)
{
    return ns_daemon_config_priority_or(d->config, t->name, t->uuid,
                                        t->has_metadata_priority ? t->metadata_priority : 0);
}

/* Whether @a's pending job goes before @b's: its trigger, then its
 * domain's priority; the queue's order (arrival) breaks ties. */
static gboolean
goes_before(NsManager *d, const Tracked *a, const Tracked *b)
{
    guint ra = trigger_rank(a->pending), rb = trigger_rank(b->pending);

    if (ra != rb)
        return ra > rb;
    return priority_of(d, a) > priority_of(d, b);
}

/* Whether a live migration moves @t's memory between hosts now: its jobs
 * wait (they would move pages QEMU is copying away, or not arrived yet). */
static gboolean
migrating(const Tracked *t)
{
    return t->arriving || t->leaving_until_us > g_get_monotonic_time();
}

/* Start pending jobs, most urgent first (goes_before()), while slots are free. */
static void
start_queued(NsManager *d)
{
    while (d->running < d->config->max_jobs) {
        GList *best = NULL;

        for (GList *l = d->queue.head; l != NULL; l = l->next) {
            Tracked *t = l->data;

            if ((t->job == NULL || ns_job_is_done(t->job)) && !migrating(t) &&
                (best == NULL || goes_before(d, t, best->data)))
                best = l;
        }
        if (best == NULL || !start_job(d, best->data))
            return; /* nothing can start, or the host cannot start jobs now (on kick) */
        g_queue_delete_link(&d->queue, best);
    }
}

/*
 * Tell followers of @t's pending job that it will not run, and drop it.
 * Every pending serial a client was given ends in exactly one job-done
 * event: either its job's, or this one.  A follower (numashift migrate
 * through the daemon) otherwise waits for ever; it did when a domain was
 * destroyed while its migrate waited behind another job (CI, session 9).
 *   @by > 0: superseded by job @by (which serves the request instead);
 *   @by == 0: cancelled, with @why (the follower's one line).
 */
static void
drop_pending(Tracked *t, guint64 by, const char *why)
{
    const NsJobSpec *old = t->pending;

    if (old == NULL)
        return;
    g_autoptr(JsonBuilder) b = event_builder(t, "job-done");

    json_builder_set_member_name(b, "job");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "serial");
    json_builder_add_int_value(b, (gint64)old->serial);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, old->kind == NS_JOB_MIGRATE ? "migrate" : "rebalance");
    json_builder_set_member_name(b, "trigger");
    json_builder_add_string_value(b, old->trigger);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, by > 0 ? "superseded" : "cancelled");
    if (by > 0) {
        json_builder_set_member_name(b, "superseded_by");
        json_builder_add_int_value(b, (gint64)by);
    } else {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, why);
        json_builder_set_member_name(b, "error_code");
        json_builder_add_string_value(b, NS_CONTROL_ERR_NOT_RUNNING);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    broadcast(t->manager, NS_CONTROL_EVENT_JOB, b);
    g_clear_pointer(&t->pending, ns_job_spec_free);
    g_queue_remove(&t->manager->queue, t);
}

/*
 * Make @spec (taken) @t's pending job and return the serial of the job that
 * will serve it: a rebalance does not replace a pending migrate (the
 * migrate's serial serves it), a rebalance replacing a rebalance keeps the
 * pending one's serial (the same job serves both), anything else gets a new
 * serial and the replaced job is announced superseded.
 */
static guint64
enqueue(NsManager *d, Tracked *t, NsJobSpec *spec)
{
    guint64 serial;

    if (t->pending != NULL && t->pending->kind == NS_JOB_MIGRATE && spec->kind == NS_JOB_REBALANCE) {
        ns_job_spec_free(spec);
        return t->pending->serial;
    }
    if (t->pending != NULL && t->pending->kind == NS_JOB_REBALANCE && spec->kind == NS_JOB_REBALANCE) {
        spec->serial = t->pending->serial;
    } else {
        spec->serial = ++d->next_serial;
        drop_pending(t, spec->serial, NULL);
    }
    serial = spec->serial;
    ns_job_spec_free(t->pending);
    t->pending = spec;
    if (g_queue_find(&d->queue, t) == NULL)
        g_queue_push_tail(&d->queue, t);
    start_queued(d);
    return serial;
}

/* The drift check's sample: one page in 64 (a 2 GiB guest: 8192 addresses, one query). */
#define DRIFT_SAMPLE_STRIDE 64u

static guint64
enqueue_rebalance(NsManager *d, Tracked *t, const char *trigger, gboolean held)
{
    NsJobSpec *spec = g_new0(NsJobSpec, 1);

    spec->kind = NS_JOB_REBALANCE;
    spec->uuid = g_strdup(t->uuid);
    spec->name = g_strdup(t->name);
    spec->trigger = g_strdup(trigger);
    spec->cell = -1;
    spec->workers = d->config->workers;
    spec->worker_cpus = g_strdup(d->config->worker_cpus);
    spec->move_shared = ns_daemon_config_moves_shared(d->config, t->name, t->uuid);
    spec->hot_sample_ms = d->config->hot_sample_ms;
    spec->policy = d->config->policy;
    spec->mode_override = g_strdup(mode_override(d, t));
    if (t->runtime_mode != NULL)
        spec->mode_override_source = g_strdup(RUNTIME_MODE_SOURCE);
    if (strcmp(trigger, "drift") == 0) {
        /* A sample first; when it moves nothing, one bounded step of the
         * background rescan keeps the live map current (a 1 TiB guest is
         * never scanned whole in one go). */
        spec->sample_stride = DRIFT_SAMPLE_STRIDE;
        spec->rescan_bytes = (guint64)d->config->rescan_rate_mib_s * d->config->drift_interval_s
                             << 20;
    }
    /* A pinning change moves no page: the live map tells where they are. */
    spec->live_fresh_us = (gint64)d->config->rescan_interval_s * G_USEC_PER_SEC;
    spec->held = held;
    return enqueue(d, t, spec);
}

/* ------------------------------------------------------------ triggers */

/* Whether @t's job is a pinning job still waiting for its burst to settle. */
static gboolean
job_held(Tracked *t)
{
    return t->job != NULL && !ns_job_is_done(t->job) && ns_job_is_held(t->job);
}

/*
 * The pending job that should decide before @t's held pinning job, or
 * NULL: an operator's request, or another domain's pinning job with a
 * higher configured priority, waiting for a slot (slots are full when any
 * job waits).
 */
static Tracked *
more_urgent_waiting(NsManager *d, const Tracked *t)
{
    gint mine = priority_of(d, t);
    Tracked *best = NULL;

    for (GList *l = d->queue.head; l != NULL; l = l->next) {
        Tracked *u = l->data;
        guint rank = u != t && u->pending != NULL ? trigger_rank(u->pending) : 0;

        if ((u->job == NULL || ns_job_is_done(u->job)) &&
            (rank > 2 ||
             (rank == 2 && priority_of(d, u) > mine)) &&
            (best == NULL || goes_before(d, u, best)))
            best = u;
    }
    return best;
}

static gboolean
debounce_fired(gpointer data)
{
    Tracked *t = data;
    NsManager *d = t->manager;
    Tracked *first;

    t->debounce_source = 0;
    /*
     * A held job took its slot at its burst's first event, maybe before a
     * more important domain's pinning changed in the same round: it gives
     * the slot up (nothing moved yet) and waits its turn, so that room on
     * a node goes to the higher priority first (docs/numashiftd.8).
     */
    if (job_held(t) && t->pending == NULL && (first = more_urgent_waiting(d, t)) != NULL) {
        ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, ns_job_get_spec(t->job)->serial,
                      "domain %s: its pinning job yields its slot to domain %s's %s job, "
                      "which goes first", t->name, first->name, first->pending->trigger);
        enqueue_rebalance(d, t, "pinning", FALSE);
        ns_job_cancel(t->job, NULL);
        return G_SOURCE_REMOVE;
    }
    /* The burst has settled: its job, prepared meanwhile, decides now. */
    if (job_held(t) && ns_job_release(t->job))
        return G_SOURCE_REMOVE;
    if (t->pending != NULL && t->pending->held) {
        t->pending->held = FALSE; /* not started yet: it will not wait */
        return G_SOURCE_REMOVE;
    }
    enqueue_rebalance(t->manager, t, "pinning", FALSE);
    return G_SOURCE_REMOVE;
}

static gboolean
look_fired(gpointer data)
{
    Tracked *t = data;

    t->look_source = 0;
    enqueue_rebalance(t->manager, t, t->look_trigger, FALSE);
    return G_SOURCE_REMOVE;
}

/* One look at @t start-delay-ms from now (the guest's first touches, and a
 * burst of events, come first), unless one is due already: its trigger
 * stays (a start and a layout change rank alike). */
static void
schedule_look(NsManager *d, Tracked *t, const char *trigger)
{
    if (t->look_source != 0)
        return;
    t->look_trigger = trigger;
    t->look_source = g_timeout_add(d->config->start_delay_ms, look_fired, t);
}

void
ns_manager_domain_started(NsManager *d, const char *uuid, const char *name, const char *how)
{
    Tracked *t = track(d, uuid, name);

    t->layout_changes++; /* a new QEMU (the PID check would tell too) */
    g_clear_pointer(&t->memmap, ns_memmap_free);
    g_clear_pointer(&t->live, ns_live_map_unref); /* its pages are another process's */
    emit(t, NS_CONTROL_EVENT_DOMAIN, "started", "source", json_node_init_string(json_node_alloc(), how));
    schedule_look(d, t, "start");
}

/* Live migration (issue #16). */

/* An outgoing migration says nothing when it fails before its switchover:
 * without an event, or an answer from libvirt that it still runs, for this
 * long the domain counts as staying. */
#define LEAVING_WINDOW_S 30
/* How often libvirt is asked while a domain leaves or arrives in post-copy:
 * the wait a cancelled migration adds before the domain's jobs run again. */
#define MIGRATION_POLL_MS 2000

static void
stop_migration_poll(Tracked *t)
{
    g_clear_handle_id(&t->migration_poll, g_source_remove);
    t->migration_asked = FALSE;
    t->unanswered_since_us = 0;
}

static gboolean
migration_poll_due(gpointer data)
{
    Tracked *t = data;

    if (!t->migration_asked) {
        t->migration_asked = TRUE;
        t->manager->host.ask_migration(t->manager->host.data, t->uuid);
    }
    return G_SOURCE_CONTINUE;
}

static void
start_migration_poll(Tracked *t)
{
    if (t->migration_poll == 0 && t->manager->host.ask_migration != NULL)
        t->migration_poll = g_timeout_add(MIGRATION_POLL_MS, migration_poll_due, t);
}

static gboolean
leaving_window_ended(gpointer data)
{
    Tracked *t = data;

    t->leaving_source = 0;
    t->leaving_until_us = 0;
    stop_migration_poll(t);
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s: no migration event for %d s: it stays here, its jobs may run",
                  t->name, LEAVING_WINDOW_S);
    start_queued(t->manager);
    return G_SOURCE_REMOVE;
}

static void
renew_leaving(Tracked *t)
{
    t->leaving_until_us = g_get_monotonic_time() + (gint64)LEAVING_WINDOW_S * G_USEC_PER_SEC;
    if (t->leaving_source != 0)
        g_source_remove(t->leaving_source);
    t->leaving_source = g_timeout_add_seconds(LEAVING_WINDOW_S, leaving_window_ended, t);
}

void
ns_manager_domain_leaving(NsManager *d, const char *uuid, const char *what)
{
    Tracked *t = g_hash_table_lookup(d->domains, uuid);

    if (t == NULL)
        return;
    gboolean news = t->leaving_until_us == 0;

    renew_leaving(t);
    start_migration_poll(t);
    if (!news)
        return;
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s: migrating away (%s): no job starts%s", t->name, what,
                  t->job != NULL && !ns_job_is_done(t->job) ? ", its running job is cancelled" : "");
    emit(t, NS_CONTROL_EVENT_DOMAIN, "migrating", "source", json_node_init_string(json_node_alloc(), what));
    if (t->job != NULL && !ns_job_is_done(t->job)) {
        /* Pages in flight finish; QEMU copies what is where it is. */
        g_autoptr(GError) reason = g_error_new(NS_ERROR, NS_ERROR_BUSY,
                                               "domain %s is migrating away", t->name);

        ns_job_cancel(t->job, reason);
    }
}

void
ns_manager_domain_arriving(NsManager *d, const char *uuid, const char *name)
{
    Tracked *t = track(d, uuid, name);

    t->arriving = TRUE;
    t->layout_changes++;
    g_clear_pointer(&t->memmap, ns_memmap_free);
    g_clear_pointer(&t->live, ns_live_map_unref);
    g_clear_handle_id(&t->look_source, g_source_remove); /* the hook's start, say */
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s: arriving by live migration: looked at once it runs here", t->name);
    emit(t, NS_CONTROL_EVENT_DOMAIN, "arriving", NULL, NULL);
}

/* @t's incoming migration is over: it runs here with all its memory. */
static void
arrived(NsManager *d, Tracked *t, const char *what)
{
    t->arriving = FALSE;
    stop_migration_poll(t);
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s: runs here after its migration (%s)", t->name, what);
    schedule_look(d, t, "start");
}

/* @t's outgoing migration ended without it leaving. */
static void
stays(Tracked *t, const char *what)
{
    t->leaving_until_us = 0;
    g_clear_handle_id(&t->leaving_source, g_source_remove);
    stop_migration_poll(t);
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s: still here (%s): its jobs may run", t->name, what);
}

void
ns_manager_domain_resumed(NsManager *d, const char *uuid, const char *name, const char *what,
                          gboolean postcopy)
{
    Tracked *t = g_hash_table_lookup(d->domains, uuid);

    if (t == NULL)
        return;
    if (t->arriving && postcopy) {
        /* It runs here, but pages still come from the source on demand. */
        ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                      "domain %s: runs here in post-copy (%s): looked at once its memory has arrived",
                      t->name, what);
        start_migration_poll(t);
        if (t->migration_poll == 0)
            arrived(d, t, "no way to ask libvirt when post-copy ends");
    } else if (t->arriving) {
        arrived(d, t, what);
    } else if (t->leaving_until_us != 0) {
        stays(t, what); /* resumed on this host: the outgoing migration failed or was cancelled */
    }
    start_queued(d);
}

/* Arriving in post-copy, libvirt may go unanswering (a reconnect): after
 * this long the domain counts as arrived; the move's own check still
 * refuses while a migration runs. */
#define UNANSWERED_ARRIVAL_S 30

void
ns_manager_migration_answer(NsManager *d, const char *uuid, NsMigration migration)
{
    Tracked *t = g_hash_table_lookup(d->domains, uuid);

    if (t == NULL || !t->migration_asked)
        return;
    t->migration_asked = FALSE;
    if (t->leaving_until_us != 0) {
        if (migration == NS_MIGRATION_OUT || migration == NS_MIGRATION_IN)
            renew_leaving(t); /* a long pass sends no event for a while */
        else if (migration == NS_MIGRATION_NONE)
            stays(t, "libvirt runs no migration of it any more");
        /* unknown: the window decides */
    } else if (t->arriving) {
        gint64 now = g_get_monotonic_time();

        if (migration == NS_MIGRATION_NONE) {
            arrived(d, t, "post-copy done");
        } else if (migration == NS_MIGRATION_UNKNOWN) {
            if (t->unanswered_since_us == 0)
                t->unanswered_since_us = now;
            else if (now - t->unanswered_since_us >= (gint64)UNANSWERED_ARRIVAL_S * G_USEC_PER_SEC)
                arrived(d, t, "libvirt cannot tell whether post-copy ended");
        } else {
            t->unanswered_since_us = 0;
        }
    } else {
        stop_migration_poll(t);
    }
    start_queued(d);
}

void
ns_manager_domain_stopped(NsManager *d, const char *uuid, const char *how)
{
    Tracked *t = g_hash_table_lookup(d->domains, uuid);

    if (t == NULL)
        return;
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s stopped (%s): no longer tracked", t->name, how);
    emit(t, NS_CONTROL_EVENT_DOMAIN, "stopped", "source", json_node_init_string(json_node_alloc(), how));
    const char *name = t->name != NULL ? t->name : t->uuid;

    if (t->pending != NULL) {
        g_autofree char *why = g_strdup_printf("domain %s stopped before the job ran", name);

        drop_pending(t, 0, why);
    }
    if (t->job != NULL && !ns_job_is_done(t->job)) {
        /* Its QEMU is gone or going: the job ends on its own errors, or
         * cancelled, which the reason turns into the same failure (exit 4
         * for a follower, as with --direct); on_job_done drops the entry. */
        g_autoptr(GError) reason = g_error_new(NS_ERROR, NS_ERROR_NOT_RUNNING,
                                               "domain %s stopped during the job", name);

        ns_job_cancel(t->job, reason);
        t->stopped = TRUE;
        if (t->debounce_source != 0)
            g_source_remove(t->debounce_source);
        if (t->look_source != 0)
            g_source_remove(t->look_source);
        t->debounce_source = t->look_source = 0;
        g_clear_handle_id(&t->leaving_source, g_source_remove);
        stop_migration_poll(t);
        return;
    }
    g_hash_table_remove(d->domains, uuid);
}

/*
 * @t's memory may have come or gone: the kept memory map goes, a running
 * job's map is not kept, and the live map must be scanned whole again.
 */
static void
forget_layout(Tracked *t)
{
    t->layout_changes++;
    g_clear_pointer(&t->memmap, ns_memmap_free);
    if (live_map(t) != NULL)
        ns_live_map_invalidate(live_map(t));
}

void
ns_manager_layout_changed(NsManager *d, const char *uuid, const char *what)
{
    Tracked *t = g_hash_table_lookup(d->domains, uuid);

    if (t == NULL)
        return;
    g_debug("domain %s: %s: its memory map will be read again", t->name, what);
    forget_layout(t);
    /* New memory (a DIMM or virtio-mem plugged in, its backend placed by
     * the domain's numatune, not by its cell's vCPUs) should not wait for
     * the next drift check, which may be off or minutes away: look once,
     * as for a domain that just started. */
    schedule_look(d, t, "layout");
}

void
ns_manager_metadata_changed(NsManager *d, const char *uuid, const char *name)
{
    Tracked *t = g_hash_table_lookup(d->domains, uuid);

    if (t == NULL)
        return; /* not running: its next start reads the metadata */
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s: numashift's policy in its libvirt metadata changed: deciding again",
                  name != NULL && *name != '\0' ? name : t->name);
    emit(t, NS_CONTROL_EVENT_POLICY, "metadata", NULL, NULL);
    /* Ranked with an operator's word (trigger_rank()): someone just said so.
     * The job reads the domain's XML afresh, and with it the new mode and
     * priority. */
    enqueue_rebalance(d, t, "policy", FALSE);
}

/* Pages found unmovable may be tried again at once: the facts changed. */
static void
forgive(Tracked *t, const char *why)
{
    NsLiveMap *live = live_map(t);

    if (live == NULL)
        return;
    ns_live_map_forgive(live);
    g_debug("domain %s: %s: unmovable pages will be tried again", t->name, why);
}

/*
 * The job for a burst of pinning events starts at its first event, held:
 * it looks the domain up, rechecks its memory map, samples where its pages
 * are and reads the host's facts while the debounce runs, and
 * debounce_fired() releases it.  Only the new pinning, the policy and the
 * move are left after the burst (issue #10: the reaction was debounce +
 * 121 ms, most of it this preparation).  It takes a job slot from its
 * start, as any job.  A pending migrate is the operator's word and goes
 * first; the rebalance is enqueued when the debounce fires.
 */
static void
hold_pinning_job(NsManager *d, Tracked *t)
{
    if (job_held(t))
        return;
    if (t->pending != NULL && (t->pending->held || t->pending->kind == NS_JOB_MIGRATE))
        return;
    enqueue_rebalance(d, t, "pinning", TRUE);
}

/*
 * Pinning changes settle host-wide: an event of @t's also restarts the
 * debounce of every other domain whose burst is settling, so that re-pins
 * of several domains close together (an operator's script, a rebalancer)
 * are decided as one round, most important first (debounce_fired()).  A
 * domain waits at most PINNING_ROUND_MAX debounces from its own first event:
 * a stream of other domains' events does not hold it for ever.
 */
#define PINNING_ROUND_MAX 4

static void
extend_pinning_round(NsManager *d, const Tracked *t)
{
    gint64 now = g_get_monotonic_time();
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        Tracked *u = value;

        if (u == t || u->debounce_source == 0 ||
            now - u->settling_since_us >= (gint64)PINNING_ROUND_MAX * d->config->debounce_ms * 1000)
            continue;
        g_source_remove(u->debounce_source);
        u->debounce_source = g_timeout_add(d->config->debounce_ms, debounce_fired, u);
    }
}

void
ns_manager_pinning_changed(NsManager *d, const char *uuid, const char *name,
                           const char *const *keys)
{
    Tracked *t = track(d, uuid, name);
    g_autofree char *joined = g_strjoinv(",", (char **)keys);

    t->pinning_events++;
    t->pinning_at_us = g_get_real_time();
    forgive(t, "pinning changed");
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, t->name, t->uuid, 0,
                  "domain %s: pinning changed (%s); deciding in %u ms", t->name, joined,
                  d->config->debounce_ms);
    emit(t, NS_CONTROL_EVENT_DOMAIN, "pinning", "keys",
         json_node_init_string(json_node_alloc(), joined));
    if (t->debounce_source != 0)
        g_source_remove(t->debounce_source);
    else
        t->settling_since_us = g_get_monotonic_time();
    t->debounce_source = g_timeout_add(d->config->debounce_ms, debounce_fired, t);
    extend_pinning_round(d, t);
    hold_pinning_job(d, t);
}

void
ns_manager_connection_lost(NsManager *d)
{
    GHashTableIter it;
    gpointer v;

    /* Layout events missed while down: no cached map is to be trusted. */
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        forget_layout(v);
}

void
ns_manager_kick(NsManager *d)
{
    start_queued(d);
}

void
ns_manager_drift_tick(NsManager *d, gint64 now_us)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Tracked *t = v;

        if (t->drift_due_us > now_us)
            continue;
        if (t->pending == NULL && (t->job == NULL || ns_job_is_done(t->job)) &&
            t->look_source == 0 && t->debounce_source == 0)
            enqueue_rebalance(d, t, "drift", FALSE);
        else /* busy: its job's end sets the next check */
            t->drift_due_us = next_drift_due(d, t, now_us);
    }
}

/* ------------------------------------------------------------ requests */

/* A tracked domain by UUID or name, without asking libvirt. */
NsManagedDomain *
ns_manager_find(NsManager *d, const char *key)
{
    GHashTableIter it;
    gpointer v;
    Tracked *t = g_hash_table_lookup(d->domains, key);

    if (t != NULL)
        return t;
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (g_strcmp0(((Tracked *)v)->name, key) == 0)
            return v;
    return NULL;
}

JsonNode *
ns_manager_placement_json(NsLiveMap *live, JsonArray *decisions)
{
    double share = 0;
    g_autoptr(NsPlacementSummary) summary = live != NULL ? ns_live_map_summarize(live) : NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();

    if (summary == NULL)
        return json_node_init_null(json_node_alloc());
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pid");
    json_builder_add_int_value(b, ns_live_map_get_pid(live));
    json_builder_set_member_name(b, "scanned_ms_ago");
    json_builder_add_int_value(b, (g_get_monotonic_time() - ns_live_map_get_scanned_us(live)) / 1000);
    ns_placement_summary_add_json(b, summary);
    json_builder_set_member_name(b, "local_ratio");
    if (ns_metrics_local_share(summary, decisions, &share))
        json_builder_add_double_value(b, share);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

NsLiveMap *
ns_manager_ref_live_map(NsManagedDomain *t)
{
    NsLiveMap *live = live_map(t);

    return live != NULL ? ns_live_map_ref(live) : NULL;
}

/* The domain as the control socket tells it. */
JsonNode *
ns_manager_describe(NsManager *d, NsManagedDomain *t)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *mode = mode_override(d, t);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, t->name != NULL ? t->name : "");
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, t->uuid);
    json_builder_set_member_name(b, "mode");
    json_builder_add_string_value(b, mode != NULL ? mode : "follow");
    json_builder_set_member_name(b, "mode_source");
    json_builder_add_string_value(b, t->runtime_mode != NULL ? "runtime"
                                     : mode != NULL          ? "config"
                                                             : "metadata or default");
    json_builder_set_member_name(b, "pending");
    json_builder_add_string_value(b, t->pending == NULL                   ? "none"
                                     : t->pending->kind == NS_JOB_MIGRATE ? "migrate"
                                                                          : "rebalance");
    json_builder_set_member_name(b, "pinning_events");
    json_builder_add_int_value(b, t->pinning_events);
    json_builder_set_member_name(b, "memmap_cached");
    json_builder_add_boolean_value(b, t->memmap != NULL);
    /* When the drift check looks at it next, and why not sooner. */
    json_builder_set_member_name(b, "drift_check_in_ms");
    if (d->config->drift_interval_s > 0)
        json_builder_add_int_value(b, MAX(t->drift_due_us - g_get_monotonic_time(), 0) / 1000);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "failed_jobs_in_a_row");
    json_builder_add_int_value(b, t->failures);
    json_builder_set_member_name(b, "job");
    if (t->job != NULL)
        json_builder_add_value(b, ns_job_describe(t->job));
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

GPtrArray *
ns_manager_list(NsManager *d)
{
    GPtrArray *all = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        g_ptr_array_add(all, v);
    return all;
}

NsJob *
ns_manager_get_job(NsManagedDomain *t)
{
    return t->job;
}

JsonArray *
ns_manager_get_decisions(NsManagedDomain *t)
{
    return t->decisions != NULL ? json_node_get_array(t->decisions) : NULL;
}

const char *
ns_manager_domain_name(NsManagedDomain *t)
{
    return t->name;
}

const char *
ns_manager_domain_uuid(NsManagedDomain *t)
{
    return t->uuid;
}

guint64
ns_manager_migrate(NsManager *d, NsManagedDomain *t, NsJobSpec *spec)
{
    g_free(spec->uuid);
    spec->uuid = g_strdup(t->uuid);
    g_free(spec->name);
    spec->name = g_strdup(t->name);
    if (spec->workers == 0)
        spec->workers = d->config->workers;
    if (spec->worker_cpus == NULL)
        spec->worker_cpus = g_strdup(d->config->worker_cpus);
    if (!spec->move_shared)
        spec->move_shared = ns_daemon_config_moves_shared(d->config, t->name, t->uuid);
    forgive(t, "an operator asked for a move");
    return enqueue(d, t, spec); /* the operator's word beats a pending rebalance */
}

guint64
ns_manager_rebalance(NsManager *d, NsManagedDomain *t, const char *trigger)
{
    forgive(t, "an operator asked for a rebalance");
    return enqueue_rebalance(d, t, trigger, FALSE);
}

void
ns_manager_set_mode(NsManager *d, NsManagedDomain *t, const char *mode)
{
    g_free(t->runtime_mode);
    t->runtime_mode = g_strdup(mode);
    emit(t, NS_CONTROL_EVENT_POLICY, "policy", "mode",
         json_node_init_string(json_node_alloc(), t->runtime_mode));
    if (strcmp(mode, "follow") == 0)
        enqueue_rebalance(d, t, "policy", FALSE);
}

gboolean
ns_manager_control_job(NsManager *d, NsManagedDomain *t, NsControlOp op)
{
    if (t->job == NULL || ns_job_is_done(t->job))
        return FALSE;
    if (op == NS_CONTROL_OP_PAUSE)
        ns_job_pause(t->job);
    else if (op == NS_CONTROL_OP_RESUME)
        ns_job_resume(t->job);
    else
        ns_job_cancel(t->job, NULL);
    emit(t, NS_CONTROL_EVENT_JOB, ns_control_op_to_string(op), NULL, NULL);
    return TRUE;
}

/* ------------------------------------------------------------ lifetime */

NsManager *
ns_manager_new(const NsDaemonConfig *config, const NsManagerHost *host)
{
    NsManager *d = g_new0(NsManager, 1);

    d->config = config;
    d->host = *host;
    d->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, tracked_free);
    g_queue_init(&d->queue);
    d->ledger = ns_ledger_new();
    return d;
}

void
ns_manager_set_config(NsManager *d, const NsDaemonConfig *config)
{
    const NsDaemonConfig *old = d->config;
    g_autoptr(GPtrArray) changed = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;

    /* Domains whose mode the file decides and now decides differently,
     * to a mode that may move something, and domains now allowed to move
     * shared memory (move-shared turned on: what the live map holds as
     * shared may move now, so it is tried again at once). */
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Tracked *t = v;
        g_autofree char *before = g_strdup(mode_override(d, t));
        gboolean shared_before = ns_daemon_config_moves_shared(old, t->name, t->uuid);
        const char *after;

        d->config = config;
        after = mode_override(d, t);
        if (!shared_before && ns_daemon_config_moves_shared(config, t->name, t->uuid) &&
            g_strcmp0(after, "off") != 0) {
            forgive(t, "move-shared turned on");
            g_ptr_array_add(changed, t);
        } else if (g_strcmp0(before, after) != 0 && g_strcmp0(after, "off") != 0) {
            g_ptr_array_add(changed, t);
        }
        d->config = old;
    }
    d->config = config;
    /* Running jobs keep the settings they started with; a mode turned on
     * (or move-shared) is applied now, as `numashift policy DOMAIN follow`
     * would. */
    for (guint i = 0; i < changed->len; i++)
        enqueue_rebalance(d, changed->pdata[i], "reload", FALSE);
    start_queued(d); /* max-jobs may have grown */
}

void
ns_manager_free(NsManager *d)
{
    GHashTableIter it;
    gpointer v;

    if (d == NULL)
        return;
    /* Jobs first: all cancelled at once, then each joined (pages in flight finish). */
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((Tracked *)v)->job != NULL)
            ns_job_cancel(((Tracked *)v)->job, NULL);
    g_hash_table_unref(d->domains);
    ns_ledger_free(d->ledger); /* after the jobs: they use it until joined */
    g_free(d);
}
