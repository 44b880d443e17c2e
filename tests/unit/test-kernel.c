/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel seam (kernel.h): the host's side asked about this process's
 * own pages, ns_kernel_resolve()'s gap filling, the node check and the one
 * errno map.  Runs on any host: node numbers come from the host.
 */
#include <errno.h>
#include <sched.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ns-test-child.h"
#include "numashift/error.h"
#include "numashift/kernel.h"
#include "numashift/process.h"

static long
only_move_pages(gpointer data, pid_t pid, gulong count, void **pages, const int *nodes,
                int *status, int flags)
{
    return 0;
}

static NsKernelPages *
half_pages_open(gpointer data, pid_t pid)
{
    g_assert_not_reached();
    return NULL;
}

static void
test_host_pages(void)
{
    const NsKernel *k = ns_kernel_host();
    gsize size = 4 * 4096;
    guint8 *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *addrs[2];
    int status[2] = { G_MININT, G_MININT };
    guint64 pm[2] = { 0, 0 }, flags = 0;

    g_assert_true(mem != MAP_FAILED);
    mem[0] = 1; /* page 0 backed, page 1 never touched */
    addrs[0] = mem;
    addrs[1] = mem + 4096;
    g_assert_cmpint(k->move_pages(k->data, getpid(), 2, addrs, NULL, status, 0), ==, 0);
    g_assert_cmpint(status[0], >=, 0);
    g_assert_cmpint(status[1], <, 0);

    NsKernelPages *pages = k->pages_open(k->data, getpid());

    if (pages == NULL) {
        g_test_skip("/proc/self/pagemap or /proc/kpageflags is not readable here");
    } else {
        g_assert_cmpint(k->pagemap_read(pages, (guint64)(uintptr_t)mem >> 12, pm, 2), ==, 2);
        g_assert_true(pm[0] >> 63);    /* present */
        g_assert_false(pm[1] >> 63);   /* never touched */
        guint64 pfn = pm[0] & ((G_GUINT64_CONSTANT(1) << 55) - 1);

        if (pfn != 0) /* PFNs show to a privileged reader only */
            g_assert_cmpint(k->kpageflags_read(pages, pfn, &flags, 1), ==, 1);
        k->pages_close(pages);
    }
    munmap(mem, size);
    g_assert_cmpint(k->move_pages(k->data, G_MAXINT32 - 1, 0, NULL, NULL, NULL, 0), ==, -ESRCH);
}

static void
test_host_mapped(void)
{
    const NsKernel *k = ns_kernel_host();
    int on_stack = 0;
    guint64 hvas[2] = { (guint64)(uintptr_t)&on_stack, 0x1000 };
    gboolean mapped[2] = { FALSE, TRUE };

    k->mapped(k->data, getpid(), hvas, 2, mapped);
    g_assert_true(mapped[0]);
    g_assert_false(mapped[1]);
    g_assert_cmpint(k->now_us(k->data), >, 0);
}

static void
test_resolve(void)
{
    NsKernel got;
    NsKernel given = { .move_pages = only_move_pages };
    NsKernel half = { .pages_open = half_pages_open };

    ns_kernel_resolve(NULL, &got);
    g_assert_true(memcmp(&got, ns_kernel_host(), sizeof(got)) == 0);

    /* A caller's kernel keeps its own, gets the host's clock and node
     * check, and no /proc reading it did not ask for. */
    ns_kernel_resolve(&given, &got);
    g_assert_true(got.move_pages == only_move_pages);
    g_assert_true(got.check_node == ns_kernel_host()->check_node);
    g_assert_true(got.now_us == ns_kernel_host()->now_us);
    g_assert_null(got.mapped);
    g_assert_null(got.pages_open);
    g_assert_null(got.cpuset_mems);

    /* Half a pagemap reader is none. */
    ns_kernel_resolve(&half, &got);
    g_assert_null(got.pages_open);
    g_assert_null(got.pagemap_read);
}

static void
test_check_node(void)
{
    g_autoptr(GError) error = NULL;

    if (ns_kernel_check_node(0, &error)) {
        g_assert_no_error(error);
    } else {
        /* A host without NUMA support: libnuma says so. */
        g_assert_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED);
        return;
    }
    g_assert_false(ns_kernel_check_node(4000, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_FOUND);
}

static void
test_set_error(void)
{
    struct {
        int err;
        gint node;
        gint code;
        const char *says;
    } cases[] = {
        { ENODEV, 3, NS_ERROR_NOT_FOUND, "host node 3 does not exist" },
        { EACCES, 1, NS_ERROR_PERMISSION, "outside the nodes process 42 may use" },
        { ESRCH, -1, NS_ERROR_NOT_RUNNING, "process 42 does not exist (QEMU exited?) (move_pages() query)" },
        { EINVAL, 2, NS_ERROR_NOT_RUNNING, "(move_pages() to host node 2: EINVAL)" },
        { EPERM, -1, NS_ERROR_PERMISSION, "not allowed to look at the pages of process 42" },
        { EPERM, 0, NS_ERROR_PERMISSION, "not allowed to move the pages of process 42" },
        { ENOSYS, 0, NS_ERROR_UNSUPPORTED, "no move_pages()" },
        { EIO, 1, NS_ERROR_FAILED, "move_pages() to host node 1 on process 42 failed: " },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_false(ns_kernel_set_error(&error, cases[i].err, 42, cases[i].node));
        g_assert_error(error, NS_ERROR, cases[i].code);
        if (strstr(error->message, cases[i].says) == NULL)
            g_error("errno %d: \"%s\" does not say \"%s\"", cases[i].err, error->message,
                    cases[i].says);
    }
}

/* Our own cgroup's cpuset mems (v1 on a hybrid host such as this one, v2 in the
 * test host): a node list. */
static void
test_host_cpuset_mems(void)
{
    const NsKernel *k = ns_kernel_host();
    g_autofree char *mems = k->cpuset_mems(k->data, getpid());

    g_assert_null(k->cpuset_mems(k->data, G_MAXINT32 - 1)); /* no such process */
    if (mems == NULL) {
        g_test_skip("no cpuset controller (cgroup v1 or v2) for this process");
        return;
    }
    g_test_message("the cgroup's effective mems: %s", mems);
    g_assert_true(g_ascii_isdigit(mems[0]));
    g_assert_true(strspn(mems, "0123456789,-") == strlen(mems));
}

typedef struct {
    const GArray *cpus;
    gboolean background;
    int rc;
    GArray *after;
    int policy;
} Bind;

static gpointer
bind_thread(gpointer data)
{
    Bind *b = data;

    b->rc = ns_kernel_bind_thread(b->cpus, b->background);
    b->after = ns_kernel_thread_cpus(NULL);
    b->policy = sched_getscheduler(0);
    return NULL;
}

/*
 * Where a thread may run, and confining one (the engine's workers): the
 * calling thread's CPUs as sched_getaffinity says; a bind to one of them
 * at SCHED_IDLE holds for that thread only; a CPU the process may not use
 * is EINVAL and leaves the thread as it was; NULL binds nothing.
 */
static void
test_thread_cpus(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) mine = ns_kernel_thread_cpus(&error);

    g_assert_no_error(error);
    g_assert_cmpuint(mine->len, >=, 1);
    g_assert_cmpuint(mine->len, ==, (guint)g_get_num_processors());
    g_autoptr(GArray) last = g_array_new(FALSE, FALSE, sizeof(guint));
    g_autoptr(GArray) nowhere = g_array_new(FALSE, FALSE, sizeof(guint));
    guint cpu = g_array_index(mine, guint, mine->len - 1), bad = 8000;

    g_array_append_val(last, cpu);
    g_array_append_val(nowhere, bad);
    Bind cases[] = {
        { .cpus = last, .background = TRUE },
        { .cpus = nowhere, .background = FALSE },
        { .cpus = NULL, .background = FALSE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        g_thread_join(g_thread_new("bind", bind_thread, &cases[i]));
    g_assert_cmpint(cases[0].rc, ==, 0);
    g_assert_cmpuint(cases[0].after->len, ==, 1);
    g_assert_cmpuint(g_array_index(cases[0].after, guint, 0), ==, cpu);
    g_assert_cmpint(cases[0].policy, ==, SCHED_IDLE);
    g_assert_cmpint(cases[1].rc, ==, EINVAL);
    g_assert_cmpuint(cases[1].after->len, ==, mine->len);
    g_assert_cmpint(cases[1].policy, ==, SCHED_OTHER);
    g_assert_cmpint(cases[2].rc, ==, 0);
    g_assert_cmpuint(cases[2].after->len, ==, mine->len);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        g_array_unref(cases[i].after);
    /* This thread was never touched. */
    g_autoptr(GArray) still = ns_kernel_thread_cpus(NULL);

    g_assert_cmpuint(still->len, ==, mine->len);
    g_assert_cmpint(sched_getscheduler(0), ==, SCHED_OTHER);
}

typedef struct {
    int rc19, rc10;
    int policy19, nice19, policy10, nice10;
    gboolean read;
    guint64 run_ns, wait_ns;
} Floor;

static gpointer
floor_thread(gpointer data)
{
    Floor *f = data;
    volatile guint64 spin = 0;

    g_assert_cmpint(ns_kernel_bind_thread(NULL, TRUE), ==, 0);
    f->rc19 = ns_kernel_thread_set_nice(19);
    f->policy19 = sched_getscheduler(0);
    f->nice19 = getpriority(PRIO_PROCESS, 0);
    f->rc10 = ns_kernel_thread_set_nice(10);
    f->policy10 = sched_getscheduler(0);
    f->nice10 = getpriority(PRIO_PROCESS, 0);
    for (guint i = 0; i < 10000000; i++)
        spin += i;
    g_assert_cmpuint(spin, >, 0);
    f->read = ns_kernel_host()->own_schedstat(NULL, &f->run_ns, &f->wait_ns);
    return NULL;
}

/*
 * The engine's floor under a starved background worker: a thread at
 * SCHED_IDLE goes to SCHED_OTHER at nice 19, then (lowering the nice value:
 * root, or RLIMIT_NICE) to nice 10; the calling thread's own schedstat
 * reads, with the time it just spun on a CPU.  Other threads keep theirs.
 */
static void
test_thread_floor(void)
{
    Floor f = { 0 };
    int nice_before = getpriority(PRIO_PROCESS, 0);

    g_thread_join(g_thread_new("floor", floor_thread, &f));
    g_assert_cmpint(f.rc19, ==, 0);
    g_assert_cmpint(f.policy19, ==, SCHED_OTHER);
    g_assert_cmpint(f.nice19, ==, 19);
    if (geteuid() == 0) {
        g_assert_cmpint(f.rc10, ==, 0);
        g_assert_cmpint(f.policy10, ==, SCHED_OTHER);
        g_assert_cmpint(f.nice10, ==, 10);
    } else {
        g_assert_cmpint(f.rc10, ==, EACCES); /* setpriority(2): lowering without privilege */
    }
    g_assert_true(f.read);
    g_assert_cmpuint(f.run_ns, >, 0);
    g_assert_cmpint(getpriority(PRIO_PROCESS, 0), ==, nice_before);
    g_assert_cmpint(sched_getscheduler(0), ==, SCHED_OTHER);
}

/*
 * Hot pages first (engine.h): the host clears a process's soft-dirty bits
 * through /proc/PID/clear_refs (ours: 0), and says which error a process
 * that does not exist gives (ESRCH or ENOENT, as /proc answers).
 */
static void
test_clear_soft_dirty(void)
{
    const NsKernel *host = ns_kernel_host();
    int gone;

    g_assert_cmpint(host->clear_soft_dirty(host->data, getpid()), ==, 0);
    gone = host->clear_soft_dirty(host->data, 0x3fffffff);
    g_assert_true(gone == -ENOENT || gone == -ESRCH);
}

/* A process whose command line carries "-uuid @uuid", as libvirt's QEMU does. */
static GPid
spawn_with_uuid(const char *uuid)
{
    /* One process (no child left behind when it is killed), the arguments after -c its own. */
    const char *argv[] = { "/usr/bin/python3", "-c", "import time; time.sleep(60)", "-uuid", uuid,
                           NULL };

    return ns_test_spawn(argv);
}

/*
 * Issue #15: a job held the QEMU PID for minutes and nothing checked that
 * it still named the same process.  An NsProcess holds a pidfd, is the
 * process started with the domain's UUID, and says "exited" for good once
 * it has, whatever process gets its PID after.
 */
static void
test_process_identity(void)
{
    const char *uuid = "6f1c2d3e-4a5b-4c6d-8e7f-901234567890";
    GPid pid = spawn_with_uuid(uuid);
    g_autoptr(GError) error = NULL;
    guint64 ticks = 0;

    /* g_spawn_async() returns once the child has exec'd: its command line is python's. */
    g_autoptr(NsProcess) p = ns_process_open(pid, uuid, &error);

    g_assert_no_error(error);
    g_assert_cmpint(ns_process_get_pid(p), ==, pid);
    g_assert_true(ns_process_read_start_ticks(pid, &ticks));
    g_assert_cmpuint(ticks, >, 0);
    g_assert_cmpuint(ns_process_get_start_ticks(p), ==, ticks);
    g_assert_false(ns_process_has_exited(p));

    /* The UUID is compared as libvirt may print it: either case. */
    g_autofree char *upper = g_ascii_strup(uuid, -1);
    g_autoptr(NsProcess) p2 = ns_process_open(pid, upper, &error);

    g_assert_no_error(error);
    g_assert_nonnull(p2);

    /* Another domain's UUID: not its QEMU. */
    g_autoptr(NsProcess) other = ns_process_open(pid, "00000000-0000-0000-0000-000000000001", &error);

    g_assert_null(other);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "is not the QEMU of domain"));
    g_clear_error(&error);

    /* No UUID: any live process. */
    g_autoptr(NsProcess) any = ns_process_open(getpid(), NULL, &error);

    g_assert_no_error(error);
    g_assert_false(ns_process_has_exited(any));

    ns_test_kill_and_reap(pid);
    g_assert_true(ns_process_has_exited(p));
    g_assert_true(ns_process_has_exited(p2));
    g_assert_false(ns_process_read_start_ticks(pid, &ticks));
    g_assert_cmpuint(ticks, ==, 0);

    g_autoptr(NsProcess) gone = ns_process_open(pid, uuid, &error);

    g_assert_null(gone);
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING);
    g_clear_error(&error);
    g_autoptr(NsProcess) none = ns_process_open(0, NULL, &error);

    g_assert_null(none);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    ns_process_free(NULL);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kernel/host/pages", test_host_pages);
    g_test_add_func("/kernel/host/mapped", test_host_mapped);
    g_test_add_func("/kernel/host/cpuset-mems", test_host_cpuset_mems);
    g_test_add_func("/kernel/resolve", test_resolve);
    g_test_add_func("/kernel/check-node", test_check_node);
    g_test_add_func("/kernel/set-error", test_set_error);
    g_test_add_func("/kernel/thread-cpus", test_thread_cpus);
    g_test_add_func("/kernel/thread-floor", test_thread_floor);
    g_test_add_func("/kernel/clear-soft-dirty", test_clear_soft_dirty);
    g_test_add_func("/kernel/process/identity", test_process_identity);
    return g_test_run();
}
