/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libnsradix: an RCU radix tree keyed by 64-bit indices (guest frame numbers).
 *
 * Readers walk the tree without locks inside an RCU read-side critical
 * section (liburcu, "memb" flavour: urcu_memb_read_lock()); writers are
 * serialised by a mutex inside the tree.  Every reader thread must be
 * registered with urcu_memb_register_thread().  Writer calls retire removed
 * nodes with call_rcu(), so the calling thread must be registered too.
 *
 * Errors are returned as negative errno values; nothing here prints, logs
 * or exits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

_Static_assert(sizeof(void *) == sizeof(uint64_t),
               "numashift's entry encoding needs 64-bit pointers");

/*
 * Entries
 * =======
 * A slot holds NULL (empty) or one pointer-sized entry.  The two low bits
 * say what the entry is:
 *
 *   bits 1..0   meaning
 *   ---------   -------------------------------------------------------
 *      00       a pointer, at least 4-byte aligned, owned by the caller
 *      x1       a value entry: a 63-bit integer in bits 63..1, no allocation
 *      10       reserved for the tree's own internal node pointers; an
 *               entry with these bits is refused with -EINVAL
 *
 * The encoding relies on every pointer the caller stores being aligned to
 * at least 4 bytes, which malloc() guarantees.
 */
_Static_assert(_Alignof(max_align_t) >= 4,
               "radix entries use the two low pointer bits as tags");

#define NS_RADIX_VALUE_MAX (UINT64_MAX >> 1)

/*
 * Make a value entry from @v (at most NS_RADIX_VALUE_MAX; higher bits are lost).
 * Context: any; pure.
 */
static inline void *
ns_radix_mk_value(uint64_t v)
{
    return (void *)(uintptr_t)((v << 1) | 1u);
}

/* Whether @entry is a value entry.  Context: any; pure. */
static inline bool
ns_radix_is_value(const void *entry)
{
    return ((uintptr_t)entry & 1u) != 0;
}

/* The integer a value entry carries.  Context: any; pure. */
static inline uint64_t
ns_radix_to_value(const void *entry)
{
    return (uint64_t)(uintptr_t)entry >> 1;
}

/* True if @entry may be stored: not NULL, not using the internal tag.  Context: any; pure. */
static inline bool
ns_radix_entry_valid(const void *entry)
{
    return entry != NULL && ((uintptr_t)entry & 3u) != 2u;
}

/*
 * Page entries and migration markers
 * ==================================
 * numashift stores one value entry per guest page.  Its 63-bit value:
 *
 *   value bits  field     meaning
 *   ----------  --------  ----------------------------------------------
 *      1..0     state     NS_PAGE_ABSENT / PRESENT / MIGRATING / FAILED
 *     12..2     node      host node the page is on (MIGRATING: the node
 *                         it is leaving; FAILED: where it stayed);
 *                         NS_PAGE_NODE_NONE when unknown
 *     23..13    target    MIGRATING / FAILED: the node it was sent to;
 *                         otherwise NS_PAGE_NODE_NONE
 *     31..24    error     FAILED: the positive errno move_pages() gave
 *     35..32    attempts  move attempts so far (saturates at 15)
 *     41..36    order     log2(page size / 4 KiB): 0 base page, 9 = 2 MiB
 *     44..42    strikes   FAILED: how many jobs in a row found the page
 *                         unmovable (0: not unmovable; saturates at 7)
 *     61..45    tried     FAILED with strikes: the minute of the last try,
 *                         on the live map's clock (livemap.h; saturates)
 *         62    reserved  zero
 *
 * A *migration marker* is a page entry in state MIGRATING: it keeps the
 * page's old node so that a cancelled or failed move can put the entry
 * back exactly as it was.  Markers are swapped in and out with
 * ns_radix_replace_if().
 */
typedef enum {
    NS_PAGE_ABSENT = 0,    /* not backed by a host page yet (move_pages: -ENOENT) */
    NS_PAGE_PRESENT = 1,   /* resident on `node` */
    NS_PAGE_MIGRATING = 2, /* migration marker: moving from `node` to `target` */
    NS_PAGE_FAILED = 3,    /* the last move to `target` failed with `error` */
} NsPageState;

#define NS_PAGE_NODE_BITS 11
#define NS_PAGE_NODE_NONE ((1u << NS_PAGE_NODE_BITS) - 1) /* 2047 */
#define NS_PAGE_NODE_MAX (NS_PAGE_NODE_NONE - 1)          /* 2046 */
#define NS_PAGE_ATTEMPTS_MAX 15u
#define NS_PAGE_ORDER_MAX 63u
#define NS_PAGE_STRIKES_MAX 7u
#define NS_PAGE_TRIED_MAX ((1u << 17) - 1)

typedef struct {
    NsPageState state;
    unsigned node;     /* 0..NS_PAGE_NODE_MAX or NS_PAGE_NODE_NONE */
    unsigned target;   /* 0..NS_PAGE_NODE_MAX or NS_PAGE_NODE_NONE */
    unsigned error;    /* positive errno, 0..255 */
    unsigned attempts; /* 0..15 */
    unsigned order;    /* 0..63 */
    unsigned strikes;  /* 0..7: unmovable after this many jobs in a row */
    unsigned tried;    /* 0..NS_PAGE_TRIED_MAX: minute of the last try */
} NsPageInfo;

#define NS_PAGE__STATE_SHIFT 0
#define NS_PAGE__NODE_SHIFT 2
#define NS_PAGE__TARGET_SHIFT 13
#define NS_PAGE__ERROR_SHIFT 24
#define NS_PAGE__ATTEMPTS_SHIFT 32
#define NS_PAGE__ORDER_SHIFT 36
#define NS_PAGE__STRIKES_SHIFT 42
#define NS_PAGE__TRIED_SHIFT 45
#define NS_PAGE__RESERVED_SHIFT 62

_Static_assert(NS_PAGE__RESERVED_SHIFT < 63, "page entry fits a value entry");

/* Encode @info.  Fields out of range are truncated to their width.  Context: any; pure. */
static inline void *
ns_radix_mk_page(const NsPageInfo *info)
{
    uint64_t v = 0;

    v |= (uint64_t)(info->state & 3u) << NS_PAGE__STATE_SHIFT;
    v |= (uint64_t)(info->node & NS_PAGE_NODE_NONE) << NS_PAGE__NODE_SHIFT;
    v |= (uint64_t)(info->target & NS_PAGE_NODE_NONE) << NS_PAGE__TARGET_SHIFT;
    v |= (uint64_t)(info->error & 0xffu) << NS_PAGE__ERROR_SHIFT;
    v |= (uint64_t)(info->attempts & 0xfu) << NS_PAGE__ATTEMPTS_SHIFT;
    v |= (uint64_t)(info->order & 0x3fu) << NS_PAGE__ORDER_SHIFT;
    v |= (uint64_t)(info->strikes & NS_PAGE_STRIKES_MAX) << NS_PAGE__STRIKES_SHIFT;
    v |= (uint64_t)(info->tried & NS_PAGE_TRIED_MAX) << NS_PAGE__TRIED_SHIFT;
    return ns_radix_mk_value(v);
}

/* True if @entry is a value entry carrying a page (reserved bits zero).  Context: any; pure. */
static inline bool
ns_radix_is_page(const void *entry)
{
    return ns_radix_is_value(entry) &&
           (ns_radix_to_value(entry) >> NS_PAGE__RESERVED_SHIFT) == 0;
}

/* Decode a page entry; @entry must satisfy ns_radix_is_page().  Context: any; pure. */
static inline NsPageInfo
ns_radix_page_info(const void *entry)
{
    uint64_t v = ns_radix_to_value(entry);
    NsPageInfo info = {
        .state = (NsPageState)((v >> NS_PAGE__STATE_SHIFT) & 3u),
        .node = (unsigned)((v >> NS_PAGE__NODE_SHIFT) & NS_PAGE_NODE_NONE),
        .target = (unsigned)((v >> NS_PAGE__TARGET_SHIFT) & NS_PAGE_NODE_NONE),
        .error = (unsigned)((v >> NS_PAGE__ERROR_SHIFT) & 0xffu),
        .attempts = (unsigned)((v >> NS_PAGE__ATTEMPTS_SHIFT) & 0xfu),
        .order = (unsigned)((v >> NS_PAGE__ORDER_SHIFT) & 0x3fu),
        .strikes = (unsigned)((v >> NS_PAGE__STRIKES_SHIFT) & NS_PAGE_STRIKES_MAX),
        .tried = (unsigned)((v >> NS_PAGE__TRIED_SHIFT) & NS_PAGE_TRIED_MAX),
    };
    return info;
}

/* A resident page on @node of the given @order.  Context: any; pure. */
static inline void *
ns_radix_mk_present(unsigned node, unsigned order)
{
    NsPageInfo info = { .state = NS_PAGE_PRESENT, .node = node,
                        .target = NS_PAGE_NODE_NONE, .order = order };
    return ns_radix_mk_page(&info);
}

/* A page QEMU has not touched yet (no host page behind it).  Context: any; pure. */
static inline void *
ns_radix_mk_absent(unsigned order)
{
    NsPageInfo info = { .state = NS_PAGE_ABSENT, .node = NS_PAGE_NODE_NONE,
                        .target = NS_PAGE_NODE_NONE, .order = order };
    return ns_radix_mk_page(&info);
}

/*
 * The migration marker for a page entry @entry about to move to @target:
 * keeps its node, order and attempt count, bumps the attempt count.
 * Context: any; pure.
 */
static inline void *
ns_radix_mk_marker(const void *entry, unsigned target)
{
    NsPageInfo info = ns_radix_page_info(entry);

    info.state = NS_PAGE_MIGRATING;
    info.target = target;
    info.error = 0;
    if (info.attempts < NS_PAGE_ATTEMPTS_MAX)
        info.attempts++;
    return ns_radix_mk_page(&info);
}

/* Whether @entry is a migration marker.  Context: any; pure. */
static inline bool
ns_radix_is_marker(const void *entry)
{
    return ns_radix_is_page(entry) &&
           ns_radix_page_info(entry).state == NS_PAGE_MIGRATING;
}

/*
 * A marker's move failed with @err (either sign of an errno): the page
 * stayed where it was.
 * Context: any; pure.
 */
static inline void *
ns_radix_mk_failed(const void *marker, int err)
{
    NsPageInfo info = ns_radix_page_info(marker);

    info.state = NS_PAGE_FAILED;
    info.error = err < 0 ? (unsigned)-err : (unsigned)err;
    return ns_radix_mk_page(&info);
}

/*
 * The tree
 * ========
 */
typedef struct NsRadix NsRadix;

/* Tags: per-entry bits, aggregated up the tree so tagged lookups skip subtrees. */
typedef enum {
    NS_RADIX_TAG_MIGRATING = 0,
    NS_RADIX_TAG_FAILED = 1,
} NsRadixTag;
#define NS_RADIX_TAG_COUNT 2u

/*
 * Create an empty tree.  Returns NULL with errno = ENOMEM.
 * Context: any thread; takes no lock.
 */
NsRadix *ns_radix_new(void);

/*
 * Free the tree and all its nodes.  Entries that are pointers are not freed.
 * Nodes are released after a grace period, so readers that entered before
 * the call finish safely; no reader may start on @tree after it.  NULL is
 * accepted.
 * Context: no concurrent writer; the calling thread is a registered RCU thread
 * outside any read-side section of its own that still uses @tree.
 */
void ns_radix_destroy(NsRadix *tree);

/*
 * A writer's callback: the entry at @index changed from @old_entry to
 * @new_entry (either may be NULL: an insert, a delete).  It runs under the
 * writer lock, after the change is published, once per change that
 * replaced one entry by another; a failed call or a replace by the same
 * entry makes none.  Tags do not count.  It must not call the tree's
 * writer functions (the lock is held) and should be short: every writer
 * waits for it.
 */
typedef void (*NsRadixObserver)(void *data, uint64_t index, const void *old_entry,
                                const void *new_entry);

/*
 * Have @observer(@data, ...) called for every later change of an entry
 * (NULL: none).  What the tree holds already is not replayed: an observer
 * that counts entries starts from a walk of its own.  For a live summary
 * of the tree that needs no walk per read.
 * Context: writer: takes the tree's writer lock; any thread.
 */
void ns_radix_set_observer(NsRadix *tree, NsRadixObserver observer, void *data);

/*
 * The entry at @index, or NULL.  A pointer entry stays valid until the
 * caller's read-side section ends (or longer, by the caller's own rules).
 * Context: registered RCU reader inside urcu_memb_read_lock(); takes no lock.
 */
void *ns_radix_lookup(const NsRadix *tree, uint64_t index);

/*
 * Insert @entry at @index.  Returns 0, -EEXIST if the slot is taken,
 * -EINVAL if !ns_radix_entry_valid(entry), -ENOMEM.  On error nothing changed.
 * Context: writer: takes the tree's writer lock; registered RCU thread.
 */
int ns_radix_insert(NsRadix *tree, uint64_t index, void *entry);

/*
 * Insert or replace: store @entry at @index and return the old entry (or
 * NULL) in @ret_old if it is not NULL.  A replaced slot keeps its tags.
 * Returns 0, -EINVAL, -ENOMEM; on error nothing changed.
 * Context: writer: takes the tree's writer lock; registered RCU thread.
 */
int ns_radix_store(NsRadix *tree, uint64_t index, void *entry, void **ret_old);

/*
 * Compare-and-swap one slot: if the entry at @index is @expected, replace it
 * with @desired (tags kept).  Returns 0, -ENOENT if the slot is empty,
 * -EAGAIN if it holds another entry, -EINVAL if either entry is invalid.
 * Readers see the old or the new entry, never anything else.
 * Context: writer: takes the tree's writer lock; registered RCU thread.
 */
int ns_radix_replace_if(NsRadix *tree, uint64_t index, void *expected, void *desired);

/*
 * Remove the entry at @index and return it (NULL if there was none); its
 * tags are cleared.  Nodes left empty are unlinked and freed after a grace
 * period; the tree shrinks when its root keeps a single child at slot 0.
 * Context: writer: takes the tree's writer lock; registered RCU thread.
 */
void *ns_radix_delete(NsRadix *tree, uint64_t index);

/*
 * Set / clear @tag on the entry at @index.  Returns 0, -ENOENT (no entry),
 * -EINVAL (tag out of range).
 * Context: writer: takes the tree's writer lock; registered RCU thread.
 */
int ns_radix_tag_set(NsRadix *tree, uint64_t index, NsRadixTag tag);
int ns_radix_tag_clear(NsRadix *tree, uint64_t index, NsRadixTag tag);

/*
 * Whether the entry at @index carries @tag (false for no entry or bad tag).
 * Context: registered RCU reader inside urcu_memb_read_lock(); takes no lock.
 */
bool ns_radix_tag_get(const NsRadix *tree, uint64_t index, NsRadixTag tag);

/*
 * Whether any entry in the tree carries @tag.
 * Context: registered RCU reader inside urcu_memb_read_lock(); takes no lock.
 */
bool ns_radix_tagged(const NsRadix *tree, NsRadixTag tag);

/*
 * Gang lookup: the first up to @max present entries at indices >= @first, in
 * ascending index order, into @ret_entries and (if not NULL) @ret_indices.
 * Returns how many were found.  Under concurrent writes each result was
 * present at some moment during the call.
 * Context: registered RCU reader inside urcu_memb_read_lock(); takes no lock.
 */
size_t ns_radix_gang_lookup(const NsRadix *tree, uint64_t first, size_t max,
                            void **ret_entries, uint64_t *ret_indices);

/*
 * As ns_radix_gang_lookup(), for entries carrying @tag only.
 * Context: registered RCU reader inside urcu_memb_read_lock(); takes no lock.
 */
size_t ns_radix_gang_lookup_tag(const NsRadix *tree, uint64_t first, NsRadixTag tag,
                                size_t max, void **ret_entries, uint64_t *ret_indices);

/*
 * Range iteration over [first, last], ascending:
 *
 *     NsRadixIter it;
 *     uint64_t index;
 *     void *entry;
 *     ns_radix_iter_init(&it, first, last);
 *     while ((entry = ns_radix_iter_next(tree, &it, &index)))
 *         ...;
 *
 * The iterator fetches a batch at a time with a gang lookup; it holds no
 * reference into the tree between calls.
 */
#define NS_RADIX_ITER_BATCH 32u
typedef struct {
    uint64_t next;    /* next index to fetch from */
    uint64_t last;    /* inclusive end of the range */
    bool exhausted;   /* nothing left to fetch */
    unsigned pos, len;
    void *entries[NS_RADIX_ITER_BATCH];
    uint64_t indices[NS_RADIX_ITER_BATCH];
} NsRadixIter;

/* Context: any thread; touches only @it. */
void ns_radix_iter_init(NsRadixIter *it, uint64_t first, uint64_t last);

/*
 * The next entry in the range (its index in @ret_index), or NULL at the end.
 * Context: registered RCU reader inside urcu_memb_read_lock() for each call;
 * the section may end between calls (the iterator keeps no tree pointer).
 */
void *ns_radix_iter_next(const NsRadix *tree, NsRadixIter *it, uint64_t *ret_index);

/*
 * Number of entries stored.
 * Context: any thread; a relaxed read that may lag a concurrent writer.
 */
uint64_t ns_radix_count(const NsRadix *tree);

/*
 * Bytes of memory the tree holds: its nodes and its own struct.
 * Context: any thread; a relaxed read that may lag a concurrent writer.
 */
size_t ns_radix_memory_used(const NsRadix *tree);

/*
 * Height of the tree: 0 when empty or when the only entry (index 0) sits
 * in the root pointer itself; otherwise the root node's height, leaves
 * being height 1.
 * Context: registered RCU reader inside urcu_memb_read_lock(); takes no lock.
 */
unsigned ns_radix_height(const NsRadix *tree);

/* Slots per node (1 << NS_RADIX_SHIFT, fixed at build time). Context: any. */
unsigned ns_radix_fanout(void);

/*
 * Process-wide count of tree nodes allocated and not yet freed, across all
 * trees; after every tree is destroyed and urcu_memb_barrier() has run it is
 * zero.  Meant for leak checks in tests.
 * Context: any thread; a relaxed atomic read.
 */
uint64_t ns_radix_live_nodes(void);

#ifdef __cplusplus
}
#endif
