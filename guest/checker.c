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

/* Address of checked page @idx; the range list is short, so a walk is fine. */
static uint32_t
page_addr(const struct checker *c, uint32_t idx)
{
    for (uint32_t r = 0; r < c->map->nranges; r++) {
        const struct mem_range *range = &c->map->range[r];

        if (idx < range->pages)
            return range->base + idx * PAGE_SIZE;
        idx -= range->pages;
    }
    return 0; /* not reached for idx < map->pages */
}

uint32_t
checker_table_bytes(uint32_t pages)
{
    return (pages * (uint32_t)sizeof(uint32_t) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

void
checker_init(struct checker *c, const struct memmap *map, uint32_t *gen_table,
             uint32_t seed, uint32_t window, uint32_t active)
{
    *c = (struct checker){
        .map = map,
        .gen = gen_table,
        .seed = seed,
        .window = window,
        .cursor = 0,
        .active = active,
    };
}

void
checker_fill(struct checker *c)
{
    uint32_t idx = 0;

    for (uint32_t r = 0; r < c->map->nranges; r++) {
        const struct mem_range *range = &c->map->range[r];

        for (uint32_t p = 0; p < range->pages; p++, idx++) {
            c->gen[idx] = 0;
            write_page(range->base + p * PAGE_SIZE, page_key(c, 0));
        }
    }
}

void
checker_rewrite_window(struct checker *c)
{
    uint32_t pages = c->active;

    for (uint32_t n = 0; n < c->window; n++) {
        uint32_t idx = c->cursor;

        c->gen[idx]++;
        write_page(page_addr(c, idx), page_key(c, c->gen[idx]));
        c->cursor = idx + 1 == pages ? 0 : idx + 1;
    }
}

void
checker_verify(const struct checker *c, uint32_t limit, struct pass_result *res)
{
    uint32_t idx = 0;

    *res = (struct pass_result){ .pages = 0 };
    for (uint32_t r = 0; r < c->map->nranges && idx < limit; r++) {
        const struct mem_range *range = &c->map->range[r];

        for (uint32_t p = 0; p < range->pages && idx < limit; p++, idx++) {
            uint32_t addr = range->base + p * PAGE_SIZE;
            uint32_t key = page_key(c, c->gen[idx]);
            uint64_t start = rdtsc();
            uint32_t diff = page_diff(addr, key);
            uint64_t ticks = rdtsc() - start;

            if (ticks > res->max_access_ticks)
                res->max_access_ticks = ticks;
            if (diff != 0)
                page_rescan(addr, key, res);
            res->pages++;
        }
    }
}

uint32_t
checker_selftest_corrupt(const struct checker *c, uint32_t pass)
{
    /* A page that moves with the pass number, and a word inside it. */
    uint32_t idx = (pass * 2654435761u) % c->map->pages;
    uint32_t addr = page_addr(c, idx) + 4 * (pass % WORDS_PER_PAGE);
    volatile uint32_t *w = (volatile uint32_t *)(uintptr_t)addr;

    *w ^= 1u << (pass % 32);
    return addr;
}
