/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Talking to a guest's QEMU: QMP commands and HMP command lines
 * =============================================================
 * An NsQmp sends QMP commands to one QEMU through a transport:
 *
 *   ns_qmp_new_libvirt()  libvirt's virDomainQemuMonitorCommand() on a
 *                         domain (QMP JSON; HMP with the
 *                         VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP flag).
 *                         libvirt marks a domain that receives such
 *                         commands as tainted ("custom-monitor") in its log.
 *   ns_qmp_connect()      a QMP UNIX socket of a QEMU run without libvirt
 *                         (-qmp unix:PATH,server=on,wait=off): reads the
 *                         greeting, negotiates qmp_capabilities, then sends
 *                         each command with an "id", skips asynchronous
 *                         {"event": ...} messages and replies to earlier
 *                         (timed-out) commands, and gives up after a
 *                         timeout.  HMP goes through human-monitor-command.
 *   ns_qmp_new()          any other transport (tests use canned replies).
 *
 * Strictness.  QEMU's replies are input: a reply that is not JSON, not an
 * object, has neither "return" nor "error", is larger than
 * NS_QMP_MAX_REPLY, or whose "return" has the wrong shape for the helper
 * that asked is an NS_ERROR_INVALID_INPUT error, never a crash.  An
 * {"error": {"class": ..., "desc": ...}} reply is an error carrying the
 * class and description: NS_ERROR_UNSUPPORTED for CommandNotFound,
 * NS_ERROR_NOT_FOUND for DeviceNotFound, NS_ERROR_FAILED otherwise.
 * A QEMU that is gone -- its socket refuses connections or hangs up, or
 * libvirt says the domain is not running -- is NS_ERROR_NOT_RUNNING; a
 * libvirt domain that does not exist is NS_ERROR_NOT_FOUND; access denied
 * is NS_ERROR_PERMISSION; other transport failures (timeouts, I/O and
 * libvirt RPC errors) are NS_ERROR_IO.
 *
 * Threads.  Every call on one NsQmp is serialized by a mutex inside it, so
 * any thread may use it; a command blocks its caller until the reply.
 * Nothing here logs or touches process-wide state (libvirt's default
 * error printer is the program's business: see virSetErrorFunc()).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

/* The largest reply accepted from either transport, in bytes. */
#define NS_QMP_MAX_REPLY (16u * 1024 * 1024)

/* The default timeout of ns_qmp_connect(), in milliseconds. */
#define NS_QMP_DEFAULT_TIMEOUT_MS 10000

typedef struct _NsQmp NsQmp;

/*
 * A transport.  @command sends @request, a QMP command object
 * {"execute": ..., "arguments": ...} without "id", and returns the reply
 * text, one JSON object (the transport may add and check an "id"), or NULL
 * with an error if the transport failed.  @hmp, if not NULL, runs an HMP
 * command line natively and returns its output; if NULL, NsQmp uses
 * human-monitor-command through @command.  @free releases the transport's
 * state.  Calls are serialized by the NsQmp.
 */
typedef struct {
    char *(*command)(gpointer impl, JsonObject *request, GError **error);
    char *(*hmp)(gpointer impl, const char *command_line, GError **error);
    void (*free)(gpointer impl);
} NsQmpTransport;

/*
 * A new NsQmp over @transport (which must outlive it, normally static)
 * with state @impl, which it owns from now on (@transport->free at the
 * end).
 * Context: any thread; no locks.
 */
NsQmp *ns_qmp_new(const NsQmpTransport *transport, gpointer impl);

/*
 * A new NsQmp that talks to @domain's QEMU through libvirt.  Takes its own
 * reference on @domain (virDomainRef()).  Never fails here: errors (domain
 * gone or not running, not a QEMU domain) come with the first command.
 * Context: any thread; no locks.
 */
NsQmp *ns_qmp_new_libvirt(virDomainPtr domain);

/*
 * Connect to the QMP UNIX socket at @socket_path, read QEMU's greeting and
 * enter command mode.  @timeout_ms (0: NS_QMP_DEFAULT_TIMEOUT_MS) bounds
 * this whole handshake, and later each command.  Errors: NS_ERROR_NOT_FOUND
 * if there is no socket at @socket_path, NS_ERROR_NOT_RUNNING if nothing
 * listens there or QEMU hangs up, NS_ERROR_PERMISSION if it may not be
 * opened, NS_ERROR_IO if the handshake fails otherwise or times out,
 * NS_ERROR_INVALID_INPUT if the greeting is not QMP's.
 * Context: any thread; blocks on the socket for up to @timeout_ms.
 */
NsQmp *ns_qmp_connect(const char *socket_path, guint timeout_ms, GError **error);

/*
 * Close the connection (or drop the libvirt domain reference) and free
 * @qmp.  NULL is accepted.
 * Context: any thread; no command may be running on @qmp.
 */
void ns_qmp_free(NsQmp *qmp);

/*
 * Check one QMP reply, @length bytes at @text (-1: NUL-terminated), and
 * return a new reference to its "return" value.  Errors as described at
 * the top of this file.
 * Context: any thread; no locks.
 */
JsonNode *ns_qmp_parse_reply(const char *text, gssize length, GError **error);

/*
 * Execute QMP @command with @arguments (NULL: none; not consumed) and
 * return a new reference to the "return" value.
 * Context: any thread; blocks on the monitor; holds @qmp's mutex.
 */
JsonNode *ns_qmp_execute(NsQmp *qmp, const char *command, JsonObject *arguments,
                         GError **error);

/*
 * Run HMP @command_line ("info mtree -f") and return its output text as
 * QEMU printed it (lines end in "\r\n").  HMP commands report their own
 * failures in that text; parsing it is the caller's job.
 * Context: any thread; blocks on the monitor; holds @qmp's mutex.
 */
char *ns_qmp_hmp(NsQmp *qmp, const char *command_line, GError **error);

/*
 * query-status: the run state ("running", "paused", "prelaunch", ...),
 * written to @ret_status (new string) and @ret_running only on success.
 * Either output may be NULL.
 * Context: any thread; blocks on the monitor; holds @qmp's mutex.
 */
gboolean ns_qmp_query_status(NsQmp *qmp, char **ret_status, gboolean *ret_running,
                             GError **error);

/* One vCPU from query-cpus-fast. */
typedef struct {
    guint index;        /* "cpu-index" */
    gint64 thread_id;   /* host thread id (TID) running it */
    gint node_id;       /* "props"/"node-id": the vNUMA cell, -1 without vNUMA */
    char *qom_path;
} NsQmpCpu;

/*
 * query-cpus-fast: a new array of NsQmpCpu (element clear function set),
 * in QEMU's order (by cpu-index).
 * Context: any thread; blocks on the monitor; holds @qmp's mutex.
 */
GArray *ns_qmp_query_cpus(NsQmp *qmp, GError **error);

/* One memory backend from query-memdev. */
typedef struct {
    char *id;           /* the backend's object id; NULL if it has none */
    guint64 size;       /* bytes */
    gboolean merge;
    gboolean dump;
    gboolean prealloc;
    gboolean share;     /* FALSE when QEMU does not report it */
    char *policy;       /* "default", "preferred", "bind", "interleave" */
    GArray *host_nodes; /* of guint: the policy's host nodes, ascending */
} NsQmpMemdev;

/*
 * query-memdev: a new array of NsQmpMemdev * (free function set), in
 * QEMU's order.
 * Context: any thread; blocks on the monitor; holds @qmp's mutex.
 */
GPtrArray *ns_qmp_query_memdev(NsQmp *qmp, GError **error);

/*
 * Free one NsQmpMemdev.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_qmp_memdev_free(NsQmpMemdev *memdev);

/* One scalar statistic from query-stats. */
typedef struct {
    char *name;
    guint64 value;      /* booleans are 0 or 1 */
} NsQmpStat;

/*
 * query-stats for target "vm", provider "kvm": a new array of NsQmpStat
 * (element clear function set), e.g. pages_4k, pages_2m, pages_1g,
 * remote_tlb_flush.  Histograms are left out.  Under TCG QEMU returns no
 * statistics at all: that is an empty array, not an error.  A QEMU without
 * query-stats (before 7.1) gives NS_ERROR_UNSUPPORTED.
 * Context: any thread; blocks on the monitor; holds @qmp's mutex.
 */
GArray *ns_qmp_query_kvm_stats(NsQmp *qmp, GError **error);

/*
 * Look statistic @name up in @stats (from ns_qmp_query_kvm_stats()); TRUE
 * and *@ret_value set if present.
 * Context: any thread; no locks.
 */
gboolean ns_qmp_stats_get(const GArray *stats, const char *name, guint64 *ret_value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsQmp, ns_qmp_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsQmpMemdev, ns_qmp_memdev_free)

G_END_DECLS
