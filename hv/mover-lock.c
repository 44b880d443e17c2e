/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-domain mover lock (include/numashift/mover-lock.h).  flock(2),
 * not fcntl(2) record locks: flock locks belong to the open file
 * description, so two takes in one process (the daemon's job threads)
 * exclude each other as two processes do, and closing one descriptor
 * never drops another's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "numashift/error.h"
#include "numashift/mover-lock.h"

struct _NsMoverLock {
    int fd;
};

static const char *
lock_dir(void)
{
    const char *env = g_getenv(NS_MOVER_LOCK_DIR_ENV);

    return env != NULL && *env != '\0' ? env : NS_MOVER_LOCK_DIR;
}

static void
set_errno_error(GError **error, int err, const char *what, const char *path)
{
    g_set_error(error, NS_ERROR, err == EACCES || err == EPERM ? NS_ERROR_PERMISSION : NS_ERROR_IO,
                "%s %s: %s", what, path, g_strerror(err));
}

/* The holder's line, from the lock file; NULL when it cannot be read yet. */
static char *
read_holder(int fd)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return g_strstrip(g_strdup(buf));
}

NsMoverLock *
ns_mover_lock_take(const char *uuid, const char *holder, GError **error)
{
    if (uuid == NULL || !g_uuid_string_is_valid(uuid)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "'%s' is not a domain UUID",
                    uuid != NULL ? uuid : "(none)");
        return NULL;
    }
    const char *dir = lock_dir();
    g_autofree char *path = g_strdup_printf("%s/%s.lock", dir, uuid);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        set_errno_error(error, errno, "cannot create", dir);
        return NULL;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0) {
        set_errno_error(error, errno, "cannot open", path);
        return NULL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        g_autofree char *who = err == EWOULDBLOCK ? read_holder(fd) : NULL;

        close(fd);
        if (err != EWOULDBLOCK) {
            set_errno_error(error, err, "cannot lock", path);
            return NULL;
        }
        g_set_error(error, NS_ERROR, NS_ERROR_BUSY,
                    "another mover is moving this domain's memory: %s",
                    who != NULL && *who != '\0' ? who : "(holder starting)");
        return NULL;
    }
    /* Ours now: say who we are for the next one refused. */
    g_autofree char *line = g_strdup_printf("%s\n", holder != NULL ? holder : "unknown");

    if (ftruncate(fd, 0) < 0 || pwrite(fd, line, strlen(line), 0) < 0) {
        /* The lock holds all the same; only the refused mover's message is poorer. */
    }
    NsMoverLock *lock = g_new0(NsMoverLock, 1);

    lock->fd = fd;
    return lock;
}

void
ns_mover_lock_release(NsMoverLock *lock)
{
    if (lock == NULL)
        return;
    /* Empty the holder line first: a refused mover must not name a gone holder. */
    if (ftruncate(lock->fd, 0) < 0) {
        /* harmless: the next holder rewrites it */
    }
    close(lock->fd); /* drops the flock */
    g_free(lock);
}
