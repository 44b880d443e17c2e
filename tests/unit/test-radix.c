/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for every libnsradix function.  Built twice: with the real
 * fanout and with four slots per node, where a few keys make deep trees.
 */
#include <errno.h>
#include <glib.h>
#include <urcu/urcu-memb.h>

#include "numashift/radix.h"
#include "radix-private.h"

#define KEY_2_52_MINUS_1 ((UINT64_C(1) << 52) - 1)

/* A value entry that names its own key, so a wrong slot shows up at once. */
static void *
val(uint64_t key)
{
    return ns_radix_mk_value(key & NS_RADIX_VALUE_MAX);
}

/* Height a tree needs to hold @index with this build's fanout. */
static unsigned
expected_height(uint64_t index)
{
    unsigned shift = (unsigned)__builtin_ctz(ns_radix_fanout());
    unsigned h = 0;

    while (h * shift < 64 && (index >> (h * shift)) != 0)
        h++;
    return h;
}

static unsigned
height_locked(const NsRadix *tree)
{
    unsigned h;

    urcu_memb_read_lock();
    h = ns_radix_height(tree);
    urcu_memb_read_unlock();
    return h;
}

static void *
lookup_locked(const NsRadix *tree, uint64_t index)
{
    void *e;

    urcu_memb_read_lock();
    e = ns_radix_lookup(tree, index);
    urcu_memb_read_unlock();
    return e;
}

static bool
tag_get_locked(const NsRadix *tree, uint64_t index, NsRadixTag tag)
{
    bool on;

    urcu_memb_read_lock();
    on = ns_radix_tag_get(tree, index, tag);
    urcu_memb_read_unlock();
    return on;
}

static bool
tagged_locked(const NsRadix *tree, NsRadixTag tag)
{
    bool on;

    urcu_memb_read_lock();
    on = ns_radix_tagged(tree, tag);
    urcu_memb_read_unlock();
    return on;
}

/* Live nodes once every earlier test's retired nodes are really freed. */
static uint64_t
live_baseline(void)
{
    urcu_memb_barrier();
    return ns_radix_live_nodes();
}

/* After a grace period the nodes a tree retired are freed; in deferred-free
 * (TSan) builds they wait for the tree's destruction instead. */
static void
assert_live_after_grace(uint64_t expected)
{
    urcu_memb_barrier();
    if (!ns_radix__frees_deferred())
        g_assert_cmpuint(ns_radix_live_nodes(), ==, expected);
}

/* Destroy @tree and check every node it had is freed after the grace period. */
static void
destroy_and_check(NsRadix *tree, uint64_t live_before)
{
    ns_radix_destroy(tree);
    urcu_memb_barrier();
    g_assert_cmpuint(ns_radix_live_nodes(), ==, live_before);
}

/* ---- entry encoding -------------------------------------------------------- */

static void
test_value_entries(void)
{
    static const uint64_t values[] = { 0, 1, 2, 12345, KEY_2_52_MINUS_1, NS_RADIX_VALUE_MAX };
    int aligned = 0;

    for (gsize i = 0; i < G_N_ELEMENTS(values); i++) {
        void *e = ns_radix_mk_value(values[i]);

        g_assert_true(ns_radix_is_value(e));
        g_assert_true(ns_radix_entry_valid(e));
        g_assert_cmpuint(ns_radix_to_value(e), ==, values[i]);
    }
    g_assert_false(ns_radix_is_value(&aligned));
    g_assert_true(ns_radix_entry_valid(&aligned));
    g_assert_false(ns_radix_entry_valid(NULL));
    g_assert_false(ns_radix_entry_valid((void *)(uintptr_t)0x1002));
}

static void
test_page_entries(void)
{
    NsPageInfo in = { .state = NS_PAGE_FAILED, .node = NS_PAGE_NODE_MAX, .target = 3,
                      .error = EBUSY, .attempts = 7, .order = 9, .strikes = 5,
                      .tried = NS_PAGE_TRIED_MAX };
    NsPageInfo out = ns_radix_page_info(ns_radix_mk_page(&in));

    g_assert_cmpint(out.state, ==, in.state);
    g_assert_cmpuint(out.node, ==, in.node);
    g_assert_cmpuint(out.target, ==, in.target);
    g_assert_cmpuint(out.error, ==, in.error);
    g_assert_cmpuint(out.attempts, ==, in.attempts);
    g_assert_cmpuint(out.order, ==, in.order);
    g_assert_cmpuint(out.strikes, ==, in.strikes);
    g_assert_cmpuint(out.tried, ==, in.tried);

    /* A marker and its failure keep the unmovable record (the engine
     * decides what a new failure does to it). */
    out = ns_radix_page_info(ns_radix_mk_failed(ns_radix_mk_marker(ns_radix_mk_page(&in), 1), EACCES));
    g_assert_cmpuint(out.strikes, ==, 5);
    g_assert_cmpuint(out.tried, ==, NS_PAGE_TRIED_MAX);
    g_assert_cmpuint(out.error, ==, EACCES);

    void *present = ns_radix_mk_present(1, 9);
    g_assert_true(ns_radix_is_page(present));
    g_assert_false(ns_radix_is_marker(present));
    out = ns_radix_page_info(present);
    g_assert_cmpint(out.state, ==, NS_PAGE_PRESENT);
    g_assert_cmpuint(out.node, ==, 1);
    g_assert_cmpuint(out.target, ==, NS_PAGE_NODE_NONE);
    g_assert_cmpuint(out.order, ==, 9);

    void *absent = ns_radix_mk_absent(0);
    out = ns_radix_page_info(absent);
    g_assert_cmpint(out.state, ==, NS_PAGE_ABSENT);
    g_assert_cmpuint(out.node, ==, NS_PAGE_NODE_NONE);

    /* A marker keeps the old node and order, names the target, counts the try. */
    void *marker = ns_radix_mk_marker(present, 2);
    g_assert_true(ns_radix_is_marker(marker));
    out = ns_radix_page_info(marker);
    g_assert_cmpint(out.state, ==, NS_PAGE_MIGRATING);
    g_assert_cmpuint(out.node, ==, 1);
    g_assert_cmpuint(out.target, ==, 2);
    g_assert_cmpuint(out.attempts, ==, 1);
    g_assert_cmpuint(out.order, ==, 9);

    void *failed = ns_radix_mk_failed(marker, -ENOMEM);
    g_assert_false(ns_radix_is_marker(failed));
    out = ns_radix_page_info(failed);
    g_assert_cmpint(out.state, ==, NS_PAGE_FAILED);
    g_assert_cmpuint(out.error, ==, ENOMEM);
    g_assert_cmpuint(out.node, ==, 1);
    g_assert_cmpuint(out.target, ==, 2);

    /* Attempts saturate instead of wrapping into the order field. */
    void *e = present;
    for (int i = 0; i < 40; i++)
        e = ns_radix_mk_marker(e, 2);
    out = ns_radix_page_info(e);
    g_assert_cmpuint(out.attempts, ==, NS_PAGE_ATTEMPTS_MAX);
    g_assert_cmpuint(out.order, ==, 9);

    /* Reserved bits set: a value entry, but not a page entry. */
    g_assert_false(ns_radix_is_page(ns_radix_mk_value(UINT64_C(1) << 62)));
    g_assert_false(ns_radix_is_page(&in));
}

/* ---- basic operations ------------------------------------------------------ */

static void
test_empty(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();
    void *entries[4];
    NsRadixIter it;

    g_assert_nonnull(tree);
    g_assert_cmpuint(ns_radix_count(tree), ==, 0);
    g_assert_cmpuint(height_locked(tree), ==, 0);
    g_assert_null(lookup_locked(tree, 0));
    g_assert_null(lookup_locked(tree, UINT64_MAX));
    g_assert_null(ns_radix_delete(tree, 0));
    g_assert_cmpint(ns_radix_tag_set(tree, 0, NS_RADIX_TAG_MIGRATING), ==, -ENOENT);
    g_assert_cmpint(ns_radix_tag_clear(tree, 0, NS_RADIX_TAG_FAILED), ==, -ENOENT);
    g_assert_cmpint(ns_radix_replace_if(tree, 0, val(0), val(1)), ==, -ENOENT);
    g_assert_false(tagged_locked(tree, NS_RADIX_TAG_MIGRATING));

    urcu_memb_read_lock();
    g_assert_cmpuint(ns_radix_gang_lookup(tree, 0, 4, entries, NULL), ==, 0);
    g_assert_cmpuint(ns_radix_gang_lookup_tag(tree, 0, NS_RADIX_TAG_FAILED, 4, entries, NULL), ==, 0);
    ns_radix_iter_init(&it, 0, UINT64_MAX);
    g_assert_null(ns_radix_iter_next(tree, &it, NULL));
    urcu_memb_read_unlock();

    g_assert_cmpuint(ns_radix_memory_used(tree), >, 0);
    g_assert_cmpuint(ns_radix_live_nodes(), ==, live);
    destroy_and_check(tree, live);
    ns_radix_destroy(NULL);
}

static void
test_invalid_entries(void)
{
    NsRadix *tree = ns_radix_new();
    void *internal = (void *)(uintptr_t)0x1002;

    g_assert_cmpint(ns_radix_insert(tree, 1, NULL), ==, -EINVAL);
    g_assert_cmpint(ns_radix_insert(tree, 1, internal), ==, -EINVAL);
    g_assert_cmpint(ns_radix_store(tree, 1, NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(ns_radix_store(tree, 1, internal, NULL), ==, -EINVAL);
    g_assert_cmpint(ns_radix_insert(tree, 1, val(1)), ==, 0);
    g_assert_cmpint(ns_radix_replace_if(tree, 1, val(1), NULL), ==, -EINVAL);
    g_assert_cmpint(ns_radix_replace_if(tree, 1, internal, val(2)), ==, -EINVAL);
    g_assert_cmpint(ns_radix_tag_set(tree, 1, (NsRadixTag)NS_RADIX_TAG_COUNT), ==, -EINVAL);
    g_assert_cmpint(ns_radix_tag_clear(tree, 1, (NsRadixTag)7), ==, -EINVAL);
    g_assert_false(tag_get_locked(tree, 1, (NsRadixTag)NS_RADIX_TAG_COUNT));
    g_assert_false(tagged_locked(tree, (NsRadixTag)NS_RADIX_TAG_COUNT));
    urcu_memb_read_lock();
    void *e;
    g_assert_cmpuint(ns_radix_gang_lookup_tag(tree, 0, (NsRadixTag)9, 1, &e, NULL), ==, 0);
    urcu_memb_read_unlock();
    g_assert_cmpuint(ns_radix_count(tree), ==, 1);
    ns_radix_destroy(tree);
}

static void
test_insert_lookup_delete(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();
    int pointee = 42;

    g_assert_cmpint(ns_radix_insert(tree, 7, &pointee), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, 7, val(7)), ==, -EEXIST);
    g_assert_true(lookup_locked(tree, 7) == &pointee);
    g_assert_cmpint(ns_radix_insert(tree, 8, val(8)), ==, 0);
    g_assert_cmpuint(ns_radix_count(tree), ==, 2);
    g_assert_true(lookup_locked(tree, 8) == val(8));
    g_assert_null(lookup_locked(tree, 9));
    g_assert_null(lookup_locked(tree, 6));

    g_assert_true(ns_radix_delete(tree, 7) == &pointee);
    g_assert_null(ns_radix_delete(tree, 7));
    g_assert_null(lookup_locked(tree, 7));
    g_assert_cmpuint(ns_radix_count(tree), ==, 1);
    g_assert_true(ns_radix_delete(tree, 8) == val(8));
    g_assert_cmpuint(ns_radix_count(tree), ==, 0);
    g_assert_cmpuint(height_locked(tree), ==, 0);
    assert_live_after_grace(live);
    destroy_and_check(tree, live);
}

static void
test_edge_keys(void)
{
    static const uint64_t keys[] = { 0, 1, KEY_2_52_MINUS_1, UINT64_MAX - 1, UINT64_MAX };
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();

    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        g_assert_cmpint(ns_radix_insert(tree, keys[i], val(keys[i])), ==, 0);
    g_assert_cmpuint(height_locked(tree), ==, expected_height(UINT64_MAX));
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        g_assert_true(lookup_locked(tree, keys[i]) == val(keys[i]));
    g_assert_null(lookup_locked(tree, KEY_2_52_MINUS_1 + 1));
    g_assert_null(lookup_locked(tree, UINT64_MAX - 2));

    /* Gang lookup crosses the whole key space and stops at UINT64_MAX. */
    void *entries[8];
    uint64_t indices[8];
    urcu_memb_read_lock();
    g_assert_cmpuint(ns_radix_gang_lookup(tree, 0, 8, entries, indices), ==, G_N_ELEMENTS(keys));
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
        g_assert_cmpuint(indices[i], ==, keys[i]);
        g_assert_true(entries[i] == val(keys[i]));
    }
    g_assert_cmpuint(ns_radix_gang_lookup(tree, UINT64_MAX, 8, entries, indices), ==, 1);
    g_assert_cmpuint(indices[0], ==, UINT64_MAX);
    g_assert_cmpuint(ns_radix_gang_lookup(tree, 2, 8, entries, indices), ==, 3);
    g_assert_cmpuint(indices[0], ==, KEY_2_52_MINUS_1);
    urcu_memb_read_unlock();

    for (gsize i = G_N_ELEMENTS(keys); i-- > 0;)
        g_assert_true(ns_radix_delete(tree, keys[i]) == val(keys[i]));
    g_assert_cmpuint(height_locked(tree), ==, 0);
    g_assert_cmpuint(ns_radix_count(tree), ==, 0);
    destroy_and_check(tree, live);
}

/* The only entry at index 0 lives in the root pointer; the tree moves out
 * of that state when a second key arrives and back when it leaves. */
static void
test_direct_root(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();

    g_assert_cmpint(ns_radix_insert(tree, 0, val(100)), ==, 0);
    g_assert_cmpuint(height_locked(tree), ==, 0);
    g_assert_cmpuint(ns_radix_live_nodes(), ==, live); /* no node needed */
    g_assert_true(lookup_locked(tree, 0) == val(100));
    g_assert_null(lookup_locked(tree, 1));
    g_assert_cmpint(ns_radix_tag_set(tree, 0, NS_RADIX_TAG_FAILED), ==, 0);
    g_assert_true(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED));
    g_assert_false(tag_get_locked(tree, 0, NS_RADIX_TAG_MIGRATING));
    g_assert_true(tagged_locked(tree, NS_RADIX_TAG_FAILED));

    /* Out of the direct state: the entry and its tag move into a leaf. */
    g_assert_cmpint(ns_radix_insert(tree, 1, val(1)), ==, 0);
    g_assert_cmpuint(height_locked(tree), ==, 1);
    g_assert_cmpuint(ns_radix_live_nodes(), ==, live + 1);
    g_assert_true(lookup_locked(tree, 0) == val(100));
    g_assert_true(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED));
    g_assert_false(tag_get_locked(tree, 1, NS_RADIX_TAG_FAILED));

    /* And back: the leaf folds into the root pointer, keeping the tags it
     * had in the leaf (changed there, so stale root tags would show). */
    g_assert_cmpint(ns_radix_tag_clear(tree, 0, NS_RADIX_TAG_FAILED), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(tree, 0, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_true(ns_radix_delete(tree, 1) == val(1));
    g_assert_cmpuint(height_locked(tree), ==, 0);
    g_assert_true(lookup_locked(tree, 0) == val(100));
    g_assert_false(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED));
    g_assert_true(tag_get_locked(tree, 0, NS_RADIX_TAG_MIGRATING));
    g_assert_true(tagged_locked(tree, NS_RADIX_TAG_MIGRATING));
    g_assert_false(tagged_locked(tree, NS_RADIX_TAG_FAILED));
    g_assert_cmpint(ns_radix_tag_clear(tree, 0, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(tree, 0, NS_RADIX_TAG_FAILED), ==, 0);
    assert_live_after_grace(live);

    /* A far key from the direct state grows several levels at once. */
    g_assert_cmpint(ns_radix_insert(tree, KEY_2_52_MINUS_1, val(5)), ==, 0);
    g_assert_cmpuint(height_locked(tree), ==, expected_height(KEY_2_52_MINUS_1));
    g_assert_true(lookup_locked(tree, 0) == val(100));
    g_assert_true(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED));
    g_assert_true(ns_radix_delete(tree, KEY_2_52_MINUS_1) == val(5));
    g_assert_cmpuint(height_locked(tree), ==, 0);
    g_assert_true(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED));

    g_assert_true(ns_radix_delete(tree, 0) == val(100));
    g_assert_false(tagged_locked(tree, NS_RADIX_TAG_FAILED));
    g_assert_cmpint(ns_radix_insert(tree, 0, val(3)), ==, 0);
    g_assert_false(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED)); /* tags do not outlive an entry */
    destroy_and_check(tree, live);
}

/* Growth adds levels only at the top and shrink removes them there. */
static void
test_grow_shrink_heights(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();
    unsigned fanout = ns_radix_fanout();
    GArray *keys = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    uint64_t key = 1;

    g_assert_cmpint(ns_radix_insert(tree, 0, val(0)), ==, 0);
    for (;;) {
        g_assert_cmpint(ns_radix_insert(tree, key, val(key)), ==, 0);
        g_array_append_val(keys, key);
        g_assert_cmpuint(height_locked(tree), ==, expected_height(key));
        for (guint i = 0; i < keys->len; i++)
            g_assert_true(lookup_locked(tree, g_array_index(keys, uint64_t, i)) ==
                          val(g_array_index(keys, uint64_t, i)));
        g_assert_true(lookup_locked(tree, 0) == val(0));
        if (key > UINT64_MAX / fanout)
            break;
        key *= fanout;
    }
    /* Deleting the largest key each time drops the height back level by level. */
    for (guint i = keys->len; i-- > 0;) {
        uint64_t k = g_array_index(keys, uint64_t, i);

        g_assert_true(ns_radix_delete(tree, k) == val(k));
        g_assert_cmpuint(height_locked(tree), ==, i == 0 ? 0 : expected_height(g_array_index(keys, uint64_t, i - 1)));
    }
    g_assert_cmpuint(ns_radix_count(tree), ==, 1);
    g_array_unref(keys);
    destroy_and_check(tree, live);
}

/* Readers that took the root before the tree grew, shrank and lost
 * entries still walk valid nodes: removed nodes are freed only after the
 * grace period (under ASan an early free fails this test), a grow leaves
 * the old root intact below the new one, and a shrink leaves the old root
 * pointing at the promoted child. */
static void
test_reader_keeps_old_root(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();
    unsigned fanout = ns_radix_fanout();
    uint64_t n = (uint64_t)fanout * fanout + 3;

    for (uint64_t k = 0; k < n; k++)
        g_assert_cmpint(ns_radix_insert(tree, k, val(k)), ==, 0);

    urcu_memb_read_lock();
    const void *before_grow = ns_radix__root_snapshot(tree);
    g_assert_cmpint(ns_radix_insert(tree, UINT64_MAX, val(UINT64_MAX)), ==, 0);
    for (uint64_t k = 0; k < n; k++)
        g_assert_true(ns_radix__lookup_from(before_grow, k) == val(k));
    g_assert_null(ns_radix__lookup_from(before_grow, UINT64_MAX)); /* beyond its reach */
    g_assert_true(ns_radix_delete(tree, UINT64_MAX) == val(UINT64_MAX));

    /* Shrink to a single leaf: every node above it is retired now. */
    const void *before_shrink = ns_radix__root_snapshot(tree);
    for (uint64_t k = fanout; k < n; k++)
        g_assert_true(ns_radix_delete(tree, k) == val(k));
    g_assert_cmpuint(ns_radix_height(tree), ==, 1);
    for (uint64_t k = 0; k < fanout; k++) {
        g_assert_true(ns_radix__lookup_from(before_shrink, k) == val(k));
        g_assert_true(ns_radix__lookup_from(before_grow, k) == val(k));
    }
    for (uint64_t k = fanout; k < n; k++) {
        g_assert_null(ns_radix__lookup_from(before_shrink, k));
        g_assert_null(ns_radix__lookup_from(before_grow, k));
    }
    urcu_memb_read_unlock();

    assert_live_after_grace(live + 1);
    destroy_and_check(tree, live);
}

static void
test_store(void)
{
    NsRadix *tree = ns_radix_new();
    void *old = val(999);

    g_assert_cmpint(ns_radix_store(tree, 5, val(1), &old), ==, 0);
    g_assert_null(old);
    g_assert_cmpint(ns_radix_tag_set(tree, 5, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_cmpint(ns_radix_store(tree, 5, val(2), &old), ==, 0);
    g_assert_true(old == val(1));
    g_assert_true(lookup_locked(tree, 5) == val(2));
    g_assert_true(tag_get_locked(tree, 5, NS_RADIX_TAG_MIGRATING)); /* replace keeps tags */
    g_assert_cmpint(ns_radix_store(tree, 5, val(3), NULL), ==, 0);
    g_assert_cmpuint(ns_radix_count(tree), ==, 1);
    g_assert_cmpint(ns_radix_store(tree, 0, val(4), &old), ==, 0);
    g_assert_null(old);
    g_assert_cmpint(ns_radix_store(tree, 0, val(6), &old), ==, 0);
    g_assert_true(old == val(4));
    g_assert_cmpuint(ns_radix_count(tree), ==, 2);
    ns_radix_destroy(tree);
}

typedef struct {
    uint64_t index;
    const void *old_entry, *new_entry;
} Change;

static void
record_change(void *data, uint64_t index, const void *old_entry, const void *new_entry)
{
    Change c = { index, old_entry, new_entry };

    g_array_append_val((GArray *)data, c);
}

static void
assert_change(GArray *seen, guint at, uint64_t index, const void *old_entry, const void *new_entry)
{
    g_assert_cmpuint(seen->len, >, at);
    const Change *c = &g_array_index(seen, Change, at);

    g_assert_cmpuint(c->index, ==, index);
    g_assert_true(c->old_entry == old_entry);
    g_assert_true(c->new_entry == new_entry);
}

/*
 * The observer sees every change of an entry once, with the old and the
 * new entry, and nothing for a call that changed nothing (an insert on a
 * taken slot, a replace_if that lost, a delete of nothing, a store of the
 * same entry, tags); after ns_radix_set_observer(NULL) nothing at all.
 */
static void
test_observer(void)
{
    NsRadix *tree = ns_radix_new();
    g_autoptr(GArray) seen = g_array_new(FALSE, FALSE, sizeof(Change));
    void *page = ns_radix_mk_present(0, 0);
    void *marker = ns_radix_mk_marker(page, 1);
    void *moved = ns_radix_mk_present(1, 0);

    g_assert_cmpint(ns_radix_insert(tree, 7, val(7)), ==, 0); /* before: not replayed */
    ns_radix_set_observer(tree, record_change, seen);
    g_assert_cmpint(ns_radix_insert(tree, 1000, page), ==, 0);
    assert_change(seen, 0, 1000, NULL, page);
    g_assert_cmpint(ns_radix_insert(tree, 1000, moved), ==, -EEXIST);
    g_assert_cmpint(ns_radix_replace_if(tree, 1000, moved, marker), ==, -EAGAIN);
    g_assert_cmpint(ns_radix_replace_if(tree, 1001, page, marker), ==, -ENOENT);
    g_assert_cmpint(ns_radix_tag_set(tree, 1000, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_cmpuint(seen->len, ==, 1);
    g_assert_cmpint(ns_radix_replace_if(tree, 1000, page, marker), ==, 0);
    assert_change(seen, 1, 1000, page, marker);
    g_assert_cmpint(ns_radix_store(tree, 1000, moved, NULL), ==, 0);
    assert_change(seen, 2, 1000, marker, moved);
    g_assert_cmpint(ns_radix_store(tree, 1000, moved, NULL), ==, 0); /* the same entry */
    g_assert_cmpuint(seen->len, ==, 3);
    g_assert_cmpint(ns_radix_store(tree, 0, val(1), NULL), ==, 0); /* the direct root */
    assert_change(seen, 3, 0, NULL, val(1));
    g_assert_true(ns_radix_delete(tree, 1000) == moved);
    assert_change(seen, 4, 1000, moved, NULL);
    g_assert_null(ns_radix_delete(tree, 1000));
    g_assert_cmpuint(seen->len, ==, 5);
    ns_radix_set_observer(tree, NULL, NULL);
    g_assert_true(ns_radix_delete(tree, 0) == val(1));
    g_assert_cmpuint(seen->len, ==, 5);
    ns_radix_destroy(tree);
}

static void
test_replace_if_markers(void)
{
    NsRadix *tree = ns_radix_new();
    void *page = ns_radix_mk_present(0, 0);
    void *marker = ns_radix_mk_marker(page, 1);
    void *moved = ns_radix_mk_present(1, 0);

    g_assert_cmpint(ns_radix_insert(tree, 1000, page), ==, 0);
    g_assert_cmpint(ns_radix_replace_if(tree, 1000, moved, marker), ==, -EAGAIN);
    g_assert_true(lookup_locked(tree, 1000) == page);
    g_assert_cmpint(ns_radix_replace_if(tree, 1000, page, marker), ==, 0);
    g_assert_true(ns_radix_is_marker(lookup_locked(tree, 1000)));
    g_assert_cmpint(ns_radix_replace_if(tree, 1000, marker, moved), ==, 0);
    g_assert_true(lookup_locked(tree, 1000) == moved);
    g_assert_cmpint(ns_radix_replace_if(tree, 1001, page, marker), ==, -ENOENT);
    g_assert_cmpint(ns_radix_replace_if(tree, UINT64_MAX, page, marker), ==, -ENOENT);
    /* On the direct root too. */
    g_assert_cmpint(ns_radix_insert(tree, 0, page), ==, 0);
    g_assert_cmpint(ns_radix_replace_if(tree, 0, page, marker), ==, 0);
    g_assert_true(lookup_locked(tree, 0) == marker);
    g_assert_cmpuint(ns_radix_count(tree), ==, 2);
    ns_radix_destroy(tree);
}

static void
test_tags(void)
{
    NsRadix *tree = ns_radix_new();
    unsigned fanout = ns_radix_fanout();
    uint64_t a = 3, b = 4, far = (uint64_t)fanout * fanout * 5 + 1;

    for (uint64_t k = 0; k < 10; k++)
        g_assert_cmpint(ns_radix_insert(tree, k, val(k)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, far, val(far)), ==, 0);
    g_assert_false(tagged_locked(tree, NS_RADIX_TAG_MIGRATING));

    g_assert_cmpint(ns_radix_tag_set(tree, a, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(tree, a, NS_RADIX_TAG_MIGRATING), ==, 0); /* idempotent */
    g_assert_cmpint(ns_radix_tag_set(tree, b, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(tree, far, NS_RADIX_TAG_FAILED), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(tree, 11, NS_RADIX_TAG_FAILED), ==, -ENOENT);
    g_assert_true(tag_get_locked(tree, a, NS_RADIX_TAG_MIGRATING));
    g_assert_false(tag_get_locked(tree, a, NS_RADIX_TAG_FAILED));
    g_assert_false(tag_get_locked(tree, 5, NS_RADIX_TAG_MIGRATING));
    g_assert_false(tag_get_locked(tree, 11, NS_RADIX_TAG_MIGRATING));
    g_assert_true(tagged_locked(tree, NS_RADIX_TAG_MIGRATING));
    g_assert_true(tagged_locked(tree, NS_RADIX_TAG_FAILED));

    void *entries[16];
    uint64_t indices[16];
    urcu_memb_read_lock();
    g_assert_cmpuint(ns_radix_gang_lookup_tag(tree, 0, NS_RADIX_TAG_MIGRATING, 16, entries, indices), ==, 2);
    g_assert_cmpuint(indices[0], ==, a);
    g_assert_cmpuint(indices[1], ==, b);
    g_assert_true(entries[1] == val(b));
    g_assert_cmpuint(ns_radix_gang_lookup_tag(tree, a + 1, NS_RADIX_TAG_MIGRATING, 16, entries, indices), ==, 1);
    g_assert_cmpuint(indices[0], ==, b);
    g_assert_cmpuint(ns_radix_gang_lookup_tag(tree, 0, NS_RADIX_TAG_FAILED, 16, entries, indices), ==, 1);
    g_assert_cmpuint(indices[0], ==, far);
    urcu_memb_read_unlock();

    /* Clearing one of two tagged neighbours keeps the path tagged. */
    g_assert_cmpint(ns_radix_tag_clear(tree, a, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_cmpint(ns_radix_tag_clear(tree, a, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_false(tag_get_locked(tree, a, NS_RADIX_TAG_MIGRATING));
    g_assert_true(tag_get_locked(tree, b, NS_RADIX_TAG_MIGRATING));
    g_assert_true(tagged_locked(tree, NS_RADIX_TAG_MIGRATING));
    g_assert_cmpint(ns_radix_tag_clear(tree, b, NS_RADIX_TAG_MIGRATING), ==, 0);
    g_assert_false(tagged_locked(tree, NS_RADIX_TAG_MIGRATING));
    g_assert_cmpint(ns_radix_tag_clear(tree, 11, NS_RADIX_TAG_MIGRATING), ==, -ENOENT);

    /* Deleting a tagged entry clears its tags all the way up. */
    g_assert_true(ns_radix_delete(tree, far) == val(far));
    g_assert_false(tagged_locked(tree, NS_RADIX_TAG_FAILED));
    g_assert_cmpint(ns_radix_insert(tree, far, val(far)), ==, 0);
    g_assert_false(tag_get_locked(tree, far, NS_RADIX_TAG_FAILED));
    ns_radix_destroy(tree);
}

static void
test_gang_lookup(void)
{
    NsRadix *tree = ns_radix_new();
    unsigned fanout = ns_radix_fanout();
    g_autofree void **entries = g_new0(void *, 600);
    g_autofree uint64_t *indices = g_new0(uint64_t, 600);
    GArray *keys = g_array_new(FALSE, FALSE, sizeof(uint64_t));

    /* Dense runs separated by holes of several node spans. */
    for (uint64_t base = 10; base < 1000000; base = base * 7 + fanout * 3) {
        for (uint64_t k = base; k < base + 20; k++) {
            g_assert_cmpint(ns_radix_insert(tree, k, val(k)), ==, 0);
            g_array_append_val(keys, k);
        }
    }
    g_assert_cmpuint(ns_radix_count(tree), ==, keys->len);

    urcu_memb_read_lock();
    gsize n = ns_radix_gang_lookup(tree, 0, 600, entries, indices);
    g_assert_cmpuint(n, ==, keys->len);
    for (gsize i = 0; i < n; i++) {
        g_assert_cmpuint(indices[i], ==, g_array_index(keys, uint64_t, i));
        g_assert_true(entries[i] == val(indices[i]));
    }
    /* From the middle of a hole, with a small max, without indices. */
    for (guint i = 0; i + 1 < keys->len; i++) {
        uint64_t k = g_array_index(keys, uint64_t, i);
        uint64_t next = g_array_index(keys, uint64_t, i + 1);
        if (next != k + 1) {
            g_assert_cmpuint(ns_radix_gang_lookup(tree, k + 1, 3, entries, NULL), ==, 3);
            g_assert_true(entries[0] == val(next));
            g_assert_true(entries[2] == val(next + 2));
        }
    }
    g_assert_cmpuint(ns_radix_gang_lookup(tree, 0, 0, entries, indices), ==, 0);
    uint64_t last = g_array_index(keys, uint64_t, keys->len - 1);
    g_assert_cmpuint(ns_radix_gang_lookup(tree, last, 10, entries, indices), ==, 1);
    g_assert_cmpuint(ns_radix_gang_lookup(tree, last + 1, 10, entries, indices), ==, 0);
    urcu_memb_read_unlock();
    g_array_unref(keys);
    ns_radix_destroy(tree);
}

static void
test_iter(void)
{
    NsRadix *tree = ns_radix_new();
    NsRadixIter it;
    uint64_t index = 0, expect;
    void *e;
    guint seen = 0;

    /* More entries than one iterator batch, with holes. */
    for (uint64_t k = 100; k < 400; k += 3)
        g_assert_cmpint(ns_radix_insert(tree, k, val(k)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, UINT64_MAX, val(UINT64_MAX)), ==, 0);

    urcu_memb_read_lock();
    ns_radix_iter_init(&it, 150, 300);
    expect = 151; /* first multiple of 3 plus 1 at or after 150 */
    while ((e = ns_radix_iter_next(tree, &it, &index))) {
        g_assert_cmpuint(index, ==, expect);
        g_assert_true(e == val(index));
        expect += 3;
        seen++;
    }
    g_assert_cmpuint(seen, ==, (298 - 151) / 3 + 1);
    g_assert_null(ns_radix_iter_next(tree, &it, &index)); /* stays at the end */

    ns_radix_iter_init(&it, 0, UINT64_MAX);
    seen = 0;
    while ((e = ns_radix_iter_next(tree, &it, &index)))
        seen++;
    g_assert_cmpuint(seen, ==, ns_radix_count(tree));
    g_assert_cmpuint(index, ==, UINT64_MAX);

    ns_radix_iter_init(&it, 300, 200); /* empty range */
    g_assert_null(ns_radix_iter_next(tree, &it, &index));
    ns_radix_iter_init(&it, UINT64_MAX, UINT64_MAX);
    g_assert_true(ns_radix_iter_next(tree, &it, NULL) == val(UINT64_MAX));
    g_assert_null(ns_radix_iter_next(tree, &it, NULL));
    urcu_memb_read_unlock();
    ns_radix_destroy(tree);
}

static void
test_accounting(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();
    size_t empty = ns_radix_memory_used(tree);
    unsigned fanout = ns_radix_fanout();
    uint64_t n = (uint64_t)fanout * fanout * 4;

    g_assert_cmpuint(fanout & (fanout - 1), ==, 0);
    for (uint64_t k = 0; k < n; k++)
        g_assert_cmpint(ns_radix_insert(tree, k, val(k)), ==, 0);
    g_assert_cmpuint(ns_radix_count(tree), ==, n);
    g_assert_cmpuint(ns_radix_memory_used(tree), >, empty);
    g_assert_cmpuint(ns_radix_live_nodes(), >, live);
    /* Dense: the tree costs about one slot per entry plus node headers. */
    g_assert_cmpuint((ns_radix_memory_used(tree) - empty) / n, <=, 8 + 8 * 48 / fanout);
    for (uint64_t k = 0; k < n; k++)
        g_assert_nonnull(ns_radix_delete(tree, k));
    g_assert_cmpuint(ns_radix_memory_used(tree), ==, empty);
    destroy_and_check(tree, live);
}

/* An insert that runs out of memory part-way through building its path
 * (growing from the direct root to full height needs many nodes) must
 * leave the tree exactly as it was, with no node leaked. */
static void
test_enomem_leaves_tree_unchanged(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();
    int fail_at;

    g_assert_cmpint(ns_radix_insert(tree, 0, val(0)), ==, 0);
    g_assert_cmpint(ns_radix_tag_set(tree, 0, NS_RADIX_TAG_FAILED), ==, 0);
    for (fail_at = 0;; fail_at++) {
        ns_radix__inject_alloc_failure(fail_at);
        int r = ns_radix_insert(tree, UINT64_MAX, val(UINT64_MAX));
        ns_radix__inject_alloc_failure(-1);
        if (r == 0)
            break;
        g_assert_cmpint(r, ==, -ENOMEM);
        g_assert_cmpuint(ns_radix_live_nodes(), ==, live);
        g_assert_cmpuint(height_locked(tree), ==, 0);
        g_assert_cmpuint(ns_radix_count(tree), ==, 1);
        g_assert_true(lookup_locked(tree, 0) == val(0));
        g_assert_true(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED));
        g_assert_null(lookup_locked(tree, UINT64_MAX));
    }
    /* A root of full height (the entry at 0 its slot 0's direct entry) and
     * the far path below it. */
    g_assert_cmpint(fail_at, ==, (int)expected_height(UINT64_MAX));
    g_assert_true(lookup_locked(tree, UINT64_MAX) == val(UINT64_MAX));
    g_assert_true(tag_get_locked(tree, 0, NS_RADIX_TAG_FAILED));

    /* A failed insert into an existing path needs no node and cannot fail. */
    ns_radix__inject_alloc_failure(0);
    g_assert_cmpint(ns_radix_insert(tree, UINT64_MAX - 1, val(7)), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, UINT64_MAX - 1, val(8)), ==, -EEXIST);
    /* (An index that starts a slot would sit there directly, nodeless.) */
    g_assert_cmpint(ns_radix_store(tree, (1ull << 40) | 1, val(9), NULL), ==, -ENOMEM);
    ns_radix__inject_alloc_failure(-1);
    g_assert_null(lookup_locked(tree, (1ull << 40) | 1));
    destroy_and_check(tree, live);
}

/*
 * Direct entries in interior slots.  An entry whose index starts a slot of
 * an interior node sits in that slot itself while nothing else falls in the
 * slot's range: the head of a 2 MiB page (gfn a multiple of 512) costs one
 * slot, not a leaf of its own.  The tree once kept a leaf per huge page:
 * 1.2 B of tree per 4 KiB of THP-backed guest memory, 24 times issue #10's
 * target (bench/ns-scale-bench).  Here: keys F apart (F the fanout) fill
 * height-2 nodes with no leaf at all; a key beside one pushes it down into
 * a leaf with its tags; deleting that key folds the leaf back.
 */
static void
test_direct_interior(void)
{
    uint64_t live = live_baseline();
    NsRadix *tree = ns_radix_new();
    uint64_t fanout = ns_radix_fanout();
    uint64_t n = fanout * fanout; /* keys 0, F, 2F, ... F^3 - F: a height-3 tree */
    void *entries[8];
    uint64_t indices[8];

    for (uint64_t k = 0; k < n; k++)
        g_assert_cmpint(ns_radix_insert(tree, k * fanout, val(k * fanout)), ==, 0);
    g_assert_cmpuint(height_locked(tree), ==, 3);
    /* The root and its F children of height 2; no leaf. */
    g_assert_cmpuint(ns_radix_live_nodes(), ==, live + 1 + fanout);
    g_assert_true(lookup_locked(tree, fanout) == val(fanout));
    g_assert_null(lookup_locked(tree, fanout + 1));
    g_assert_null(lookup_locked(tree, fanout - 1));

    /* Push-down: a key beside a direct entry makes a leaf holding both. */
    g_assert_cmpint(ns_radix_tag_set(tree, fanout, NS_RADIX_TAG_FAILED), ==, 0);
    g_assert_cmpint(ns_radix_insert(tree, fanout + 1, val(fanout + 1)), ==, 0);
    g_assert_cmpuint(ns_radix_live_nodes(), ==, live + 2 + fanout);
    g_assert_true(lookup_locked(tree, fanout) == val(fanout));
    g_assert_true(lookup_locked(tree, fanout + 1) == val(fanout + 1));
    g_assert_true(tag_get_locked(tree, fanout, NS_RADIX_TAG_FAILED));
    g_assert_false(tag_get_locked(tree, fanout + 1, NS_RADIX_TAG_FAILED));
    urcu_memb_read_lock();
    g_assert_cmpuint(ns_radix_gang_lookup(tree, 1, 3, entries, indices), ==, 3);
    urcu_memb_read_unlock();
    g_assert_cmpuint(indices[0], ==, fanout);
    g_assert_cmpuint(indices[1], ==, fanout + 1);
    g_assert_cmpuint(indices[2], ==, 2 * fanout);
    urcu_memb_read_lock();
    g_assert_cmpuint(ns_radix_gang_lookup_tag(tree, 0, NS_RADIX_TAG_FAILED, 8, entries, indices), ==, 1);
    urcu_memb_read_unlock();
    g_assert_cmpuint(indices[0], ==, fanout);

    /* Fold: the leaf's last entry, in slot 0, goes back up with its tag. */
    g_assert_true(ns_radix_delete(tree, fanout + 1) == val(fanout + 1));
    assert_live_after_grace(live + 1 + fanout);
    g_assert_true(lookup_locked(tree, fanout) == val(fanout));
    g_assert_true(tag_get_locked(tree, fanout, NS_RADIX_TAG_FAILED));
    g_assert_cmpint(ns_radix_tag_clear(tree, fanout, NS_RADIX_TAG_FAILED), ==, 0);
    g_assert_false(tagged_locked(tree, NS_RADIX_TAG_FAILED));

    /* A gang lookup from inside a direct entry's slot skips it. */
    urcu_memb_read_lock();
    g_assert_cmpuint(ns_radix_gang_lookup(tree, fanout + 1, 1, entries, indices), ==, 1);
    urcu_memb_read_unlock();
    g_assert_cmpuint(indices[0], ==, 2 * fanout);
    g_assert_cmpuint(ns_radix_count(tree), ==, n);
    destroy_and_check(tree, live);
}

int
main(int argc, char **argv)
{
    int r;

    g_test_init(&argc, &argv, NULL);
    urcu_memb_register_thread();

    g_test_add_func("/radix/entry/value", test_value_entries);
    g_test_add_func("/radix/entry/page", test_page_entries);
    g_test_add_func("/radix/empty", test_empty);
    g_test_add_func("/radix/invalid-entries", test_invalid_entries);
    g_test_add_func("/radix/insert-lookup-delete", test_insert_lookup_delete);
    g_test_add_func("/radix/edge-keys", test_edge_keys);
    g_test_add_func("/radix/direct-root", test_direct_root);
    g_test_add_func("/radix/direct-interior", test_direct_interior);
    g_test_add_func("/radix/grow-shrink-heights", test_grow_shrink_heights);
    g_test_add_func("/radix/reader-keeps-old-root", test_reader_keeps_old_root);
    g_test_add_func("/radix/store", test_store);
    g_test_add_func("/radix/replace-if-markers", test_replace_if_markers);
    g_test_add_func("/radix/observer", test_observer);
    g_test_add_func("/radix/tags", test_tags);
    g_test_add_func("/radix/gang-lookup", test_gang_lookup);
    g_test_add_func("/radix/iter", test_iter);
    g_test_add_func("/radix/accounting", test_accounting);
    g_test_add_func("/radix/enomem-leaves-tree-unchanged", test_enomem_leaves_tree_unchanged);

    r = g_test_run();
    urcu_memb_barrier();
    urcu_memb_unregister_thread();
    return r;
}
