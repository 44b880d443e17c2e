/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fill, verify and rewrite the checked pages, each CPU its own share. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"
#include "options.h"
#include "smp.h"

/*
 * One CPU's contiguous run of active pages (indices among the active ones:
 * checker_active_page() says which page each is), and where its rewrites
 * roll on.
 */
struct checker_share {
    uint32_t first;  /* index of its first page */
    uint32_t count;
    uint32_t window; /* of them rewritten per pass */
    uint32_t cursor; /* first of the next pass's rewrites, relative to first */
};

struct checker {
    const struct memmap *map;
    uint32_t *gen;   /* one generation number per checked page, written by its owner only */
    uint32_t seed;
    uint32_t window; /* pages rewritten per pass, all CPUs together */
    uint32_t active; /* pages the passes touch; the rest idle */
    enum guest_hot hot; /* which ones those are */
    uint32_t cpus;
    struct checker_share share[MAX_CPUS];
};

struct pass_result {
    uint32_t pages;            /* pages verified */
    uint64_t errors;           /* words that did not match */
    uint64_t max_access_ticks; /* slowest single page verification */
    bool corrupt;              /* details of the first bad word follow */
    uint32_t addr;
    uint32_t expected;
    uint32_t found;
};

/* Bytes of generation table that @map needs (a whole number of pages). */
uint32_t checker_table_bytes(uint32_t pages);

/*
 * Split the @active pages (where @hot says) into @cpus contiguous shares,
 * and @window (at most @active) rewrites per pass over them in proportion.
 */
void checker_init(struct checker *c, const struct memmap *map, uint32_t *gen_table,
                  uint32_t seed, uint32_t window, uint32_t active, uint32_t cpus,
                  enum guest_hot hot);

/*
 * The checked page (0 .. map->pages - 1, in guest-physical order) that is
 * active page @i (0 .. active - 1): the lowest pages, the highest, or
 * every (pages / active)-th one (rounded down) from the first.
 */
uint32_t checker_active_page(const struct checker *c, uint32_t i);

/* CPU @cpu writes generation 0 of its share of every page (idle ones too). */
void checker_fill(const struct checker *c, uint32_t cpu);

/*
 * CPU @cpu's part of one pass.  With @rewrite, it verifies each page of
 * its share of the active pages against its generation, then, if the page
 * is among this pass's rewrites, bumps its generation and rewrites it.
 * Without, it only verifies its share of the first @limit pages.  Counts
 * every bad word into @res (which it resets).
 */
void checker_pass(struct checker *c, uint32_t cpu, bool rewrite, uint32_t limit,
                  struct pass_result *res);

/* Add one CPU's @part to @total; the first bad word of the lowest page wins. */
void checker_merge(struct pass_result *total, const struct pass_result *part);

/*
 * Flip one bit of a word among the first @limit pages without telling the
 * checker, so that the next pass over it must fail.  Returns the address
 * of the word.
 */
uint32_t checker_selftest_corrupt(const struct checker *c, uint32_t pass, uint32_t limit);
