/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Concurrency stress (rcutorture-style): reader threads do lookups, gang
 * lookups, tagged gang lookups and range iterations while one writer
 * inserts, deletes, stores, swaps migration markers, tags, and now and then
 * empties whole regions so the tree shrinks and grows at the top.
 *
 * Every value the writer stores encodes its own key:
 *
 *     value = key << 8 | kind << 6 | generation      (kind: 1 page, 2 marker)
 *
 * so a reader can tell when it sees an entry that belongs to another key
 * (a torn walk, a slot published too early) or one that was never stored
 * (garbage from a freed node).  Built with ASan and call_rcu(), a node freed
 * before its grace period ends shows up as a use-after-free; built with TSan
 * (and deferred frees), any publication without the right ordering shows up
 * as a data race.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu/urcu-memb.h>

#include "numashift/radix.h"

#define KEY_BITS 52
#define KIND_PAGE 1u
#define KIND_MARKER 2u
#define DENSE_KEYS 20000u
#define SPARSE_KEYS 2048u

typedef struct {
    NsRadix *tree;
    gint stop;
    gint failed;
    uint64_t sparse[SPARSE_KEYS];
    guint64 seed;
} Shared;

typedef struct {
    Shared *shared;
    unsigned id;
    uint64_t lookups, hits, gangs, gang_entries, iterations;
} Reader;

static void *
encode(uint64_t key, unsigned kind, unsigned gen)
{
    return ns_radix_mk_value((key << 8) | (kind << 6) | (gen & 63u));
}

static void
fail(Shared *sh, const char *what, uint64_t key, const void *entry)
{
    fprintf(stderr, "FAIL: %s: key=%" PRIu64 " entry=%p seed=%" G_GUINT64_FORMAT "\n",
            what, key, entry, sh->seed);
    g_atomic_int_set(&sh->failed, 1);
    g_atomic_int_set(&sh->stop, 1);
}

/* An entry found at @key must be one the writer could have stored there. */
static void
check_entry(Shared *sh, uint64_t key, const void *entry)
{
    uint64_t v;
    unsigned kind;

    if (!ns_radix_is_value(entry)) {
        fail(sh, "not a value entry", key, entry);
        return;
    }
    v = ns_radix_to_value(entry);
    kind = (unsigned)(v >> 6) & 3u;
    if ((v >> 8) != key)
        fail(sh, "entry belongs to another key", key, entry);
    else if (kind != KIND_PAGE && kind != KIND_MARKER)
        fail(sh, "entry was never stored", key, entry);
}

static uint64_t
pick_key(Shared *sh, GRand *rand)
{
    unsigned r = (unsigned)g_rand_int_range(rand, 0, 10);

    if (r < 6)
        return (uint64_t)g_rand_int_range(rand, 0, DENSE_KEYS);
    if (r < 9)
        return sh->sparse[g_rand_int_range(rand, 0, SPARSE_KEYS)];
    return (UINT64_C(1) << KEY_BITS) - 1 - (uint64_t)g_rand_int_range(rand, 0, 64);
}

static gpointer
reader_thread(gpointer data)
{
    Reader *rd = data;
    Shared *sh = rd->shared;
    g_autoptr(GRand) rand = g_rand_new_with_seed((guint32)(sh->seed + rd->id * 7919u));
    void *entries[64];
    uint64_t indices[64];

    urcu_memb_register_thread();
    while (!g_atomic_int_get(&sh->stop)) {
        uint64_t key = pick_key(sh, rand);
        unsigned what = (unsigned)g_rand_int_range(rand, 0, 16);

        urcu_memb_read_lock();
        if (what < 12) {
            void *e = ns_radix_lookup(sh->tree, key);

            rd->lookups++;
            if (e) {
                rd->hits++;
                check_entry(sh, key, e);
            }
        } else if (what < 15) {
            int tag = what == 14 ? (int)g_rand_int_range(rand, 0, NS_RADIX_TAG_COUNT) : -1;
            size_t max = (size_t)g_rand_int_range(rand, 1, 65);
            size_t n = tag < 0 ? ns_radix_gang_lookup(sh->tree, key, max, entries, indices)
                               : ns_radix_gang_lookup_tag(sh->tree, key, (NsRadixTag)tag, max,
                                                          entries, indices);

            rd->gangs++;
            rd->gang_entries += n;
            if (n > max)
                fail(sh, "gang lookup overran max", key, NULL);
            for (size_t i = 0; i < n && i < max; i++) {
                if (indices[i] < key || (i > 0 && indices[i] <= indices[i - 1]))
                    fail(sh, "gang lookup out of order", indices[i], entries[i]);
                check_entry(sh, indices[i], entries[i]);
            }
        } else {
            NsRadixIter it;
            uint64_t index, prev = 0;
            bool first = true;
            void *e;

            ns_radix_iter_init(&it, key, key + 300);
            while ((e = ns_radix_iter_next(sh->tree, &it, &index))) {
                if (index < key || index > key + 300 || (!first && index <= prev))
                    fail(sh, "iteration out of range or order", index, e);
                check_entry(sh, index, e);
                prev = index;
                first = false;
            }
            rd->iterations++;
        }
        urcu_memb_read_unlock();
    }
    urcu_memb_unregister_thread();
    return NULL;
}

typedef struct {
    uint64_t inserts, deletes, stores, swaps, tags, drains;
} WriterStats;

/* Writer: the only thread that changes the tree.  @model mirrors it. */
static void
writer_run(Shared *sh, double seconds, WriterStats *st)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed((guint32)sh->seed);
    g_autoptr(GHashTable) model = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_autoptr(GArray) keys = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    gint64 end = g_get_monotonic_time() + (gint64)(seconds * G_USEC_PER_SEC);
    unsigned gen = 0;
    uint64_t ops = 0;
    int r;

    /* Keys live in @keys; the model maps a key to its current entry. */
    g_array_set_size(keys, DENSE_KEYS + SPARSE_KEYS + 64);
    {
        guint n = 0;
        for (uint64_t k = 0; k < DENSE_KEYS; k++)
            g_array_index(keys, uint64_t, n++) = k;
        for (unsigned i = 0; i < SPARSE_KEYS; i++)
            g_array_index(keys, uint64_t, n++) = sh->sparse[i];
        for (uint64_t k = 0; k < 64; k++)
            g_array_index(keys, uint64_t, n++) = (UINT64_C(1) << KEY_BITS) - 1 - k;
    }

    while (!g_atomic_int_get(&sh->stop)) {
        uint64_t *key = &g_array_index(keys, uint64_t, g_rand_int_range(rand, 0, (gint32)keys->len));
        void *cur = g_hash_table_lookup(model, key);
        unsigned op = (unsigned)g_rand_int_range(rand, 0, 100);

        gen++;
        if (op < 35) {
            void *e = encode(*key, KIND_PAGE, gen);

            r = ns_radix_insert(sh->tree, *key, e);
            if (r != (cur ? -EEXIST : 0))
                fail(sh, "insert result", *key, e);
            if (!cur)
                g_hash_table_insert(model, key, e);
            st->inserts++;
        } else if (op < 60) {
            void *old = ns_radix_delete(sh->tree, *key);

            if (old != cur)
                fail(sh, "delete returned another entry", *key, old);
            g_hash_table_remove(model, key);
            st->deletes++;
        } else if (op < 70) {
            void *e = encode(*key, KIND_PAGE, gen), *old = NULL;

            if (ns_radix_store(sh->tree, *key, e, &old) != 0 || old != cur)
                fail(sh, "store", *key, old);
            g_hash_table_insert(model, key, e);
            st->stores++;
        } else if (op < 90 && cur && (ns_radix_to_value(cur) >> 6 & 3u) == KIND_MARKER) {
            /* Finish a move left in flight earlier. */
            void *done = encode(*key, KIND_PAGE, gen);

            if (ns_radix_replace_if(sh->tree, *key, cur, done) != 0)
                fail(sh, "finishing an earlier marker", *key, cur);
            ns_radix_tag_clear(sh->tree, *key, NS_RADIX_TAG_MIGRATING);
            g_hash_table_insert(model, key, done);
            st->swaps++;
        } else if (op < 90 && cur) {
            /* Swap in a migration marker, as the engine does, then out. */
            void *marker = encode(*key, KIND_MARKER, gen);
            void *done = encode(*key, KIND_PAGE, gen + 1);

            if (ns_radix_replace_if(sh->tree, *key, cur, marker) != 0)
                fail(sh, "marker swap in", *key, cur);
            ns_radix_tag_set(sh->tree, *key, NS_RADIX_TAG_MIGRATING);
            if (ns_radix_replace_if(sh->tree, *key, cur, done) != -EAGAIN)
                fail(sh, "stale replace_if succeeded", *key, cur);
            if (g_rand_boolean(rand)) {
                if (ns_radix_replace_if(sh->tree, *key, marker, done) != 0)
                    fail(sh, "marker swap out", *key, marker);
                ns_radix_tag_clear(sh->tree, *key, NS_RADIX_TAG_MIGRATING);
                g_hash_table_insert(model, key, done);
            } else {
                g_hash_table_insert(model, key, marker); /* left in flight */
            }
            st->swaps++;
        } else if (op < 99 && cur) {
            NsRadixTag tag = (NsRadixTag)g_rand_int_range(rand, 0, NS_RADIX_TAG_COUNT);

            r = g_rand_boolean(rand) ? ns_radix_tag_set(sh->tree, *key, tag)
                                     : ns_radix_tag_clear(sh->tree, *key, tag);
            if (r != 0)
                fail(sh, "tag on present key", *key, cur);
            st->tags++;
        } else if (op == 99 && g_rand_int_range(rand, 0, 500) == 0) {
            /* Empty everything but the low dense keys: the tree shrinks to
             * a few levels; later inserts grow it back at the top. */
            GHashTableIter it;
            gpointer k, v;

            g_hash_table_iter_init(&it, model);
            while (g_hash_table_iter_next(&it, &k, &v)) {
                if (*(uint64_t *)k >= 64 && ns_radix_delete(sh->tree, *(uint64_t *)k) != v)
                    fail(sh, "drain delete", *(uint64_t *)k, v);
                if (*(uint64_t *)k >= 64)
                    g_hash_table_iter_remove(&it);
            }
            st->drains++;
        }
        if (++ops % 1024 == 0 && g_get_monotonic_time() >= end)
            break;
    }

    /* The tree must now hold exactly the model. */
    if (ns_radix_count(sh->tree) != g_hash_table_size(model))
        fail(sh, "final count", ns_radix_count(sh->tree), NULL);
    urcu_memb_read_lock();
    for (guint i = 0; i < keys->len; i++) {
        uint64_t *key = &g_array_index(keys, uint64_t, i);

        if (ns_radix_lookup(sh->tree, *key) != g_hash_table_lookup(model, key))
            fail(sh, "final content", *key, ns_radix_lookup(sh->tree, *key));
    }
    urcu_memb_read_unlock();
}

int
main(int argc, char **argv)
{
    gint readers = 3;
    gdouble seconds = 10.0;
    gint64 seed = -1;
    GOptionEntry options[] = {
        { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "How long to run", "S" },
        { "readers", 0, 0, G_OPTION_ARG_INT, &readers, "Reader threads", "N" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed", "S" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- radix tree concurrency stress");
    g_autoptr(GError) error = NULL;
    g_autofree Reader *rds = NULL;
    g_autofree GThread **threads = NULL;
    Shared sh = { 0 };
    WriterStats st = { 0 };
    uint64_t lookups = 0, hits = 0, gangs = 0, gang_entries = 0, iterations = 0;

    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "test-radix-stress: %s\n", error->message);
        return 2;
    }
    if (readers < 1 || readers > 64 || seconds <= 0) {
        fprintf(stderr, "test-radix-stress: --readers must be 1..64 and --seconds positive\n");
        return 2;
    }
    sh.seed = seed >= 0 ? (guint64)seed : (guint64)g_get_real_time();
    printf("test-radix-stress: seed=%" G_GUINT64_FORMAT " readers=%d seconds=%.1f fanout=%u\n",
           sh.seed, readers, seconds, ns_radix_fanout());
    fflush(stdout);

    urcu_memb_register_thread();
    {
        g_autoptr(GRand) rand = g_rand_new_with_seed((guint32)(sh.seed >> 7));
        for (unsigned i = 0; i < SPARSE_KEYS; i++)
            sh.sparse[i] = (((uint64_t)g_rand_int(rand) << 32) | g_rand_int(rand)) >> (64 - KEY_BITS);
    }
    sh.tree = ns_radix_new();
    rds = g_new0(Reader, readers);
    threads = g_new0(GThread *, readers);
    for (gint i = 0; i < readers; i++) {
        rds[i].shared = &sh;
        rds[i].id = (unsigned)i;
        threads[i] = g_thread_new("radix-reader", reader_thread, &rds[i]);
    }
    writer_run(&sh, seconds, &st);
    g_atomic_int_set(&sh.stop, 1);
    for (gint i = 0; i < readers; i++) {
        g_thread_join(threads[i]);
        lookups += rds[i].lookups;
        hits += rds[i].hits;
        gangs += rds[i].gangs;
        gang_entries += rds[i].gang_entries;
        iterations += rds[i].iterations;
    }
    printf("writer: %" PRIu64 " inserts, %" PRIu64 " deletes, %" PRIu64 " stores, %" PRIu64
           " marker swaps, %" PRIu64 " tag changes, %" PRIu64 " drains\n",
           st.inserts, st.deletes, st.stores, st.swaps, st.tags, st.drains);
    printf("readers: %" PRIu64 " lookups (%" PRIu64 " hits), %" PRIu64 " gang lookups (%" PRIu64
           " entries), %" PRIu64 " iterations\n", lookups, hits, gangs, gang_entries, iterations);

    ns_radix_destroy(sh.tree);
    urcu_memb_barrier();
    if (ns_radix_live_nodes() != 0)
        fail(&sh, "nodes leaked after destroy", ns_radix_live_nodes(), NULL);
    urcu_memb_unregister_thread();
    if (lookups == 0 || st.inserts == 0 || st.drains == 0)
        fail(&sh, "the run did too little to mean anything", lookups, NULL);
    if (g_atomic_int_get(&sh.failed)) {
        printf("test-radix-stress: FAILED (seed=%" G_GUINT64_FORMAT ")\n", sh.seed);
        return 1;
    }
    printf("test-radix-stress: passed\n");
    return 0;
}
