/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placement: move_pages(2) query mode -> the domain's radix tree.
 *
 * A scan walks each range of the memory map in chunks of batch_pages base
 * pages.  For a chunk it first cuts the range into units (a base page, or a
 * whole large folio found through pagemap + kpageflags, or a hugetlbfs
 * page), then asks the kernel with ONE move_pages() query for one address
 * per unit, then reconciles the tree with the answer: each unit's entry is
 * written if it changed, and every other entry in the chunk (a tail gfn of
 * a huge page, left over from an older scan) is deleted.  Finally entries
 * outside every range are deleted.
 *
 * Large-folio detection reads PFNs and flags that may change under it (a
 * THP split or khugepaged collapse): the result is a snapshot, as is the
 * node move_pages() reports.  The engine copes with a stale snapshot: the
 * kernel moves whole folios whatever address it is given, and answers
 * -EBUSY for a second address of a folio it is already moving.
 */
#include "numashift/placement.h"

#include <errno.h>
#include <linux/kernel-page-flags.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "numashift/error.h"
#include "placement-tally.h"

#define PM_PFN_MASK ((G_GUINT64_CONSTANT(1) << 55) - 1)
#define KPF(bit) (G_GUINT64_CONSTANT(1) << (bit))
#define FOLIO_ORDER_MAX 9u
#define FOLIO_PAGES_MAX (1u << FOLIO_ORDER_MAX)
#define SUMMARY_READ_SECTION 1024u /* entries per read-side section */

/* ---- large folios: pagemap + kpageflags ---------------------------------- */

typedef struct {
    const NsKernel *kernel;
    NsKernelPages *pages;       /* NULL: detection off */
    gboolean pfn_seen;          /* a present page showed a PFN (we are privileged) */
    gboolean present_seen;      /* a present page was seen at all */
    guint64 block_pfn;          /* first PFN of the cached kpageflags block */
    guint block_len;            /* entries in the block, 0: none cached */
    guint64 block[FOLIO_PAGES_MAX];
} FolioProbe;

static void
folio_probe_clear(FolioProbe *probe)
{
    if (probe->pages != NULL)
        probe->kernel->pages_close(probe->pages);
    probe->pages = NULL;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FolioProbe, folio_probe_clear)

static void
folio_probe_open(FolioProbe *probe, const NsKernel *kernel, pid_t pid, gboolean wanted)
{
    probe->kernel = kernel;
    probe->pages = NULL;
    probe->block_len = 0;
    if (wanted && kernel->pages_open != NULL)
        probe->pages = kernel->pages_open(kernel->data, pid);
}

static gboolean
folio_probe_active(const FolioProbe *probe)
{
    return probe->pages != NULL;
}

/* Read @n pagemap entries from @hva; FALSE if they could not be read. */
static gboolean
read_pagemap(FolioProbe *probe, guint64 hva, guint64 *out, gsize n)
{
    return probe->kernel->pagemap_read(probe->pages, hva >> NS_GUEST_PAGE_SHIFT, out, n) ==
           (gssize)n;
}

/* The kpageflags of @pfn, through a cache of the aligned 512-PFN block. */
static gboolean
kpageflags_block(FolioProbe *probe, guint64 pfn, const guint64 **ret_block, guint *ret_off)
{
    guint64 base = pfn & ~(guint64)(FOLIO_PAGES_MAX - 1);

    if (probe->block_len == 0 || probe->block_pfn != base) {
        gssize got = probe->kernel->kpageflags_read(probe->pages, base, probe->block,
                                                    FOLIO_PAGES_MAX);

        if (got < 1) {
            probe->block_len = 0;
            return FALSE;
        }
        probe->block_pfn = base;
        probe->block_len = (guint)got;
    }
    if (pfn - base >= probe->block_len)
        return FALSE;
    *ret_block = probe->block;
    *ret_off = (guint)(pfn - base);
    return TRUE;
}

/*
 * The order of the large folio whose head is mapped at @pm[i] (virtual page
 * @vpage), if it is mapped whole, in order and aligned within @pm[0..len);
 * 0 otherwise.
 */
static guint
folio_order_at(FolioProbe *probe, const guint64 *pm, gsize i, gsize len, guint64 vpage)
{
    guint64 pfn;
    const guint64 *flags;
    guint off;
    guint n;
    guint order;

    if (!(pm[i] & NS_PAGEMAP_PRESENT))
        return 0;
    probe->present_seen = TRUE;
    pfn = pm[i] & PM_PFN_MASK;
    if (pfn == 0)
        return 0;
    probe->pfn_seen = TRUE;
    /* Cheap filters first: a head of order >= 1 is 2-aligned both ways and
     * its next page follows it physically. */
    if (i + 1 >= len || (pfn & 1) != 0 || (vpage & 1) != 0)
        return 0;
    if (!(pm[i + 1] & NS_PAGEMAP_PRESENT) || (pm[i + 1] & PM_PFN_MASK) != pfn + 1)
        return 0;
    if (!kpageflags_block(probe, pfn, &flags, &off))
        return 0;
    if (!(flags[off] & KPF(KPF_COMPOUND_HEAD)))
        return 0;
    for (n = 1; off + n < probe->block_len && n < FOLIO_PAGES_MAX; n++) {
        if (!(flags[off + n] & KPF(KPF_COMPOUND_TAIL)))
            break;
    }
    if ((n & (n - 1)) != 0)
        return 0;
    order = (guint)g_bit_nth_lsf(n, -1);
    if ((vpage & (n - 1)) != 0 || i + n > len)
        return 0;
    for (guint j = 1; j < n; j++) {
        if (!(pm[i + j] & NS_PAGEMAP_PRESENT) || (pm[i + j] & PM_PFN_MASK) != pfn + j)
            return 0;
    }
    return order;
}

/* ---- scan ---------------------------------------------------------------- */

typedef struct {
    guint64 page; /* base-page index within the range */
    guint order;
} Unit;

static gboolean
check_map(const NsMemMap *map, GError **error)
{
    guint64 prev_end = 0;

    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 ps = r->page_size ? r->page_size : NS_GUEST_PAGE_SIZE;

        if (r->size == 0 || r->gpa % NS_GUEST_PAGE_SIZE != 0 || r->size % NS_GUEST_PAGE_SIZE != 0 ||
            r->hva % NS_GUEST_PAGE_SIZE != 0 || r->gpa + r->size < r->gpa ||
            ps % NS_GUEST_PAGE_SIZE != 0 || (ps & (ps - 1)) != 0) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "memory range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                        "x is empty or not page aligned", r->gpa, r->size);
            return FALSE;
        }
        if (i > 0 && r->gpa < prev_end) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "memory range 0x%" G_GINT64_MODIFIER
                        "x overlaps or precedes the one before",
                        r->gpa);
            return FALSE;
        }
        prev_end = r->gpa + r->size;
    }
    return TRUE;
}

/*
 * Cut the range into units from base page @first; at least @want pages are
 * consumed unless the range ends (a unit may run past @want).  Returns the
 * pages consumed.
 */
static guint64
cut_units(FolioProbe *probe, const NsMemRange *r, guint64 first, guint64 want, guint64 *pm,
          GArray *units)
{
    guint64 n_pages = r->size >> NS_GUEST_PAGE_SHIFT;
    guint64 look = MIN(want + FOLIO_PAGES_MAX - 1, n_pages - first);
    guint64 hva = r->hva + (first << NS_GUEST_PAGE_SHIFT);
    guint64 vpage0 = hva >> NS_GUEST_PAGE_SHIFT;
    guint64 ps = r->page_size ? r->page_size : NS_GUEST_PAGE_SIZE;
    guint fixed_order = (guint)g_bit_nth_lsf(ps >> NS_GUEST_PAGE_SHIFT, -1);
    gboolean have_pm = FALSE;
    guint64 i = 0;

    if (fixed_order == 0 && folio_probe_active(probe))
        have_pm = read_pagemap(probe, hva, pm, look);
    while (i < want && first + i < n_pages) {
        Unit u = { .page = first + i, .order = 0 };

        if (fixed_order > 0) {
            guint64 span = G_GUINT64_CONSTANT(1) << fixed_order;

            if (((vpage0 + i) & (span - 1)) == 0 && first + i + span <= n_pages)
                u.order = fixed_order;
        } else if (have_pm) {
            u.order = folio_order_at(probe, pm, i, look, vpage0 + i);
        }
        g_array_append_val(units, u);
        i += G_GUINT64_CONSTANT(1) << u.order;
    }
    return i;
}

static gboolean
radix_failed(int rc, GError **error)
{
    g_set_error(error, NS_ERROR, NS_ERROR_FAILED, "updating the placement tree failed: %s",
                g_strerror(-rc));
    return FALSE;
}

/*
 * Whether @old, a FAILED entry, still describes the page the scan found
 * (@desired, PRESENT): same node and order, so the move that failed did
 * not happen since.  Its errno, attempts and unmovable record stay.
 */
static gboolean
still_failed(const void *old, const void *desired)
{
    NsPageInfo o, d;

    if (!ns_radix_is_page(old))
        return FALSE;
    o = ns_radix_page_info(old);
    d = ns_radix_page_info(desired);
    return o.state == NS_PAGE_FAILED && d.state == NS_PAGE_PRESENT && o.node == d.node &&
           o.order == d.order;
}

/* Make the entry at @gfn @desired (not a marker), counting what changed. */
static gboolean
write_entry(NsRadix *tree, guint64 gfn, void *desired, NsPlacementScanStats *stats,
            GError **error)
{
    void *old;
    gboolean failed_tag;
    int rc;

    urcu_memb_read_lock();
    old = ns_radix_lookup(tree, gfn);
    failed_tag = old != NULL && ns_radix_tag_get(tree, gfn, NS_RADIX_TAG_FAILED);
    urcu_memb_read_unlock();

    if (old != NULL && ns_radix_is_marker(old))
        return TRUE; /* a job owns it: not ours to touch */
    if (old != NULL && still_failed(old, desired))
        return TRUE; /* the failure still describes it: keep what we learnt */
    if (old != desired) {
        rc = old == NULL ? ns_radix_insert(tree, gfn, desired)
                         : ns_radix_store(tree, gfn, desired, NULL);
        if (rc == -EEXIST)
            rc = ns_radix_store(tree, gfn, desired, NULL);
        if (rc < 0)
            return radix_failed(rc, error);
        stats->written++;
    }
    if (failed_tag)
        ns_radix_tag_clear(tree, gfn, NS_RADIX_TAG_FAILED);
    return TRUE;
}

/* Delete every non-marker entry in [first, last] whose gfn @keep rejects. */
typedef gboolean (*KeepFunc)(guint64 gfn, gpointer data);

static void
delete_entries(NsRadix *tree, guint64 first, guint64 last, KeepFunc keep, gpointer data,
               NsPlacementScanStats *stats)
{
    g_autoptr(GArray) doomed = g_array_new(FALSE, FALSE, sizeof(guint64));
    NsRadixIter it;
    void *entry;
    guint64 index;

    if (first > last)
        return;
    ns_radix_iter_init(&it, first, last);
    do {
        urcu_memb_read_lock();
        for (guint k = 0; k < SUMMARY_READ_SECTION; k++) {
            entry = ns_radix_iter_next(tree, &it, &index);
            if (entry == NULL)
                break;
            if (ns_radix_is_marker(entry) || (keep != NULL && keep(index, data)))
                continue;
            g_array_append_val(doomed, index);
        }
        urcu_memb_read_unlock();
    } while (entry != NULL);

    for (guint k = 0; k < doomed->len; k++) {
        if (ns_radix_delete(tree, g_array_index(doomed, guint64, k)) != NULL)
            stats->removed++;
    }
}

typedef struct {
    const Unit *units;
    guint n;
    guint64 gfn0; /* gfn of the range's first page */
    guint pos;    /* the cursor; the iteration asks in ascending order */
} HeadSet;

static gboolean
is_unit_head(guint64 gfn, gpointer data)
{
    HeadSet *set = data;

    while (set->pos < set->n && set->gfn0 + set->units[set->pos].page < gfn)
        set->pos++;
    return set->pos < set->n && set->gfn0 + set->units[set->pos].page == gfn;
}

static gboolean
scan_range(NsRadix *tree, pid_t pid, const NsMemRange *r, guint batch, FolioProbe *probe,
           NsPlacementScanStats *stats, GError **error)
{
    guint64 n_pages = r->size >> NS_GUEST_PAGE_SHIFT;
    guint64 gfn0 = r->gpa >> NS_GUEST_PAGE_SHIFT;
    g_autofree guint64 *pm = g_new(guint64, (gsize)batch + FOLIO_PAGES_MAX);
    g_autofree void **addrs = g_new(void *, batch);
    g_autofree int *status = g_new(int, batch);
    g_autoptr(GArray) units = g_array_sized_new(FALSE, FALSE, sizeof(Unit), batch);
    guint64 first = 0;

    while (first < n_pages) {
        guint64 want = MIN((guint64)batch, n_pages - first);
        guint64 used;
        HeadSet heads;
        long rc;

        g_array_set_size(units, 0);
        used = cut_units(probe, r, first, want, pm, units);
        for (guint k = 0; k < units->len; k++) {
            const Unit *u = &g_array_index(units, Unit, k);

            addrs[k] = (void *)(uintptr_t)(r->hva + (u->page << NS_GUEST_PAGE_SHIFT));
            status[k] = G_MININT;
        }
        rc = probe->kernel->move_pages(probe->kernel->data, pid, units->len, addrs, NULL, status,
                                       0);
        if (rc < 0)
            return ns_kernel_set_error(error, (int)-rc, pid, -1);
        stats->calls++;

        for (guint k = 0; k < units->len; k++) {
            const Unit *u = &g_array_index(units, Unit, k);
            guint64 pages = G_GUINT64_CONSTANT(1) << u->order;
            gboolean present = status[k] >= 0 && status[k] <= (int)NS_PAGE_NODE_MAX;
            void *desired = present ? ns_radix_mk_present((unsigned)status[k], u->order)
                                    : ns_radix_mk_absent(u->order);

            if (!write_entry(tree, gfn0 + u->page, desired, stats, error))
                return FALSE;
            stats->units++;
            if (present)
                stats->present_pages += pages;
            else
                stats->absent_pages += pages;
            if (u->order > 0) {
                stats->huge_entries++;
                stats->huge_pages += pages;
            }
        }
        heads = (HeadSet){ .units = (const Unit *)(void *)units->data, .n = units->len,
                           .gfn0 = gfn0 };
        delete_entries(tree, gfn0 + first, gfn0 + first + used - 1, is_unit_head, &heads, stats);
        first += used;
    }
    return TRUE;
}

/*
 * Scan @map into @tree; stale entries are deleted between @first_gfn and
 * @last_gfn only (the whole tree for a full scan, one window otherwise).
 */
static gboolean
scan_map(NsRadix *tree, const NsMemMap *map, guint64 first_gfn, guint64 last_gfn,
         const NsPlacementOptions *opts, NsPlacementScanStats *ret_stats, GError **error)
{
    NsPlacementScanStats stats = { 0 };
    /* Before the probe, which points at it until its cleanup runs (clang's ASan: use after scope). */
    NsKernel kernel;
    g_auto(FolioProbe) probe = { .pages = NULL };
    long rc;
    guint batch = opts != NULL && opts->batch_pages > 0 ? opts->batch_pages
                                                        : NS_PLACEMENT_BATCH_DEFAULT;
    gboolean tagged;
    guint64 next_gfn = first_gfn;

    if (!check_map(map, error))
        return FALSE;
    urcu_memb_read_lock();
    tagged = ns_radix_tagged(tree, NS_RADIX_TAG_MIGRATING);
    urcu_memb_read_unlock();
    if (tagged) {
        g_set_error(error, NS_ERROR, NS_ERROR_FAILED,
                    "pages of process %d are being migrated: scan after the job",
                    (int)map->pid);
        return FALSE;
    }
    /* A zero-length query checks that the process exists and is ours to look at. */
    ns_kernel_resolve(opts != NULL ? opts->kernel : NULL, &kernel);
    rc = kernel.move_pages(kernel.data, map->pid, 0, NULL, NULL, NULL, 0);
    if (rc < 0)
        return ns_kernel_set_error(error, (int)-rc, map->pid, -1);

    folio_probe_open(&probe, &kernel, map->pid, opts == NULL || !opts->no_huge);
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 gfn0 = r->gpa >> NS_GUEST_PAGE_SHIFT;

        if (gfn0 > next_gfn)
            delete_entries(tree, next_gfn, MIN(gfn0 - 1, last_gfn), NULL, NULL, &stats);
        if (!scan_range(tree, map->pid, r, batch, &probe, &stats, error))
            return FALSE;
        next_gfn = gfn0 + (r->size >> NS_GUEST_PAGE_SHIFT);
    }
    if (next_gfn <= last_gfn)
        delete_entries(tree, next_gfn, last_gfn, NULL, NULL, &stats);

    stats.huge_detection = folio_probe_active(&probe) && (probe.pfn_seen || !probe.present_seen);
    if (ret_stats != NULL)
        *ret_stats = stats;
    return TRUE;
}

gboolean
ns_placement_scan(NsRadix *tree, const NsMemMap *map, const NsPlacementOptions *opts,
                  NsPlacementScanStats *ret_stats, GError **error)
{
    return scan_map(tree, map, 0, G_MAXUINT64, opts, ret_stats, error);
}

gboolean
ns_placement_scan_window(NsRadix *tree, const NsMemMap *map, guint64 gpa, guint64 size,
                         const NsPlacementOptions *opts, NsPlacementScanStats *ret_stats,
                         GError **error)
{
    g_autoptr(NsMemMap) part = ns_memmap_new(map->pid);
    guint64 end = gpa + size;

    if (size == 0 || gpa % NS_GUEST_PAGE_SIZE != 0 || size % NS_GUEST_PAGE_SIZE != 0 ||
        end < gpa) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "scan window 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                    "x is empty or not page aligned", gpa, size);
        return FALSE;
    }
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 ps = MAX(r->page_size, (guint64)NS_GUEST_PAGE_SIZE);
        guint64 from = r->gpa, to = r->gpa + r->size;

        if (r->gpa >= end || r->gpa + r->size <= gpa)
            continue;
        /* The window's part of the range, widened to whole host pages
         * (a hugetlbfs page is one entry: never cut). */
        if (gpa > from)
            from = gpa - (gpa - r->gpa) % ps;
        if (end < to)
            to = end + ((end - r->gpa) % ps != 0 ? ps - (end - r->gpa) % ps : 0);
        NsMemRange clip = *r;

        clip.gpa = from;
        clip.size = to - from;
        clip.hva = r->hva + (from - r->gpa);
        clip.offset = r->offset + (from - r->gpa);
        clip.backend = g_strdup(r->backend);
        g_array_append_val(part->ranges, clip);
    }
    return scan_map(tree, part, gpa >> NS_GUEST_PAGE_SHIFT, (end >> NS_GUEST_PAGE_SHIFT) - 1,
                    opts, ret_stats, error);
}

/* ---- summary ------------------------------------------------------------- */

NsUnmovableCause
ns_unmovable_cause(unsigned err)
{
    switch (err) {
    case EBUSY:
        return NS_UNMOVABLE_PINNED;
    case EACCES:
        return NS_UNMOVABLE_SHARED;
    default:
        return NS_UNMOVABLE_FAULT;
    }
}

const char *
ns_unmovable_cause_to_string(NsUnmovableCause cause)
{
    switch (cause) {
    case NS_UNMOVABLE_PINNED:
        return "pinned (the kernel stays busy: a device or another user holds it)";
    case NS_UNMOVABLE_SHARED:
        return "shared with another process";
    case NS_UNMOVABLE_FAULT:
        return "not migratable (the kernel answers EFAULT)";
    case NS_UNMOVABLE_CAUSES:
        break;
    }
    return "unknown";
}

NsPlacementSummary *
ns_placement_summarize(const NsRadix *tree, const NsMemMap *map)
{
    g_autoptr(NsTally) tally = ns_tally_new(map, FALSE);

    ns_tally_count_tree(tally, tree);
    return ns_tally_read(tally);
}

NsPlacementSummary *
ns_placement_sample(const NsMemMap *map, guint stride, const NsKernel *kernel_given,
                    GError **error)
{
    NsKernel kernel;
    long rc;
    g_autoptr(NsTally) tally = ns_tally_new(map, FALSE);
    g_autoptr(GArray) addrs = g_array_new(FALSE, FALSE, sizeof(void *));
    g_autoptr(GArray) weight = g_array_new(FALSE, FALSE, sizeof(guint64));
    g_autoptr(GArray) gfns = g_array_new(FALSE, FALSE, sizeof(guint64));

    if (stride == 0) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "sampling stride 0");
        return NULL;
    }
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);
        guint64 pages = r->size >> NS_GUEST_PAGE_SHIFT;

        for (guint64 p = 0; p < pages; p += stride) {
            void *addr = (void *)(uintptr_t)(r->hva + (p << NS_GUEST_PAGE_SHIFT));
            guint64 w = MIN((guint64)stride, pages - p);
            guint64 gfn = (r->gpa >> NS_GUEST_PAGE_SHIFT) + p;

            g_array_append_val(addrs, addr);
            g_array_append_val(weight, w);
            g_array_append_val(gfns, gfn);
        }
    }
    ns_kernel_resolve(kernel_given, &kernel);
    rc = kernel.move_pages(kernel.data, map->pid, 0, NULL, NULL, NULL, 0);
    if (rc < 0) {
        ns_kernel_set_error(error, (int)-rc, map->pid, -1);
        return NULL;
    }
    g_autofree int *status = g_new(int, MAX(addrs->len, 1));

    for (guint done = 0; done < addrs->len;) {
        guint n = MIN(addrs->len - done, NS_PLACEMENT_BATCH_DEFAULT);

        rc = kernel.move_pages(kernel.data, map->pid, n, &g_array_index(addrs, void *, done), NULL,
                               status + done, 0);
        if (rc < 0) {
            ns_kernel_set_error(error, (int)-rc, map->pid, -1);
            return NULL;
        }
        done += n;
    }
    for (guint k = 0; k < addrs->len; k++) {
        NsPageInfo info = { .order = 0 };
        guint64 w = g_array_index(weight, guint64, k);

        if (status[k] >= 0) {
            info.state = NS_PAGE_PRESENT;
            info.node = (guint)status[k];
        } else {
            info.state = NS_PAGE_ABSENT; /* -ENOENT, -EFAULT: not backed */
            info.node = NS_PAGE_NODE_NONE;
        }
        ns_tally_add(tally, g_array_index(gfns, guint64, k), &info, w);
    }
    return ns_tally_read(tally);
}

void
ns_placement_summary_free(NsPlacementSummary *summary)
{
    if (summary == NULL)
        return;
    g_array_unref(summary->all.nodes);
    g_clear_pointer(&summary->all.unmovable_nodes, g_array_unref);
    g_clear_pointer(&summary->all.shared_nodes, g_array_unref);
    g_ptr_array_unref(summary->cells);
    g_free(summary);
}

NsPlacementCount
ns_placement_stats_unmovable_on(const NsPlacementStats *stats, guint node)
{
    NsPlacementCount none = { 0 };

    if (stats->unmovable_nodes == NULL || node >= stats->unmovable_nodes->len)
        return none;
    return g_array_index(stats->unmovable_nodes, NsPlacementCount, node);
}

guint64
ns_placement_stats_placed_bytes(const NsPlacementStats *stats)
{
    guint64 sum = 0;

    for (guint n = 0; stats != NULL && stats->nodes != NULL && n < stats->nodes->len; n++)
        sum += g_array_index(stats->nodes, NsPlacementCount, n).bytes;
    return sum;
}

const NsPlacementStats *
ns_placement_summary_cell(const NsPlacementSummary *summary, gint cell)
{
    if (cell < 0)
        return &summary->all;
    for (guint i = 0; i < summary->cells->len; i++) {
        const NsPlacementStats *s = g_ptr_array_index(summary->cells, i);

        if (s->cell == cell)
            return s;
    }
    return NULL;
}

NsPlacementCount
ns_placement_stats_node(const NsPlacementStats *stats, guint node)
{
    NsPlacementCount none = { 0 };

    if (node >= stats->nodes->len)
        return none;
    return g_array_index(stats->nodes, NsPlacementCount, node);
}
