/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fill, rewrite and verify the checked pages. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"

struct checker {
    const struct memmap *map;
    uint32_t *gen;   /* one generation number per checked page */
    uint32_t seed;
    uint32_t window; /* pages rewritten per pass */
    uint32_t cursor; /* first page of the next window */
    uint32_t active; /* pages the passes touch (the first ones); the rest idle */
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

void checker_init(struct checker *c, const struct memmap *map, uint32_t *gen_table,
                  uint32_t seed, uint32_t window, uint32_t active);

/* Write generation 0 of every page. */
void checker_fill(struct checker *c);

/* Bump the generation of the next window of active pages and rewrite them. */
void checker_rewrite_window(struct checker *c);

/* Verify the first @limit pages against their generation; counts all bad words. */
void checker_verify(const struct checker *c, uint32_t limit, struct pass_result *res);

/*
 * Flip one bit of a checked word without telling the checker, so that the
 * next verification must fail.  Returns the address of the word.
 */
uint32_t checker_selftest_corrupt(const struct checker *c, uint32_t pass);
