/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placement: scans of a real child process (move_pages() query mode,
 * pagemap + kpageflags for huge pages) and summaries of hand-built trees.
 * Runs on any host: node numbers are taken from the host, not assumed.
 */
#include <errno.h>
#include <glib.h>
#include <urcu/urcu-memb.h>

#include "ns-test-child.h"
#include "ns-test-tree.h"
#include "numashift/error.h"
#include "numashift/placement.h"

#define SMALL_PAGES 64u
#define HUGE_MIB 4u
#define HUGE_PAGES (HUGE_MIB * 256u)
#define UNTOUCHED_PAGES 64u
#define GFN(gpa) ((gpa) >> NS_GUEST_PAGE_SHIFT)

typedef struct {
    NsTestChild child;
    NsRadix *tree;
    NsMemMap *map;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    ns_test_child_start(&f->child, SMALL_PAGES, HUGE_MIB, UNTOUCHED_PAGES, -1);
    f->tree = ns_radix_new();
    g_assert_nonnull(f->tree);
    f->map = ns_test_child_map(&f->child);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    ns_test_child_stop(&f->child);
    ns_radix_destroy(f->tree);
    urcu_memb_barrier();
    ns_memmap_free(f->map);
}

static gboolean
is_memory_node(guint node)
{
    g_autoptr(GArray) nodes = ns_test_memory_nodes();

    for (guint i = 0; i < nodes->len; i++) {
        if (g_array_index(nodes, guint, i) == node)
            return TRUE;
    }
    return nodes->len == 0 && node == 0;
}

static void
scan_ok(Fixture *f, const NsPlacementOptions *opts, NsPlacementScanStats *stats)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(ns_placement_scan(f->tree, f->map, opts, stats, &error));
    g_assert_no_error(error);
}

/* THP pages the kernel gave the child's huge region. */
static guint
child_thp_count(const Fixture *f)
{
    return (guint)(ns_test_anon_huge_kib(f->child.pid, f->child.huge_hva) / 2048);
}

/* ---- scans of the child -------------------------------------------------- */

static void
test_scan_child(Fixture *f, gconstpointer data)
{
    NsPlacementScanStats st;
    guint64 head_entries = 0;

    scan_ok(f, NULL, &st);
    g_assert_cmpuint(st.present_pages, ==, SMALL_PAGES + HUGE_PAGES);
    g_assert_cmpuint(st.absent_pages, ==, UNTOUCHED_PAGES);
    g_assert_cmpuint(st.calls, ==, 3); /* one query per range: each fits a batch */
    g_assert_cmpuint(st.units, ==, ns_radix_count(f->tree));
    g_assert_cmpuint(st.written, ==, st.units);
    g_assert_cmpuint(st.removed, ==, 0);

    for (guint i = 0; i < SMALL_PAGES; i++) {
        void *e = ns_test_tree_lookup(f->tree, GFN(NS_TEST_SMALL_GPA) + i);
        NsPageInfo info;

        g_assert_true(ns_radix_is_page(e));
        info = ns_radix_page_info(e);
        g_assert_cmpint(info.state, ==, NS_PAGE_PRESENT);
        g_assert_cmpuint(info.order, ==, 0);
        g_assert_true(is_memory_node(info.node));
    }
    for (guint i = 0; i < UNTOUCHED_PAGES; i++) {
        void *e = ns_test_tree_lookup(f->tree, GFN(NS_TEST_UNTOUCHED_GPA) + i);

        g_assert_true(e == ns_radix_mk_absent(0));
    }
    /* The huge region: every page is covered by exactly one entry. */
    for (guint i = 0; i < HUGE_PAGES;) {
        void *e = ns_test_tree_lookup(f->tree, GFN(NS_TEST_HUGE_GPA) + i);
        NsPageInfo info;

        g_assert_true(ns_radix_is_page(e));
        info = ns_radix_page_info(e);
        g_assert_cmpint(info.state, ==, NS_PAGE_PRESENT);
        g_assert_true(info.order == 0 || info.order == 9);
        head_entries += info.order == 9;
        for (guint j = 1; j < (1u << info.order); j++)
            g_assert_null(ns_test_tree_lookup(f->tree, GFN(NS_TEST_HUGE_GPA) + i + j));
        i += 1u << info.order;
    }
    g_assert_cmpuint(head_entries, ==, st.huge_entries);
    g_assert_cmpuint(st.huge_pages, ==, st.huge_entries * 512);
}

static void
test_scan_huge(Fixture *f, gconstpointer data)
{
    NsPlacementScanStats st;
    guint thp;

    if (!ns_test_thp_possible()) {
        g_test_skip("transparent huge pages are disabled on this host");
        return;
    }
    thp = child_thp_count(f);
    if (thp == 0) {
        g_test_skip("the kernel gave the MADV_HUGEPAGE region no huge page (fragmented?)");
        return;
    }
    scan_ok(f, NULL, &st);
    if (!st.huge_detection) {
        g_test_skip("pagemap PFNs or /proc/kpageflags unreadable (not root?)");
        return;
    }
    g_assert_cmpuint(st.huge_entries, ==, thp);
    g_assert_cmpuint(st.huge_pages, ==, thp * 512u);
    /* THP heads sit at 2 MiB boundaries of the (2 MiB aligned) region. */
    for (guint k = 0; k < HUGE_PAGES / 512; k++) {
        void *e = ns_test_tree_lookup(f->tree, GFN(NS_TEST_HUGE_GPA) + k * 512u);

        g_assert_true(ns_radix_is_page(e));
        if (ns_radix_page_info(e).order == 9)
            thp--;
    }
    g_assert_cmpuint(thp, ==, 0);
}

static void
test_rescan_unchanged(Fixture *f, gconstpointer data)
{
    NsPlacementScanStats first, second;
    g_autoptr(GArray) before = NULL;
    g_autoptr(GArray) after = NULL;

    scan_ok(f, NULL, &first);
    before = ns_test_tree_snapshot(f->tree);
    scan_ok(f, NULL, &second);
    after = ns_test_tree_snapshot(f->tree);
    g_assert_cmpuint(second.written, ==, 0);
    g_assert_cmpuint(second.removed, ==, 0);
    g_assert_cmpuint(second.units, ==, first.units);
    g_assert_cmpmem(before->data, before->len * 8, after->data, after->len * 8);
}

static void
test_scan_no_huge(Fixture *f, gconstpointer data)
{
    NsPlacementOptions opts = { .no_huge = TRUE };
    NsPlacementScanStats flat, huge;

    scan_ok(f, &opts, &flat);
    g_assert_false(flat.huge_detection);
    g_assert_cmpuint(flat.huge_entries, ==, 0);
    g_assert_cmpuint(flat.units, ==, SMALL_PAGES + HUGE_PAGES + UNTOUCHED_PAGES);
    g_assert_cmpuint(ns_radix_count(f->tree), ==, flat.units);

    /* Back to huge entries: the tails of each huge page go away. */
    scan_ok(f, NULL, &huge);
    g_assert_cmpuint(huge.removed, ==, huge.huge_entries * 511);
    g_assert_cmpuint(ns_radix_count(f->tree), ==, huge.units);
    g_assert_cmpuint(huge.written, ==, huge.huge_entries); /* heads became order 9 */
}

static void
test_scan_small_batches(Fixture *f, gconstpointer data)
{
    NsPlacementOptions opts = { .batch_pages = 7 };
    NsPlacementScanStats st;
    g_autoptr(GArray) batched = NULL;
    g_autoptr(GArray) whole = NULL;

    scan_ok(f, &opts, &st);
    g_assert_cmpuint(st.calls, >, 3);
    batched = ns_test_tree_snapshot(f->tree);
    ns_radix_destroy(f->tree);
    f->tree = ns_radix_new();
    scan_ok(f, NULL, NULL);
    whole = ns_test_tree_snapshot(f->tree);
    /* Same picture either way, except that THP may have changed in between:
     * compare the gfn sets of the small and untouched ranges only. */
    g_assert_cmpuint(batched->len, >=, 2 * (SMALL_PAGES + UNTOUCHED_PAGES));
    for (guint i = 0; i < 2 * SMALL_PAGES; i++)
        g_assert_cmpuint(g_array_index(batched, guint64, i), ==, g_array_index(whole, guint64, i));
}

/* A hugetlbfs range (page_size 2 MiB): one order-9 entry per huge page, by its size alone. */
static void
test_scan_hugetlb_range(Fixture *f, gconstpointer data)
{
    NsMemRange *r1 = &g_array_index(f->map->ranges, NsMemRange, 1);
    NsPlacementScanStats st;

    r1->page_size = 2 * 1024 * 1024;
    scan_ok(f, NULL, &st);
    g_assert_cmpuint(st.huge_entries, ==, HUGE_PAGES / 512);
    for (guint i = 0; i < HUGE_PAGES; i++) {
        void *e = ns_test_tree_lookup(f->tree, GFN(NS_TEST_HUGE_GPA) + i);

        if (i % 512 == 0) {
            g_assert_true(ns_radix_is_page(e));
            g_assert_cmpuint(ns_radix_page_info(e).order, ==, 9);
            g_assert_cmpint(ns_radix_page_info(e).state, ==, NS_PAGE_PRESENT);
        } else {
            g_assert_null(e);
        }
    }
}

static void
test_scan_stale_entries(Fixture *f, gconstpointer data)
{
    NsPlacementScanStats st;
    /* Failed on node 1, but the scan finds the page on node 0: it moved since. */
    NsPageInfo failed = { .state = NS_PAGE_FAILED, .node = 1, .target = 0, .error = EBUSY };
    guint64 outside = GFN(G_GUINT64_CONSTANT(1) << 32);
    guint64 gap = GFN(NS_TEST_SMALL_GPA) + SMALL_PAGES + 3; /* between small and huge */

    g_assert_cmpint(ns_radix_insert(f->tree, outside, ns_radix_mk_present(0, 0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(f->tree, gap, ns_radix_mk_present(0, 0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(f->tree, 1, ns_radix_mk_page(&failed)), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(f->tree, 1, NS_RADIX_TAG_FAILED), ==, 0);

    scan_ok(f, NULL, &st);
    g_assert_cmpuint(st.removed, ==, 2);
    g_assert_null(ns_test_tree_lookup(f->tree, outside));
    g_assert_null(ns_test_tree_lookup(f->tree, gap));
    g_assert_cmpint(ns_radix_page_info(ns_test_tree_lookup(f->tree, 1)).state, ==, NS_PAGE_PRESENT);
    g_assert_false(ns_test_tree_tag_get(f->tree, 1, NS_RADIX_TAG_FAILED));
    g_assert_cmpuint(ns_radix_count(f->tree), ==, st.units);
}

/*
 * A rescan of a live tree must not forget what moves learnt: a page whose
 * move failed and that is still where it was keeps its FAILED entry, its
 * errno and its unmovable record (issue #10: forgotten failures were
 * retried at every drift check, unmapping pinned pages each time).
 */
static void
test_scan_keeps_failure(Fixture *f, gconstpointer data)
{
    NsPageInfo failed = { .state = NS_PAGE_FAILED, .node = 0, .target = 1, .error = EACCES,
                          .attempts = 10, .strikes = 2, .tried = 7 };
    guint64 gfn = GFN(NS_TEST_SMALL_GPA);
    NsPageInfo out;

    scan_ok(f, NULL, NULL);
    g_assert_cmpint(ns_radix_page_info(ns_test_tree_lookup(f->tree, gfn)).node, ==, 0);
    g_assert_cmpint(ns_radix_store(f->tree, gfn, ns_radix_mk_page(&failed), NULL), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(f->tree, gfn, NS_RADIX_TAG_FAILED), ==, 0);

    scan_ok(f, NULL, NULL);
    out = ns_radix_page_info(ns_test_tree_lookup(f->tree, gfn));
    g_assert_cmpint(out.state, ==, NS_PAGE_FAILED);
    g_assert_cmpuint(out.error, ==, EACCES);
    g_assert_cmpuint(out.strikes, ==, 2);
    g_assert_cmpuint(out.tried, ==, 7);
    g_assert_true(ns_test_tree_tag_get(f->tree, gfn, NS_RADIX_TAG_FAILED));

    g_autoptr(NsPlacementSummary) sum = ns_placement_summarize(f->tree, f->map);
    g_assert_cmpuint(sum->all.unmovable[NS_UNMOVABLE_SHARED].pages, ==, 1);
    /* On node 0, and refused for being shared (what move-shared tries). */
    g_assert_cmpuint(ns_placement_stats_unmovable_on(&sum->all, 0).pages, ==, 1);
    g_assert_cmpuint(sum->all.shared_nodes->len, ==, 1);
    g_assert_cmpuint(g_array_index(sum->all.shared_nodes, NsPlacementCount, 0).pages, ==, 1);
    g_assert_cmpuint(sum->all.failed.pages, ==, 1);
    g_assert_cmpuint(ns_unmovable_cause(EBUSY), ==, NS_UNMOVABLE_PINNED);
    g_assert_cmpuint(ns_unmovable_cause(EFAULT), ==, NS_UNMOVABLE_FAULT);
    g_assert_cmpstr(ns_unmovable_cause_to_string(NS_UNMOVABLE_SHARED), ==,
                    "shared with another process");
}

/* A window scan writes and prunes inside its window only (issue #10: the streaming pipeline). */
static void
test_scan_window(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    NsPlacementScanStats st;
    guint64 gap = GFN(NS_TEST_SMALL_GPA) + SMALL_PAGES + 3;  /* inside the window */
    guint64 outside = GFN(NS_TEST_UNTOUCHED_GPA) + 1;          /* after it */
    void *stale = ns_radix_mk_present(0, 0);

    g_assert_cmpint(ns_radix_insert(f->tree, gap, stale), ==, 0);
    g_assert_cmpint(ns_radix_insert(f->tree, outside, stale), ==, 0);
    g_assert_true(ns_placement_scan_window(f->tree, f->map, 0, NS_TEST_HUGE_GPA, NULL, &st,
                                           &error));
    g_assert_no_error(error);
    g_assert_cmpuint(st.units, ==, SMALL_PAGES);
    g_assert_cmpuint(st.removed, ==, 1);
    g_assert_null(ns_test_tree_lookup(f->tree, gap));
    g_assert_true(ns_test_tree_lookup(f->tree, outside) == stale);
    for (guint i = 0; i < SMALL_PAGES; i++)
        g_assert_true(ns_radix_is_page(ns_test_tree_lookup(f->tree, GFN(NS_TEST_SMALL_GPA) + i)));
    /* Nothing of the huge range yet: it lies after the window. */
    g_assert_null(ns_test_tree_lookup(f->tree, GFN(NS_TEST_HUGE_GPA)));

    g_assert_false(ns_placement_scan_window(f->tree, f->map, 0, 100, NULL, NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
}

static void
test_scan_dead_process(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    NsPlacementScanStats st = { .calls = 12345 };

    ns_test_child_stop(&f->child);
    g_assert_false(ns_placement_scan(f->tree, f->map, NULL, &st, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING);
    g_assert_cmpuint(st.calls, ==, 12345); /* untouched on failure */
    g_assert_cmpuint(ns_radix_count(f->tree), ==, 0);
}

static void
test_scan_refuses_markers(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    void *marker = ns_radix_mk_marker(ns_radix_mk_present(0, 0), 1);

    g_assert_cmpint(ns_radix_insert(f->tree, 2, marker), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(f->tree, 2, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_false(ns_placement_scan(f->tree, f->map, NULL, NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_FAILED);
    g_assert_true(ns_test_tree_lookup(f->tree, 2) == marker);
    g_assert_cmpuint(ns_radix_count(f->tree), ==, 1);
}

static void
test_scan_bad_map(Fixture *f, gconstpointer data)
{
    NsMemRange *r1 = &g_array_index(f->map->ranges, NsMemRange, 1);
    g_autoptr(GError) error = NULL;
    guint64 size = r1->size;

    r1->size = 100;
    g_assert_false(ns_placement_scan(f->tree, f->map, NULL, NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);

    r1->size = size;
    r1->page_size = 3 * NS_GUEST_PAGE_SIZE; /* not a power of two */
    g_assert_false(ns_placement_scan(f->tree, f->map, NULL, NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);

    r1->page_size = NS_GUEST_PAGE_SIZE;
    r1->gpa = NS_GUEST_PAGE_SIZE; /* overlaps the small range */
    g_assert_false(ns_placement_scan(f->tree, f->map, NULL, NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_cmpuint(ns_radix_count(f->tree), ==, 0);
}

static void
test_summarize_child(Fixture *f, gconstpointer data)
{
    g_autoptr(NsPlacementSummary) sum = NULL;
    NsPlacementScanStats st;
    const NsPlacementStats *c0, *c1;
    guint64 on_nodes = 0;

    scan_ok(f, NULL, &st);
    sum = ns_placement_summarize(f->tree, f->map);
    g_assert_cmpint(sum->all.cell, ==, -1);
    g_assert_cmpuint(sum->all.present.pages, ==, SMALL_PAGES + HUGE_PAGES);
    g_assert_cmpuint(sum->all.present.bytes, ==, (SMALL_PAGES + HUGE_PAGES) * 4096ull);
    g_assert_cmpuint(sum->all.absent.pages, ==, UNTOUCHED_PAGES);
    g_assert_cmpuint(sum->all.migrating.pages, ==, 0);
    g_assert_cmpuint(sum->all.failed.pages, ==, 0);
    g_assert_cmpuint(sum->all.huge.pages, ==, st.huge_pages);
    g_assert_cmpuint(sum->all.total.pages, ==, SMALL_PAGES + HUGE_PAGES + UNTOUCHED_PAGES);
    for (guint n = 0; n < sum->all.nodes->len; n++) {
        NsPlacementCount c = ns_placement_stats_node(&sum->all, n);

        if (c.pages > 0)
            g_assert_true(is_memory_node(n));
        on_nodes += c.pages;
    }
    g_assert_cmpuint(on_nodes, ==, SMALL_PAGES + HUGE_PAGES);

    g_assert_cmpuint(sum->cells->len, ==, 2);
    c0 = g_ptr_array_index(sum->cells, 0);
    c1 = g_ptr_array_index(sum->cells, 1);
    g_assert_cmpint(c0->cell, ==, 0);
    g_assert_cmpint(c1->cell, ==, 1);
    g_assert_cmpuint(c0->present.pages, ==, SMALL_PAGES);
    g_assert_cmpuint(c0->absent.pages, ==, 0);
    g_assert_cmpuint(c1->present.pages, ==, HUGE_PAGES);
    g_assert_cmpuint(c1->absent.pages, ==, UNTOUCHED_PAGES);
    g_assert_cmpuint(c1->huge.pages, ==, st.huge_pages);
}

/* A sample (every 8th page) counts the same totals per cell, on the same nodes. */
static void
test_sample_child(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsPlacementSummary) sum = ns_placement_sample(f->map, 8, NULL, &error);
    guint64 on_nodes = 0;

    g_assert_no_error(error);
    g_assert_cmpuint(sum->all.total.pages, ==, SMALL_PAGES + HUGE_PAGES + UNTOUCHED_PAGES);
    g_assert_cmpuint(sum->all.migrating.pages + sum->all.failed.pages, ==, 0);
    for (guint n = 0; n < sum->all.nodes->len; n++) {
        NsPlacementCount c = ns_placement_stats_node(&sum->all, n);

        if (c.pages > 0)
            g_assert_true(is_memory_node(n));
        on_nodes += c.pages;
    }
    g_assert_cmpuint(on_nodes, ==, sum->all.present.pages);
    g_assert_cmpuint(sum->cells->len, ==, 2);
    /* Touched and untouched parts are whole runs of 8-page steps here, so
     * the estimate is exact for cell 0 (all touched). */
    g_assert_cmpuint(((NsPlacementStats *)g_ptr_array_index(sum->cells, 0))->present.pages, ==,
                     SMALL_PAGES);
    g_assert_cmpuint(((NsPlacementStats *)g_ptr_array_index(sum->cells, 1))->total.pages, ==,
                     HUGE_PAGES + UNTOUCHED_PAGES);
}

static void
test_sample_errors(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsPlacementSummary) zero = ns_placement_sample(f->map, 0, NULL, &error);

    g_assert_null(zero);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    ns_test_child_stop(&f->child);
    g_autoptr(NsPlacementSummary) dead = ns_placement_sample(f->map, 8, NULL, &error);

    g_assert_null(dead);
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING);
}

/* ---- summaries of hand-built trees --------------------------------------- */

static void
add_range(NsMemMap *map, guint64 gpa, guint64 pages, gint cell)
{
    NsMemRange r = { .gpa = gpa, .size = pages * NS_GUEST_PAGE_SIZE, .hva = 0x7f0000000000 + gpa,
                     .page_size = NS_GUEST_PAGE_SIZE, .backend = g_strdup("ram"), .cell = cell };

    g_array_append_val(map->ranges, r);
}

static void
assert_count(NsPlacementCount c, guint64 pages)
{
    g_assert_cmpuint(c.pages, ==, pages);
    g_assert_cmpuint(c.bytes, ==, pages * NS_GUEST_PAGE_SIZE);
}

static void
test_summarize_synthetic(void)
{
    g_autoptr(NsMemMap) map = ns_memmap_new(1);
    g_autoptr(NsPlacementSummary) sum = NULL;
    NsRadix *tree = ns_radix_new();
    NsPageInfo failed = { .state = NS_PAGE_FAILED, .node = 2, .target = 0, .error = EBUSY };
    const NsPlacementStats *c0, *c1;

    add_range(map, 0, 16, 0);
    add_range(map, 0x100000, 1024, 1);
    add_range(map, 0x1000000, 8, -1);
    for (guint g = 0; g < 4; g++)
        g_assert_cmpint(ns_radix_insert(tree, g, ns_radix_mk_present(0, 0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 4, ns_radix_mk_present(3, 0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 5, ns_radix_mk_present(3, 0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 6, ns_radix_mk_absent(0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 7, ns_radix_mk_marker(ns_radix_mk_present(1, 0), 0)), ==,
                    0);
    g_assert_cmpint(ns_radix_insert(tree, 8, ns_radix_mk_page(&failed)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 0x100, ns_radix_mk_present(1, 9)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 0x300, ns_radix_mk_present(1, 0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 0x1000, ns_radix_mk_present(0, 0)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 0x50000, ns_radix_mk_present(0, 0)), ==, 0); /* outside */
    /* Not a page entry: skipped. */
    g_assert_cmpint(ns_radix_insert(tree, 9, ns_radix_mk_value(G_GUINT64_CONSTANT(1) << 62)), ==,
                    0);

    sum = ns_placement_summarize(tree, map);
    assert_count(sum->all.present, 4 + 2 + 512 + 1 + 1);
    assert_count(sum->all.absent, 1);
    assert_count(sum->all.migrating, 1);
    assert_count(sum->all.failed, 1);
    assert_count(sum->all.huge, 512);
    assert_count(sum->all.total, 523);
    g_assert_cmpuint(sum->all.nodes->len, ==, 4);
    assert_count(ns_placement_stats_node(&sum->all, 0), 5);
    assert_count(ns_placement_stats_node(&sum->all, 1), 1 + 512 + 1);
    assert_count(ns_placement_stats_node(&sum->all, 2), 1);
    assert_count(ns_placement_stats_node(&sum->all, 3), 2);
    assert_count(ns_placement_stats_node(&sum->all, 99), 0);

    g_assert_cmpuint(sum->cells->len, ==, 2);
    c0 = g_ptr_array_index(sum->cells, 0);
    c1 = g_ptr_array_index(sum->cells, 1);
    g_assert_cmpint(c0->cell, ==, 0);
    assert_count(c0->present, 6);
    assert_count(c0->absent, 1);
    assert_count(c0->migrating, 1);
    assert_count(c0->failed, 1);
    assert_count(c0->total, 9);
    assert_count(ns_placement_stats_node(c0, 0), 4);
    assert_count(ns_placement_stats_node(c0, 1), 1);
    assert_count(ns_placement_stats_node(c0, 2), 1);
    assert_count(ns_placement_stats_node(c0, 3), 2);
    g_assert_cmpint(c1->cell, ==, 1);
    assert_count(c1->present, 513);
    assert_count(c1->huge, 512);
    assert_count(ns_placement_stats_node(c1, 1), 513);
    assert_count(ns_placement_stats_node(c1, 0), 0);
    /* The helpers the policy and the metrics share. */
    g_assert_true(ns_placement_summary_cell(sum, 0) == c0);
    g_assert_true(ns_placement_summary_cell(sum, 1) == c1);
    g_assert_true(ns_placement_summary_cell(sum, -1) == &sum->all);
    g_assert_null(ns_placement_summary_cell(sum, 7));
    g_assert_cmpuint(ns_placement_stats_placed_bytes(c0), ==, 8 * 4096);
    g_assert_cmpuint(ns_placement_stats_placed_bytes(c1), ==, 513 * 4096);
    g_assert_cmpuint(ns_placement_stats_placed_bytes(NULL), ==, 0);

    ns_placement_summary_free(NULL);
    ns_radix_destroy(tree);
    urcu_memb_barrier();
}

static void
test_summarize_empty(void)
{
    g_autoptr(NsMemMap) map = ns_memmap_new(1);
    g_autoptr(NsPlacementSummary) sum = NULL;
    NsRadix *tree = ns_radix_new();

    add_range(map, 0, 16, 3);
    add_range(map, 0x100000, 16, 1);
    sum = ns_placement_summarize(tree, map);
    assert_count(sum->all.total, 0);
    g_assert_cmpuint(sum->all.nodes->len, ==, 0);
    g_assert_cmpuint(sum->cells->len, ==, 2);
    g_assert_cmpint(((NsPlacementStats *)g_ptr_array_index(sum->cells, 0))->cell, ==, 1);
    g_assert_cmpint(((NsPlacementStats *)g_ptr_array_index(sum->cells, 1))->cell, ==, 3);
    ns_radix_destroy(tree);
    urcu_memb_barrier();
}

/* ---- through a kernel of the test's own (kernel.h's seam) ----------------- */

/*
 * A 4 MiB guest the kernel only pretends to have: the first 2 MiB a THP
 * (kpageflags head and tails), the next 2 MiB base pages; every page on
 * node 1.  The scan must find it through the seam alone: one order-9 entry
 * and 512 base entries, all on node 1, with huge-page detection on.
 */
#define SEAM_HVA G_GUINT64_CONSTANT(0x7f0000000000)
#define SEAM_PFN0 G_GUINT64_CONSTANT(0x100000)

struct NsKernelPages {
    guint opened;
};

static long
seam_move_pages(gpointer data, pid_t pid, gulong count, void **pages, const int *nodes,
                int *status, int flags)
{
    g_assert_null(nodes); /* a scan only asks */
    for (gulong i = 0; i < count; i++)
        status[i] = 1;
    return 0;
}

static NsKernelPages *
seam_pages_open(gpointer data, pid_t pid)
{
    NsKernelPages *pages = g_new0(NsKernelPages, 1);

    (*(guint *)data)++;
    return pages;
}

static gssize
seam_pagemap_read(NsKernelPages *pages, guint64 vpage, guint64 *out, gsize n)
{
    for (gsize i = 0; i < n; i++)
        out[i] = (G_GUINT64_CONSTANT(1) << 63) | (SEAM_PFN0 + vpage + i - (SEAM_HVA >> 12));
    return (gssize)n;
}

static gssize
seam_kpageflags_read(NsKernelPages *pages, guint64 pfn, guint64 *out, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        guint64 p = pfn + i - SEAM_PFN0;

        out[i] = p >= 512 ? 0 : p == 0 ? G_GUINT64_CONSTANT(1) << 15 /* KPF_COMPOUND_HEAD */
                                       : G_GUINT64_CONSTANT(1) << 16; /* KPF_COMPOUND_TAIL */
    }
    return (gssize)n;
}

static void
seam_pages_close(NsKernelPages *pages)
{
    g_free(pages);
}

static void
test_scan_kernel_seam(void)
{
    guint opened = 0;
    NsKernel kernel = { .move_pages = seam_move_pages, .pages_open = seam_pages_open,
                        .pagemap_read = seam_pagemap_read,
                        .kpageflags_read = seam_kpageflags_read,
                        .pages_close = seam_pages_close, .data = &opened };
    NsPlacementOptions opts = { .kernel = &kernel };
    g_autoptr(NsMemMap) map = ns_memmap_new(1); /* pid 1: the seam answers, not the kernel */
    NsMemRange r = { .gpa = 0, .size = 4 << 20, .hva = SEAM_HVA, .page_size = 4096,
                     .backend = g_strdup("ram"), .cell = -1 };
    NsRadix *tree = ns_radix_new();
    NsPlacementScanStats st = { 0 };
    g_autoptr(GError) error = NULL;

    g_array_append_val(map->ranges, r);
    g_assert_true(ns_placement_scan(tree, map, &opts, &st, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(opened, ==, 1);
    g_assert_true(st.huge_detection);
    g_assert_cmpuint(st.huge_entries, ==, 1);
    g_assert_cmpuint(st.huge_pages, ==, 512);
    g_assert_cmpuint(st.present_pages, ==, 1024);
    g_assert_cmpuint(ns_radix_count(tree), ==, 513);
    NsPageInfo head = ns_radix_page_info(ns_test_tree_lookup(tree, 0));
    NsPageInfo base = ns_radix_page_info(ns_test_tree_lookup(tree, 512));

    g_assert_cmpuint(head.order, ==, 9);
    g_assert_cmpuint(head.node, ==, 1);
    g_assert_cmpuint(base.order, ==, 0);
    g_assert_cmpuint(base.node, ==, 1);
    g_assert_null(ns_test_tree_lookup(tree, 1)); /* a tail has no entry */

    /* Without the pagemap reader, detection is off: every page a base page. */
    kernel.pages_open = NULL;
    g_assert_true(ns_placement_scan(tree, map, &opts, &st, &error));
    g_assert_false(st.huge_detection);
    g_assert_cmpuint(ns_radix_count(tree), ==, 1024);
    ns_radix_destroy(tree);
    urcu_memb_barrier();
}

int
main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    urcu_memb_register_thread();

#define CHILD_TEST(path, fn) \
    g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    CHILD_TEST("/placement/scan/child", test_scan_child);
    CHILD_TEST("/placement/scan/huge", test_scan_huge);
    CHILD_TEST("/placement/scan/rescan-unchanged", test_rescan_unchanged);
    CHILD_TEST("/placement/scan/no-huge", test_scan_no_huge);
    CHILD_TEST("/placement/scan/small-batches", test_scan_small_batches);
    CHILD_TEST("/placement/scan/hugetlb-range", test_scan_hugetlb_range);
    CHILD_TEST("/placement/scan/stale-entries", test_scan_stale_entries);
    CHILD_TEST("/placement/scan/keeps-failure", test_scan_keeps_failure);
    CHILD_TEST("/placement/scan/window", test_scan_window);
    CHILD_TEST("/placement/scan/dead-process", test_scan_dead_process);
    CHILD_TEST("/placement/scan/refuses-markers", test_scan_refuses_markers);
    CHILD_TEST("/placement/scan/bad-map", test_scan_bad_map);
    CHILD_TEST("/placement/summarize/child", test_summarize_child);
    CHILD_TEST("/placement/sample/child", test_sample_child);
    CHILD_TEST("/placement/sample/errors", test_sample_errors);
#undef CHILD_TEST
    g_test_add_func("/placement/summarize/synthetic", test_summarize_synthetic);
    g_test_add_func("/placement/summarize/empty", test_summarize_empty);
    g_test_add_func("/placement/scan/kernel-seam", test_scan_kernel_seam);

    rc = g_test_run();
    urcu_memb_barrier();
    urcu_memb_unregister_thread();
    return rc;
}
