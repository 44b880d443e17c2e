/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placement tallies (placement-tally.h).
 *
 * Counts live in one block of 64-bit words, a row per slot (slot 0 the
 * whole map, slot 1.. the vNUMA cells in ascending order): the state
 * counts, then the pages on each host node, then the unmovable pages on
 * each node, then those of them refused for being shared (a job allowed
 * to move shared memory does not count them as staying).  The block grows (more nodes) by copy: the writer publishes
 * the new block inside a change and frees the old one after a grace
 * period, so a reader never needs more than an RCU read-side section.
 *
 * Readers see consistent counts through a sequence count (Boehm, "Can
 * seqlocks get along with programming language memory models?"): the
 * writer makes it odd, stores the counts, and makes it even again; a
 * reader copies the counts between two reads of it and retries when they
 * differ or are odd.  Without fences (TSan does not model them, and GCC
 * refuses them under -fsanitize=thread): every count is stored with
 * release order, which orders the odd sequence number before it, and
 * loaded with acquire order, which orders the reader's second read of the
 * sequence after it.  On x86-64 all of these are plain moves.
 */
#define _LGPL_SOURCE
#include "placement-tally.h"

#include <sched.h>
#include <string.h>
#include <urcu/urcu-memb.h>

enum {
    F_TOTAL,
    F_HUGE,
    F_ABSENT,
    F_PRESENT,
    F_MIGRATING,
    F_FAILED,
    F_UNMOVABLE, /* NS_UNMOVABLE_CAUSES of them */
    F_NODES = F_UNMOVABLE + NS_UNMOVABLE_CAUSES,
};

#define ORDER_COUNT_MAX 40u   /* larger orders are nonsense: clamp the arithmetic */
#define NODES_INITIAL 4u
#define COUNT_READ_SECTION 1024u /* entries per read-side section of a tree walk */
#define READ_SPINS_BEFORE_YIELD 64u

typedef struct {
    struct rcu_head rcu;
    guint n_nodes;
    guint n_slots;
    guint64 v[]; /* n_slots rows of row_words(n_nodes) */
} Counts;

typedef struct {
    guint64 first, last; /* guest frame numbers, inclusive */
    guint slot;          /* row of its cell; 0: the range has no cell */
} Span;

struct _NsTally {
    guint seq; /* odd while the writer changes counts */
    Counts *counts;
    gboolean shared;
    GArray *spans; /* of Span, ascending (a memory map's ranges never overlap) */
    GArray *cells; /* of gint: the cell of slot i + 1, ascending */
    guint hint;    /* the span last hit: writers go through memory in order */
    struct rcu_head rcu;
};

static inline gsize
row_words(guint n_nodes)
{
    return F_NODES + 3u * (gsize)n_nodes; /* on node, unmovable, shared unmovable */
}

static Counts *
counts_new(guint n_slots, guint n_nodes)
{
    Counts *c = g_malloc0(sizeof(Counts) + n_slots * row_words(n_nodes) * sizeof(guint64));

    c->n_slots = n_slots;
    c->n_nodes = n_nodes;
    return c;
}

static void
counts_free_rcu(struct rcu_head *head)
{
    g_free(caa_container_of(head, Counts, rcu));
}

static gint
cell_cmp(gconstpointer a, gconstpointer b)
{
    gint x = *(const gint *)a, y = *(const gint *)b;

    return (x > y) - (x < y);
}

NsTally *
ns_tally_new(const NsMemMap *map, gboolean shared)
{
    NsTally *t = g_new0(NsTally, 1);

    t->shared = shared;
    t->spans = g_array_new(FALSE, FALSE, sizeof(Span));
    t->cells = g_array_new(FALSE, FALSE, sizeof(gint));
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        gboolean known = FALSE;

        if (r->cell < 0)
            continue;
        for (guint k = 0; k < t->cells->len && !known; k++)
            known = g_array_index(t->cells, gint, k) == r->cell;
        if (!known)
            g_array_append_val(t->cells, r->cell);
    }
    g_array_sort(t->cells, cell_cmp);
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        Span span = { .first = r->gpa >> NS_GUEST_PAGE_SHIFT, .slot = 0 };

        if (r->size < NS_GUEST_PAGE_SIZE)
            continue;
        span.last = span.first + (r->size >> NS_GUEST_PAGE_SHIFT) - 1;
        for (guint k = 0; k < t->cells->len && r->cell >= 0; k++)
            if (g_array_index(t->cells, gint, k) == r->cell)
                span.slot = k + 1;
        g_array_append_val(t->spans, span);
    }
    t->counts = counts_new(1 + t->cells->len, NODES_INITIAL);
    return t;
}

void
ns_tally_free(NsTally *tally)
{
    if (tally == NULL)
        return;
    g_free(tally->counts);
    g_array_unref(tally->spans);
    g_array_unref(tally->cells);
    g_free(tally);
}

static void
tally_free_rcu(struct rcu_head *head)
{
    ns_tally_free(caa_container_of(head, NsTally, rcu));
}

void
ns_tally_retire(NsTally *tally)
{
    if (tally != NULL)
        urcu_memb_call_rcu(&tally->rcu, tally_free_rcu);
}

gboolean
ns_tally_matches(const NsTally *tally, const NsMemMap *map)
{
    g_autoptr(NsTally) other = ns_tally_new(map, FALSE);

    if (other->spans->len != tally->spans->len || other->cells->len != tally->cells->len)
        return FALSE;
    for (guint i = 0; i < tally->spans->len; i++) {
        const Span *a = &g_array_index(tally->spans, Span, i);
        const Span *b = &g_array_index(other->spans, Span, i);

        if (a->first != b->first || a->last != b->last || a->slot != b->slot)
            return FALSE;
    }
    for (guint i = 0; i < tally->cells->len; i++)
        if (g_array_index(tally->cells, gint, i) != g_array_index(other->cells, gint, i))
            return FALSE;
    return TRUE;
}

/* ---- the writer ---------------------------------------------------------- */

static void
write_begin(NsTally *t)
{
    /* Ordered before the counts by their release stores (bump()). */
    __atomic_store_n(&t->seq, __atomic_load_n(&t->seq, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static void
write_end(NsTally *t)
{
    __atomic_store_n(&t->seq, __atomic_load_n(&t->seq, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

/* The span holding @gfn, or NULL. */
static const Span *
span_of(NsTally *t, guint64 gfn)
{
    guint lo = 0, hi = t->spans->len;

    if (t->hint < t->spans->len) {
        const Span *s = &g_array_index(t->spans, Span, t->hint);

        if (gfn >= s->first && gfn <= s->last)
            return s;
    }
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const Span *s = &g_array_index(t->spans, Span, mid);

        if (gfn < s->first) {
            hi = mid;
        } else if (gfn > s->last) {
            lo = mid + 1;
        } else {
            t->hint = mid;
            return s;
        }
    }
    return NULL;
}

/* Room for @node in every row: a wider block, published inside the change. */
static void
grow_nodes(NsTally *t, guint node)
{
    Counts *old = t->counts;
    guint n_nodes = MAX(old->n_nodes, 1u);

    while (n_nodes <= node)
        n_nodes *= 2;
    n_nodes = MIN(n_nodes, NS_PAGE_NODE_MAX + 1u);
    Counts *c = counts_new(old->n_slots, n_nodes);

    for (guint s = 0; s < old->n_slots; s++) {
        const guint64 *from = old->v + s * row_words(old->n_nodes);
        guint64 *to = c->v + s * row_words(n_nodes);

        memcpy(to, from, (F_NODES + old->n_nodes) * sizeof(guint64));
        for (guint b = 1; b < 3; b++)
            memcpy(to + F_NODES + b * n_nodes, from + F_NODES + b * old->n_nodes,
                   old->n_nodes * sizeof(guint64));
    }
    __atomic_store_n(&t->counts, c, __ATOMIC_RELEASE);
    if (t->shared)
        urcu_memb_call_rcu(&old->rcu, counts_free_rcu);
    else
        g_free(old);
}

static inline void
bump(guint64 *word, guint64 delta)
{
    __atomic_store_n(word, __atomic_load_n(word, __ATOMIC_RELAXED) + delta, __ATOMIC_RELEASE);
}

/* Add @delta (two's complement: a removal) pages of @info to row @slot. */
static void
row_account(NsTally *t, guint slot, const NsPageInfo *info, guint64 delta)
{
    Counts *c = t->counts;
    guint64 *row = c->v + slot * row_words(c->n_nodes);
    gboolean unmovable = info->state == NS_PAGE_FAILED && info->strikes > 0;

    bump(&row[F_TOTAL], delta);
    if (info->order > 0)
        bump(&row[F_HUGE], delta);
    switch (info->state) {
    case NS_PAGE_ABSENT:
        bump(&row[F_ABSENT], delta);
        return; /* on no node */
    case NS_PAGE_PRESENT:
        bump(&row[F_PRESENT], delta);
        break;
    case NS_PAGE_MIGRATING:
        bump(&row[F_MIGRATING], delta);
        break;
    case NS_PAGE_FAILED:
        bump(&row[F_FAILED], delta);
        if (unmovable)
            bump(&row[F_UNMOVABLE + ns_unmovable_cause(info->error)], delta);
        break;
    }
    if (info->node > NS_PAGE_NODE_MAX)
        return;
    bump(&row[F_NODES + info->node], delta);
    if (unmovable)
        bump(&row[F_NODES + c->n_nodes + info->node], delta);
    if (unmovable && ns_unmovable_cause(info->error) == NS_UNMOVABLE_SHARED)
        bump(&row[F_NODES + 2 * c->n_nodes + info->node], delta);
}

/* Inside a write window. */
static void
account_in(NsTally *t, const Span *span, const NsPageInfo *info, guint64 delta)
{
    if (info->node <= NS_PAGE_NODE_MAX && info->node >= t->counts->n_nodes)
        grow_nodes(t, info->node);
    row_account(t, 0, info, delta);
    if (span->slot != 0)
        row_account(t, span->slot, info, delta);
}

static void
account(NsTally *t, guint64 gfn, const NsPageInfo *info, guint64 delta)
{
    const Span *span = span_of(t, gfn);

    if (span != NULL)
        account_in(t, span, info, delta);
}

static guint64
entry_pages(const NsPageInfo *info)
{
    return G_GUINT64_CONSTANT(1) << MIN(info->order, ORDER_COUNT_MAX);
}

void
ns_tally_add(NsTally *tally, guint64 gfn, const NsPageInfo *info, guint64 pages)
{
    write_begin(tally);
    account(tally, gfn, info, pages);
    write_end(tally);
}

void
ns_tally_change(NsTally *tally, guint64 gfn, const void *old_entry, const void *new_entry)
{
    gboolean was = old_entry != NULL && ns_radix_is_page(old_entry);
    gboolean is = new_entry != NULL && ns_radix_is_page(new_entry);

    if (!was && !is)
        return;
    write_begin(tally);
    if (was) {
        NsPageInfo info = ns_radix_page_info(old_entry);

        account(tally, gfn, &info, -entry_pages(&info));
    }
    if (is) {
        NsPageInfo info = ns_radix_page_info(new_entry);

        account(tally, gfn, &info, entry_pages(&info));
    }
    write_end(tally);
}

void
ns_tally_count_tree(NsTally *tally, const NsRadix *tree)
{
    for (guint i = 0; i < tally->spans->len; i++) {
        const Span span = g_array_index(tally->spans, Span, i);
        NsRadixIter it;
        void *entry;
        guint64 index;

        ns_radix_iter_init(&it, span.first, span.last);
        do {
            urcu_memb_read_lock();
            write_begin(tally);
            for (guint k = 0; k < COUNT_READ_SECTION; k++) {
                entry = ns_radix_iter_next(tree, &it, &index);
                if (entry == NULL)
                    break;
                if (!ns_radix_is_page(entry))
                    continue;
                NsPageInfo info = ns_radix_page_info(entry);

                account_in(tally, &span, &info, entry_pages(&info));
            }
            write_end(tally);
            urcu_memb_read_unlock();
        } while (entry != NULL);
    }
}

/* ---- readers ------------------------------------------------------------- */

static void
stats_fill(NsPlacementStats *stats, gint cell, const guint64 *row, guint n_nodes)
{
    guint used = 0, unmovable_used = 0, shared_used = 0;

#define COUNT(f) ((NsPlacementCount){ .pages = row[f], .bytes = row[f] << NS_GUEST_PAGE_SHIFT })
    memset(stats, 0, sizeof(*stats));
    stats->cell = cell;
    stats->total = COUNT(F_TOTAL);
    stats->huge = COUNT(F_HUGE);
    stats->absent = COUNT(F_ABSENT);
    stats->present = COUNT(F_PRESENT);
    stats->migrating = COUNT(F_MIGRATING);
    stats->failed = COUNT(F_FAILED);
    for (guint k = 0; k < NS_UNMOVABLE_CAUSES; k++)
        stats->unmovable[k] = COUNT(F_UNMOVABLE + k);
    /* Node arrays end at the last node with a page, as a walk sees them. */
    for (guint n = 0; n < n_nodes; n++) {
        if (row[F_NODES + n] != 0)
            used = n + 1;
        if (row[F_NODES + n_nodes + n] != 0)
            unmovable_used = n + 1;
        if (row[F_NODES + 2 * n_nodes + n] != 0)
            shared_used = n + 1;
    }
    stats->nodes = g_array_sized_new(FALSE, TRUE, sizeof(NsPlacementCount), used);
    stats->unmovable_nodes = g_array_sized_new(FALSE, TRUE, sizeof(NsPlacementCount),
                                               unmovable_used);
    stats->shared_nodes = g_array_sized_new(FALSE, TRUE, sizeof(NsPlacementCount), shared_used);
    for (guint n = 0; n < used; n++) {
        NsPlacementCount count = COUNT(F_NODES + n);

        g_array_append_val(stats->nodes, count);
    }
    for (guint n = 0; n < unmovable_used; n++) {
        NsPlacementCount count = COUNT(F_NODES + n_nodes + n);

        g_array_append_val(stats->unmovable_nodes, count);
    }
    for (guint n = 0; n < shared_used; n++) {
        NsPlacementCount count = COUNT(F_NODES + 2 * n_nodes + n);

        g_array_append_val(stats->shared_nodes, count);
    }
#undef COUNT
}

static void
stats_free(gpointer p)
{
    NsPlacementStats *stats = p;

    g_array_unref(stats->nodes);
    g_array_unref(stats->unmovable_nodes);
    g_array_unref(stats->shared_nodes);
    g_free(stats);
}

NsPlacementSummary *
ns_tally_read(const NsTally *tally)
{
    g_autofree guint64 *copy = NULL;
    gsize copy_words = 0, words;
    guint n_nodes, n_slots, spins = 0;

    for (;;) {
        guint seq = __atomic_load_n(&tally->seq, __ATOMIC_ACQUIRE);

        if (seq & 1u) {
            /* A change is a few stores; a writer preempted mid-change is not. */
            if (++spins % READ_SPINS_BEFORE_YIELD == 0)
                sched_yield();
            continue;
        }
        const Counts *c = __atomic_load_n(&tally->counts, __ATOMIC_ACQUIRE);

        n_nodes = c->n_nodes;
        n_slots = c->n_slots;
        words = n_slots * row_words(n_nodes);
        if (words > copy_words) {
            g_free(copy);
            copy = g_new(guint64, words);
            copy_words = words;
        }
        for (gsize w = 0; w < words; w++)
            copy[w] = __atomic_load_n(&c->v[w], __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&tally->seq, __ATOMIC_RELAXED) == seq)
            break;
    }
    NsPlacementSummary *summary = g_new0(NsPlacementSummary, 1);

    stats_fill(&summary->all, -1, copy, n_nodes);
    summary->cells = g_ptr_array_new_with_free_func(stats_free);
    for (guint s = 1; s < n_slots; s++) {
        NsPlacementStats *stats = g_new(NsPlacementStats, 1);

        stats_fill(stats, g_array_index(tally->cells, gint, s - 1),
                   copy + s * row_words(n_nodes), n_nodes);
        g_ptr_array_add(summary->cells, stats);
    }
    return summary;
}
