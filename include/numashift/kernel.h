/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel seam: every question numashift asks the kernel about a
 * process's pages, and the one errno map for the answers
 * ==================================================================
 * Placement (the scan that fills a domain's tree) and the engine (the
 * moves) reach the kernel through an NsKernel only: move_pages(2) in query
 * and move mode, /proc/PID/pagemap and /proc/kpageflags (large folios),
 * /proc/PID/maps (is a range still mapped), the node check (libnuma) and
 * the clock, the cgroup's cpuset.mems.  ns_kernel_host() is the real one; tests and benchmarks pass
 * their own, which is how a 4 TiB guest is simulated on a small machine.
 *
 * Every member may be NULL in a caller's NsKernel: ns_kernel_resolve()
 * fills the gaps with the host's, except mapped(), the pagemap reader,
 * cpuset_mems() and vcpu_waits(), which a caller's kernel leaves off when it does not give
 * them (a test's fake must not read the real /proc of an unrelated
 * process).
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* pagemap(5) entry bits: present, and written since the soft-dirty bits
 * were cleared (NsKernel.clear_soft_dirty). */
#define NS_PAGEMAP_PRESENT (G_GUINT64_CONSTANT(1) << 63)
#define NS_PAGEMAP_SOFT_DIRTY (G_GUINT64_CONSTANT(1) << 55)

/* One vCPU thread's run delay so far (NsKernel.vcpu_waits). */
typedef struct {
    pid_t tid;
    guint64 wait_ns;
} NsThreadWait;

/* A reader of one process's pagemap and of kpageflags, from pages_open(). */
typedef struct NsKernelPages NsKernelPages;

typedef struct {
    /*
     * move_pages(2) on @pid: the syscall's contract (nodes == NULL: query),
     * but returning -errno instead of setting errno.
     */
    long (*move_pages)(gpointer data, pid_t pid, gulong count, void **pages, const int *nodes,
                       int *status, int flags);
    /* Whether pages may be sent to @node (see ns_kernel_check_node()). */
    gboolean (*check_node)(gpointer data, guint node, GError **error);
    /* A monotonic clock in microseconds, for rates, ETA and the rate limit. */
    gint64 (*now_us)(gpointer data);
    /*
     * Wait @us of now_us() time for the rate limit.  NULL: the engine waits
     * on its own condition variable, so that cancel and pause interrupt it;
     * only a clock other than the real one needs its own sleep.
     */
    void (*sleep_us)(gpointer data, gint64 us);
    /*
     * Whether each of @n host addresses of @pid is still mapped, into
     * @ret_mapped: a page the kernel answered -EFAULT for is either not
     * backed (the zero page: absent) or its range is gone (unmapped since
     * the scan: the entry goes).  NULL in a caller's kernel: every address
     * is taken as mapped.
     */
    void (*mapped)(gpointer data, pid_t pid, const guint64 *hvas, guint n, gboolean *ret_mapped);
    /*
     * Large-folio detection.  pages_open: a reader for @pid's pagemap and
     * for kpageflags, NULL when either cannot be read (detection off: every
     * unit is a base page).  pagemap_read: @n entries from virtual page
     * @vpage; kpageflags_read: up to @n entries from @pfn; each returns the
     * entries read or -errno.  pages_close frees the reader.  A caller's
     * kernel without pages_open has detection off.
     */
    NsKernelPages *(*pages_open)(gpointer data, pid_t pid);
    gssize (*pagemap_read)(NsKernelPages *pages, guint64 vpage, guint64 *out, gsize n);
    gssize (*kpageflags_read)(NsKernelPages *pages, guint64 pfn, guint64 *out, gsize n);
    void (*pages_close)(NsKernelPages *pages);
    /*
     * The nodes @pid's cgroup lets it use (cgroup v2 cpuset.mems.effective,
     * as text: "0-1"), a new string; NULL when that cannot be read (cgroup
     * v1, no cpuset controller, the process gone).  NULL member in a
     * caller's kernel: none known.
     */
    char *(*cpuset_mems)(gpointer data, pid_t pid);
    /*
     * How long each vCPU thread of QEMU process @pid has waited for a CPU
     * so far, into @ret_waits (emptied first; of NsThreadWait):
     * the run delay, /proc/PID/task/TID/schedstat's second field, of the
     * threads QEMU names "CPU N/KVM", "CPU N/TCG" or "ALL CPUs/TCG".
     * FALSE when none can be read.  NULL member in a caller's kernel: no
     * vCPU is known, and the engine does not pace.
     */
    gboolean (*vcpu_waits)(gpointer data, pid_t pid, GArray *ret_waits);
    /*
     * The calling thread's time on a CPU and its run delay (time runnable
     * but waiting for a CPU) so far, in ns: /proc/thread-self/schedstat's
     * first two fields.  FALSE when they cannot be read.  NULL member in a
     * caller's kernel: the host's.
     */
    gboolean (*own_schedstat)(gpointer data, guint64 *ret_run_ns, guint64 *ret_wait_ns);
    /*
     * Clear every soft-dirty bit of @pid (4 into /proc/PID/clear_refs):
     * from then on a write to a page sets its bit again (pagemap bit 55,
     * CONFIG_MEM_SOFT_DIRTY).  It write-protects the whole process's page
     * tables, so each page's next write faults once, and KVM's MMU notifier
     * drops the guest's mappings of them.  0 or -errno.  NULL member in a
     * caller's kernel: the host's.
     */
    int (*clear_soft_dirty)(gpointer data, pid_t pid);
    gpointer data;
} NsKernel;

/* The real kernel and libnuma.  Context: any; a constant. */
const NsKernel *ns_kernel_host(void);

/*
 * @given (NULL: the host's) with its NULL members filled from the host's,
 * into @ret_kernel; mapped(), the pagemap reader and cpuset_mems() stay
 * NULL when @given is not NULL and leaves them so.
 * Context: any; pure.
 */
void ns_kernel_resolve(const NsKernel *given, NsKernel *ret_kernel);

/*
 * Check that pages may be sent to host @node: libnuma is available, the
 * node exists, is online and has memory (move_pages() answers ENODEV
 * otherwise), and fits a page entry.  NS_ERROR_UNSUPPORTED without NUMA
 * support, NS_ERROR_NOT_FOUND for a node that does not exist or is
 * offline.  Does not check QEMU's cpuset (the kernel answers EACCES for
 * that, per call).
 * Context: any thread; reads sysfs through libnuma; takes no lock.
 */
gboolean ns_kernel_check_node(guint node, GError **error);

/*
 * The one errno map for a move_pages() call that failed as a whole on
 * process @pid: sets @error (NS_ERROR_NOT_FOUND for ENODEV,
 * NS_ERROR_PERMISSION for EACCES and EPERM, NS_ERROR_NOT_RUNNING for ESRCH
 * and EINVAL, NS_ERROR_UNSUPPORTED for ENOSYS, NS_ERROR_FAILED otherwise)
 * from @err (positive).  @node is the target of a move, or -1 for a query.
 * Always returns FALSE, for `return ns_kernel_set_error(...)`.
 * Context: any; pure.
 */
gboolean ns_kernel_set_error(GError **error, int err, pid_t pid, gint node);

/*
 * The CPUs the calling thread may run on (sched_getaffinity(2)), of guint
 * ascending.  NS_ERROR_FAILED when the kernel does not say.
 * Context: any thread.
 */
GArray *ns_kernel_thread_cpus(GError **error);

/*
 * Confine the calling thread to @cpus (of guint; NULL or empty: leave its
 * affinity), and when @background, put it in the SCHED_IDLE class: it
 * then runs only on CPU time nothing else wants.  Returns 0 or the errno
 * of the first call that failed (EINVAL: none of @cpus is allowed to this
 * process; EPERM), after trying the other.
 * Context: any thread; changes the calling thread only.
 */
int ns_kernel_bind_thread(const GArray *cpus, gboolean background);

/*
 * Take the calling thread out of SCHED_IDLE (or whatever class it is in)
 * into SCHED_OTHER at nice @nice (-20..19).  Returns 0 or the errno of the
 * first call that failed (EACCES: lowering the nice value needs
 * CAP_SYS_NICE or RLIMIT_NICE), after trying the other.
 * Context: any thread; changes the calling thread only.
 */
int ns_kernel_thread_set_nice(int nice);

G_END_DECLS
