/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which physical pages the checker may use, from the Multiboot memory map. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "multiboot.h"

#define PAGE_SIZE 4096u
#define MEMMAP_MAX_RANGES 32u

/* A run of usable pages; base is page aligned and base + pages * 4 KiB <= 4 GiB - 4 KiB. */
struct mem_range {
    uint32_t base;
    uint32_t pages;
};

struct memmap {
    struct mem_range range[MEMMAP_MAX_RANGES]; /* sorted by base, disjoint */
    uint32_t nranges;
    uint32_t pages;   /* sum of range[].pages */
    uint64_t ram_kib; /* all RAM the loader calls available, checked or not */
};

/*
 * Build @map from the boot information: RAM marked available, minus
 * everything marked otherwise, at or above @floor (our image's end) and
 * below 4 GiB (no paging, so higher RAM is out of reach).  Falls back to
 * mem_upper when there is no memory map.  Returns false if the loader gave
 * no memory information at all.
 */
bool memmap_build(const struct multiboot_info *mbi, uint32_t floor, struct memmap *map);

/*
 * Take @pages pages off the front of the lowest range and return their
 * address, or 0 if that range is too small.  Used to place the checker's
 * own bookkeeping below the pages it checks.
 */
uint32_t memmap_carve(struct memmap *map, uint32_t pages);
