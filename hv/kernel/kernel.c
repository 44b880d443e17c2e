/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel seam's real side (see kernel.h): move_pages(2), pagemap,
 * kpageflags, /proc/PID/maps, libnuma's node check, and the one errno map
 * for a move_pages() call that fails as a whole.
 */
#include "numashift/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "numashift/error.h"
#include "numashift/pacer.h"
#include "numashift/radix.h"

struct NsKernelPages {
    int pagemap_fd;
    int kpageflags_fd;
};

static long
host_move_pages(gpointer data, pid_t pid, gulong count, void **pages, const int *nodes,
                int *status, int flags)
{
    long rc = move_pages((int)pid, count, pages, nodes, status, flags);

    return rc < 0 ? -errno : rc;
}

static gboolean
host_check_node(gpointer data, guint node, GError **error)
{
    return ns_kernel_check_node(node, error);
}

static gint64
host_now_us(gpointer data)
{
    return g_get_monotonic_time();
}

static void
host_mapped(gpointer data, pid_t pid, const guint64 *hvas, guint n, gboolean *ret_mapped)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)pid);
    g_autofree char *text = NULL;

    for (guint i = 0; i < n; i++)
        ret_mapped[i] = FALSE;
    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        for (guint i = 0; i < n; i++)
            ret_mapped[i] = TRUE; /* cannot tell: keep the entries (absent) */
        return;
    }
    for (const char *line = text; *line != '\0';) {
        guint64 start = 0, end = 0;
        const char *nl = strchr(line, '\n');

        if (sscanf(line, "%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x", &start, &end) == 2)
            for (guint i = 0; i < n; i++)
                if (hvas[i] >= start && hvas[i] < end)
                    ret_mapped[i] = TRUE;
        if (nl == NULL)
            break;
        line = nl + 1;
    }
}

static void
host_pages_close(NsKernelPages *pages)
{
    if (pages == NULL)
        return;
    if (pages->pagemap_fd >= 0)
        close(pages->pagemap_fd);
    if (pages->kpageflags_fd >= 0)
        close(pages->kpageflags_fd);
    g_free(pages);
}

static NsKernelPages *
host_pages_open(gpointer data, pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/pagemap", (int)pid);
    NsKernelPages *pages = g_new(NsKernelPages, 1);

    pages->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
    pages->kpageflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
    if (pages->pagemap_fd < 0 || pages->kpageflags_fd < 0) {
        host_pages_close(pages);
        return NULL;
    }
    return pages;
}

static gssize
read_entries(int fd, guint64 first, guint64 *out, gsize n)
{
    ssize_t got = pread(fd, out, n * sizeof(guint64), (off_t)(first * sizeof(guint64)));

    return got < 0 ? -errno : (gssize)((gsize)got / sizeof(guint64));
}

static gssize
host_pagemap_read(NsKernelPages *pages, guint64 vpage, guint64 *out, gsize n)
{
    return read_entries(pages->pagemap_fd, vpage, out, n);
}

static gssize
host_kpageflags_read(NsKernelPages *pages, guint64 pfn, guint64 *out, gsize n)
{
    return read_entries(pages->kpageflags_fd, pfn, out, n);
}

/* The first of @files (under @dir) that reads as a non-empty list. */
static char *
read_mems(const char *dir, const char *const *files)
{
    for (guint i = 0; files[i] != NULL; i++) {
        g_autofree char *path = g_build_filename(dir, files[i], NULL);
        g_autofree char *mems = NULL;

        if (!g_file_get_contents(path, &mems, NULL, NULL))
            continue;
        g_strstrip(mems);
        if (*mems != '\0')
            return g_steal_pointer(&mems);
    }
    return NULL;
}

/*
 * From /proc/PID/cgroup: the cpuset controller's cgroup, v1 ("N:cpuset:/x",
 * mounted at /sys/fs/cgroup/cpuset) or v2 ("0::/x", at /sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on a hybrid host), then its effective mems.
 */
static char *
host_cpuset_mems(gpointer data, pid_t pid)
{
    static const char *const v1_files[] = { "cpuset.effective_mems", "cpuset.mems", NULL };
    static const char *const v2_files[] = { "cpuset.mems.effective", NULL };
    g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int)pid);
    g_autofree char *text = NULL;
    char *found = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (char **l = lines; *l != NULL && found == NULL; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", 3);

        if (g_strv_length(f) != 3 || f[2][0] != '/')
            continue;
        if (strcmp(f[0], "0") == 0 && f[1][0] == '\0') {
            g_autofree char *unified = g_build_filename("/sys/fs/cgroup", f[2], NULL);
            g_autofree char *hybrid = g_build_filename("/sys/fs/cgroup/unified", f[2], NULL);

            found = read_mems(unified, v2_files);
            if (found == NULL)
                found = read_mems(hybrid, v2_files);
        } else {
            g_auto(GStrv) controllers = g_strsplit(f[1], ",", -1);

            if (g_strv_contains((const char *const *)controllers, "cpuset")) {
                g_autofree char *dir = g_build_filename("/sys/fs/cgroup/cpuset", f[2], NULL);

                found = read_mems(dir, v1_files);
            }
        }
    }
    return found;
}

/* QEMU's names for vCPU threads: "CPU 0/KVM", "CPU 3/TCG", "ALL CPUs/TCG". */
static gboolean
is_vcpu_thread(const char *comm)
{
    return (g_str_has_prefix(comm, "CPU ") || g_str_has_prefix(comm, "ALL CPUs/")) &&
           (g_str_has_suffix(comm, "/KVM") || g_str_has_suffix(comm, "/TCG"));
}

static gboolean
host_vcpu_waits(gpointer data, pid_t pid, GArray *ret_waits)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) tasks = g_dir_open(dir, 0, NULL);
    const char *name;

    g_array_set_size(ret_waits, 0);
    if (tasks == NULL)
        return FALSE;
    while ((name = g_dir_read_name(tasks)) != NULL) {
        g_autofree char *comm_path = g_build_filename(dir, name, "comm", NULL);
        g_autofree char *stat_path = g_build_filename(dir, name, "schedstat", NULL);
        g_autofree char *comm = NULL;
        g_autofree char *stat = NULL;
        guint64 run_ns, wait_ns;
        NsThreadWait w;

        if (!g_file_get_contents(comm_path, &comm, NULL, NULL) ||
            !is_vcpu_thread(g_strchomp(comm)) ||
            !g_file_get_contents(stat_path, &stat, NULL, NULL) ||
            sscanf(stat, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &run_ns, &wait_ns) != 2)
            continue; /* not a vCPU, or gone meanwhile */
        w.tid = (pid_t)g_ascii_strtoll(name, NULL, 10);
        w.wait_ns = wait_ns;
        g_array_append_val(ret_waits, w);
    }
    return ret_waits->len > 0;
}

static gboolean
host_own_schedstat(gpointer data, guint64 *ret_run_ns, guint64 *ret_wait_ns)
{
    g_autofree char *stat = NULL;

    (void)data;
    return g_file_get_contents("/proc/thread-self/schedstat", &stat, NULL, NULL) &&
           sscanf(stat, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, ret_run_ns, ret_wait_ns) == 2;
}

static int
host_clear_soft_dirty(gpointer data, pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/clear_refs", (int)pid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = 0;

    (void)data;
    if (fd < 0)
        return -errno;
    if (write(fd, "4", 1) != 1)
        rc = -errno;
    close(fd);
    return rc;
}

static const NsKernel host_kernel = {
    .move_pages = host_move_pages,
    .check_node = host_check_node,
    .now_us = host_now_us,
    .sleep_us = NULL,
    .mapped = host_mapped,
    .pages_open = host_pages_open,
    .pagemap_read = host_pagemap_read,
    .kpageflags_read = host_kpageflags_read,
    .pages_close = host_pages_close,
    .cpuset_mems = host_cpuset_mems,
    .vcpu_waits = host_vcpu_waits,
    .own_schedstat = host_own_schedstat,
    .clear_soft_dirty = host_clear_soft_dirty,
    .data = NULL,
};

const NsKernel *
ns_kernel_host(void)
{
    return &host_kernel;
}

void
ns_kernel_resolve(const NsKernel *given, NsKernel *ret_kernel)
{
    if (given == NULL) {
        *ret_kernel = host_kernel;
        return;
    }
    *ret_kernel = *given;
    if (ret_kernel->move_pages == NULL)
        ret_kernel->move_pages = host_move_pages;
    if (ret_kernel->check_node == NULL)
        ret_kernel->check_node = host_check_node;
    if (ret_kernel->now_us == NULL)
        ret_kernel->now_us = host_now_us;
    if (ret_kernel->own_schedstat == NULL)
        ret_kernel->own_schedstat = host_own_schedstat;
    if (ret_kernel->clear_soft_dirty == NULL)
        ret_kernel->clear_soft_dirty = host_clear_soft_dirty;
    /* The pagemap reader comes whole or not at all. */
    if (ret_kernel->pages_open == NULL || ret_kernel->pagemap_read == NULL ||
        ret_kernel->kpageflags_read == NULL || ret_kernel->pages_close == NULL) {
        ret_kernel->pages_open = NULL;
        ret_kernel->pagemap_read = NULL;
        ret_kernel->kpageflags_read = NULL;
        ret_kernel->pages_close = NULL;
    }
}

gboolean
ns_kernel_check_node(guint node, GError **error)
{
    long long size;

    if (numa_available() < 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED,
                    "this host has no NUMA support (libnuma: numa_available() failed)");
        return FALSE;
    }
    if (node > NS_PAGE_NODE_MAX || (int)node > numa_max_node() ||
        !numa_bitmask_isbitset(numa_nodes_ptr, node)) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                    "host node %u does not exist (this host has nodes 0-%d)", node,
                    numa_max_node());
        return FALSE;
    }
    size = numa_node_size64((int)node, NULL);
    if (size <= 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                    "host node %u is offline or has no memory", node);
        return FALSE;
    }
    return TRUE;
}

gboolean
ns_kernel_set_error(GError **error, int err, pid_t pid, gint node)
{
    g_autofree char *what = node < 0 ? g_strdup("move_pages() query")
                                     : g_strdup_printf("move_pages() to host node %d", node);

    switch (err) {
    case ENODEV:
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                    "host node %d does not exist or has no memory (move_pages: ENODEV)", node);
        break;
    case EACCES:
        g_set_error(error, NS_ERROR, NS_ERROR_PERMISSION,
                    "host node %d is outside the nodes process %d may use (its cpuset; "
                    "move_pages: EACCES)", node, (int)pid);
        break;
    case ESRCH:
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING,
                    "process %d does not exist (QEMU exited?) (%s)", (int)pid, what);
        break;
    case EINVAL:
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING,
                    "process %d has no memory left (exiting?) (%s: EINVAL)", (int)pid, what);
        break;
    case EPERM:
        g_set_error(error, NS_ERROR, NS_ERROR_PERMISSION,
                    "not allowed to %s the pages of process %d: run as root "
                    "(CAP_SYS_NICE and ptrace access)", node < 0 ? "look at" : "move", (int)pid);
        break;
    case ENOSYS:
        g_set_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED,
                    "this kernel has no move_pages() (built without NUMA)");
        break;
    default:
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "%s on process %d failed: %s", what,
                    (int)pid, g_strerror(err));
        break;
    }
    return FALSE;
}

/* ---- threads: where they run --------------------------------------------- */

/* CPU sets sized for the kernel's CPU ids, however many there are. */
#define CPU_IDS_MAX 8192u

GArray *
ns_kernel_thread_cpus(GError **error)
{
    cpu_set_t *set = CPU_ALLOC(CPU_IDS_MAX);
    size_t size = CPU_ALLOC_SIZE(CPU_IDS_MAX);
    GArray *cpus = NULL;

    if (set == NULL) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_FAILED, "out of memory for a CPU set");
        return NULL;
    }
    if (sched_getaffinity(0, size, set) != 0) {
        int err = errno;

        CPU_FREE(set);
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "sched_getaffinity: %s", g_strerror(err));
        return NULL;
    }
    cpus = g_array_new(FALSE, FALSE, sizeof(guint));
    for (guint cpu = 0; cpu < CPU_IDS_MAX; cpu++)
        if (CPU_ISSET_S(cpu, size, set))
            g_array_append_val(cpus, cpu);
    CPU_FREE(set);
    return cpus;
}

int
ns_kernel_bind_thread(const GArray *cpus, gboolean background)
{
    int first = 0;

    if (cpus != NULL && cpus->len > 0) {
        cpu_set_t *set = CPU_ALLOC(CPU_IDS_MAX);
        size_t size = CPU_ALLOC_SIZE(CPU_IDS_MAX);

        if (set == NULL)
            return ENOMEM;
        CPU_ZERO_S(size, set);
        for (guint i = 0; i < cpus->len; i++)
            if (g_array_index(cpus, guint, i) < CPU_IDS_MAX)
                CPU_SET_S(g_array_index(cpus, guint, i), size, set);
        first = pthread_setaffinity_np(pthread_self(), size, set);
        CPU_FREE(set);
    }
    if (background) {
        struct sched_param param = { .sched_priority = 0 };
        int rc = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);

        if (first == 0)
            first = rc;
    }
    return first;
}

int
ns_kernel_thread_set_nice(int nice)
{
    struct sched_param param = { .sched_priority = 0 };
    /* The nice value first: SCHED_OTHER at nice 0 for a moment would be
     * more than was asked. */
    int first = setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) == 0 ? 0 : errno;
    int rc = pthread_setschedparam(pthread_self(), SCHED_OTHER, &param);

    return first != 0 ? first : rc;
}
