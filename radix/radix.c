/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libnsradix: an RCU radix tree
 * =============================
 *
 * numashift keeps one entry per guest page, keyed by guest frame number.
 * Guest frame numbers are sparse over a 52-bit space but come in long dense
 * runs (a guest's RAM ranges), which is what a radix tree is good at: a dense
 * run costs one slot per page plus a small fraction for interior nodes, and
 * a lookup is a few dependent loads with no hashing and no key compare.
 *
 * Shape.  A node has 2^NS_RADIX_SHIFT slots and records its height above the
 * leaves (leaves are height 1, their slots hold entries; interior slots hold
 * tagged node pointers, or direct entries, below).  A tree of height h
 * covers indices [0, 2^(h * SHIFT) - 1].  The root pointer holds NULL, a
 * node pointer, or - when the only entry is at index 0 - that entry itself,
 * so a one-page tree needs no node at all.  Node pointers carry the low-bit
 * tag 0b10 (the "internal" tag of radix.h's entry table); entries never do,
 * which is how a slot tells the two apart.
 *
 * Direct entries.  The same holds in every interior slot: while the only
 * entry in a slot's range is at the range's first index, the slot holds
 * that entry itself instead of a chain of nodes down to a leaf.  Guest
 * memory backed by 2 MiB pages has one entry per 512 indices, each at a
 * 512-aligned gfn: with 512 slots per node every such entry starts a slot
 * of a height-2 node, and a huge page costs 8 bytes of tree instead of a
 * leaf.  Storing another index in that range first moves the entry down
 * into slot 0 of a new child (push-down); a delete that leaves a node with
 * its slot 0 entry only gives the entry back to the parent's slot (fold).
 *
 * Growth and shrink.  The tree only grows at the top: to cover a larger
 * index the writer builds a new root whose slot 0 is the old root and
 * publishes it.  A reader that loaded the old root still walks a complete,
 * live subtree; it merely cannot see indices beyond it, which is the same as
 * having run before the grow.  The tree shrinks at the top too: while the
 * root node's only child sits in slot 0, that child becomes the root (and a
 * leaf root whose only entry is at index 0 folds into the root pointer).  The
 * old root is unlinked, never modified again, and freed after a grace
 * period, so a reader still holding it sees the entries it had.
 *
 * Publication.  A node is completely written (height, cleared slots and
 * tags, the old root in slot 0 when growing) before one release store makes
 * it reachable; readers load every slot and the root with acquire loads.
 * We use GCC's __atomic builtins rather than liburcu's rcu_assign_pointer()
 * and rcu_dereference(): Debian 12's liburcu implements those with inline
 * assembly and volatile accesses that ThreadSanitizer cannot see, and with
 * the builtins the TSan build checks our publication order for real.  On
 * x86-64 both compile to plain moves.
 *
 * Reclamation.  Unlinked nodes are freed with call_rcu() once every reader
 * that might hold them has left its read-side section.  The radix_defer_free
 * build option instead parks them on the tree until ns_radix_destroy(); the
 * TSan build uses it, because TSan cannot see a grace period either, while
 * the ASan build keeps call_rcu() and so catches any node freed too early.
 *
 * Flavour.  liburcu-memb: read-side sections are two TLS counter updates and
 * compiler barriers (the writer pays with a membarrier() system call), and
 * unlike QSBR it needs no quiescent-state announcements from reader threads,
 * which a library cannot demand of GLib worker threads or the control-socket
 * clients that read the tree.  Signal-based RCU would steal a signal from the
 * host process; bullet-proof RCU makes every read-side section slower.
 *
 * Writers.  One at a time: each writer call takes tree->lock.  Writers read
 * slots with plain loads (only writers store to them, under the lock) and
 * store with release stores, because readers run concurrently.  Counts are
 * writer-private except tree->count and tree->nodes, which readers may peek
 * at through relaxed atomics.
 *
 * Tags.  Each node has one bitmap per tag; a bit in a leaf marks the entry,
 * a bit in an interior node means "some entry below this slot is tagged".
 * Setting walks leaf to root; clearing clears upward only while a node has
 * no other bit of that tag left.  The direct root entry keeps its tags in
 * tree->root_tags.
 *
 * Ordering guarantees (what a concurrent reader may observe)
 * ---------------------------------------------------------
 *  1. Insert / store: the old entry (or NULL) or the new one; a pointer
 *     entry is seen fully initialised (release store after the caller's
 *     writes).  A new interior node is seen only after its contents.
 *  2. Grow: either the old root (every index it covered reads correctly;
 *     larger indices read NULL) or the new root, never a half-built one.
 *  3. Shrink: either the old root (valid until the grace period ends, with
 *     the entries it had) or the promoted child / direct entry.
 *  4. Delete: the entry or NULL.  Emptied nodes are unlinked before they are
 *     retired and are never reused within a grace period.
 *  5. Marker swaps (ns_radix_replace_if): exactly the old entry or the new
 *     one for that index; entries at other indices are untouched.
 *  6. Tags are advisory to readers: a tagged gang lookup may miss an entry
 *     tagged during the call or return one untagged during it, but every
 *     entry it returns was present at that index during the call.
 *  7. Gang lookups and iteration return indices in strictly ascending order.
 *  8. Push-down and fold: the moved entry is in the new child (published
 *     complete) or in the parent's slot, never in neither; a reader holding
 *     a folded node still finds the entry in its slot 0.
 */
#define _LGPL_SOURCE
#include "numashift/radix.h"
#include "radix-private.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#ifndef NS_RADIX_SHIFT
#define NS_RADIX_SHIFT 9
#endif

#define FANOUT (1u << NS_RADIX_SHIFT)
#define SLOT_MASK ((uint64_t)FANOUT - 1)
#define TAG_WORDS ((FANOUT + 63u) / 64u)
#define MAX_HEIGHT ((64u + NS_RADIX_SHIFT - 1u) / NS_RADIX_SHIFT)
#define INTERNAL_TAG ((uintptr_t)2u)

_Static_assert(NS_RADIX_SHIFT >= 1 && NS_RADIX_SHIFT <= 12, "fanout 2..4096 (count is 16 bits)");
_Static_assert(NS_RADIX_TAG_COUNT <= 8, "root_tags is one byte");

typedef struct NsRadixNode NsRadixNode;
struct NsRadixNode {
    uint8_t height;  /* above the leaves: leaves are 1; never changes */
    uint16_t count;  /* non-NULL slots; writer only */
    union {
        struct rcu_head rcu;        /* while waiting for the grace period */
        NsRadixNode *deferred_next; /* radix_defer_free builds */
    };
    uint64_t tags[NS_RADIX_TAG_COUNT][TAG_WORDS];
    void *slots[FANOUT];
};

struct NsRadix {
    void *root;         /* NULL, internal node pointer, or the entry at 0 */
    uint8_t root_tags;  /* tags of the direct root entry */
    uint64_t count;     /* entries */
    uint64_t nodes;     /* nodes linked into the tree */
    pthread_mutex_t lock;
    struct rcu_head rcu;
    NsRadixNode *deferred; /* radix_defer_free builds: retired nodes */
    NsRadixObserver observer; /* under lock, after every change of an entry */
    void *observer_data;
};

static uint64_t live_nodes;
static int alloc_failure_countdown = -1; /* tests only: radix-private.h */

/* ---- pointer tagging and atomics ---------------------------------------- */

static inline bool
is_node(const void *p)
{
    return ((uintptr_t)p & 3u) == INTERNAL_TAG;
}

static inline NsRadixNode *
to_node(const void *p)
{
    return (NsRadixNode *)((uintptr_t)p & ~INTERNAL_TAG);
}

static inline void *
mk_internal(NsRadixNode *node)
{
    return (void *)((uintptr_t)node | INTERNAL_TAG);
}

static inline void *
load_acquire(void *const *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
store_release(void **p, void *v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void
counter_add(uint64_t *c, int64_t delta)
{
    /* Only the writer changes these; readers peek with relaxed loads. */
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + (uint64_t)delta,
                     __ATOMIC_RELAXED);
}

/* ---- geometry ------------------------------------------------------------ */

/* Largest index a tree of @height covers (height 0: only index 0). */
static inline uint64_t
max_index(unsigned height)
{
    unsigned bits = height * NS_RADIX_SHIFT;

    return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

static inline unsigned
height_for(uint64_t index)
{
    unsigned h = 0;

    while (index > max_index(h))
        h++;
    return h;
}

static inline unsigned
slot_at(unsigned height, uint64_t index)
{
    return (unsigned)((index >> ((height - 1u) * NS_RADIX_SHIFT)) & SLOT_MASK);
}

static inline unsigned
slot_of(const NsRadixNode *node, uint64_t index)
{
    return slot_at(node->height, index);
}

/* Index bits below a slot of a node of @height (0 for a leaf). */
static inline uint64_t
below_mask(unsigned height)
{
    unsigned bits = (height - 1u) * NS_RADIX_SHIFT;

    return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

/*
 * Whether @index is the first index of its slot in a node of @height: the
 * only index whose entry may sit in that slot directly (always, in a leaf).
 */
static inline bool
slot_start(unsigned height, uint64_t index)
{
    return (index & below_mask(height)) == 0;
}

/* ---- tags ----------------------------------------------------------------- */

static inline bool
tag_test(const NsRadixNode *node, unsigned tag, unsigned off)
{
    uint64_t w = __atomic_load_n(&node->tags[tag][off / 64u], __ATOMIC_RELAXED);

    return (w >> (off % 64u)) & 1u;
}

static inline void
tag_write(NsRadixNode *node, unsigned tag, unsigned off, bool on)
{
    uint64_t *w = &node->tags[tag][off / 64u];
    uint64_t bit = UINT64_C(1) << (off % 64u);
    uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);

    __atomic_store_n(w, on ? (old | bit) : (old & ~bit), __ATOMIC_RELAXED);
}

static inline bool
tag_any(const NsRadixNode *node, unsigned tag)
{
    for (unsigned i = 0; i < TAG_WORDS; i++)
        if (__atomic_load_n(&node->tags[tag][i], __ATOMIC_RELAXED))
            return true;
    return false;
}

/* Next slot >= @off whose @tag bit is set, or FANOUT. */
static inline unsigned
tag_next(const NsRadixNode *node, unsigned tag, unsigned off)
{
    while (off < FANOUT) {
        uint64_t w = __atomic_load_n(&node->tags[tag][off / 64u], __ATOMIC_RELAXED);

        w >>= off % 64u;
        if (w)
            return off + (unsigned)__builtin_ctzll(w);
        off = (off / 64u + 1u) * 64u;
    }
    return FANOUT;
}

static inline bool
root_tag_test(const NsRadix *tree, unsigned tag)
{
    return (__atomic_load_n(&tree->root_tags, __ATOMIC_RELAXED) >> tag) & 1u;
}

static inline void
root_tags_write(NsRadix *tree, uint8_t tags)
{
    __atomic_store_n(&tree->root_tags, tags, __ATOMIC_RELAXED);
}

/* ---- node lifetime ---------------------------------------------------------- */

static bool
alloc_should_fail(void)
{
    int left = __atomic_load_n(&alloc_failure_countdown, __ATOMIC_RELAXED);

    if (left < 0)
        return false;
    if (left == 0)
        return true;
    __atomic_store_n(&alloc_failure_countdown, left - 1, __ATOMIC_RELAXED);
    return false;
}

bool
ns_radix__frees_deferred(void)
{
#ifdef NS_RADIX_DEFER_FREE
    return true;
#else
    return false;
#endif
}

void
ns_radix__inject_alloc_failure(int successes)
{
    __atomic_store_n(&alloc_failure_countdown, successes < 0 ? -1 : successes, __ATOMIC_RELAXED);
}

static NsRadixNode *
node_alloc(void)
{
    NsRadixNode *node = alloc_should_fail() ? NULL : calloc(1, sizeof(*node));

    if (node)
        __atomic_add_fetch(&live_nodes, 1, __ATOMIC_RELAXED);
    return node;
}

static void
node_free(NsRadixNode *node)
{
    free(node);
    __atomic_sub_fetch(&live_nodes, 1, __ATOMIC_RELAXED);
}

#ifndef NS_RADIX_DEFER_FREE
static void
node_free_rcu(struct rcu_head *head)
{
    node_free(caa_container_of(head, NsRadixNode, rcu));
}
#endif

/* The node is unlinked; free it once no reader can hold it. */
static void
node_retire(NsRadix *tree, NsRadixNode *node)
{
#ifdef NS_RADIX_DEFER_FREE
    node->deferred_next = tree->deferred;
    tree->deferred = node;
#else
    (void)tree;
    urcu_memb_call_rcu(&node->rcu, node_free_rcu);
#endif
}

/*
 * Nodes for one insert are allocated before the tree is touched, so that
 * -ENOMEM leaves it exactly as it was.
 */
typedef struct {
    NsRadixNode *nodes[2 * MAX_HEIGHT];
    unsigned n;
} NodeReserve;

static int
reserve_fill(NodeReserve *res, unsigned want)
{
    res->n = 0;
    while (res->n < want) {
        NsRadixNode *node = node_alloc();

        if (!node) {
            while (res->n)
                node_free(res->nodes[--res->n]);
            return -ENOMEM;
        }
        res->nodes[res->n++] = node;
    }
    return 0;
}

static NsRadixNode *
reserve_take(NodeReserve *res, unsigned height)
{
    NsRadixNode *node = res->nodes[--res->n];

    node->height = (uint8_t)height;
    return node;
}

static void
reserve_release(NodeReserve *res)
{
    while (res->n)
        node_free(res->nodes[--res->n]);
}

/* ---- reader side ------------------------------------------------------------ */

static inline unsigned
root_height(const void *root)
{
    return is_node(root) ? to_node(root)->height : 0;
}

static void *
lookup_from(const void *p, uint64_t index)
{
    NsRadixNode *node;

    if (!is_node(p))
        return index == 0 ? (void *)p : NULL;
    node = to_node(p);
    if (index > max_index(node->height))
        return NULL;
    for (;;) {
        void *slot = load_acquire(&node->slots[slot_of(node, index)]);

        if (node->height == 1 || !slot)
            return slot;
        if (!is_node(slot)) /* a direct entry, at its slot's first index */
            return slot_start(node->height, index) ? slot : NULL;
        node = to_node(slot);
    }
}

void *
ns_radix_lookup(const NsRadix *tree, uint64_t index)
{
    return lookup_from(load_acquire(&tree->root), index);
}

const void *
ns_radix__root_snapshot(const NsRadix *tree)
{
    return load_acquire(&tree->root);
}

void *
ns_radix__lookup_from(const void *root, uint64_t index)
{
    return lookup_from(root, index);
}

bool
ns_radix_tag_get(const NsRadix *tree, uint64_t index, NsRadixTag tag)
{
    void *p = load_acquire(&tree->root);
    NsRadixNode *node;

    if ((unsigned)tag >= NS_RADIX_TAG_COUNT || !p)
        return false;
    if (!is_node(p))
        return index == 0 && root_tag_test(tree, tag);
    node = to_node(p);
    if (index > max_index(node->height))
        return false;
    for (;;) {
        unsigned off = slot_of(node, index);

        if (!tag_test(node, tag, off))
            return false;
        p = load_acquire(&node->slots[off]);
        if (!p)
            return false;
        if (node->height == 1)
            return true;
        if (!is_node(p))
            return slot_start(node->height, index);
        node = to_node(p);
    }
}

bool
ns_radix_tagged(const NsRadix *tree, NsRadixTag tag)
{
    void *p = load_acquire(&tree->root);

    if ((unsigned)tag >= NS_RADIX_TAG_COUNT || !p)
        return false;
    if (!is_node(p))
        return root_tag_test(tree, tag);
    return tag_any(to_node(p), tag);
}

unsigned
ns_radix_height(const NsRadix *tree)
{
    return root_height(load_acquire(&tree->root));
}

/* Next slot >= @off holding an entry (and @tag, if tag >= 0), or FANOUT. */
static inline unsigned
next_present(const NsRadixNode *node, unsigned off, int tag, void **ret_slot)
{
    for (;;) {
        if (tag >= 0)
            off = tag_next(node, (unsigned)tag, off);
        if (off >= FANOUT)
            return FANOUT;
        void *p = load_acquire(&node->slots[off]);
        if (p) {
            *ret_slot = p;
            return off;
        }
        off++;
    }
}

/*
 * The workhorse of gang lookups: descend towards @index; in each node take
 * the first present (tagged) slot at or after the path, and when a node has
 * none, restart from the root at the first index past that node's range.
 * Leaves are drained in one go.  Every restart strictly increases @index.
 */
static size_t
gang_lookup(const NsRadix *tree, uint64_t index, int tag, size_t max,
            void **ret_entries, uint64_t *ret_indices)
{
    size_t n = 0;

    while (n < max) {
        void *p = load_acquire(&tree->root);
        NsRadixNode *node;
        bool more = false;

        if (!p)
            break;
        if (!is_node(p)) {
            if (index == 0 && (tag < 0 || root_tag_test(tree, (unsigned)tag))) {
                ret_entries[n] = p;
                if (ret_indices)
                    ret_indices[n] = 0;
                n++;
            }
            break;
        }
        node = to_node(p);
        if (index > max_index(node->height))
            break;
        for (;;) {
            unsigned shift = (node->height - 1u) * NS_RADIX_SHIFT;
            unsigned start = slot_of(node, index);
            void *slot = NULL;
            unsigned off = next_present(node, start, tag, &slot);
            unsigned span = shift + NS_RADIX_SHIFT;
            uint64_t span_mask = span >= 64 ? UINT64_MAX : (UINT64_C(1) << span) - 1;

            /* Direct entries of an interior node, in slot order, until the
             * first child node (descended into) or the node's end. */
            while (node->height > 1 && off < FANOUT && !is_node(slot)) {
                uint64_t base = (index & ~span_mask) | ((uint64_t)off << shift);

                if (base >= index) { /* not the slot @index points into the middle of */
                    ret_entries[n] = slot;
                    if (ret_indices)
                        ret_indices[n] = base;
                    n++;
                    if (n == max)
                        return n;
                }
                off = next_present(node, off + 1u, tag, &slot);
            }
            if (off >= FANOUT || node->height == 1) {
                if (node->height == 1) {
                    uint64_t base = index & ~SLOT_MASK;

                    while (off < FANOUT && n < max) {
                        ret_entries[n] = slot;
                        if (ret_indices)
                            ret_indices[n] = base | off;
                        n++;
                        off = next_present(node, off + 1u, tag, &slot);
                    }
                    if (n == max)
                        return n;
                }
                /* Nothing more under this node: continue after its range. */
                if (span_mask == UINT64_MAX || (index | span_mask) == UINT64_MAX)
                    break;
                index = (index | span_mask) + 1u;
                more = true;
                break;
            }
            if (off != start)
                index = (index & ~span_mask) | ((uint64_t)off << shift);
            node = to_node(slot);
        }
        if (!more)
            break;
    }
    return n;
}

size_t
ns_radix_gang_lookup(const NsRadix *tree, uint64_t first, size_t max,
                     void **ret_entries, uint64_t *ret_indices)
{
    return gang_lookup(tree, first, -1, max, ret_entries, ret_indices);
}

size_t
ns_radix_gang_lookup_tag(const NsRadix *tree, uint64_t first, NsRadixTag tag,
                         size_t max, void **ret_entries, uint64_t *ret_indices)
{
    if ((unsigned)tag >= NS_RADIX_TAG_COUNT)
        return 0;
    return gang_lookup(tree, first, (int)tag, max, ret_entries, ret_indices);
}

void
ns_radix_iter_init(NsRadixIter *it, uint64_t first, uint64_t last)
{
    it->next = first;
    it->last = last;
    it->exhausted = first > last;
    it->pos = 0;
    it->len = 0;
}

void *
ns_radix_iter_next(const NsRadix *tree, NsRadixIter *it, uint64_t *ret_index)
{
    if (it->pos == it->len) {
        if (it->exhausted)
            return NULL;
        it->pos = 0;
        it->len = (unsigned)gang_lookup(tree, it->next, -1, NS_RADIX_ITER_BATCH,
                                        it->entries, it->indices);
        if (it->len < NS_RADIX_ITER_BATCH)
            it->exhausted = true;
        /* Trim what lies past the range; the batch is ascending. */
        while (it->len > 0 && it->indices[it->len - 1] > it->last) {
            it->len--;
            it->exhausted = true;
        }
        if (it->len == 0) {
            it->exhausted = true;
            return NULL;
        }
        if (it->indices[it->len - 1] == it->last || it->indices[it->len - 1] == UINT64_MAX)
            it->exhausted = true;
        else
            it->next = it->indices[it->len - 1] + 1u;
    }
    if (ret_index)
        *ret_index = it->indices[it->pos];
    return it->entries[it->pos++];
}

/* ---- writer side -------------------------------------------------------------- */

NsRadix *
ns_radix_new(void)
{
    NsRadix *tree = calloc(1, sizeof(*tree));

    if (!tree) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&tree->lock, NULL);
    return tree;
}

static void
tree_free_rcu(struct rcu_head *head)
{
    NsRadix *tree = caa_container_of(head, NsRadix, rcu);

    pthread_mutex_destroy(&tree->lock);
    free(tree);
}

static void
subtree_retire(NsRadix *tree, NsRadixNode *node)
{
    if (node->height > 1) {
        for (unsigned i = 0; i < FANOUT; i++)
            if (is_node(node->slots[i]))
                subtree_retire(tree, to_node(node->slots[i]));
    }
    node_retire(tree, node);
}

void
ns_radix_set_observer(NsRadix *tree, NsRadixObserver observer, void *data)
{
    pthread_mutex_lock(&tree->lock);
    tree->observer = observer;
    tree->observer_data = data;
    pthread_mutex_unlock(&tree->lock);
}

void
ns_radix_destroy(NsRadix *tree)
{
    if (!tree)
        return;
    if (is_node(tree->root))
        subtree_retire(tree, to_node(tree->root));
    tree->root = NULL;
#ifdef NS_RADIX_DEFER_FREE
    /* No reader may run any more (our contract), so the parked nodes go now. */
    while (tree->deferred) {
        NsRadixNode *node = tree->deferred;

        tree->deferred = node->deferred_next;
        node_free(node);
    }
    tree_free_rcu(&tree->rcu);
#else
    urcu_memb_call_rcu(&tree->rcu, tree_free_rcu);
#endif
}

/*
 * New nodes that storing at @index needs below the slot for @index of a
 * node of @height; the slot holds nothing (@occupied false) or the direct
 * entry of index @base.  Mirrors descend_create().
 */
static unsigned
nodes_below(unsigned height, uint64_t index, bool occupied, uint64_t base)
{
    unsigned need = 0;

    for (unsigned h = height; h > 1; h--) {
        if (occupied ? base == index : slot_start(h, index))
            return need; /* stored in this slot */
        need++;          /* a node of height h - 1 takes the slot */
        if (occupied && slot_at(h - 1u, base) != slot_at(h - 1u, index))
            occupied = false;
    }
    return need; /* the leaf's slot */
}

/* How many new nodes storing at @index needs.  Caller holds the lock. */
static unsigned
nodes_needed(const NsRadix *tree, uint64_t index)
{
    void *p = tree->root;
    unsigned height = root_height(p);
    unsigned need = height_for(index);
    NsRadixNode *node;

    if (!p)
        return need == 0 ? 0 : 1u + nodes_below(need, index, false, 0);
    if (need > height) {
        /* Grow to `need` levels (a direct root entry goes straight into
         * slot 0 of the new root, one node); @index's slot in the new root
         * is not slot 0, so it is empty. */
        return (is_node(p) ? need - height : 1u) + nodes_below(need, index, false, 0);
    }
    if (!is_node(p))
        return 0; /* the direct entry's own slot, index 0 */
    node = to_node(p);
    while (node->height > 1) {
        p = node->slots[slot_of(node, index)];
        if (!p || !is_node(p))
            return nodes_below(node->height, index, p != NULL, index & ~below_mask(node->height));
        node = to_node(p);
    }
    return 0;
}

/* Raise the tree to at least @need levels.  Caller holds the lock. */
static void
grow(NsRadix *tree, unsigned need, NodeReserve *res)
{
    void *p = tree->root;
    unsigned height = root_height(p);

    if (!p)
        return; /* an empty tree gets its root built by the descent */
    if (!is_node(p) && height < need) {
        /* The entry at index 0 starts slot 0 at every height: it becomes
         * that slot's direct entry in a root of the full height. */
        NsRadixNode *node = reserve_take(res, need);

        for (unsigned t = 0; t < NS_RADIX_TAG_COUNT; t++)
            if (root_tag_test(tree, t))
                tag_write(node, t, 0, true);
        node->slots[0] = p;
        node->count = 1;
        counter_add(&tree->nodes, 1);
        store_release(&tree->root, mk_internal(node));
        return;
    }
    while (height < need) {
        NsRadixNode *node = reserve_take(res, height + 1u);
        NsRadixNode *old = to_node(p);

        for (unsigned t = 0; t < NS_RADIX_TAG_COUNT; t++)
            if (tag_any(old, t))
                tag_write(node, t, 0, true);
        node->slots[0] = p;
        node->count = 1;
        counter_add(&tree->nodes, 1);
        p = mk_internal(node);
        store_release(&tree->root, p);
        height++;
    }
}

/*
 * Where an entry lives: a slot of a node (a leaf's, or an interior node's
 * direct entry), or the root pointer itself (node NULL) for the direct
 * entry at index 0.
 */
typedef struct {
    NsRadixNode *node;
    unsigned off;
    void **addr;
} Slot;

/*
 * Find or build the slot for @index, taking missing nodes from @res.
 * Caller holds the lock and has grown the tree to cover @index.
 */
static Slot
descend_create(NsRadix *tree, uint64_t index, NodeReserve *res)
{
    unsigned need = height_for(index);
    NsRadixNode *node;

    if (!tree->root) {
        if (need == 0)
            return (Slot){ NULL, 0, &tree->root };
        node = reserve_take(res, need);
        counter_add(&tree->nodes, 1);
        store_release(&tree->root, mk_internal(node));
    } else if (!is_node(tree->root)) {
        return (Slot){ NULL, 0, &tree->root }; /* index is 0: grow() ran otherwise */
    } else {
        node = to_node(tree->root);
    }
    while (node->height > 1) {
        unsigned off = slot_of(node, index);
        void **slot = &node->slots[off];

        if (!*slot) {
            if (slot_start(node->height, index))
                return (Slot){ node, off, slot }; /* a direct entry: no node below */
            NsRadixNode *child = reserve_take(res, node->height - 1u);

            counter_add(&tree->nodes, 1);
            node->count++;
            store_release(slot, mk_internal(child));
        } else if (!is_node(*slot)) {
            if (slot_start(node->height, index))
                return (Slot){ node, off, slot }; /* the direct entry of @index itself */
            /* Another index shares the slot: the direct entry moves down to
             * slot 0 of a new child, tags and all, which then takes the slot.
             * A reader sees the entry in either place, never neither. */
            NsRadixNode *child = reserve_take(res, node->height - 1u);

            child->slots[0] = *slot;
            child->count = 1;
            for (unsigned t = 0; t < NS_RADIX_TAG_COUNT; t++)
                if (tag_test(node, t, off))
                    tag_write(child, t, 0, true);
            counter_add(&tree->nodes, 1);
            store_release(slot, mk_internal(child));
        }
        node = to_node(*slot);
    }
    return (Slot){ node, slot_of(node, index), &node->slots[slot_of(node, index)] };
}

/* The path from the root to @index's leaf, for delete and tag updates. */
typedef struct {
    NsRadixNode *nodes[MAX_HEIGHT];
    unsigned offs[MAX_HEIGHT];
    unsigned depth; /* nodes[depth - 1] is the leaf */
} Path;

/*
 * The slot holding @index's entry, or NULL if there is no entry; fills @path
 * (depth 0 for the direct root entry).  Caller holds the lock.
 */
static void **
descend_find(NsRadix *tree, uint64_t index, Path *path)
{
    void *p = tree->root;
    NsRadixNode *node;

    path->depth = 0;
    if (!p)
        return NULL;
    if (!is_node(p))
        return index == 0 ? &tree->root : NULL;
    node = to_node(p);
    if (index > max_index(node->height))
        return NULL;
    for (;;) {
        unsigned off = slot_of(node, index);

        path->nodes[path->depth] = node;
        path->offs[path->depth] = off;
        path->depth++;
        if (!node->slots[off])
            return NULL;
        if (node->height == 1)
            return &node->slots[off];
        if (!is_node(node->slots[off]))
            return slot_start(node->height, index) ? &node->slots[off] : NULL;
        node = to_node(node->slots[off]);
    }
}

static int
store_locked(NsRadix *tree, uint64_t index, void *entry, bool replace, void **ret_old)
{
    NodeReserve res;
    Slot slot;
    void *old;
    int r = reserve_fill(&res, nodes_needed(tree, index));

    if (r < 0)
        return r;
    grow(tree, height_for(index), &res);
    slot = descend_create(tree, index, &res);
    reserve_release(&res);
    old = *slot.addr;
    if (old && !replace)
        return -EEXIST;
    if (!slot.node && !old)
        root_tags_write(tree, 0);
    store_release(slot.addr, entry);
    if (!old) {
        if (slot.node)
            slot.node->count++;
        counter_add(&tree->count, 1);
    }
    if (tree->observer && old != entry)
        tree->observer(tree->observer_data, index, old, entry);
    if (ret_old)
        *ret_old = old;
    return 0;
}

int
ns_radix_insert(NsRadix *tree, uint64_t index, void *entry)
{
    int r;

    if (!ns_radix_entry_valid(entry))
        return -EINVAL;
    pthread_mutex_lock(&tree->lock);
    r = store_locked(tree, index, entry, false, NULL);
    pthread_mutex_unlock(&tree->lock);
    return r;
}

int
ns_radix_store(NsRadix *tree, uint64_t index, void *entry, void **ret_old)
{
    int r;

    if (!ns_radix_entry_valid(entry))
        return -EINVAL;
    pthread_mutex_lock(&tree->lock);
    r = store_locked(tree, index, entry, true, ret_old);
    pthread_mutex_unlock(&tree->lock);
    return r;
}

int
ns_radix_replace_if(NsRadix *tree, uint64_t index, void *expected, void *desired)
{
    Path path;
    void **slot;
    int r = 0;

    if (!ns_radix_entry_valid(expected) || !ns_radix_entry_valid(desired))
        return -EINVAL;
    pthread_mutex_lock(&tree->lock);
    slot = descend_find(tree, index, &path);
    if (!slot)
        r = -ENOENT;
    else if (*slot != expected)
        r = -EAGAIN;
    else
        store_release(slot, desired);
    if (r == 0 && tree->observer && expected != desired)
        tree->observer(tree->observer_data, index, expected, desired);
    pthread_mutex_unlock(&tree->lock);
    return r;
}

/*
 * Clear @tag along @path from the leaf up, stopping at the first node that
 * still has another entry with the tag below it.
 */
static void
tag_clear_path(Path *path, unsigned tag)
{
    for (unsigned d = path->depth; d-- > 0;) {
        tag_write(path->nodes[d], tag, path->offs[d], false);
        if (tag_any(path->nodes[d], tag))
            break;
    }
}

/* While the root's only child sits in slot 0, promote it.  Caller holds the lock. */
static void
shrink(NsRadix *tree)
{
    while (is_node(tree->root)) {
        NsRadixNode *node = to_node(tree->root);
        void *child = node->slots[0];

        if (node->count != 1 || !child)
            break;
        if (!is_node(child)) { /* the entry at index 0: into the root pointer */
            uint8_t tags = 0;

            for (unsigned t = 0; t < NS_RADIX_TAG_COUNT; t++)
                if (tag_test(node, t, 0))
                    tags |= (uint8_t)(1u << t);
            root_tags_write(tree, tags);
        }
        store_release(&tree->root, child);
        counter_add(&tree->nodes, -1);
        node_retire(tree, node);
    }
}

/*
 * From @path->nodes[@d] up (not the root: shrink() does that one): a node
 * left with one entry, in slot 0, gives it to its parent's slot as a direct
 * entry and goes.  A 2 MiB page whose 4 KiB pieces were deleted around its
 * head costs a slot again, not a leaf.  Caller holds the lock.
 */
static void
fold(NsRadix *tree, Path *path, unsigned d)
{
    for (; d > 0; d--) {
        NsRadixNode *node = path->nodes[d];
        NsRadixNode *parent = path->nodes[d - 1];
        unsigned poff = path->offs[d - 1];
        void *entry = node->slots[0];

        if (node->count != 1 || !entry || is_node(entry))
            return;
        /* The parent's tag bits for the slot already summarise the one
         * entry below; it keeps them for the entry itself. */
        store_release(&parent->slots[poff], entry);
        counter_add(&tree->nodes, -1);
        node_retire(tree, node);
    }
}

void *
ns_radix_delete(NsRadix *tree, uint64_t index)
{
    Path path;
    void **slot;
    void *old = NULL;

    pthread_mutex_lock(&tree->lock);
    slot = descend_find(tree, index, &path);
    if (slot) {
        old = *slot;
        store_release(slot, NULL);
        counter_add(&tree->count, -1);
        if (tree->observer)
            tree->observer(tree->observer_data, index, old, NULL);
        if (path.depth == 0) {
            root_tags_write(tree, 0);
        } else {
            for (unsigned t = 0; t < NS_RADIX_TAG_COUNT; t++)
                if (tag_test(path.nodes[path.depth - 1], t, path.offs[path.depth - 1]))
                    tag_clear_path(&path, t);
            /* Unlink nodes the delete left empty, bottom-up. */
            unsigned d = path.depth;

            while (d-- > 0) {
                NsRadixNode *node = path.nodes[d];

                if (--node->count > 0)
                    break;
                if (d == 0)
                    store_release(&tree->root, NULL);
                else
                    store_release(&path.nodes[d - 1]->slots[path.offs[d - 1]], NULL);
                counter_add(&tree->nodes, -1);
                node_retire(tree, node);
            }
            if (d < path.depth)
                fold(tree, &path, d);
            shrink(tree);
        }
    }
    pthread_mutex_unlock(&tree->lock);
    return old;
}

static int
tag_update(NsRadix *tree, uint64_t index, NsRadixTag tag, bool on)
{
    Path path;
    int r = 0;

    if ((unsigned)tag >= NS_RADIX_TAG_COUNT)
        return -EINVAL;
    pthread_mutex_lock(&tree->lock);
    if (!descend_find(tree, index, &path)) {
        r = -ENOENT;
    } else if (path.depth == 0) {
        uint8_t tags = tree->root_tags;

        root_tags_write(tree, on ? (uint8_t)(tags | (1u << tag)) : (uint8_t)(tags & ~(1u << tag)));
    } else if (on) {
        for (unsigned d = path.depth; d-- > 0;) {
            if (tag_test(path.nodes[d], tag, path.offs[d]))
                break;
            tag_write(path.nodes[d], tag, path.offs[d], true);
        }
    } else if (tag_test(path.nodes[path.depth - 1], tag, path.offs[path.depth - 1])) {
        tag_clear_path(&path, tag);
    }
    pthread_mutex_unlock(&tree->lock);
    return r;
}

int
ns_radix_tag_set(NsRadix *tree, uint64_t index, NsRadixTag tag)
{
    return tag_update(tree, index, tag, true);
}

int
ns_radix_tag_clear(NsRadix *tree, uint64_t index, NsRadixTag tag)
{
    return tag_update(tree, index, tag, false);
}

/* ---- accounting ------------------------------------------------------------------ */

uint64_t
ns_radix_count(const NsRadix *tree)
{
    return __atomic_load_n(&tree->count, __ATOMIC_RELAXED);
}

size_t
ns_radix_memory_used(const NsRadix *tree)
{
    return sizeof(*tree) +
           (size_t)__atomic_load_n(&tree->nodes, __ATOMIC_RELAXED) * sizeof(NsRadixNode);
}

unsigned
ns_radix_fanout(void)
{
    return FANOUT;
}

uint64_t
ns_radix_live_nodes(void)
{
    return __atomic_load_n(&live_nodes, __ATOMIC_RELAXED);
}
