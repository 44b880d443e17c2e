/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ns-test-mover: move a live process's memory with the placement scan and
 * the engine, without libvirt, QMP or a memory map from QEMU.  For the
 * multi-NUMA test host and for benchmarks: point it at QEMU's guest RAM
 * mapping (--largest) or at explicit ranges.
 *
 *   ns-test-mover --pid PID (--largest | --range HVA:SIZE[:CELL]...) --to NODE
 *                 [--workers N] [--rate MIB/S] [--budget-ms MS] [--dry-run]
 *                 [--no-huge] [--quiet]
 *
 * The "guest-physical" address of each range is its host address, so the
 * tree's gfns are host page numbers.  Prints the placement before and
 * after (per node, pages and MiB), progress lines, and the report.
 * Exit status: 0 done (or dry run), 1 the job failed or was incomplete,
 * 2 bad usage or setup error.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "numashift/engine.h"
#include "numashift/error.h"
#include "numashift/placement.h"

static gint opt_pid;
static gboolean opt_largest;
static gchar **opt_ranges;
static gint opt_to = -1;
static gint opt_workers;
static gdouble opt_rate;
static gint opt_budget_ms;
static gboolean opt_dry_run;
static gboolean opt_no_huge;
static gboolean opt_quiet;

static const GOptionEntry entries[] = {
    { "pid", 'p', 0, G_OPTION_ARG_INT, &opt_pid, "Process whose memory to move", "PID" },
    { "largest", 0, 0, G_OPTION_ARG_NONE, &opt_largest,
      "Move the process's largest writable mapping (QEMU's guest RAM)", NULL },
    { "range", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &opt_ranges,
      "A range to move (hex or decimal; repeatable)", "HVA:SIZE[:CELL]" },
    { "to", 't', 0, G_OPTION_ARG_INT, &opt_to, "Target host node", "NODE" },
    { "workers", 'w', 0, G_OPTION_ARG_INT, &opt_workers, "Worker threads (default 2)", "N" },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &opt_rate, "Rate limit (0: none)", "MIB/S" },
    { "budget-ms", 0, 0, G_OPTION_ARG_INT, &opt_budget_ms,
      "Time budget per move_pages() call (default 20)", "MS" },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &opt_dry_run, "Plan and report only", NULL },
    { "no-huge", 0, 0, G_OPTION_ARG_NONE, &opt_no_huge, "Do not detect huge pages", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet, "No progress lines", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
};

static gboolean
parse_u64(const char *s, guint64 *out)
{
    char *end = NULL;

    errno = 0;
    *out = g_ascii_strtoull(s, &end, 0);
    return errno == 0 && end != s && *end == '\0';
}

static void
add_range(NsMemMap *map, guint64 hva, guint64 size, gint cell)
{
    NsMemRange r = { .gpa = hva, .size = size, .hva = hva, .page_size = NS_GUEST_PAGE_SIZE,
                     .backend = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", hva),
                     .cell = cell };

    g_array_append_val(map->ranges, r);
}

static gint
range_cmp(gconstpointer a, gconstpointer b)
{
    const NsMemRange *x = a, *y = b;

    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static gboolean
add_largest(NsMemMap *map, GError **error)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)map->pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    guint64 best_start = 0, best_size = 0;

    if (!g_file_get_contents(path, &text, NULL, error))
        return FALSE;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        guint64 start, end;
        char perms[5];

        if (sscanf(lines[i], "%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x %4s", &start, &end,
                   perms) != 3)
            continue;
        if (perms[0] == 'r' && perms[1] == 'w' && end - start > best_size) {
            best_start = start;
            best_size = end - start;
        }
    }
    if (best_size == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND, "process %d has no writable mapping",
                    (int)map->pid);
        return FALSE;
    }
    add_range(map, best_start, best_size, -1);
    return TRUE;
}

static gboolean
add_ranges(NsMemMap *map, GError **error)
{
    for (guint i = 0; opt_ranges != NULL && opt_ranges[i] != NULL; i++) {
        g_auto(GStrv) parts = g_strsplit(opt_ranges[i], ":", -1);
        guint n = g_strv_length(parts);
        guint64 hva, size, cell = G_MAXUINT64;

        if (n < 2 || n > 3 || !parse_u64(parts[0], &hva) || !parse_u64(parts[1], &size) ||
            (n == 3 && !parse_u64(parts[2], &cell))) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "--range %s: expected HVA:SIZE[:CELL]", opt_ranges[i]);
            return FALSE;
        }
        add_range(map, hva, size, n == 3 ? (gint)cell : -1);
    }
    g_array_sort(map->ranges, range_cmp);
    return TRUE;
}

static void
print_summary(const char *when, const NsRadix *tree, const NsMemMap *map)
{
    g_autoptr(NsPlacementSummary) s = ns_placement_summarize(tree, map);

    printf("%s: %" G_GUINT64_FORMAT " pages tracked, %" G_GUINT64_FORMAT " absent, %"
           G_GUINT64_FORMAT " in huge pages, %" G_GUINT64_FORMAT " failed\n",
           when, s->all.total.pages, s->all.absent.pages, s->all.huge.pages,
           s->all.failed.pages);
    for (guint n = 0; n < s->all.nodes->len; n++) {
        NsPlacementCount c = ns_placement_stats_node(&s->all, n);

        if (c.pages > 0)
            printf("  node %u: %" G_GUINT64_FORMAT " pages, %.1f MiB\n", n, c.pages,
                   (double)c.bytes / (1024.0 * 1024.0));
    }
}

static void
on_progress(const NsEngineProgress *p, gpointer data)
{
    if (opt_quiet)
        return;
    printf("progress: %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " pages, %.1f MiB moved, "
           "%.1f MiB/s, eta %.1f s, pass %u%s%s\n",
           p->done_pages, p->total_pages, (double)p->moved_bytes / (1024.0 * 1024.0),
           p->mib_per_s, p->eta_us < 0 ? -1.0 : (double)p->eta_us / G_USEC_PER_SEC, p->pass,
           p->paused ? ", paused" : "", p->final ? ", final" : "");
    fflush(stdout);
}

static void
print_report(const NsEngineReport *r)
{
    printf("outcome: %s\n", ns_engine_outcome_to_string(r->outcome));
    printf("pages: total %" G_GUINT64_FORMAT ", planned %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
           " huge), moved %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " huge), in place %"
           G_GUINT64_FORMAT ", not present %" G_GUINT64_FORMAT ", failed %" G_GUINT64_FORMAT
           ", skipped %" G_GUINT64_FORMAT ", remaining %" G_GUINT64_FORMAT "\n",
           r->total_pages, r->planned_pages, r->planned_huge, r->moved_pages, r->moved_huge,
           r->in_place_pages, r->absent_pages, r->failed_pages, r->skipped_pages,
           r->remaining_pages);
    for (guint k = 0; k < NS_ENGINE_ERRNO_SLOTS; k++) {
        if (r->failed_by_errno[k] > 0)
            printf("failed with %s: %" G_GUINT64_FORMAT " pages\n", g_strerror((int)k),
                   r->failed_by_errno[k]);
    }
    printf("calls %" G_GUINT64_FORMAT ", retries %" G_GUINT64_FORMAT ", passes %u, workers %u, "
           "elapsed %.3f s (paused %.3f s), %.1f MiB/s\n",
           r->calls, r->retries, r->passes, r->workers, (double)r->elapsed_us / G_USEC_PER_SEC,
           (double)r->paused_us / G_USEC_PER_SEC,
           r->elapsed_us > r->paused_us
               ? (double)r->moved_bytes / (1024.0 * 1024.0) /
                     ((double)(r->elapsed_us - r->paused_us) / G_USEC_PER_SEC)
               : 0.0);
}

static int
run(GError **error)
{
    g_autoptr(NsMemMap) map = ns_memmap_new(opt_pid);
    g_autoptr(NsPlan) plan = ns_plan_new();
    g_autoptr(NsEngine) engine = NULL;
    g_autoptr(NsEngineReport) report = NULL;
    g_autoptr(GError) job_error = NULL;
    NsPlacementOptions popts = { .no_huge = opt_no_huge };
    NsPlacementScanStats st;
    NsEngineOptions eopts = {
        .workers = (guint)MAX(opt_workers, 0),
        .rate_limit_mib_s = opt_rate,
        .batch_budget_us = (gint64)MAX(opt_budget_ms, 0) * 1000,
        .dry_run = opt_dry_run,
        .progress = on_progress,
    };
    NsRadix *tree;
    gboolean ok;

    if ((opt_largest && !add_largest(map, error)) || !add_ranges(map, error) ||
        !ns_plan_add_map(plan, map, -1, (guint)opt_to, error))
        return 2;
    tree = ns_radix_new();
    if (!ns_placement_scan(tree, map, &popts, &st, error)) {
        ns_radix_destroy(tree);
        return 2;
    }
    printf("scan: %" G_GUINT64_FORMAT " queries, %" G_GUINT64_FORMAT " huge entries, huge page "
           "detection %s\n", st.calls, st.huge_entries, st.huge_detection ? "on" : "off");
    print_summary("before", tree, map);
    engine = ns_engine_new(tree, map, plan, &eopts, error);
    if (engine == NULL) {
        ns_radix_destroy(tree);
        return 2;
    }
    ok = ns_engine_run(engine, &job_error);
    report = ns_engine_get_report(engine);
    print_report(report);
    if (!ok)
        printf("error: %s\n", job_error->message);
    if (ns_placement_scan(tree, map, &popts, &st, error))
        print_summary("after (rescanned)", tree, map);
    ns_radix_destroy(tree);
    return ok && report->remaining_pages == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- move a process's memory between NUMA nodes");
    g_autoptr(GError) error = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || opt_pid <= 0 || opt_to < 0 ||
        (!opt_largest && opt_ranges == NULL)) {
        fprintf(stderr, "ns-test-mover: %s\n",
                error ? error->message : "need --pid, --to and --largest or --range");
        return 2;
    }
    urcu_memb_register_thread();
    rc = run(&error);
    urcu_memb_barrier();
    urcu_memb_unregister_thread();
    if (error != NULL)
        fprintf(stderr, "ns-test-mover: %s\n", error->message);
    g_strfreev(opt_ranges);
    return rc;
}
