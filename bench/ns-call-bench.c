/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ns-call-bench: where the time of a move_pages(2) call goes
 * ==========================================================
 * Issue #14's fifth benchmark.  The docs said both "per-call overhead
 * dominates" and "bound by the emulated copy"; this measures the kernel
 * call numashift's workers make, alone, so the batch and worker defaults
 * can be chosen from numbers (run inside the multi-NUMA test host:
 * bench/ns-kernel-bench boots it).
 *
 * For each page kind (4 KiB: MADV_NOHUGEPAGE; THP: MADV_HUGEPAGE, the
 * same as transparent_hugepage=never against the default "always", per
 * mapping), each call size and each "toucher" setting, a region of --mib
 * MiB placed on --from is moved to --to and back, --reps moves in all,
 * in calls of that many base pages: one address per 4 KiB page, or one
 * per 2 MiB page for THP (as the engine submits them).  A toucher is a
 * thread on another CPU reading every page of the region in a loop, as a
 * vCPU does: the mm is then live on a second CPU, so every unmap needs a
 * TLB shootdown there.  Printed per setting (medians over the moves):
 *
 *   us_per_page      wall time in move_pages() per 4 KiB moved
 *   us_per_call      per call
 *   copy_us_per_page memcpy() of the same memory from a --from buffer to a
 *                    --to buffer, in chunks of the call's size: the copy
 *                    the kernel makes inside the call
 *   copy_share       copy_us_per_page / us_per_page
 *   tlb_per_mib      TLB shootdown interrupts (/proc/interrupts "TLB",
 *                    summed over CPUs) per MiB moved
 *   huge_kib         AnonHugePages of the region after the moves: THP
 *                    moved whole, or split on the way
 *
 * and then, per page kind and toucher, a fit of t(k) = fixed + k * per_page
 * over the call sizes (least squares, in us): the fixed cost of a call
 * against the cost of each page in it, and the call size at which the
 * fixed cost is 10% of the call.
 *
 *   ns-call-bench [--mib N] [--reps N] [--from NODE] [--to NODE] [--smoke]
 *       --smoke: 4 MiB, one move each way, to the node it is on if there is
 *       only one (a test that keeps the binary honest on any machine).
 * Exit: 0; 1 when a move failed (a page did not reach its node, or the
 * kernel refused); 2 on bad arguments.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <numa.h>
#include <numaif.h>

#include <glib.h>

#define BASE_PAGE 4096u
#define HUGE_PAGE (2u << 20)
#define BASE_PER_HUGE (HUGE_PAGE / BASE_PAGE)

typedef enum { KIND_BASE, KIND_THP } PageKind;

static const char *const kind_names[] = { "4KiB", "THP" };

/* Call sizes, in base pages: 1, 64, 512 for 4 KiB pages (the issue's), and
 * the engine's own range; for THP, 1, 8 and 64 huge pages. */
static const guint base_calls[] = { 1, 16, 64, 512, 4096 };
static const guint thp_calls[] = { 512, 4096, 32768 };

typedef struct {
    guint8 *region;
    gsize bytes;
    atomic_bool stop;
    int cpu;
} Toucher;

typedef struct {
    PageKind kind;
    guint call_pages;
    gboolean toucher;
    double us_per_page, us_per_call, copy_us_per_page, tlb_per_mib;
    guint64 huge_kib;
} Row;

static guint64
tlb_shootdowns(void)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents("/proc/interrupts", &text, NULL, NULL))
        return 0;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');

        if (next != NULL)
            *next++ = '\0';
        char *p = line;

        while (*p == ' ')
            p++;
        if (g_str_has_prefix(p, "TLB:")) {
            guint64 sum = 0;
            char *end;

            p += 4;
            for (;;) {
                guint64 v = g_ascii_strtoull(p, &end, 10);

                if (end == p)
                    break;
                sum += v;
                p = end;
            }
            return sum;
        }
        line = next;
    }
    return 0;
}

/* AnonHugePages of the mapping that starts at @addr (/proc/self/smaps). */
static guint64
anon_huge_kib(const void *addr)
{
    g_autofree char *text = NULL;
    g_autofree char *head = g_strdup_printf("%lx-", (unsigned long)(guintptr)addr);
    gboolean inside = FALSE;
    guint64 kib = 0;

    if (!g_file_get_contents("/proc/self/smaps", &text, NULL, NULL))
        return 0;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
        if (g_ascii_isxdigit(lines[i][0]) && strchr(lines[i], '-') != NULL) {
            if (inside)
                break;
            inside = g_str_has_prefix(lines[i], head);
        } else if (inside && g_str_has_prefix(lines[i], "AnonHugePages:")) {
            kib = g_ascii_strtoull(lines[i] + strlen("AnonHugePages:"), NULL, 10);
        }
    }
    return kib;
}

static void
pin_self(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

static void *
touch_loop(void *data)
{
    Toucher *t = data;
    volatile guint8 sink = 0;

    pin_self(t->cpu);
    while (!atomic_load_explicit(&t->stop, memory_order_relaxed))
        for (gsize off = 0; off < t->bytes; off += BASE_PAGE)
            sink ^= t->region[off];
    (void)sink;
    return NULL;
}

/* An anonymous mapping of @bytes, 2 MiB aligned, of @kind, touched on @node. */
static guint8 *
region_new(gsize bytes, PageKind kind, int node)
{
    guint8 *raw = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);

    if (raw == MAP_FAILED)
        return NULL;
    guint8 *aligned = (guint8 *)(((guintptr)raw + HUGE_PAGE - 1) & ~(guintptr)(HUGE_PAGE - 1));

    if (aligned > raw)
        munmap(raw, (gsize)(aligned - raw));
    munmap(aligned + bytes, (gsize)(raw + HUGE_PAGE - aligned));
    (void)madvise(aligned, bytes, kind == KIND_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);

    unsigned long mask = 1ul << node;

    /* Bound while first touched, then left without a policy: move_pages()
     * places pages where it is told, whatever the mapping's policy. */
    if (mbind(aligned, bytes, MPOL_BIND, &mask, sizeof mask * 8, 0) != 0) {
        munmap(aligned, bytes);
        return NULL;
    }
    for (gsize off = 0; off < bytes; off += BASE_PAGE)
        aligned[off] = (guint8)(off >> 12);
    (void)mbind(aligned, bytes, MPOL_DEFAULT, NULL, 0, 0);
    return aligned;
}

/* Move the region's pages to @node in calls of @call_pages base pages;
 * the time inside move_pages() in *@call_us (summed), the calls in *@calls.
 * FALSE (with the first bad status in *@bad) when a page did not end on
 * @node. */
static gboolean
move_region(guint8 *region, gsize bytes, PageKind kind, guint call_pages, int node, double *call_us,
            guint *calls, int *bad)
{
    gsize step = kind == KIND_THP ? HUGE_PAGE : BASE_PAGE;
    guint per_call = kind == KIND_THP ? MAX(call_pages / BASE_PER_HUGE, 1u) : call_pages;
    gsize count = bytes / step;
    g_autofree void **addrs = g_new(void *, per_call);
    g_autofree int *nodes = g_new(int, per_call);
    g_autofree int *status = g_new(int, per_call);

    *call_us = 0;
    *calls = 0;
    for (gsize i = 0; i < count; i += per_call) {
        guint n = (guint)MIN((gsize)per_call, count - i);

        for (guint j = 0; j < n; j++) {
            addrs[j] = region + (i + j) * step;
            nodes[j] = node;
        }
        gint64 t0 = g_get_monotonic_time();
        long rc = move_pages(0, n, addrs, nodes, status, MPOL_MF_MOVE);

        *call_us += (double)(g_get_monotonic_time() - t0);
        (*calls)++;
        if (rc < 0) {
            *bad = -errno;
            return FALSE;
        }
        for (guint j = 0; j < n; j++)
            if (status[j] != node) {
                *bad = status[j];
                return FALSE;
            }
    }
    return TRUE;
}

/* memcpy() of @bytes from a buffer on @from to one on @to, in chunks of
 * @chunk bytes, the best of three: microseconds per 4 KiB. */
static double
copy_us_per_page(gsize bytes, gsize chunk, PageKind kind, int from, int to)
{
    guint8 *src = region_new(bytes, kind, from);
    guint8 *dst = region_new(bytes, kind, to);
    double best = G_MAXDOUBLE;

    if (src == NULL || dst == NULL) {
        if (src != NULL)
            munmap(src, bytes);
        if (dst != NULL)
            munmap(dst, bytes);
        return 0;
    }
    for (int round = 0; round < 3; round++) {
        gint64 t0 = g_get_monotonic_time();

        for (gsize off = 0; off < bytes; off += chunk)
            memcpy(dst + off, src + off, MIN(chunk, bytes - off));
        best = MIN(best, (double)(g_get_monotonic_time() - t0));
    }
    munmap(src, bytes);
    munmap(dst, bytes);
    return best / (double)(bytes / BASE_PAGE);
}

static int
compare_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
median(double *v, guint n)
{
    qsort(v, n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static gboolean
measure(Row *row, gsize bytes, guint reps, int from, int to, int toucher_cpu)
{
    guint8 *region = region_new(bytes, row->kind, from);
    Toucher t = { .region = region, .bytes = bytes, .cpu = toucher_cpu };
    pthread_t thread;
    g_autofree double *per_page = g_new(double, reps);
    g_autofree double *per_call = g_new(double, reps);
    guint64 tlb0, tlb1;
    gboolean ok = TRUE;

    if (region == NULL) {
        g_printerr("ns-call-bench: cannot map %zu bytes on node %d: %s\n", bytes, from, g_strerror(errno));
        return FALSE;
    }
    atomic_init(&t.stop, false);
    if (row->toucher && pthread_create(&thread, NULL, touch_loop, &t) != 0)
        row->toucher = FALSE;
    if (row->toucher)
        g_usleep(20000); /* the toucher has run over the region once */
    tlb0 = tlb_shootdowns();
    for (guint r = 0; r < reps && ok; r++) {
        double us;
        guint calls;
        int bad = 0;

        ok = move_region(region, bytes, row->kind, row->call_pages, r % 2 ? from : to, &us, &calls,
                         &bad);
        if (!ok)
            g_printerr("ns-call-bench: %s, %u pages a call: a page ended with status %d (%s)\n",
                       kind_names[row->kind], row->call_pages, bad, g_strerror(ABS(bad)));
        per_page[r] = us / (double)(bytes / BASE_PAGE);
        per_call[r] = us / calls;
    }
    tlb1 = tlb_shootdowns();
    if (row->toucher) {
        atomic_store(&t.stop, true);
        pthread_join(thread, NULL);
    }
    row->huge_kib = anon_huge_kib(region);
    munmap(region, bytes);
    if (!ok)
        return FALSE;
    row->us_per_page = median(per_page, reps);
    row->us_per_call = median(per_call, reps);
    row->tlb_per_mib = (double)(tlb1 - tlb0) / ((double)bytes * reps / (1 << 20));
    row->copy_us_per_page = copy_us_per_page(bytes, (gsize)row->call_pages * BASE_PAGE, row->kind, from, to);
    return TRUE;
}

/* Least squares of us_per_call = fixed + pages * per_page over @rows of
 * one kind and toucher setting. */
static void
fit(const Row *rows, guint n, PageKind kind, gboolean toucher)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    guint m = 0;

    for (guint i = 0; i < n; i++) {
        if (rows[i].kind != kind || rows[i].toucher != toucher)
            continue;
        double x = rows[i].call_pages, y = rows[i].us_per_call;

        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        m++;
    }
    if (m < 2 || m * sxx - sx * sx == 0)
        return;
    double slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
    double fixed = (sy - slope * sx) / m;

    g_print("fit kind=%s toucher=%d fixed_us_per_call=%.1f us_per_page=%.2f pages_for_10pct_fixed=%.0f\n",
            kind_names[kind], toucher, fixed, slope, slope > 0 ? MAX(fixed, 0) * 9 / slope : 0);
}

int
main(int argc, char **argv)
{
    gint mib = 64, reps = 4, from = 0, to = 1;
    gboolean smoke = FALSE;
    GOptionEntry entries[] = {
        { "mib", 0, 0, G_OPTION_ARG_INT, &mib, "region size (MiB, a multiple of 2, at least 2)", "N" },
        { "reps", 0, 0, G_OPTION_ARG_INT, &reps, "moves per setting, alternating direction", "N" },
        { "from", 0, 0, G_OPTION_ARG_INT, &from, "the node the region starts on", "NODE" },
        { "to", 0, 0, G_OPTION_ARG_INT, &to, "the node it moves to", "NODE" },
        { "smoke", 0, 0, G_OPTION_ARG_NONE, &smoke, "4 MiB, 2 moves: keeps the binary honest", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- where a move_pages(2) call's time goes");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 1) {
        g_printerr("ns-call-bench: %s\n", error != NULL ? error->message : "unexpected arguments");
        return 2;
    }
    if (numa_available() < 0) {
        g_printerr("ns-call-bench: the kernel has no NUMA support\n");
        return 2;
    }
    if (smoke) {
        mib = 4;
        reps = 2;
        if (numa_max_node() < 1)
            to = from;
    }
    if (mib < 2 || mib % 2 || reps < 1 || from < 0 || to < 0 || from > numa_max_node() ||
        to > numa_max_node()) {
        g_printerr("ns-call-bench: --mib needs an even number >= 2, --reps >= 1, and --from/--to nodes "
                   "0..%d\n", numa_max_node());
        return 2;
    }
    gsize bytes = (gsize)mib << 20;
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int toucher_cpu = ncpu > 1 ? 1 : 0;

    pin_self(0);
    GArray *rows = g_array_new(FALSE, TRUE, sizeof(Row));
    gboolean ok = TRUE;

    for (int kind = KIND_BASE; kind <= KIND_THP && ok; kind++) {
        const guint *calls = kind == KIND_THP ? thp_calls : base_calls;
        guint ncalls = kind == KIND_THP ? G_N_ELEMENTS(thp_calls) : G_N_ELEMENTS(base_calls);

        for (int toucher = 0; toucher <= (ncpu > 1) && ok; toucher++)
            for (guint c = 0; c < ncalls && ok; c++) {
                Row row = { .kind = kind, .call_pages = calls[c], .toucher = toucher };

                if (smoke && c > 0)
                    break;
                ok = measure(&row, bytes, (guint)reps, from, to, toucher_cpu);
                if (!ok)
                    break;
                g_array_append_val(rows, row);
                g_print("kind=%s call_pages=%u toucher=%d us_per_page=%.2f us_per_call=%.1f "
                        "copy_us_per_page=%.3f copy_share=%.3f tlb_per_mib=%.1f huge_kib=%" G_GUINT64_FORMAT
                        "\n",
                        kind_names[kind], row.call_pages, row.toucher, row.us_per_page, row.us_per_call,
                        row.copy_us_per_page, row.us_per_page > 0 ? row.copy_us_per_page / row.us_per_page : 0,
                        row.tlb_per_mib, row.huge_kib);
            }
    }
    for (int kind = KIND_BASE; kind <= KIND_THP; kind++)
        for (int toucher = 0; toucher <= 1; toucher++)
            fit((const Row *)(void *)rows->data, rows->len, kind, toucher);
    g_array_unref(rows);
    return ok ? 0 : 1;
}
