/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pattern
 * ===========
 * Word w at physical address a, in a page at generation g, holds
 *
 *     a * ADDR_MUL  ^  (g * GEN_MUL ^ seed)
 *
 * Both multipliers are odd, so a -> a * ADDR_MUL is a bijection on 32-bit
 * values: no two words of the checked area ever hold the same pattern in
 * the same generation, and a page that comes back from a migration with
 * another page's contents, zeroes, or a stale generation fails on every
 * word rather than by luck.  The address term is linear, so a page is
 * produced and checked with one add per word; under TCG that keeps a pass
 * over 256 MiB near a second.
 *
 * Verification ORs the differences of a whole page and only rescans a page
 * word by word when that is non-zero, so the clean path has no
 * data-dependent branch.  Each page is timed with rdtsc on its own: a page
 * the host is migrating right now shows up as one slow access.
 *
 * Shares
 * ======
 * The active pages are split into one contiguous share per CPU.  A page
 * and its generation number are written by their share's CPU only, so the
 * CPUs need no locks, only the step between passes (smp_run).  Within a
 * pass each page is verified against the generation last written and then,
 * if it is among the pass's rewrites, written anew: every CPU keeps writing
 * its memory while the host moves it, and every write is checked by the
 * next pass over the page (a run ends with a pass that only verifies, see
 * main.c).
 */
#include "checker.h"

#include "io.h"

#define ADDR_MUL 0x9e3779b1u /* odd (2^32 / golden ratio) */
#define GEN_MUL 0x85ebca77u  /* odd */
#define WORDS_PER_PAGE (PAGE_SIZE / 4u)

static inline uint32_t
page_key(const struct checker *c, uint32_t gen)
{
    return gen * GEN_MUL ^ c->seed;
}

static void
write_page(uint32_t addr, uint32_t key)
{
    uint32_t *w = (uint32_t *)(uintptr_t)addr;
    uint32_t v = addr * ADDR_MUL;

#pragma GCC unroll 8
    for (uint32_t i = 0; i < WORDS_PER_PAGE; i++, v += 4 * ADDR_MUL)
        w[i] = v ^ key;
}

static uint32_t
page_diff(uint32_t addr, uint32_t key)
{
    const uint32_t *w = (const uint32_t *)(uintptr_t)addr;
    uint32_t v = addr * ADDR_MUL;
    uint32_t diff = 0;

    compiler_barrier(); /* reload: only the host (or a bug) changes these words */
#pragma GCC unroll 8
    for (uint32_t i = 0; i < WORDS_PER_PAGE; i++, v += 4 * ADDR_MUL)
        diff |= w[i] ^ v ^ key;
    return diff;
}

/* The slow path for a page that failed: count bad words, note the first. */
static void
page_rescan(uint32_t addr, uint32_t key, struct pass_result *res)
{
    const volatile uint32_t *w = (const volatile uint32_t *)(uintptr_t)addr;
    uint32_t v = addr * ADDR_MUL;

    for (uint32_t i = 0; i < WORDS_PER_PAGE; i++, v += 4 * ADDR_MUL) {
        uint32_t found = w[i];

        if (found == (v ^ key))
            continue;
        res->errors++;
        if (!res->corrupt) {
            res->corrupt = true;
            res->addr = addr + i * 4;
            res->expected = v ^ key;
            res->found = found;
        }
    }
}

/* Where checked page @idx is: a range of the map and a page within it. */
struct page_pos {
    uint32_t range;
    uint32_t page;
};

/* The range list is short, so a walk is fine. */
static struct page_pos
locate(const struct memmap *map, uint32_t idx)
{
    uint32_t r = 0;

    for (; r < map->nranges && idx >= map->range[r].pages; r++)
        idx -= map->range[r].pages;
    return (struct page_pos){ .range = r, .page = idx };
}

static uint32_t
pos_addr(const struct memmap *map, struct page_pos pos)
{
    return map->range[pos.range].base + pos.page * PAGE_SIZE;
}

static void
pos_next(const struct memmap *map, struct page_pos *pos)
{
    if (++pos->page == map->range[pos->range].pages) {
        pos->range++;
        pos->page = 0;
    }
}

/* CPU @cpu's part of @n things split into @cpus contiguous runs, the first ones one longer. */
static void
split(uint32_t n, uint32_t cpus, uint32_t cpu, uint32_t *first, uint32_t *count)
{
    uint32_t base = n / cpus;
    uint32_t extra = n % cpus;

    *count = base + (cpu < extra ? 1 : 0);
    *first = cpu * base + (cpu < extra ? cpu : extra);
}

uint32_t
checker_table_bytes(uint32_t pages)
{
    return (pages * (uint32_t)sizeof(uint32_t) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

void
checker_init(struct checker *c, const struct memmap *map, uint32_t *gen_table,
             uint32_t seed, uint32_t window, uint32_t active, uint32_t cpus,
             enum guest_hot hot)
{
    *c = (struct checker){
        .map = map,
        .gen = gen_table,
        .seed = seed,
        .window = window,
        .active = active,
        .hot = hot,
        .cpus = cpus,
    };
    for (uint32_t cpu = 0; cpu < cpus; cpu++) {
        struct checker_share *sh = &c->share[cpu];
        uint32_t unused;

        split(active, cpus, cpu, &sh->first, &sh->count);
        /* Split like the pages, so no share gets more rewrites than pages (window <= active). */
        split(window, cpus, cpu, &unused, &sh->window);
        if (sh->window > sh->count)
            sh->window = sh->count;
    }
}

void
checker_fill(const struct checker *c, uint32_t cpu)
{
    uint32_t first, count;

    split(c->map->pages, c->cpus, cpu, &first, &count);

    struct page_pos pos = locate(c->map, first);

    for (uint32_t i = 0; i < count; i++, pos_next(c->map, &pos)) {
        c->gen[first + i] = 0;
        write_page(pos_addr(c->map, pos), page_key(c, 0));
    }
}

uint32_t
checker_active_page(const struct checker *c, uint32_t i)
{
    switch (c->hot) {
    case GUEST_HOT_HIGH:
        return c->map->pages - c->active + i;
    case GUEST_HOT_SCATTERED:
        /* 32-bit only (no libgcc for a 64-bit division): a stride of at
         * least 1, and i * stride < pages. */
        return i * (c->map->pages / c->active);
    case GUEST_HOT_LOW:
    default:
        return i;
    }
}

/* Whether page @i of a share is among the @window from @cursor on, wrapping at @count. */
static bool
in_window(uint32_t i, uint32_t cursor, uint32_t window, uint32_t count)
{
    uint32_t distance = i >= cursor ? i - cursor : i + count - cursor;

    return distance < window;
}

void
checker_pass(struct checker *c, uint32_t cpu, bool rewrite, uint32_t limit,
             struct pass_result *res)
{
    struct checker_share *sh = &c->share[cpu];
    uint32_t first, count;

    *res = (struct pass_result){ .pages = 0 };
    if (rewrite) {
        first = sh->first;
        count = sh->count;
    } else {
        split(limit, c->cpus, cpu, &first, &count);
    }

    /* Rewriting passes walk the active pages, the others the first @limit
     * pages; contiguous runs step from page to page, the scattered active
     * pages are located one by one (the range list is short). */
    bool stepping = !rewrite || c->hot != GUEST_HOT_SCATTERED;
    uint32_t first_page = rewrite ? checker_active_page(c, first) : first;
    struct page_pos pos = locate(c->map, first_page);

    for (uint32_t i = 0; i < count; i++) {
        uint32_t idx = rewrite ? checker_active_page(c, first + i) : first + i;

        if (i > 0) {
            if (stepping)
                pos_next(c->map, &pos);
            else
                pos = locate(c->map, idx);
        }
        uint32_t addr = pos_addr(c->map, pos);
        uint32_t key = page_key(c, c->gen[idx]);
        uint64_t start = rdtsc();
        uint32_t diff = page_diff(addr, key);
        uint64_t ticks = rdtsc() - start;

        if (ticks > res->max_access_ticks)
            res->max_access_ticks = ticks;
        if (diff != 0)
            page_rescan(addr, key, res);
        res->pages++;
        if (rewrite && in_window(i, sh->cursor, sh->window, count)) {
            c->gen[idx]++;
            write_page(addr, page_key(c, c->gen[idx]));
        }
    }
    if (rewrite && count != 0) {
        sh->cursor += sh->window;
        if (sh->cursor >= count)
            sh->cursor -= count;
    }
}

void
checker_merge(struct pass_result *total, const struct pass_result *part)
{
    if (part->corrupt && !total->corrupt) {
        total->corrupt = true;
        total->addr = part->addr;
        total->expected = part->expected;
        total->found = part->found;
    }
    total->pages += part->pages;
    total->errors += part->errors;
    if (part->max_access_ticks > total->max_access_ticks)
        total->max_access_ticks = part->max_access_ticks;
}

uint32_t
checker_selftest_corrupt(const struct checker *c, uint32_t pass, uint32_t limit)
{
    /* A page that moves with the pass number, and a word inside it: among
     * the active ones when @limit is theirs (a rewriting pass's). */
    uint32_t idx = (pass * 2654435761u) % limit;

    if (limit == c->active)
        idx = checker_active_page(c, idx);
    uint32_t addr = pos_addr(c->map, locate(c->map, idx)) + 4 * (pass % WORDS_PER_PAGE);
    volatile uint32_t *w = (volatile uint32_t *)(uintptr_t)addr;

    *w ^= 1u << (pass % 32);
    return addr;
}
