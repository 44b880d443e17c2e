/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ns-race-mover: move a few guest-physical pages of a running libvirt
 * domain back and forth between host nodes, thousands of times, while the
 * guest hammers exactly those pages (the test guest's race=P mode, see
 * guest/README.md).  For the write-race test in the multi-NUMA test host
 * (tests/numa/test-numa.sh, case race) and for the record in
 * docs/benchmarks.md.
 *
 *   ns-race-mover [-c URI] --domain NAME --gpa GPA --pages N --nodes A,B[,...]
 *                 --moves M [--workers W]
 *
 * The guest-physical range is resolved through numashift's own memory map
 * of the domain (QMP through libvirt), widened to whole pages of its
 * backing (a hugetlbfs page moves whole), and every move goes through the
 * one move pipeline (placement scan once, then the engine per move, on one
 * tree, as the live map does): move i sends the range to node
 * nodes[i % count].  After each move, a query of the kernel (move_pages
 * with no target) must find every page on the target: a move that the
 * engine calls done but the kernel does not is incomplete.
 *
 * Prints one progress line per 1000 moves and a summary:
 *   race-mover moves=M complete=C incomplete=I moved_pages=P huge=H
 *              move_us_median=A move_us_p99=B move_us_max=C elapsed_s=S
 * Exit status: 0 every move complete, 1 a move incomplete or failed (the
 * first one is described), 2 bad usage or set-up (one line), 4 the domain
 * stopped.
 */
#include <errno.h>
#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu/urcu-memb.h>

#include "numashift/domain.h"
#include "numashift/engine.h"
#include "numashift/error.h"
#include "numashift/kernel.h"
#include "numashift/memmap.h"
#include "numashift/placement.h"

#define EXIT_INCOMPLETE 1
#define EXIT_USAGE 2
#define EXIT_STOPPED 4

static gchar *opt_uri;
static gchar *opt_domain;
static gchar *opt_gpa;
static gint opt_pages;
static gchar *opt_nodes;
static gint opt_moves;
static gint opt_workers = 1;

static const GOptionEntry entries[] = {
    { "connect", 'c', 0, G_OPTION_ARG_STRING, &opt_uri, "libvirt URI", "URI" },
    { "domain", 'd', 0, G_OPTION_ARG_STRING, &opt_domain, "The running domain", "NAME" },
    { "gpa", 0, 0, G_OPTION_ARG_STRING, &opt_gpa, "First guest-physical address (hex or decimal)",
      "GPA" },
    { "pages", 0, 0, G_OPTION_ARG_INT, &opt_pages, "4 KiB pages from GPA", "N" },
    { "nodes", 0, 0, G_OPTION_ARG_STRING, &opt_nodes, "Host nodes to move to, in turn", "A,B" },
    { "moves", 0, 0, G_OPTION_ARG_INT, &opt_moves, "Moves to make", "M" },
    { "workers", 'w', 0, G_OPTION_ARG_INT, &opt_workers, "Engine workers per move (default 1)",
      "W" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
};

static gboolean
usage_error(GError **error, const char *what)
{
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s", what);
    return FALSE;
}

static GArray *
parse_nodes(const char *text, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    g_autoptr(GArray) nodes = g_array_new(FALSE, FALSE, sizeof(guint));

    for (guint i = 0; parts[i] != NULL; i++) {
        guint64 n;

        if (!g_ascii_string_to_unsigned(parts[i], 10, 0, 1023, &n, NULL)) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "--nodes %s: '%s' is not a node",
                        text, parts[i]);
            return NULL;
        }
        if (!ns_kernel_check_node((guint)n, error))
            return NULL;
        guint node = (guint)n;
        g_array_append_val(nodes, node);
    }
    if (nodes->len < 2) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "--nodes %s: name at least two", text);
        return NULL;
    }
    return g_steal_pointer(&nodes);
}

/*
 * The part of @whole (the domain's map) that backs @pages pages from @gpa,
 * widened to whole backing pages; NULL when the range is not all in one
 * range of guest RAM.
 */
static NsMemMap *
race_map(const NsMemMap *whole, guint64 gpa, guint64 pages, GError **error)
{
    const NsMemRange *r = ns_memmap_lookup(whole, gpa);
    guint64 end = gpa + pages * NS_GUEST_PAGE_SIZE;

    if (r == NULL || end > r->gpa + r->size) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "guest-physical 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                    "x is not inside one range of the domain's RAM",
                    gpa, end);
        return NULL;
    }
    guint64 first = r->gpa + (gpa - r->gpa) / r->page_size * r->page_size;
    guint64 last = r->gpa + (end - r->gpa + r->page_size - 1) / r->page_size * r->page_size;
    NsMemMap *map = ns_memmap_new(whole->pid);
    NsMemRange sub = {
        .gpa = first,
        .size = last - first,
        .hva = r->hva + (first - r->gpa),
        .page_size = r->page_size,
        .backend = g_strdup(r->backend),
        .offset = r->offset + (first - r->gpa),
        .cell = r->cell,
    };

    g_array_append_val(map->ranges, sub);
    return map;
}

/* Every base page of @map is on @node, by the kernel's own answer. */
static gboolean
all_on_node(const NsMemMap *map, guint node, GError **error)
{
    const NsKernel *k = ns_kernel_host();
    const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, 0);
    gulong count = (gulong)(r->size / NS_GUEST_PAGE_SIZE);
    g_autofree void **pages = g_new(void *, count);
    g_autofree int *status = g_new(int, count);

    for (gulong i = 0; i < count; i++)
        pages[i] = (void *)(uintptr_t)(r->hva + i * NS_GUEST_PAGE_SIZE);
    long rc = k->move_pages(k->data, map->pid, count, pages, NULL, status, 0);

    if (rc < 0)
        return ns_kernel_set_error(error, (int)-rc, map->pid, -1);
    for (gulong i = 0; i < count; i++) {
        if (status[i] != (int)node) {
            g_set_error(error, NS_ERROR, NS_ERROR_FAILED,
                        "page at guest-physical 0x%" G_GINT64_MODIFIER "x is on %s%d, not node %u",
                        r->gpa + i * NS_GUEST_PAGE_SIZE, status[i] < 0 ? "error " : "node ",
                        status[i] < 0 ? -status[i] : status[i], node);
            return FALSE;
        }
    }
    return TRUE;
}

typedef struct {
    guint complete;
    guint incomplete;
    guint64 moved_pages;
    guint64 moved_huge;
    GArray *move_us; /* of gint64, one per move */
} RaceTally;

/* One move of @map to @node through the engine; FALSE with @error when it did not land. */
static gboolean
move_once(NsRadix *tree, const NsMemMap *map, guint node, RaceTally *tally, GError **error)
{
    g_autoptr(NsPlan) plan = ns_plan_new();
    NsEngineOptions eopts = { .workers = (guint)opt_workers };

    if (!ns_plan_add_map(plan, map, -1, node, error))
        return FALSE;
    g_autoptr(NsEngine) engine = ns_engine_new(tree, map, plan, &eopts, error);
    if (engine == NULL)
        return FALSE;
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = ns_engine_run(engine, error);
    gint64 us = g_get_monotonic_time() - t0;
    g_autoptr(NsEngineReport) r = ns_engine_get_report(engine);

    g_array_append_val(tally->move_us, us);
    tally->moved_pages += r->moved_pages;
    tally->moved_huge += r->moved_huge;
    if (!ok)
        return FALSE;
    /* Nothing moved is fine when everything was there already (the first move, say): the
     * kernel's answer below is the judge. */
    if (r->outcome != NS_ENGINE_OUTCOME_DONE || r->failed_pages > 0 || r->remaining_pages > 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED,
                    "move to node %u: %s, moved %" G_GUINT64_FORMAT ", failed %" G_GUINT64_FORMAT
                    ", left %" G_GUINT64_FORMAT " pages",
                    node, ns_engine_outcome_to_string(r->outcome), r->moved_pages, r->failed_pages,
                    r->remaining_pages);
        return FALSE;
    }
    return all_on_node(map, node, error);
}

static gint
cmp_i64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

static void
print_summary(RaceTally *t, gint64 elapsed_us)
{
    GArray *us = t->move_us;
    gint64 median = 0, p99 = 0, max = 0;

    g_array_sort(us, cmp_i64);
    if (us->len > 0) {
        median = g_array_index(us, gint64, us->len / 2);
        p99 = g_array_index(us, gint64, MIN(us->len - 1, us->len * 99 / 100));
        max = g_array_index(us, gint64, us->len - 1);
    }
    printf("race-mover moves=%u complete=%u incomplete=%u moved_pages=%" G_GUINT64_FORMAT
           " huge=%" G_GUINT64_FORMAT " move_us_median=%" G_GINT64_FORMAT " move_us_p99=%"
           G_GINT64_FORMAT " move_us_max=%" G_GINT64_FORMAT " elapsed_s=%.1f\n",
           us->len, t->complete, t->incomplete, t->moved_pages, t->moved_huge, median, p99, max,
           (double)elapsed_us / G_USEC_PER_SEC);
    fflush(stdout);
}

/* A progress line every 1000 moves. */
static void
print_progress(gint i, const RaceTally *tally, gint64 start)
{
    if ((i + 1) % 1000 != 0)
        return;
    printf("race-mover: %d moves, %u incomplete, %.1f s\n", i + 1, tally->incomplete,
           (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC);
    fflush(stdout);
}

static int
run(GError **error)
{
    guint64 gpa;

    if (opt_domain == NULL || opt_gpa == NULL || opt_nodes == NULL || opt_pages <= 0 ||
        opt_moves <= 0 || opt_workers <= 0)
        return usage_error(error, "need --domain, --gpa, --pages > 0, --nodes and --moves > 0"),
               EXIT_USAGE;
    char *end = NULL;

    errno = 0;
    gpa = g_ascii_strtoull(opt_gpa, &end, 0); /* 0x... as the guest prints it, or decimal */
    if (errno != 0 || end == opt_gpa || *end != '\0' || gpa % NS_GUEST_PAGE_SIZE != 0)
        return usage_error(error, "--gpa: not a page-aligned address"), EXIT_USAGE;
    g_autoptr(GArray) nodes = parse_nodes(opt_nodes, error);
    if (nodes == NULL)
        return EXIT_USAGE;

    virConnectPtr conn = virConnectOpen(opt_uri);
    if (conn == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "cannot connect to libvirt: %s",
                    virGetLastErrorMessage());
        return EXIT_USAGE;
    }
    g_autoptr(NsDomain) dom = ns_domain_open(conn, opt_domain, error);
    g_autoptr(NsMemMap) whole = dom != NULL ? ns_domain_load_memmap(dom, error) : NULL;
    g_autoptr(NsMemMap) map = whole != NULL ? race_map(whole, gpa, (guint64)opt_pages, error) : NULL;

    g_clear_pointer(&dom, ns_domain_free); /* the map is all we need from libvirt */
    virConnectClose(conn);
    if (map == NULL)
        return EXIT_USAGE;

    const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, 0);
    printf("race-mover: domain %s pid %d: guest-physical 0x%" G_GINT64_MODIFIER "x+0x%"
           G_GINT64_MODIFIER "x at host 0x%" G_GINT64_MODIFIER "x (%s, %" G_GUINT64_FORMAT
           "-byte pages), %d moves over nodes %s\n",
           opt_domain, (int)map->pid, r->gpa, r->size, r->hva, r->backend, r->page_size,
           opt_moves, opt_nodes);
    fflush(stdout);

    NsRadix *tree = ns_radix_new();
    NsPlacementOptions popts = { .no_huge = FALSE };
    NsPlacementScanStats st;
    RaceTally tally = { .move_us = g_array_new(FALSE, FALSE, sizeof(gint64)) };
    int rc = 0;
    gint64 start = g_get_monotonic_time();

    if (!ns_placement_scan(tree, map, &popts, &st, error)) {
        rc = EXIT_USAGE;
    } else {
        for (gint i = 0; i < opt_moves; i++) {
            guint node = g_array_index(nodes, guint, (guint)i % nodes->len);
            g_autoptr(GError) move_error = NULL;

            if (move_once(tree, map, node, &tally, &move_error)) {
                tally.complete++;
                print_progress(i, &tally, start);
                continue;
            }
            tally.incomplete++;
            /* Each one on its own line (the first ten): the first is the story, the rest its pattern. */
            if (tally.incomplete <= 10)
                fprintf(stderr, "ns-race-mover: move %d to node %u incomplete: %s\n", i + 1, node,
                        move_error->message);
            if (g_error_matches(move_error, NS_ERROR, NS_ERROR_NOT_RUNNING)) {
                rc = EXIT_STOPPED;
                g_clear_error(error);
                g_propagate_prefixed_error(error, g_steal_pointer(&move_error), "move %d: ", i + 1);
                break;
            }
            if (rc == 0)
                g_propagate_prefixed_error(error, g_steal_pointer(&move_error), "move %d: ", i + 1);
            rc = EXIT_INCOMPLETE;
            print_progress(i, &tally, start);
        }
    }

    print_summary(&tally, g_get_monotonic_time() - start);
    g_array_unref(tally.move_us);
    ns_radix_destroy(tree);
    return rc;
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- move a few guest pages back and forth between host nodes");
    g_autoptr(GError) error = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "ns-race-mover: %s\n", error->message);
        return EXIT_USAGE;
    }
    urcu_memb_register_thread();
    rc = run(&error);
    urcu_memb_barrier();
    urcu_memb_unregister_thread();
    if (error != NULL)
        fprintf(stderr, "ns-race-mover: %s\n", error->message);
    return rc;
}
