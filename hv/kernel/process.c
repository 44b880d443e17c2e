/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A domain's QEMU held by a pidfd (include/numashift/process.h). */
#include "numashift/process.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "numashift/error.h"

struct _NsProcess {
    pid_t pid;
    int fd;
    guint64 start_ticks;
};

gboolean
ns_process_read_start_ticks(pid_t pid, guint64 *ret_ticks)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;

    *ret_ticks = 0;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return FALSE;
    /* "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so the
     * fields start after the last ')'; start time is field 22, the 20th after it. */
    const char *p = strrchr(text, ')');

    if (p == NULL)
        return FALSE;
    g_auto(GStrv) fields = g_strsplit_set(p + 1, " \n", -1);
    guint seen = 0;

    for (char **f = fields; *f != NULL; f++) {
        if (**f == '\0')
            continue;
        if (++seen == 20) {
            char *end = NULL;
            guint64 v = g_ascii_strtoull(*f, &end, 10);

            if (end == *f || *end != '\0')
                return FALSE;
            *ret_ticks = v;
            return TRUE;
        }
    }
    return FALSE;
}

/* Whether @pid's command line has "-uuid @uuid" (or "-uuid=@uuid"). */
static gboolean
cmdline_has_uuid(pid_t pid, const char *uuid, GError **error)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;

    if (!g_file_get_contents(path, &text, &len, &e)) {
        g_set_error(error, NS_ERROR, g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                                         ? NS_ERROR_NOT_RUNNING : NS_ERROR_IO,
                    "process %d: %s", (int)pid, e->message);
        return FALSE;
    }
    for (gsize at = 0; at < len;) {
        const char *arg = text + at;
        gsize n = strnlen(arg, len - at);
        const char *next = at + n + 1 < len ? arg + n + 1 : NULL;

        if ((strcmp(arg, "-uuid") == 0 || strcmp(arg, "--uuid") == 0) && next != NULL &&
            g_ascii_strcasecmp(next, uuid) == 0)
            return TRUE;
        if ((g_str_has_prefix(arg, "-uuid=") && g_ascii_strcasecmp(arg + 6, uuid) == 0) ||
            (g_str_has_prefix(arg, "--uuid=") && g_ascii_strcasecmp(arg + 7, uuid) == 0))
            return TRUE;
        at += n + 1;
    }
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                "pid %d is not the QEMU of domain %s: its command line has no -uuid %s", (int)pid,
                uuid, uuid);
    return FALSE;
}

static gboolean
fd_has_exited(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    /* A pidfd is readable once its process has exited; EINTR: ask again. */
    for (;;) {
        int n = poll(&p, 1, 0);

        if (n >= 0)
            return n > 0;
        if (errno != EINTR)
            return TRUE; /* an unusable pidfd: never move on its word */
    }
}

NsProcess *
ns_process_open(pid_t pid, const char *uuid, GError **error)
{
    g_autoptr(NsProcess) p = g_new0(NsProcess, 1);

    p->pid = pid;
    p->fd = -1;
    if (pid <= 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "no process (pid %d)", (int)pid);
        return NULL;
    }
    p->fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->fd < 0) {
        int err = errno;

        g_set_error(error, NS_ERROR, err == ESRCH ? NS_ERROR_NOT_RUNNING : NS_ERROR_IO,
                    "process %d: pidfd_open: %s", (int)pid, g_strerror(err));
        return NULL;
    }
    if (!ns_process_read_start_ticks(pid, &p->start_ticks)) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING, "process %d: no /proc/%d/stat",
                    (int)pid, (int)pid);
        return NULL;
    }
    if (uuid != NULL && !cmdline_has_uuid(pid, uuid, error))
        return NULL;
    /* Still the pidfd's process: what /proc/PID said was said of it. */
    if (fd_has_exited(p->fd)) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING, "process %d exited", (int)pid);
        return NULL;
    }
    return g_steal_pointer(&p);
}

void
ns_process_free(NsProcess *process)
{
    if (process == NULL)
        return;
    if (process->fd >= 0)
        close(process->fd);
    g_free(process);
}

pid_t
ns_process_get_pid(const NsProcess *process)
{
    return process->pid;
}

guint64
ns_process_get_start_ticks(const NsProcess *process)
{
    return process->start_ticks;
}

gboolean
ns_process_has_exited(const NsProcess *process)
{
    return fd_has_exited(process->fd);
}
