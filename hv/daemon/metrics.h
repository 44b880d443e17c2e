/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's metrics for Prometheus, as a file for node_exporter's
 * textfile collector (text exposition format 0.0.4): no root daemon opens
 * a port, node_exporter serves them with the host's other metrics.
 *
 * The counters (jobs, moved bytes, KVM's remote TLB flushes during moves,
 * the job duration histogram) are the daemon's since it started; the
 * gauges (where each domain's pages are, its local share, what cannot
 * move, the nodes' free memory) are read when the file is written: after
 * every job (a drift check is one), when a domain comes or goes, at start
 * and on reload.  The file is written to a temporary name and renamed, so
 * node_exporter never reads half of it.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "numashift/placement.h"
#include "numashift/topology.h"

G_BEGIN_DECLS

/* The file numashiftd writes in the configured directory. */
#define NS_METRICS_FILE "numashift.prom"

typedef struct _NsMetrics NsMetrics;

/* One tracked domain as the gauges show it; everything borrowed. */
typedef struct {
    const char *name;                     /* NULL or "": not known yet */
    const char *uuid;
    const NsPlacementSummary *placement;  /* its live map's counts; NULL before the first scan */
    JsonArray *decisions;                 /* its last policy decisions ({cell, home, ...});
                                             NULL: none yet (no local share) */
} NsMetricsDomain;

/* Empty counters.  Context: any thread. */
NsMetrics *ns_metrics_new(void);

/* NULL is accepted.  Context: any thread. */
void ns_metrics_free(NsMetrics *metrics);

/*
 * Count one ended job from its job-done description (manager.h's event
 * body "job": trigger, state, elapsed_us, report.moved_bytes,
 * report.kvm.remote_tlb_flush, uuid): numashift_jobs_total by trigger
 * class and state, the duration histogram (jobs that ran), the moved bytes
 * in all and per domain, KVM's remote TLB flushes per domain.  Members it
 * lacks count as nothing.
 * Context: the thread that owns @metrics.
 */
void ns_metrics_count_job(NsMetrics *metrics, JsonObject *job);

/*
 * Drop the per-domain counters of every domain not in @domains (@n): a
 * domain that stopped ends its series (a job of it may end after its stop
 * was seen, so the owner prunes before each render, not on the stop).
 * Context: the thread that owns @metrics.
 */
void ns_metrics_prune(NsMetrics *metrics, const NsMetricsDomain *domains, guint n);

/*
 * The exposition text: the counters, then the gauges for @domains (@n of
 * them) and @topology's nodes (NULL: no node series).  Label values are
 * escaped as the format asks (backslash, double quote, newline).
 * Context: any thread; reads @metrics (not concurrently with counting).
 */
char *ns_metrics_render(const NsMetrics *metrics, const NsMetricsDomain *domains, guint n,
                        const NsTopology *topology);

/*
 * Write @text to @dir/numashift.prom atomically: a temporary file in @dir
 * (not matching *.prom), mode 0644 whatever the umask (node_exporter runs
 * as another user), then rename(2).  NS_ERROR_IO naming the file.
 * Context: any thread.
 */
gboolean ns_metrics_write(const char *dir, const char *text, GError **error);

/*
 * The local share of @placement: bytes on each cell's home node (from
 * @decisions' "home") over the bytes placed in the cells that have one;
 * a guest without vNUMA cells is decision cell -1, the whole guest.
 * Returns FALSE (no share) when no cell has a home or nothing is placed.
 * Context: any thread; pure.
 */
gboolean ns_metrics_local_share(const NsPlacementSummary *placement, JsonArray *decisions,
                                double *ret_share);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsMetrics, ns_metrics_free)

G_END_DECLS
