/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU process of a domain, held by a pidfd
 * =============================================
 * A job can last minutes (a rate limit, a big guest), and move_pages(2)
 * names its process by PID.  Were QEMU to exit and its PID to be reused,
 * the job would go on moving another process's pages.  An NsProcess is
 * opened once, when the job starts: a pidfd (pidfd_open(2)) for the PID,
 * then a check that the process is the domain's QEMU (its command line
 * carries "-uuid UUID", as libvirt always starts QEMU), then a check that
 * the pidfd's process still runs, so that what was read from /proc/PID
 * was read of that process.  From then on ns_process_has_exited() asks
 * the pidfd, not the PID: the engine asks it before every move_pages call
 * and stops the job ("QEMU exited") the moment it says so.
 *
 * Its start time (/proc/PID/stat, in clock ticks since boot) tells two
 * processes with the same PID apart: a cached memory map or a live map
 * belongs to a (pid, start time), not to a PID.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NsProcess NsProcess;

/*
 * Open process @pid and check that it is the QEMU of the domain with
 * @uuid (NULL: no check; for tests and for a process named by the
 * operator).  Errors: NS_ERROR_NOT_RUNNING (no such process, or it exited
 * while being checked), NS_ERROR_INVALID_INPUT (it is not that domain's
 * QEMU: "pid 812 is not the QEMU of domain 6f1c...: its command line has
 * no -uuid 6f1c..."), NS_ERROR_IO (/proc could not be read).
 * Context: any thread; reads /proc.
 */
NsProcess *ns_process_open(pid_t pid, const char *uuid, GError **error);

/* Close the pidfd and free.  NULL is accepted.  Context: any thread. */
void ns_process_free(NsProcess *process);

/* The PID, as opened.  Context: any thread. */
pid_t ns_process_get_pid(const NsProcess *process);

/* Its start time, /proc/PID/stat field 22 (clock ticks after boot).  Context: any thread. */
guint64 ns_process_get_start_ticks(const NsProcess *process);

/*
 * Whether the process has exited (its pidfd is readable); once TRUE,
 * always TRUE, whatever process has its PID now.
 * Context: any thread; one poll(2), no wait.
 */
gboolean ns_process_has_exited(const NsProcess *process);

/*
 * The start time of process @pid now, into @ret_ticks; FALSE (and 0) when
 * it does not exist or /proc/PID/stat does not parse.
 * Context: any thread; reads /proc.
 */
gboolean ns_process_read_start_ticks(pid_t pid, guint64 *ret_ticks);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsProcess, ns_process_free)

G_END_DECLS
