/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One mover per domain, across processes.
 *
 * Whoever moves a domain's pages (a numashiftd job, `numashift migrate
 * --direct`) holds the domain's mover lock: flock(2) on
 * NS_MOVER_LOCK_DIR/UUID.lock.  Two movers of one guest would otherwise
 * pull its memory two ways at once and both report done.  The kernel
 * drops the lock when its holder dies, even by SIGKILL, so a crashed
 * mover never keeps the next one out; the file stays (an empty lock file
 * is harmless, and unlinking it would race a new holder).  The file holds
 * a line naming its holder, for the refused mover's message.
 *
 * NS_MOVER_LOCK_DIR_ENV overrides the directory (tests).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NS_MOVER_LOCK_DIR "/run/numashift/movers"
#define NS_MOVER_LOCK_DIR_ENV "NUMASHIFT_MOVER_LOCK_DIR"

typedef struct _NsMoverLock NsMoverLock;

/*
 * Take domain @uuid's mover lock without waiting, recording @holder (e.g.
 * "numashiftd (pid 42), job 7") for whoever is refused.  Creates the
 * directory (0700) when missing.  Fails with NS_ERROR_BUSY, naming the
 * holder, when another open lock holds it, in this process or another;
 * NS_ERROR_INVALID_INPUT for a @uuid that is not a UUID; NS_ERROR_IO
 * (NS_ERROR_PERMISSION for EACCES/EPERM) when the file cannot be opened.
 * Context: any thread; blocks only on the file system.
 */
NsMoverLock *ns_mover_lock_take(const char *uuid, const char *holder, GError **error);

/*
 * Release and free @lock (NULL: nothing).
 * Context: any thread.
 */
void ns_mover_lock_release(NsMoverLock *lock);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsMoverLock, ns_mover_lock_release)

G_END_DECLS
