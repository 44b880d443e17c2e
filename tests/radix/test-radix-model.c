/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Model-based randomized test: a long seeded run of random tree operations,
 * each checked against a reference model (an ordered GTree of entries plus
 * their tags).  Reproduce a failure with the seed it prints:
 *
 *     test-radix-model --seed S --ops N
 *
 * Keys mix dense runs (near 0 and around 2^52, where guest frame numbers
 * live), a pool of random 64-bit keys and the edges 0 and UINT64_MAX, so
 * every operation sees direct roots, growth, shrink and deep paths.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu/urcu-memb.h>

#include "numashift/radix.h"

typedef struct {
    void *entry;
    unsigned tags;
} ModelSlot;

typedef struct {
    NsRadix *tree;
    GTree *model; /* uint64_t key (as pointer) -> ModelSlot* */
    GRand *rand;
    uint64_t seed;
    uint64_t op;
    uint64_t pool[256];
    uint64_t checks;
} Model;

#define CHECK(m, cond)                                                                      \
    do {                                                                                    \
        (m)->checks++;                                                                      \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\nseed=%" PRIu64 " op=%" PRIu64 "\n"             \
                    "reproduce: %s --seed %" PRIu64 " --ops %" PRIu64 "\n",                 \
                    __FILE__, __LINE__, #cond, (m)->seed, (m)->op, g_get_prgname(),         \
                    (m)->seed, (m)->op + 1);                                                \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

static gint
key_cmp(gconstpointer a, gconstpointer b, gpointer unused)
{
    uint64_t x = (uint64_t)(uintptr_t)a, y = (uint64_t)(uintptr_t)b;

    return x < y ? -1 : x > y;
}

static uint64_t
rand64(Model *m)
{
    return ((uint64_t)g_rand_int(m->rand) << 32) | g_rand_int(m->rand);
}

static uint64_t
pick_key(Model *m)
{
    unsigned r = (unsigned)g_rand_int_range(m->rand, 0, 100);

    if (r < 45)
        return (uint64_t)g_rand_int_range(m->rand, 0, 3000);
    if (r < 65)
        return (UINT64_C(1) << 52) - 1500 + (uint64_t)g_rand_int_range(m->rand, 0, 3000);
    if (r < 90)
        return m->pool[g_rand_int_range(m->rand, 0, G_N_ELEMENTS(m->pool))];
    static const uint64_t edges[] = { 0, 1, 2, UINT64_MAX, UINT64_MAX - 1, UINT32_MAX,
                                      (uint64_t)UINT32_MAX + 1 };
    return edges[g_rand_int_range(m->rand, 0, G_N_ELEMENTS(edges))];
}

/* A fresh entry: mostly value entries, sometimes an aligned fake pointer. */
static void *
make_entry(Model *m, uint64_t key)
{
    if (g_rand_int_range(m->rand, 0, 8) == 0)
        return (void *)(uintptr_t)(0x100000 + ((key & 0xffffff) << 4) + 4 * (uint64_t)g_rand_int_range(m->rand, 1, 4));
    return ns_radix_mk_value((key ^ rand64(m)) & NS_RADIX_VALUE_MAX);
}

static ModelSlot *
model_get(Model *m, uint64_t key)
{
    return g_tree_lookup(m->model, (gconstpointer)(uintptr_t)key);
}

static void
model_set(Model *m, uint64_t key, void *entry, unsigned tags)
{
    ModelSlot *s = g_new(ModelSlot, 1);

    s->entry = entry;
    s->tags = tags;
    g_tree_replace(m->model, (gpointer)(uintptr_t)key, s);
}

static unsigned
expected_height(uint64_t max_key)
{
    unsigned shift = (unsigned)__builtin_ctz(ns_radix_fanout());
    unsigned h = 0;

    while (h * shift < 64 && (max_key >> (h * shift)) != 0)
        h++;
    return h;
}

static uint64_t
model_max_key(Model *m)
{
    GTreeNode *last = g_tree_node_last(m->model);

    return last ? (uint64_t)(uintptr_t)g_tree_node_key(last) : 0;
}

static void
check_gang(Model *m, uint64_t first, int tag, size_t max)
{
    void *entries[40];
    uint64_t indices[40];
    size_t n;
    GTreeNode *node;
    size_t i = 0;

    urcu_memb_read_lock();
    n = tag < 0 ? ns_radix_gang_lookup(m->tree, first, max, entries, indices)
                : ns_radix_gang_lookup_tag(m->tree, first, (NsRadixTag)tag, max, entries, indices);
    urcu_memb_read_unlock();

    node = g_tree_lower_bound(m->model, (gconstpointer)(uintptr_t)first);
    for (; node && i < max; node = g_tree_node_next(node)) {
        ModelSlot *s = g_tree_node_value(node);
        uint64_t key = (uint64_t)(uintptr_t)g_tree_node_key(node);

        if (tag >= 0 && !(s->tags & (1u << tag)))
            continue;
        CHECK(m, i < n);
        CHECK(m, indices[i] == key);
        CHECK(m, entries[i] == s->entry);
        i++;
    }
    CHECK(m, i == n);
}

static void
check_iter(Model *m, uint64_t first, uint64_t last)
{
    NsRadixIter it;
    uint64_t index;
    void *e;
    GTreeNode *node = g_tree_lower_bound(m->model, (gconstpointer)(uintptr_t)first);

    urcu_memb_read_lock();
    ns_radix_iter_init(&it, first, last);
    while ((e = ns_radix_iter_next(m->tree, &it, &index))) {
        CHECK(m, node != NULL);
        CHECK(m, (uint64_t)(uintptr_t)g_tree_node_key(node) == index);
        CHECK(m, ((ModelSlot *)g_tree_node_value(node))->entry == e);
        node = g_tree_node_next(node);
    }
    urcu_memb_read_unlock();
    CHECK(m, node == NULL || (uint64_t)(uintptr_t)g_tree_node_key(node) > last);
}

/* The whole tree against the whole model: entries, tags, count, height. */
static void
check_all(Model *m)
{
    unsigned any_tag[NS_RADIX_TAG_COUNT] = { 0 };

    CHECK(m, ns_radix_count(m->tree) == (uint64_t)g_tree_nnodes(m->model));
    check_iter(m, 0, UINT64_MAX);
    urcu_memb_read_lock();
    for (GTreeNode *node = g_tree_node_first(m->model); node; node = g_tree_node_next(node)) {
        ModelSlot *s = g_tree_node_value(node);
        uint64_t key = (uint64_t)(uintptr_t)g_tree_node_key(node);

        CHECK(m, ns_radix_lookup(m->tree, key) == s->entry);
        for (unsigned t = 0; t < NS_RADIX_TAG_COUNT; t++) {
            CHECK(m, ns_radix_tag_get(m->tree, key, (NsRadixTag)t) == !!(s->tags & (1u << t)));
            any_tag[t] |= s->tags & (1u << t);
        }
    }
    for (unsigned t = 0; t < NS_RADIX_TAG_COUNT; t++)
        CHECK(m, ns_radix_tagged(m->tree, (NsRadixTag)t) == !!any_tag[t]);
    CHECK(m, ns_radix_height(m->tree) == expected_height(model_max_key(m)));
    urcu_memb_read_unlock();
}

static void
one_op(Model *m)
{
    uint64_t key = pick_key(m);
    ModelSlot *s = model_get(m, key);
    unsigned tag = (unsigned)g_rand_int_range(m->rand, 0, NS_RADIX_TAG_COUNT);
    void *entry, *old;
    int r;

    switch (g_rand_int_range(m->rand, 0, 11)) {
    case 0: case 1: /* insert */
        entry = make_entry(m, key);
        r = ns_radix_insert(m->tree, key, entry);
        CHECK(m, r == (s ? -EEXIST : 0));
        if (!s)
            model_set(m, key, entry, 0);
        break;
    case 2: /* store */
        entry = make_entry(m, key);
        old = (void *)1;
        r = ns_radix_store(m->tree, key, entry, &old);
        CHECK(m, r == 0);
        CHECK(m, old == (s ? s->entry : NULL));
        model_set(m, key, entry, s ? s->tags : 0);
        break;
    case 3: case 4: /* delete */
        old = ns_radix_delete(m->tree, key);
        CHECK(m, old == (s ? s->entry : NULL));
        if (s)
            g_tree_remove(m->model, (gconstpointer)(uintptr_t)key);
        break;
    case 5: /* replace_if, with the right or a wrong expected entry */
        entry = make_entry(m, key);
        if (s && g_rand_boolean(m->rand)) {
            CHECK(m, ns_radix_replace_if(m->tree, key, s->entry, entry) == 0);
            s->entry = entry;
        } else {
            void *wrong = ns_radix_mk_value(NS_RADIX_VALUE_MAX - (key & 0xff));
            r = ns_radix_replace_if(m->tree, key, wrong, entry);
            CHECK(m, r == (s ? (s->entry == wrong ? 0 : -EAGAIN) : -ENOENT));
            if (s && r == 0)
                s->entry = entry;
        }
        break;
    case 6: /* tag set */
        CHECK(m, ns_radix_tag_set(m->tree, key, (NsRadixTag)tag) == (s ? 0 : -ENOENT));
        if (s)
            s->tags |= 1u << tag;
        break;
    case 7: /* tag clear */
        CHECK(m, ns_radix_tag_clear(m->tree, key, (NsRadixTag)tag) == (s ? 0 : -ENOENT));
        if (s)
            s->tags &= ~(1u << tag);
        break;
    case 8: /* lookups */
        urcu_memb_read_lock();
        CHECK(m, ns_radix_lookup(m->tree, key) == (s ? s->entry : NULL));
        CHECK(m, ns_radix_tag_get(m->tree, key, (NsRadixTag)tag) == (s && (s->tags & (1u << tag))));
        urcu_memb_read_unlock();
        break;
    case 9: /* gang lookups, plain and tagged */
        check_gang(m, key, -1, (size_t)g_rand_int_range(m->rand, 1, 40));
        check_gang(m, key, (int)tag, (size_t)g_rand_int_range(m->rand, 1, 40));
        break;
    case 10: /* a bounded range */
        check_iter(m, key, key + (uint64_t)g_rand_int_range(m->rand, 0, 5000));
        break;
    }
}

/* Empty the tree now and then, so shrink runs down to nothing. */
static void
drain(Model *m)
{
    /* Descending drains keep index 0 to the end, where it folds into the root. */
    int mode = g_rand_int_range(m->rand, 0, 3);

    while (g_tree_nnodes(m->model) > 0) {
        bool from_top = mode == 0 || (mode == 2 && g_rand_boolean(m->rand));
        GTreeNode *node = from_top ? g_tree_node_last(m->model) : g_tree_node_first(m->model);
        uint64_t key = (uint64_t)(uintptr_t)g_tree_node_key(node);
        void *entry = ((ModelSlot *)g_tree_node_value(node))->entry;

        CHECK(m, ns_radix_delete(m->tree, key) == entry);
        g_tree_remove(m->model, (gconstpointer)(uintptr_t)key);
        if (g_tree_nnodes(m->model) <= 3)
            check_all(m); /* the last few deletes shrink to a direct root */
    }
    CHECK(m, ns_radix_count(m->tree) == 0);
    urcu_memb_read_lock();
    CHECK(m, ns_radix_height(m->tree) == 0);
    urcu_memb_read_unlock();
}

int
main(int argc, char **argv)
{
    gint64 ops = 1000000, seed = -1;
    GOptionEntry options[] = {
        { "ops", 0, 0, G_OPTION_ARG_INT64, &ops, "Operations to run", "N" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (default: from the clock)", "S" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- radix tree model-based test");
    g_autoptr(GError) error = NULL;
    Model m = { 0 };

    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "test-radix-model: %s\n", error->message);
        return 2;
    }
    if (ops < 1) {
        fprintf(stderr, "test-radix-model: --ops must be positive\n");
        return 2;
    }
    m.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)g_get_real_time();
    printf("test-radix-model: seed=%" PRIu64 " ops=%" G_GINT64_FORMAT " fanout=%u\n",
           m.seed, ops, ns_radix_fanout());
    fflush(stdout);

    urcu_memb_register_thread();
    m.rand = g_rand_new_with_seed_array((const guint32[]){ (guint32)m.seed, (guint32)(m.seed >> 32) }, 2);
    for (gsize i = 0; i < G_N_ELEMENTS(m.pool); i++)
        m.pool[i] = rand64(&m);
    m.tree = ns_radix_new();
    m.model = g_tree_new_full(key_cmp, NULL, NULL, g_free);

    for (m.op = 0; m.op < (uint64_t)ops; m.op++) {
        one_op(&m);
        if (m.op % 20000 == 19999)
            check_all(&m);
        if (m.op % 250000 == 249999)
            drain(&m);
    }
    check_all(&m);

    ns_radix_destroy(m.tree);
    urcu_memb_barrier();
    CHECK(&m, ns_radix_live_nodes() == 0);
    printf("test-radix-model: %" PRIu64 " operations, %" PRIu64 " checks passed\n", m.op, m.checks);
    g_tree_destroy(m.model);
    g_rand_free(m.rand);
    urcu_memb_unregister_thread();
    return 0;
}
