/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A child process with memory to look at and move, for the placement and
 * engine tests: it maps three regions after fork() and touches two:
 *
 *   small      anonymous 4 KiB pages (MADV_NOHUGEPAGE), every page touched
 *   huge       2 MiB aligned, MADV_HUGEPAGE, every page touched (THP-backed
 *              when /sys/kernel/mm/transparent_hugepage/enabled allows)
 *   untouched  anonymous, never touched: move_pages() answers -ENOENT
 *
 * ns_test_child_map() presents them as a guest: small at gpa 0 (vNUMA cell
 * 0), huge at gpa 2 MiB and untouched at gpa 8 MiB (both cell 1).
 *
 * The child dies with its parent (PR_SET_PDEATHSIG), so a failed assertion
 * in the test cannot leave it behind; ns_test_child_stop() kills and reaps
 * it by pid.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>

#include "numashift/memmap.h"

G_BEGIN_DECLS

#define NS_TEST_SMALL_GPA G_GUINT64_CONSTANT(0)
#define NS_TEST_HUGE_GPA G_GUINT64_CONSTANT(0x200000)
#define NS_TEST_UNTOUCHED_GPA G_GUINT64_CONSTANT(0x800000)

typedef struct {
    pid_t pid;           /* 0 once stopped */
    int ctl_fd;          /* our end of the pipe the child waits on */
    guint64 small_hva, small_size;
    guint64 huge_hva, huge_size;
    guint64 untouched_hva, untouched_size;
    int bound_node;      /* node the child bound its memory to, -1: none */
} NsTestChild;

/*
 * Start a child with @small_pages 4 KiB pages, @huge_mib MiB (a multiple of
 * 2, at most 6) of THP-advised memory and @untouched_pages untouched pages;
 * if @bind_node >= 0 the child binds the regions to that node (MPOL_BIND)
 * before touching them.  Aborts the test on failure.
 */
void ns_test_child_start(NsTestChild *child, guint small_pages, guint huge_mib,
                         guint untouched_pages, int bind_node);

/* SIGKILL and reap the child; idempotent. */
void ns_test_child_stop(NsTestChild *child);

/* The child's regions as a guest memory map (see above). */
NsMemMap *ns_test_child_map(const NsTestChild *child);

/* smaps AnonHugePages (KiB) of the mapping of @pid holding @hva; 0 if none. */
guint64 ns_test_anon_huge_kib(pid_t pid, guint64 hva);

/* Whether THP is not "never" on this host. */
gboolean ns_test_thp_possible(void);

/*
 * Start @argv (a program by path, its arguments) as a child that has
 * exec'd by the time this returns, stdout and stderr on /dev/null (a
 * survivor must not hold the test's output open).  Aborts the test on
 * failure.  ns_test_kill_and_reap() ends it.
 */
GPid ns_test_spawn(const char *const *argv);

/* SIGKILL @pid, a child of ours, and reap it. */
void ns_test_kill_and_reap(GPid pid);

/* Nodes with memory, ascending. */
GArray *ns_test_memory_nodes(void);

G_END_DECLS
