/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's manager: the tracked domains, their triggers and the job queue
 * ==========================================================================
 * Triggers (pinning events, domain starts, hook calls, the drift timer,
 * requests) never start a job directly: they set the domain's *pending*
 * job and queue the domain.  A domain has at most one running and one
 * pending job; a newer trigger replaces the pending one (the policy reads
 * fresh facts when the job starts, so nothing is lost), and an operator's
 * migrate beats a rebalance.  Jobs start in queue order while fewer than
 * max_jobs run; the host-wide rate limit is split evenly between them.
 * Every serial a client is given ends in exactly one job-done event.
 *
 * The manager neither talks to libvirt nor owns the control socket: jobs
 * are started, and events sent, through an NsManagerHost, which the unit
 * tests fill with jobs of their own (ns_job_start_run()) and a recorder.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "job.h"
#include "numashift/control.h"
#include "numashift/domain.h"
#include "numashift/livemap.h"

G_BEGIN_DECLS

typedef struct _NsManager NsManager;
typedef struct _NsManagedDomain NsManagedDomain;

typedef struct {
    /* Start @spec's job; NULL while jobs cannot start (no libvirt
     * connection): the domain stays queued until ns_manager_kick(). */
    NsJob *(*start_job)(gpointer data, const NsJobSpec *spec, const NsJobCallbacks *callbacks);
    /* Whether a memory map kept from the last job may be reused: true while
     * libvirt reports layout changes (device plug, reboot). */
    gboolean (*watches_layout)(gpointer data);
    /* An event for the control socket's subscribers (@body borrowed). */
    void (*broadcast)(gpointer data, NsControlEvent event, JsonNode *body);
    gpointer data;
    /* Ask libvirt, off the main thread, what a live migration does to the
     * domain @uuid now; the answer comes back (on the main thread) through
     * ns_manager_migration_answer().  NULL: no way to ask, the 30 s window
     * and the lifecycle events alone decide. */
    void (*ask_migration)(gpointer data, const char *uuid);
} NsManagerHost;

/*
 * A manager with @config (borrowed; replaced with ns_manager_set_config())
 * and @host (copied).  Context: main thread.
 */
NsManager *ns_manager_new(const NsDaemonConfig *config, const NsManagerHost *host);

/*
 * Cancel every job, wait for each (pages in flight finish), free.  NULL is
 * accepted.  Context: main thread.
 */
void ns_manager_free(NsManager *manager);

/*
 * Use @config (borrowed) from now on: running jobs keep what they started
 * with; a domain whose configured mode changed to one that may move pages,
 * or that may now move shared memory (move-shared turned on: its pages
 * held unmovable are tried again), is rebalanced (trigger "reload"); more
 * job slots start queued jobs.
 * Context: main thread.
 */
void ns_manager_set_config(NsManager *manager, const NsDaemonConfig *config);

/* ---- triggers ---- */

/* A domain's QEMU started (or was found running, or the hook said so,
 * as @how tells): tracked, its maps dropped, a rebalance after start-delay-ms.
 * Context: main thread.
 */
void ns_manager_domain_started(NsManager *manager, const char *uuid, const char *name,
                               const char *how);

/* It stopped: its pending job ends "cancelled" (not-running), its running
 * job is cancelled with that reason, and it is no longer tracked.
 * Context: main thread.
 */
void ns_manager_domain_stopped(NsManager *manager, const char *uuid, const char *how);

/* Its vCPU or emulator pinning changed (@keys, the tunable names): a
 * rebalance after debounce-ms of quiet; unmovable pages forgiven.
 * Context: main thread.
 */
void ns_manager_pinning_changed(NsManager *manager, const char *uuid, const char *name,
                                const char *const *keys);

/* Its memory layout may have changed (@what: a device came or went, a
 * reboot): the kept memory map is dropped and the live map must be scanned
 * whole again.
 * Context: main thread.
 */
void ns_manager_layout_changed(NsManager *manager, const char *uuid, const char *what);

/*
 * Live migration.  The domain is migrating away (@what: a migration
 * iteration, its switchover): no job of it starts, a running one is
 * cancelled (pages in flight finish) and ends failed with "migrating away"
 * (busy); pending jobs wait.  A migration that fails or is cancelled before
 * its switchover sends no event, so while the domain is leaving the manager
 * asks libvirt every 2 s (NsManagerHost.ask_migration): once no migration
 * runs, the domain stays and its jobs may start.  Each call and each answer
 * that the migration still runs also renews a 30 s window, which decides
 * alone when libvirt cannot be asked.  Context: main thread.
 */
void ns_manager_domain_leaving(NsManager *manager, const char *uuid, const char *what);

/* It started here as the target of a live migration: tracked, but no job
 * looks at it while its memory is still arriving (until
 * ns_manager_domain_resumed()).  Context: main thread. */
void ns_manager_domain_arriving(NsManager *manager, const char *uuid, const char *name);

/*
 * It resumed (@what: after a migration, say): an arrived domain is looked
 * at (start-delay-ms later, trigger "start"); one that was leaving stays
 * (its migration failed) and its waiting jobs start.  With @postcopy (it
 * runs here in a post-copy migration's last phase, its memory still
 * arriving from the source), an arriving domain is looked at only once
 * libvirt says its migration is over (asked every 2 s).
 * Context: main thread.
 */
void ns_manager_domain_resumed(NsManager *manager, const char *uuid, const char *name,
                               const char *what, gboolean postcopy);

/* libvirt's answer to NsManagerHost.ask_migration for @uuid (a domain no
 * longer tracked is ignored).  Context: main thread. */
void ns_manager_migration_answer(NsManager *manager, const char *uuid, NsMigration migration);

/* numashift's element of its libvirt metadata changed (a client set its
 * policy mode or priority, numashift policy --mode/--priority): a
 * rebalance (trigger "policy"), whose job reads the new metadata.
 * Context: main thread.
 */
void ns_manager_metadata_changed(NsManager *manager, const char *uuid, const char *name);

/* The libvirt connection went down: events may be missed, so no kept map
 * is trusted.
 * Context: main thread.
 */
void ns_manager_connection_lost(NsManager *manager);

/* Start what is queued, if slots and the host allow (after a connect).
 * Context: main thread. */
void ns_manager_kick(NsManager *manager);

/*
 * The drift check: a rebalance (trigger "drift") for every idle domain
 * whose check is due at @now_us (monotonic).  Each domain's first check
 * falls at a point of the interval its UUID fixes, so a host's domains
 * are spread over it; the next is one interval after its last job ended,
 * doubled for each job that failed in a row (at most 32 intervals).  Call
 * it often (numashiftd: every second); a domain not due is skipped.
 * Context: main thread.
 */
void ns_manager_drift_tick(NsManager *manager, gint64 now_us);

/* ---- requests ---- */

/* A tracked domain by UUID or name, or NULL.
 * Context: main thread. */
NsManagedDomain *ns_manager_find(NsManager *manager, const char *key);

/* Every tracked domain, borrowed (a new array).
 * Context: main thread. */
GPtrArray *ns_manager_list(NsManager *manager);

/*
 * The domain as the control socket tells it: name, UUID, mode and where it
 * comes from, pending job, pinning events, memory map kept, the job.
 * Where its pages are is ns_manager_placement_json()'s, off this thread.
 * Context: main thread.
 */
JsonNode *ns_manager_describe(NsManager *manager, NsManagedDomain *domain);

/*
 * The live map readers of @domain should see (a running job's, else the
 * last one), referenced; NULL before the first scan.
 * Context: main thread.
 */
NsLiveMap *ns_manager_ref_live_map(NsManagedDomain *domain);

/*
 * Where @live's pages are, from the map alone (no kernel call; markers of a
 * running job counted in flight): pid, scanned_ms_ago, the summary, and
 * local_ratio (ns_metrics_local_share() with @decisions, the domain's last,
 * NULL: none; JSON null when undefined); JSON null for a NULL @live.  From
 * the map's running counts: O(cells x nodes).
 * Context: a registered liburcu-memb thread outside any read-side section.
 */
JsonNode *ns_manager_placement_json(NsLiveMap *live, JsonArray *decisions);

/* The domain's job (running, or the last one), or NULL.
 * Context: main thread. */
NsJob *ns_manager_get_job(NsManagedDomain *domain);

/* The policy's last decisions for the domain (an array of objects: cell,
 * home, target, reason, ...), borrowed; NULL before its first decision.
 * A QEMU restart keeps them until the next (its vCPUs' home is the
 * domain's).  Context: main thread. */
JsonArray *ns_manager_get_decisions(NsManagedDomain *domain);

/* Its name (may be NULL before libvirt named it) and UUID.
 * Context: main thread. */
const char *ns_manager_domain_name(NsManagedDomain *domain);
const char *ns_manager_domain_uuid(NsManagedDomain *domain);

/*
 * An operator's migrate (@spec taken; its uuid is set here) or rebalance:
 * unmovable pages are forgiven, the job queued.  Returns the serial of the
 * job that will serve it: a rebalance does not replace a pending migrate
 * (whose serial serves it), a rebalance replacing a rebalance keeps its
 * serial, anything else gets a new serial and the replaced job ends
 * "superseded".
 * Context: main thread.
 */
guint64 ns_manager_migrate(NsManager *manager, NsManagedDomain *domain, NsJobSpec *spec);
guint64 ns_manager_rebalance(NsManager *manager, NsManagedDomain *domain, const char *trigger);

/* Set the domain's runtime mode (a valid mode name), which beats the
 * configuration; "follow" rebalances at once.
 * Context: main thread.
 */
void ns_manager_set_mode(NsManager *manager, NsManagedDomain *domain, const char *mode);

/* Pause, resume or cancel its running job (an event says so); FALSE when
 * none runs.
 * Context: main thread.
 */
gboolean ns_manager_control_job(NsManager *manager, NsManagedDomain *domain, NsControlOp op);

/* Free a job spec made for ns_manager_migrate() that was not given to it.  NULL is accepted.
 * Context: main thread. */
void ns_job_spec_free(NsJobSpec *spec);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsManager, ns_manager_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsJobSpec, ns_job_spec_free)

G_END_DECLS
