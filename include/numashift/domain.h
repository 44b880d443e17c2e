/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One running libvirt domain as numashift sees it
 * ===============================================
 * An NsDomain holds a reference to a libvirt domain, what its live XML says
 * about memory placement (vCPUs, vNUMA cells, numatune), the PID of its QEMU
 * and a monitor connection (through libvirt) to that QEMU.
 *
 * A domain is named the way virsh names it: by ID (all digits), by UUID, or
 * by name, tried in that order.
 *
 * The QEMU PID comes from libvirt's pid file where numashift can read it
 * (qemu:///system: /run/libvirt/qemu/NAME.pid; qemu:///session: under
 * $XDG_RUNTIME_DIR), else from the monitor: query-cpus-fast gives each
 * vCPU's host thread ID, and /proc/TID/status its thread group.  The pid
 * file first because libvirt marks a domain "tainted: custom-monitor" in
 * its log at every virDomainQemuMonitorCommand(); the monitor stays for
 * what has no other source, the memory map, read once per map (numashiftd
 * keeps it).  Either way the process is then held by a pidfd and checked
 * to be the one started with the domain's UUID (process.h), so a stale
 * pid file or a reused PID is never moved.  QEMU must run on this host: a
 * remote URI is refused.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "numashift/domain-config.h"
#include "numashift/memmap.h"
#include "numashift/process.h"
#include "numashift/qmp.h"

G_BEGIN_DECLS

typedef struct _NsDomain NsDomain;

/*
 * Look up the running domain @name (an ID, a UUID or a name) on @conn, read
 * its live XML, connect to its monitor and find its QEMU's PID.  Errors:
 * NS_ERROR_NOT_FOUND (no such domain), NS_ERROR_NOT_RUNNING (it exists but
 * does not run), NS_ERROR_UNSUPPORTED (not a QEMU domain on this host),
 * NS_ERROR_IO (libvirt or the monitor failed), NS_ERROR_INVALID_INPUT (its
 * XML or the monitor's replies make no sense).
 * Context: any thread; blocks on libvirt and the monitor.
 */
NsDomain *ns_domain_open(virConnectPtr conn, const char *name, GError **error);

/*
 * Free @domain, its monitor connection and its libvirt reference.  NULL is
 * accepted.
 * Context: any thread; no call on @domain may be running.
 */
void ns_domain_free(NsDomain *domain);

/* Accessors; the results are borrowed and live as long as @domain.
 * Context: any thread; no locks. */
const NsDomainConfig *ns_domain_get_config(const NsDomain *domain);
pid_t ns_domain_get_pid(const NsDomain *domain);
const NsProcess *ns_domain_get_process(const NsDomain *domain);
/* Where the PID came from: "pidfile" or "monitor". */
const char *ns_domain_get_pid_source(const NsDomain *domain);
NsQmp *ns_domain_get_qmp(const NsDomain *domain);
virDomainPtr ns_domain_get_virdomain(const NsDomain *domain);

/*
 * Build the guest's memory map (ns_memmap_load()), with each backend that
 * libvirt names after a vNUMA cell ("ram-node<N>") attributed to that cell.
 * Context: any thread; blocks on the monitor and on /proc.
 */
NsMemMap *ns_domain_load_memmap(NsDomain *domain, GError **error);

/*
 * The host CPUs each vCPU may run on (virDomainGetVcpuPinInfo, live): a new
 * array, one GArray of guint (ascending host CPU numbers) per vCPU, in vCPU
 * order.
 * Context: any thread; blocks on libvirt.
 */
GPtrArray *ns_domain_get_vcpu_pinning(NsDomain *domain, GError **error);

/* What a live migration is doing to a domain's memory on this host. */
typedef enum {
    NS_MIGRATION_NONE,    /* nothing: its memory stays here */
    NS_MIGRATION_OUT,     /* copied away to another host (or paused for that) */
    NS_MIGRATION_IN,      /* still arriving from another host (pre-copy, or running in post-copy) */
    NS_MIGRATION_UNKNOWN, /* libvirt could not tell */
} NsMigration;

/*
 * Classify libvirt's answers about one domain: its state and reason
 * (virDomainGetState()), and its job: @job_error 0 when virDomainGetJobStats()
 * answered @job_type and @operation (-1: none given), else libvirt's error
 * code.  A migration's target answers no job statistics
 * (VIR_ERR_OPERATION_UNSUPPORTED, "available only on the source host"):
 * that, or running in post-copy, is IN; an outgoing migration job, or a
 * pause for a migration or its post-copy phase, is OUT; NONE only for a
 * domain that runs (or is paused, blocked, suspended) here, so a source
 * already shut off after its migration is UNKNOWN, not "it stays".
 * Context: any; pure.
 */
NsMigration ns_migration_classify(int state, int reason, int job_error, int job_type, int operation);

/* ns_migration_classify() of libvirt's answers for @dom now.
 * Context: any thread; blocks on libvirt. */
NsMigration ns_domain_get_migration(virDomainPtr dom);

/* "none", "away", "here", "unknown".  Context: any; pure. */
const char *ns_migration_name(NsMigration migration);

/*
 * Whether a live migration copies @domain's memory now, in or out
 * (ns_domain_get_migration()): NS_ERROR_BUSY naming which, since moving
 * pages that QEMU is sending or receiving fights the migration.  TRUE
 * otherwise, and when libvirt cannot tell.
 * Context: any thread; blocks on libvirt.
 */
gboolean ns_domain_check_not_migrating(NsDomain *domain, GError **error);

/*
 * Write numashift's policy into the domain @name's metadata
 * (<numashift:policy mode='...' priority='N'/> in NS_DOMAIN_METADATA_URI,
 * virDomainSetMetadata()): in its live definition while it runs and in its
 * persistent one when it has one, so it survives restarts and travels with
 * a live migration.  @mode (NULL: keep the current one) and @priority
 * (when @set_priority; else keep) are merged with what the metadata says;
 * libvirt emits VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, which numashiftd
 * follows.  *@ret_config, when not NULL, is the domain's definition
 * afterwards (the live one of a running domain).  Errors: as lookup
 * (NS_ERROR_NOT_FOUND, NS_ERROR_IO), NS_ERROR_INVALID_INPUT for a mode
 * other than follow or off or a priority out of range, NS_ERROR_PERMISSION
 * when libvirt refuses.
 * Context: any thread; blocks on libvirt.
 */
gboolean ns_domain_set_policy_metadata(virConnectPtr conn, const char *name, const char *mode,
                                       gboolean set_priority, gint priority,
                                       NsDomainConfig **ret_config, GError **error);

/* A running domain as libvirt listed it. */
typedef struct {
    char *uuid; /* lower-case, with dashes */
    char *name;
} NsDomainListing;

/* Free @listing; NULL is accepted.  Context: any thread. */
void ns_domain_listing_free(NsDomainListing *listing);

/*
 * The domains running on @conn (virConnectListAllDomains, active only): a
 * new array of NsDomainListing, in libvirt's order; a domain that goes away
 * while it is listed is left out.  NS_ERROR_IO when libvirt cannot list.
 * Context: any thread; blocks on libvirt (numashiftd calls it off its main
 * thread: libvirtd may hold a domain's lock while it runs our hook).
 */
GPtrArray *ns_domain_list_running(virConnectPtr conn, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsDomain, ns_domain_free)

G_END_DECLS
