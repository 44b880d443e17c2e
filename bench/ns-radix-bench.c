/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ns-radix-bench: the RCU radix tree against two peers, in one run.
 *
 * Structures
 *   radix      NsRadix; lookups inside urcu_memb_read_lock(), stores with
 *              ns_radix_store() (value entries: no allocation, no call_rcu).
 *   rculfhash  liburcu's cds_lfht (memb flavour, auto-resize); lookups under
 *              the RCU read lock; the writer replaces a key's node with
 *              cds_lfht_add_replace() and frees the old one with call_rcu().
 *   ghash      GHashTable under a GRWLock: readers take the read lock per
 *              lookup, the writer the write lock per store.
 * All three map a 64-bit key to the same pointer-sized radix value entry, so
 * only rculfhash allocates per key (its node).
 *
 * Measurements, per structure and key set
 *   insert/s   one thread inserting every key into an empty structure.
 *   lookups/s  reader threads looking up present keys picked by a
 *              splitmix64 PRNG (same seeds, same key sequence for every
 *              structure) while one writer rewrites every 10th key.  Each
 *              lookup takes and drops the read lock (RCU or GRWLock), and
 *              each result is checked against its key; mismatches must be 0.
 *   B/entry    growth of malloc's in-use bytes (mallinfo2: arena bytes plus
 *              mmapped chunks) across creating and filling the structure,
 *              divided by the number of keys; for the radix tree also
 *              ns_radix_memory_used() / ns_radix_count().
 *
 * The last two lines of output are machine-readable:
 *   lookup_ratio_vs_rculfhash X.XX   radix / rculfhash lookups/s, dense 1M
 *   bytes_per_entry Y.Y              radix malloc bytes per entry, dense 1M
 * (in --smoke mode both refer to the small dense case that replaces 1M).
 */
#define _LGPL_SOURCE /* inline urcu_memb_read_lock(): same for radix and rculfhash */
#include "numashift/radix.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu/urcu-memb.h>
/* rculfhash.h wants the flavour's header first. */
#include <urcu/rculfhash.h>

/* ---- key sets ------------------------------------------------------------ */

typedef enum {
    KEYS_DENSE,  /* 0 .. n-1, like one guest RAM range */
    KEYS_SPARSE, /* n keys scattered pseudo-randomly over [0, 2^52) */
} KeyLayout;

typedef struct {
    KeyLayout layout;
    uint64_t nkeys;
} KeySet;

#define SPARSE_BITS 52
#define SPARSE_MASK ((UINT64_C(1) << SPARSE_BITS) - 1)

/*
 * The i-th sparse key: a bijection on 52-bit integers (odd multipliers and
 * xor-shifts, each invertible modulo 2^52), so distinct i give distinct keys
 * without a duplicate check and without a key array that lookups would have
 * to read (an extra cache miss per lookup that would blur the comparison).
 */
static inline uint64_t
sparse_key(uint64_t i)
{
    uint64_t x = i & SPARSE_MASK;

    x = (x * UINT64_C(0x9e3779b97f4a7c15)) & SPARSE_MASK;
    x ^= x >> 26;
    x = (x * UINT64_C(0xbf58476d1ce4e5b9)) & SPARSE_MASK;
    x ^= x >> 23;
    return x;
}

static inline uint64_t
key_at(const KeySet *keys, uint64_t i)
{
    return keys->layout == KEYS_DENSE ? i : sparse_key(i);
}

/*
 * Every stored value is a radix value entry holding key * 2 + generation:
 * the writer flips the generation, and a reader can still check that the
 * value it got belongs to the key it asked for.  Keys are below 2^52, so
 * key * 2 + 1 fits a value entry's 63 bits.
 */
static inline void *
value_for(uint64_t key, unsigned generation)
{
    return ns_radix_mk_value(key * 2u + generation);
}

static inline bool
value_matches(const void *entry, uint64_t key)
{
    return entry != NULL && ns_radix_is_value(entry) && (ns_radix_to_value(entry) >> 1) == key;
}

/* ---- small helpers ------------------------------------------------------- */

static inline uint64_t
splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

__extension__ typedef unsigned __int128 u128;

/* A uniform index below @n from a random word, without a division. */
static inline uint64_t
pick_index(uint64_t random, uint64_t n)
{
    return (uint64_t)(((u128)random * n) >> 64);
}

/* The hash both hash tables use: splitmix64's finaliser, cheap and good. */
static inline uint64_t
hash_key(uint64_t key)
{
    key = (key ^ (key >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    key = (key ^ (key >> 27)) * UINT64_C(0x94d049bb133111eb);
    return key ^ (key >> 31);
}

static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time the calling thread has used: shows when a reader did not get a whole core. */
static double
thread_cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
sleep_seconds(double s)
{
    struct timespec ts = {
        .tv_sec = (time_t)s,
        .tv_nsec = (long)((s - (double)(time_t)s) * 1e9),
    };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Bytes malloc has handed out and not had back, over all arenas (the writer,
 * call_rcu and rculfhash resize threads allocate from their own arenas).
 * Large blocks - hash bucket arrays - are mmapped and counted in hblkhd,
 * not uordblks, so both are needed.  Chunk headers and alignment padding are
 * included: that is what the structure really costs.
 */
static size_t
malloc_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

G_GNUC_NORETURN static void
die(const char *what)
{
    fprintf(stderr, "ns-radix-bench: %s\n", what);
    exit(1);
}

/* ---- the three structures -------------------------------------------------- */

/*
 * Each structure provides the same operations.  Only per-batch and per-build
 * calls go through these pointers; the per-key loops are inside each
 * structure's functions, so no structure pays an indirect call per key.
 */
typedef struct {
    const char *name;
    void *(*create)(void);
    /* Insert every key of @keys (generation 0) from the calling thread. */
    void (*build)(void *s, const KeySet *keys);
    /* Anything a careful user would do between filling and using; may be NULL. */
    void (*settle)(void *s, const KeySet *keys);
    /* @count lookups of PRNG-picked present keys; returns the mismatches. */
    uint64_t (*lookup_batch)(void *s, const KeySet *keys, uint64_t *rng, unsigned count);
    void (*store)(void *s, uint64_t key, void *value);
    /* Bytes the structure says it uses, or 0 if it cannot tell. */
    size_t (*self_reported_bytes)(void *s);
    /* Calling thread is registered and outside any read-side section. */
    void (*destroy)(void *s);
} StructureOps;

/* radix --------------------------------------------------------------------- */

static void *
radix_create(void)
{
    NsRadix *tree = ns_radix_new();

    if (!tree)
        die("ns_radix_new: out of memory");
    return tree;
}

static void
radix_build(void *s, const KeySet *keys)
{
    NsRadix *tree = s;

    for (uint64_t i = 0; i < keys->nkeys; i++) {
        uint64_t key = key_at(keys, i);

        if (ns_radix_insert(tree, key, value_for(key, 0)) != 0)
            die("ns_radix_insert failed");
    }
}

static uint64_t
radix_lookup_batch(void *s, const KeySet *keys, uint64_t *rng, unsigned count)
{
    const NsRadix *tree = s;
    uint64_t mismatches = 0;

    for (unsigned i = 0; i < count; i++) {
        uint64_t key = key_at(keys, pick_index(splitmix64_next(rng), keys->nkeys));
        void *entry;

        urcu_memb_read_lock();
        entry = ns_radix_lookup(tree, key);
        urcu_memb_read_unlock();
        mismatches += !value_matches(entry, key);
    }
    return mismatches;
}

static void
radix_store(void *s, uint64_t key, void *value)
{
    if (ns_radix_store(s, key, value, NULL) != 0)
        die("ns_radix_store failed");
}

static size_t
radix_self_reported_bytes(void *s)
{
    return ns_radix_memory_used(s);
}

static void
radix_destroy(void *s)
{
    ns_radix_destroy(s);
}

static const StructureOps radix_ops = {
    .name = "radix",
    .create = radix_create,
    .build = radix_build,
    .settle = NULL,
    .lookup_batch = radix_lookup_batch,
    .store = radix_store,
    .self_reported_bytes = radix_self_reported_bytes,
    .destroy = radix_destroy,
};

/* rculfhash ------------------------------------------------------------------ */

typedef struct {
    struct cds_lfht_node node;
    uint64_t key;
    void *value;
    struct rcu_head rcu; /* readers may still use a replaced node: free it later */
} LfhtEntry;

static int
lfht_match(struct cds_lfht_node *node, const void *key)
{
    const LfhtEntry *entry = caa_container_of(node, LfhtEntry, node);

    return entry->key == *(const uint64_t *)key;
}

static LfhtEntry *
lfht_entry_new(uint64_t key, void *value)
{
    LfhtEntry *entry = malloc(sizeof(*entry));

    if (!entry)
        die("out of memory");
    cds_lfht_node_init(&entry->node);
    entry->key = key;
    entry->value = value;
    return entry;
}

static void
lfht_entry_free_rcu(struct rcu_head *head)
{
    free(caa_container_of(head, LfhtEntry, rcu));
}

static void *
lfht_create(void)
{
    /*
     * Start small and let it grow, as the other two do; accounting makes it
     * resize on the element count rather than only on long chains.
     */
    struct cds_lfht *ht = cds_lfht_new_flavor(1024, 1024, 0,
                                              CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                              &urcu_memb_flavor, NULL);

    if (!ht)
        die("cds_lfht_new: out of memory");
    return ht;
}

static void
lfht_build(void *s, const KeySet *keys)
{
    struct cds_lfht *ht = s;

    for (uint64_t i = 0; i < keys->nkeys; i++) {
        uint64_t key = key_at(keys, i);
        LfhtEntry *entry = lfht_entry_new(key, value_for(key, 0));
        struct cds_lfht_node *added;

        /* add_unique: insert-if-absent, the same contract as ns_radix_insert(). */
        urcu_memb_read_lock();
        added = cds_lfht_add_unique(ht, hash_key(key), lfht_match, &key, &entry->node);
        urcu_memb_read_unlock();
        if (added != &entry->node)
            die("cds_lfht_add_unique found a duplicate key");
    }
}

/*
 * Auto-resize runs in liburcu's worker thread and may lag the inserts, and
 * it lets chains average several nodes.  Before measuring lookups, resize to
 * one bucket per key - rculfhash's fastest configuration - so that a table
 * still catching up does not make the peer look worse than it is.
 */
static void
lfht_settle(void *s, const KeySet *keys)
{
    unsigned long buckets = 1024;

    while (buckets < keys->nkeys)
        buckets *= 2;
    cds_lfht_resize(s, buckets);
}

static uint64_t
lfht_lookup_batch(void *s, const KeySet *keys, uint64_t *rng, unsigned count)
{
    struct cds_lfht *ht = s;
    uint64_t mismatches = 0;

    for (unsigned i = 0; i < count; i++) {
        uint64_t key = key_at(keys, pick_index(splitmix64_next(rng), keys->nkeys));
        struct cds_lfht_iter iter;
        struct cds_lfht_node *node;
        void *value = NULL;

        urcu_memb_read_lock();
        cds_lfht_lookup(ht, hash_key(key), lfht_match, &key, &iter);
        node = cds_lfht_iter_get_node(&iter);
        if (node)
            value = caa_container_of(node, LfhtEntry, node)->value;
        urcu_memb_read_unlock();
        mismatches += !value_matches(value, key);
    }
    return mismatches;
}

static void
lfht_store(void *s, uint64_t key, void *value)
{
    LfhtEntry *entry = lfht_entry_new(key, value);
    struct cds_lfht_node *old;

    urcu_memb_read_lock();
    old = cds_lfht_add_replace(s, hash_key(key), lfht_match, &key, &entry->node);
    urcu_memb_read_unlock();
    if (old)
        urcu_memb_call_rcu(&caa_container_of(old, LfhtEntry, node)->rcu, lfht_entry_free_rcu);
}

static size_t
lfht_self_reported_bytes(void *s)
{
    (void)s;
    return 0;
}

static void
lfht_destroy(void *s)
{
    struct cds_lfht *ht = s;
    struct cds_lfht_iter iter;
    LfhtEntry *entry;

    /* cds_lfht_destroy() wants an empty table. */
    urcu_memb_read_lock();
    cds_lfht_for_each_entry(ht, &iter, entry, node) {
        if (cds_lfht_del(ht, &entry->node) == 0)
            urcu_memb_call_rcu(&entry->rcu, lfht_entry_free_rcu);
    }
    urcu_memb_read_unlock();
    if (cds_lfht_destroy(ht, NULL) != 0)
        die("cds_lfht_destroy failed");
}

static const StructureOps lfht_ops = {
    .name = "rculfhash",
    .create = lfht_create,
    .build = lfht_build,
    .settle = lfht_settle,
    .lookup_batch = lfht_lookup_batch,
    .store = lfht_store,
    .self_reported_bytes = lfht_self_reported_bytes,
    .destroy = lfht_destroy,
};

/* GHashTable + GRWLock ----------------------------------------------------------- */

typedef struct {
    GRWLock lock;
    GHashTable *table; /* key stored in the pointer itself: no allocation */
} LockedHash;

static guint
ghash_key_hash(gconstpointer key)
{
    return (guint)hash_key((uint64_t)GPOINTER_TO_SIZE(key));
}

static void *
ghash_create(void)
{
    LockedHash *h = g_new0(LockedHash, 1);

    g_rw_lock_init(&h->lock);
    h->table = g_hash_table_new(ghash_key_hash, g_direct_equal);
    return h;
}

static void
ghash_build(void *s, const KeySet *keys)
{
    LockedHash *h = s;

    for (uint64_t i = 0; i < keys->nkeys; i++) {
        uint64_t key = key_at(keys, i);

        /* Per insert, like the radix tree's internal writer mutex. */
        g_rw_lock_writer_lock(&h->lock);
        g_hash_table_insert(h->table, GSIZE_TO_POINTER(key), value_for(key, 0));
        g_rw_lock_writer_unlock(&h->lock);
    }
}

static uint64_t
ghash_lookup_batch(void *s, const KeySet *keys, uint64_t *rng, unsigned count)
{
    LockedHash *h = s;
    uint64_t mismatches = 0;

    for (unsigned i = 0; i < count; i++) {
        uint64_t key = key_at(keys, pick_index(splitmix64_next(rng), keys->nkeys));
        void *value;

        g_rw_lock_reader_lock(&h->lock);
        value = g_hash_table_lookup(h->table, GSIZE_TO_POINTER(key));
        g_rw_lock_reader_unlock(&h->lock);
        mismatches += !value_matches(value, key);
    }
    return mismatches;
}

static void
ghash_store(void *s, uint64_t key, void *value)
{
    LockedHash *h = s;

    g_rw_lock_writer_lock(&h->lock);
    g_hash_table_insert(h->table, GSIZE_TO_POINTER(key), value);
    g_rw_lock_writer_unlock(&h->lock);
}

static size_t
ghash_self_reported_bytes(void *s)
{
    (void)s;
    return 0;
}

static void
ghash_destroy(void *s)
{
    LockedHash *h = s;

    g_hash_table_unref(h->table);
    g_rw_lock_clear(&h->lock);
    g_free(h);
}

static const StructureOps ghash_ops = {
    .name = "ghash+rwlock",
    .create = ghash_create,
    .build = ghash_build,
    .settle = NULL,
    .lookup_batch = ghash_lookup_batch,
    .store = ghash_store,
    .self_reported_bytes = ghash_self_reported_bytes,
    .destroy = ghash_destroy,
};

static const StructureOps *const all_structures[] = { &radix_ops, &lfht_ops, &ghash_ops };

/* ---- the concurrent lookup measurement ------------------------------------- */

typedef enum {
    PHASE_WARMUP,  /* running, not counted: caches and branch predictors settle */
    PHASE_MEASURE,
    PHASE_STOP,
} Phase;

/* Lookups per batch: the phase flag is read once a batch, not once a lookup. */
#define LOOKUP_BATCH 512u
/* The writer rewrites every WRITE_STRIDE-th key: 10% of them. */
#define WRITE_STRIDE 10u
/* Stores between looks at the clock when the writer is paced. */
#define WRITE_BATCH 64u

typedef struct {
    const StructureOps *ops;
    void *structure;
    KeySet keys;
    double writer_sweeps_per_second; /* 0: as fast as it can */
    pthread_barrier_t start;
    _Atomic Phase phase;
} LookupRun;

typedef struct {
    LookupRun *run;
    uint64_t seed;
    /* results */
    uint64_t operations; /* lookups or stores while measuring */
    uint64_t mismatches;
    double seconds;      /* how long this thread was measuring */
    double cpu_seconds;  /* CPU time it used meanwhile */
} WorkerState;

static void *
reader_main(void *arg)
{
    WorkerState *st = arg;
    LookupRun *run = st->run;
    uint64_t rng = st->seed;
    bool measuring = false;
    double t0 = 0, cpu0 = 0;
    Phase phase;

    urcu_memb_register_thread();
    pthread_barrier_wait(&run->start);
    while ((phase = atomic_load_explicit(&run->phase, memory_order_relaxed)) != PHASE_STOP) {
        if (phase == PHASE_MEASURE && !measuring) {
            measuring = true;
            t0 = now_seconds();
            cpu0 = thread_cpu_seconds();
        }
        st->mismatches += run->ops->lookup_batch(run->structure, &run->keys, &rng, LOOKUP_BATCH);
        if (measuring)
            st->operations += LOOKUP_BATCH;
    }
    if (measuring) {
        st->seconds = now_seconds() - t0;
        st->cpu_seconds = thread_cpu_seconds() - cpu0;
    }
    urcu_memb_unregister_thread();
    return NULL;
}

/*
 * The writer sweeps the keys with index 0, 10, 20, ... (10% of the keys),
 * flipping each one's generation, by default at one sweep per second: a
 * steady update load that is the same for all three structures.  Paced
 * rather than flat out because on a small machine a flat-out writer mostly
 * measures which structure's writer (plus its call_rcu or resize helper
 * threads) steals the most CPU from the readers.
 */
static void *
writer_main(void *arg)
{
    WorkerState *st = arg;
    LookupRun *run = st->run;
    const uint64_t subset = (run->keys.nkeys + WRITE_STRIDE - 1) / WRITE_STRIDE;
    const double stores_per_second = run->writer_sweeps_per_second * (double)subset;
    uint64_t next = 0, done = 0;
    unsigned generation = 1;
    bool measuring = false;
    double t0 = 0, paced_from;
    Phase phase;

    urcu_memb_register_thread();
    pthread_barrier_wait(&run->start);
    paced_from = now_seconds();
    while ((phase = atomic_load_explicit(&run->phase, memory_order_relaxed)) != PHASE_STOP) {
        if (phase == PHASE_MEASURE && !measuring) {
            measuring = true;
            t0 = now_seconds();
        }
        if (stores_per_second > 0 &&
            (double)done >= stores_per_second * (now_seconds() - paced_from)) {
            sleep_seconds(100e-6);
            continue;
        }
        for (unsigned i = 0; i < WRITE_BATCH; i++) {
            uint64_t key = key_at(&run->keys, next * WRITE_STRIDE);

            run->ops->store(run->structure, key, value_for(key, generation));
            if (++next == subset) {
                next = 0;
                generation ^= 1u;
            }
        }
        done += WRITE_BATCH;
        if (measuring)
            st->operations += WRITE_BATCH;
    }
    if (measuring)
        st->seconds = now_seconds() - t0;
    urcu_memb_unregister_thread();
    return NULL;
}

typedef struct {
    double lookups_per_second; /* summed over readers */
    double reader_cpu_share;   /* readers' CPU time / wall time, averaged */
    double stores_per_second;  /* the writer's achieved rate */
    uint64_t mismatches;
} LookupResult;

static LookupResult
measure_lookups(const StructureOps *ops, void *structure, const KeySet *keys, unsigned readers,
                double warmup_seconds, double seconds, double writer_sweeps_per_second)
{
    LookupRun run = {
        .ops = ops,
        .structure = structure,
        .keys = *keys,
        .writer_sweeps_per_second = writer_sweeps_per_second,
    };
    g_autofree pthread_t *threads = g_new0(pthread_t, readers + 1u);
    g_autofree WorkerState *states = g_new0(WorkerState, readers + 1u);
    LookupResult result = { 0 };

    atomic_init(&run.phase, PHASE_WARMUP);
    /* readers, the writer (last) and this thread start together */
    pthread_barrier_init(&run.start, NULL, readers + 2u);
    for (unsigned i = 0; i <= readers; i++) {
        states[i].run = &run;
        /* Fixed seeds: every structure is asked for the same keys. */
        states[i].seed = UINT64_C(0x5eed0000) + i;
        if (pthread_create(&threads[i], NULL, i < readers ? reader_main : writer_main,
                           &states[i]) != 0)
            die("pthread_create failed");
    }
    pthread_barrier_wait(&run.start);
    sleep_seconds(warmup_seconds);
    atomic_store_explicit(&run.phase, PHASE_MEASURE, memory_order_relaxed);
    sleep_seconds(seconds);
    atomic_store_explicit(&run.phase, PHASE_STOP, memory_order_relaxed);
    for (unsigned i = 0; i <= readers; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&run.start);

    for (unsigned i = 0; i < readers; i++) {
        if (states[i].seconds > 0) {
            result.lookups_per_second += (double)states[i].operations / states[i].seconds;
            result.reader_cpu_share += states[i].cpu_seconds / states[i].seconds / readers;
        }
        result.mismatches += states[i].mismatches;
    }
    if (states[readers].seconds > 0)
        result.stores_per_second = (double)states[readers].operations / states[readers].seconds;
    return result;
}

/* ---- one structure, one key set ------------------------------------------------- */

typedef struct {
    const char *label; /* "dense-1M" */
    KeyLayout layout;
    uint64_t nkeys;
} BenchCase;

typedef struct {
    const StructureOps *ops;
    const BenchCase *bcase;
    double inserts_per_second;
    LookupResult lookups;
    double malloc_bytes_per_entry;
    double self_bytes_per_entry; /* 0: not reported */
} CaseResult;

typedef struct {
    unsigned readers;
    double seconds;
    double warmup_seconds;
    double writer_sweeps_per_second;
} Settings;

static CaseResult
run_case(const StructureOps *ops, const BenchCase *bcase, const Settings *settings)
{
    KeySet keys = { .layout = bcase->layout, .nkeys = bcase->nkeys };
    CaseResult res = { .ops = ops, .bcase = bcase };
    size_t bytes_before, bytes_after, self_bytes;
    double t0;
    void *structure;

    /* Frees still queued from the previous case would skew the baseline. */
    urcu_memb_barrier();
    bytes_before = malloc_in_use();

    t0 = now_seconds();
    structure = ops->create();
    ops->build(structure, &keys);
    res.inserts_per_second = (double)keys.nkeys / (now_seconds() - t0);
    if (ops->settle)
        ops->settle(structure, &keys);

    bytes_after = malloc_in_use();
    res.malloc_bytes_per_entry =
        bytes_after >= bytes_before ? (double)(bytes_after - bytes_before) / (double)keys.nkeys : 0;
    self_bytes = ops->self_reported_bytes(structure);
    if (self_bytes > 0 && ops == &radix_ops)
        res.self_bytes_per_entry = (double)self_bytes / (double)ns_radix_count(structure);

    res.lookups = measure_lookups(ops, structure, &keys, settings->readers,
                                  settings->warmup_seconds, settings->seconds,
                                  settings->writer_sweeps_per_second);

    ops->destroy(structure);
    urcu_memb_barrier();
    return res;
}

/* ---- output ------------------------------------------------------------------------ */

/* @v as a short human number ("12.3M"); @buf must hold 16 bytes. */
static const char *
human(char *buf, double v)
{
    if (v >= 1e9)
        snprintf(buf, 16, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, 16, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, 16, "%.1fk", v / 1e3);
    else
        snprintf(buf, 16, "%.0f", v);
    return buf;
}

static void
print_header(void)
{
    printf("%-13s %-11s %9s %9s %10s %7s %9s %8s %9s %8s\n", "structure", "case", "keys",
           "insert/s", "lookups/s", "rd-cpu", "writer/s", "mismatch", "B/entry", "B/entry");
    printf("%-13s %-11s %9s %9s %10s %7s %9s %8s %9s %8s\n", "", "", "", "", "", "", "", "",
           "(malloc)", "(self)");
}

static void
print_row(const CaseResult *r)
{
    char ins[16], look[16], wr[16], self[16];

    if (r->self_bytes_per_entry > 0)
        snprintf(self, sizeof(self), "%.1f", r->self_bytes_per_entry);
    else
        snprintf(self, sizeof(self), "-");
    printf("%-13s %-11s %9" PRIu64 " %9s %10s %6.0f%% %9s %8" PRIu64 " %9.1f %8s\n",
           r->ops->name, r->bcase->label, r->bcase->nkeys, human(ins, r->inserts_per_second),
           human(look, r->lookups.lookups_per_second), 100 * r->lookups.reader_cpu_share,
           human(wr, r->lookups.stores_per_second), r->lookups.mismatches,
           r->malloc_bytes_per_entry, self);
    fflush(stdout);
}

/* ---- command line --------------------------------------------------------------------- */

static void
usage(FILE *out)
{
    fputs("Usage: ns-radix-bench [--quick | --smoke] [--seconds S] [--readers N]\n"
          "                      [--writer-sweeps R]\n"
          "Compare NsRadix with liburcu's rculfhash and a GHashTable under a GRWLock:\n"
          "lookups/s with one concurrent writer, single-thread insert/s, bytes per entry.\n"
          "\n"
          "  --quick             whole run in well under 30 s: short windows, no 16M\n"
          "                      case, sparse case shrunk to 64K keys\n"
          "  --smoke             tiny sizes, under 2 s; checks the binary works\n"
          "  --seconds S         length of each lookup measuring window (default 3;\n"
          "                      --quick 1, --smoke 0.05)\n"
          "  --readers N         reader threads (default 1, for a 2-core machine)\n"
          "  --writer-sweeps R   how often per second the writer rewrites its 10% of\n"
          "                      the keys (default 1; 0 = as fast as it can)\n"
          "  --help              this text\n"
          "\n"
          "The last two lines are 'lookup_ratio_vs_rculfhash X.XX' and\n"
          "'bytes_per_entry Y.Y', both for the radix tree on the dense 1M-key case.\n",
          out);
}

/* One line on stderr and exit status 2, for anything wrong on the command line. */
G_GNUC_NORETURN G_GNUC_PRINTF(1, 2) static void
bad_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("ns-radix-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try --help)\n", stderr);
    exit(2);
}

static double
parse_number(const char *opt, const char *text, double min, double max)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max))
        bad_usage("bad value '%s' for %s (want %g..%g)", text, opt, min, max);
    return v;
}

static unsigned
parse_readers(const char *text)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < 1 || v > 256)
        bad_usage("bad value '%s' for --readers (want 1..256)", text);
    return (unsigned)v;
}

/* What a mode runs; the first case is the reference for the final two lines. */
typedef struct {
    const BenchCase *cases;
    size_t ncases;
    double default_seconds;
    const char *note; /* what the mode leaves out, or NULL */
} ModeConfig;

static const BenchCase full_cases[] = {
    { "dense-1M", KEYS_DENSE, UINT64_C(1) << 20 },
    { "dense-16M", KEYS_DENSE, UINT64_C(1) << 24 },
    /* Not 1M: an isolated key costs about 15 KiB of 512-slot nodes (the tree
     * is shaped for guest RAM's dense runs), so 1M scattered keys would take
     * some 16 GB. */
    { "sparse-256K", KEYS_SPARSE, UINT64_C(1) << 18 },
};
/* rculfhash alone spends about a minute building and tearing down 16M keys. */
static const BenchCase quick_cases[] = {
    { "dense-1M", KEYS_DENSE, UINT64_C(1) << 20 },
    { "sparse-64K", KEYS_SPARSE, UINT64_C(1) << 16 },
};
static const BenchCase smoke_cases[] = {
    { "dense-16K", KEYS_DENSE, UINT64_C(1) << 14 },
    { "sparse-4K", KEYS_SPARSE, UINT64_C(1) << 12 },
};

static const ModeConfig full_mode = {
    full_cases, G_N_ELEMENTS(full_cases), 3.0, NULL,
};
static const ModeConfig quick_mode = {
    quick_cases, G_N_ELEMENTS(quick_cases), 1.0,
    "--quick: dense-16M SKIPPED, sparse-256K shrunk to sparse-64K, short windows",
};
static const ModeConfig smoke_mode = {
    smoke_cases, G_N_ELEMENTS(smoke_cases), 0.05,
    "--smoke: tiny key sets, dense-16K stands in for dense-1M, no 16M case; "
    "numbers are meaningless",
};

/* The 1-minute load average, so a reader of the output can tell a busy machine. */
static double
load_average(void)
{
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f) {
        if (fscanf(f, "%lf", &load) != 1)
            load = -1;
        fclose(f);
    }
    return load;
}

int
main(int argc, char **argv)
{
    const ModeConfig *mode = &full_mode;
    Settings settings = { .readers = 1, .seconds = -1, .writer_sweeps_per_second = 1.0 };
    double radix_lookups = 0, lfht_lookups = 0, radix_bytes = 0;
    uint64_t total_mismatches = 0, leaked_nodes;
    double started = now_seconds();

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--quick") == 0) {
            mode = &quick_mode;
        } else if (strcmp(arg, "--smoke") == 0) {
            mode = &smoke_mode;
        } else if (strcmp(arg, "--seconds") == 0 || strcmp(arg, "--readers") == 0 ||
                   strcmp(arg, "--writer-sweeps") == 0) {
            if (i + 1 >= argc)
                bad_usage("missing value after %s", arg);
            if (strcmp(arg, "--seconds") == 0)
                settings.seconds = parse_number(arg, argv[++i], 0.001, 3600);
            else if (strcmp(arg, "--readers") == 0)
                settings.readers = parse_readers(argv[++i]);
            else
                settings.writer_sweeps_per_second = parse_number(arg, argv[++i], 0, 1e6);
        } else {
            bad_usage("unknown argument '%s'", arg);
        }
    }
    if (settings.seconds < 0)
        settings.seconds = mode->default_seconds;
    /* Long enough to fault in and cache the hot path, short next to the window. */
    settings.warmup_seconds = settings.seconds / 4 < 0.5 ? settings.seconds / 4 : 0.5;

    urcu_memb_register_thread();

    printf("ns-radix-bench: %u reader thread(s) + 1 writer; %.2f s lookup windows after "
           "%.2f s warm-up; load average %.2f\n",
           settings.readers, settings.seconds, settings.warmup_seconds, load_average());
    if (settings.writer_sweeps_per_second > 0)
        printf("writer: rewrites every %uth key (10%% of the keys), %.3g sweep(s) per second\n",
               WRITE_STRIDE, settings.writer_sweeps_per_second);
    else
        printf("writer: rewrites every %uth key (10%% of the keys), as fast as it can\n",
               WRITE_STRIDE);
    printf("radix fanout %u; rculfhash auto-resizes, then is resized to >= 1 bucket per key "
           "before lookups\n",
           ns_radix_fanout());
    printf("rd-cpu: reader CPU time / wall time (below 100%%: blocked, or preempted by "
           "other load)\n");
    printf("B/entry (malloc): mallinfo2 uordblks + hblkhd growth / keys; (self): "
           "ns_radix_memory_used() / ns_radix_count()\n");
    if (mode->note)
        printf("%s\n", mode->note);
    printf("\n");
    print_header();

    for (size_t c = 0; c < mode->ncases; c++) {
        for (size_t s = 0; s < G_N_ELEMENTS(all_structures); s++) {
            CaseResult r = run_case(all_structures[s], &mode->cases[c], &settings);

            print_row(&r);
            total_mismatches += r.lookups.mismatches;
            if (c == 0 && r.ops == &radix_ops) {
                radix_lookups = r.lookups.lookups_per_second;
                radix_bytes = r.malloc_bytes_per_entry;
            } else if (c == 0 && r.ops == &lfht_ops) {
                lfht_lookups = r.lookups.lookups_per_second;
            }
        }
    }
    urcu_memb_unregister_thread();

    printf("\n");
    /* Every tree was destroyed and urcu_memb_barrier() ran after each. */
    leaked_nodes = ns_radix_live_nodes();
    if (leaked_nodes != 0)
        printf("ERROR: %" PRIu64 " radix nodes still allocated after teardown\n", leaked_nodes);
    if (total_mismatches != 0)
        printf("ERROR: %" PRIu64 " lookups returned a value that was not their key's\n",
               total_mismatches);
    printf("run took %.0f s; load average %.2f\n", now_seconds() - started, load_average());
    printf("lookup_ratio_vs_rculfhash %.2f\n", lfht_lookups > 0 ? radix_lookups / lfht_lookups : 0.0);
    printf("bytes_per_entry %.1f\n", radix_bytes);
    return total_mismatches == 0 && leaked_nodes == 0 ? 0 : 1;
}
