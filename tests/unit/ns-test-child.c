/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The memory-holding child of the placement and engine tests (see the header). */
#include "ns-test-child.h"

#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (G_GUINT64_CONSTANT(1) << 20)
#define HUGE_ALIGN (2 * MIB)

typedef struct {
    guint64 small, huge, untouched;
    int ok;
} ChildInfo;

static void *
map_anon(gsize size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

static int
bind_region(void *p, gsize size, int node)
{
    unsigned long mask = 1UL << node;

    return (int)mbind(p, size, MPOL_BIND, &mask, 8 * sizeof(mask) + 1, 0);
}

/* Runs in the forked child: system calls only (the parent has threads). */
G_GNUC_NORETURN static void
child_main(pid_t parent, int info_fd, int ctl_fd, gsize small, gsize huge, gsize untouched,
           int bind_node)
{
    ChildInfo info = { 0 };
    char *s, *raw, *h, *u;
    char c;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(1);
    s = map_anon(small);
    raw = map_anon(huge + HUGE_ALIGN);
    u = map_anon(untouched);
    if (s == NULL || raw == NULL || u == NULL)
        _exit(2);
    h = (char *)(((guintptr)raw + HUGE_ALIGN - 1) & ~(guintptr)(HUGE_ALIGN - 1));
    madvise(s, small, MADV_NOHUGEPAGE);
    madvise(h, huge, MADV_HUGEPAGE);
    if (bind_node >= 0 && (bind_region(s, small, bind_node) != 0 ||
                           bind_region(h, huge, bind_node) != 0 ||
                           bind_region(u, untouched, bind_node) != 0))
        _exit(3);
    memset(s, 0x5a, small);
    memset(h, 0xa5, huge);
    info.small = (guintptr)s;
    info.huge = (guintptr)h;
    info.untouched = (guintptr)u;
    info.ok = 1;
    if (write(info_fd, &info, sizeof(info)) != (ssize_t)sizeof(info))
        _exit(4);
    while (read(ctl_fd, &c, 1) != 0) {
        if (errno != EINTR)
            break;
    }
    _exit(0);
}

void
ns_test_child_start(NsTestChild *child, guint small_pages, guint huge_mib,
                    guint untouched_pages, int bind_node)
{
    int info_pipe[2], ctl_pipe[2];
    gsize small = (gsize)small_pages * NS_GUEST_PAGE_SIZE;
    gsize huge = (gsize)huge_mib * MIB;
    gsize untouched = (gsize)untouched_pages * NS_GUEST_PAGE_SIZE;
    ChildInfo info = { 0 };
    gsize got = 0;
    pid_t parent = getpid();
    pid_t pid;

    g_assert_cmpuint(small, <=, NS_TEST_HUGE_GPA);
    g_assert_cmpuint(huge % HUGE_ALIGN, ==, 0);
    g_assert_cmpuint(NS_TEST_HUGE_GPA + huge, <=, NS_TEST_UNTOUCHED_GPA);
    g_assert_true(small > 0 && huge > 0 && untouched > 0);
    g_assert_cmpint(pipe2(info_pipe, O_CLOEXEC), ==, 0);
    g_assert_cmpint(pipe2(ctl_pipe, O_CLOEXEC), ==, 0);

    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(info_pipe[0]);
        close(ctl_pipe[1]);
        child_main(parent, info_pipe[1], ctl_pipe[0], small, huge, untouched, bind_node);
    }
    close(info_pipe[1]);
    close(ctl_pipe[0]);
    memset(child, 0, sizeof(*child));
    child->pid = pid;
    child->ctl_fd = ctl_pipe[1];
    child->bound_node = bind_node;
    while (got < sizeof(info)) {
        ssize_t n = read(info_pipe[0], (char *)&info + got, sizeof(info) - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (gsize)n;
    }
    close(info_pipe[0]);
    if (got != sizeof(info) || !info.ok) {
        ns_test_child_stop(child);
        g_error("the test child failed to set up its memory");
    }
    child->small_hva = info.small;
    child->small_size = small;
    child->huge_hva = info.huge;
    child->huge_size = huge;
    child->untouched_hva = info.untouched;
    child->untouched_size = untouched;
}

void
ns_test_child_stop(NsTestChild *child)
{
    if (child->pid > 0) {
        kill(child->pid, SIGKILL);
        while (waitpid(child->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        child->pid = 0;
    }
    if (child->ctl_fd > 0) {
        close(child->ctl_fd);
        child->ctl_fd = -1;
    }
}

static void
add_range(NsMemMap *map, guint64 gpa, guint64 hva, guint64 size, const char *name, gint cell)
{
    NsMemRange r = {
        .gpa = gpa, .size = size, .hva = hva, .page_size = NS_GUEST_PAGE_SIZE,
        .backend = g_strdup(name), .offset = 0, .cell = cell,
    };

    g_array_append_val(map->ranges, r);
}

NsMemMap *
ns_test_child_map(const NsTestChild *child)
{
    NsMemMap *map = ns_memmap_new(child->pid);

    add_range(map, NS_TEST_SMALL_GPA, child->small_hva, child->small_size, "small", 0);
    add_range(map, NS_TEST_HUGE_GPA, child->huge_hva, child->huge_size, "huge", 1);
    add_range(map, NS_TEST_UNTOUCHED_GPA, child->untouched_hva, child->untouched_size,
              "untouched", 1);
    return map;
}

guint64
ns_test_anon_huge_kib(pid_t pid, guint64 hva)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/smaps", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    gboolean inside = FALSE;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        guint64 start, end, kib;
        char *dash;

        if (g_ascii_isxdigit(lines[i][0]) && (dash = strchr(lines[i], '-')) != NULL &&
            strchr(lines[i], ' ') > dash) {
            start = g_ascii_strtoull(lines[i], NULL, 16);
            end = g_ascii_strtoull(dash + 1, NULL, 16);
            inside = hva >= start && hva < end;
        } else if (inside && sscanf(lines[i], "AnonHugePages: %" G_GUINT64_FORMAT " kB",
                                    &kib) == 1) {
            return kib;
        }
    }
    return 0;
}

gboolean
ns_test_thp_possible(void)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents("/sys/kernel/mm/transparent_hugepage/enabled", &text, NULL, NULL))
        return FALSE;
    return strstr(text, "[never]") == NULL;
}

GArray *
ns_test_memory_nodes(void)
{
    GArray *nodes = g_array_new(FALSE, FALSE, sizeof(guint));

    if (numa_available() < 0)
        return nodes;
    for (int n = 0; n <= numa_max_node(); n++) {
        guint u = (guint)n;

        if (numa_bitmask_isbitset(numa_nodes_ptr, u) && numa_node_size64(n, NULL) > 0)
            g_array_append_val(nodes, u);
    }
    return nodes;
}

GPid
ns_test_spawn(const char *const *argv)
{
    GPid pid = 0;
    g_autoptr(GError) error = NULL;

    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                                    G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &pid, &error));
    g_assert_no_error(error);
    return pid;
}

void
ns_test_kill_and_reap(GPid pid)
{
    int status;

    kill(pid, SIGKILL);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
}
