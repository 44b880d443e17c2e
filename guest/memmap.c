/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Firmware memory maps may list overlapping entries, and a reserved entry
 * inside an available one wins (that is what Linux's e820 code assumes
 * too).  So we do not trust "available" alone: every available entry is cut
 * down by every non-available entry, and by [0, floor) so that our own
 * image, stack and bss are never checked.  Any overlap left between
 * available entries is trimmed after sorting: a page counted twice would
 * get two generation numbers and look corrupt.
 */
#include "memmap.h"

#include <stddef.h>

#define LIMIT (0x100000000ull - PAGE_SIZE) /* keeps base + size inside 32 bits */
#define MAX_HOLES 64u

struct span {
    uint64_t start, end; /* [start, end) */
};

struct builder {
    struct span hole[MAX_HOLES];
    uint32_t nholes;
    struct memmap *map;
};

static void
add_range(struct builder *b, uint64_t start, uint64_t end)
{
    start = (start + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
    end &= ~(uint64_t)(PAGE_SIZE - 1);
    if (end > LIMIT)
        end = LIMIT;
    if (start >= end)
        return;
    if (b->map->nranges == MEMMAP_MAX_RANGES)
        return; /* a map this fragmented is not worth more code: check less */
    b->map->range[b->map->nranges++] = (struct mem_range){
        .base = (uint32_t)start,
        .pages = (uint32_t)((end - start) / PAGE_SIZE),
    };
}

/* Add [start, end) minus every hole, splitting around holes in the middle. */
static void
add_available(struct builder *b, uint64_t start, uint64_t end)
{
    struct span work[MAX_HOLES + 1];
    uint32_t nwork = 0;

    work[nwork++] = (struct span){ start, end };
    while (nwork > 0) {
        struct span s = work[--nwork];
        bool alive = true;

        for (uint32_t i = 0; i < b->nholes && alive; i++) {
            const struct span *h = &b->hole[i];

            if (h->end <= s.start || h->start >= s.end)
                continue;
            if (h->start <= s.start && h->end >= s.end) {
                alive = false;
            } else if (h->start <= s.start) {
                s.start = h->end;
            } else if (h->end >= s.end) {
                s.end = h->start;
            } else {
                /* Each split consumes a hole for good, so work[] cannot overflow. */
                work[nwork++] = (struct span){ h->end, s.end };
                s.end = h->start;
            }
        }
        if (alive)
            add_range(b, s.start, s.end);
    }
}

static void
add_hole(struct builder *b, uint64_t start, uint64_t end)
{
    /* Too many holes to remember: refuse to guess, drop the memory instead. */
    if (b->nholes == MAX_HOLES) {
        b->hole[MAX_HOLES - 1].end = UINT64_MAX;
        return;
    }
    b->hole[b->nholes++] = (struct span){ start, end };
}

static void
sort_and_trim(struct memmap *map)
{
    for (uint32_t i = 1; i < map->nranges; i++) {
        struct mem_range r = map->range[i];
        uint32_t j = i;

        for (; j > 0 && map->range[j - 1].base > r.base; j--)
            map->range[j] = map->range[j - 1];
        map->range[j] = r;
    }

    uint32_t out = 0;
    uint64_t prev_end = 0;

    for (uint32_t i = 0; i < map->nranges; i++) {
        struct mem_range r = map->range[i];
        uint64_t end = (uint64_t)r.base + (uint64_t)r.pages * PAGE_SIZE;

        if (end <= prev_end)
            continue;
        if (r.base < prev_end) {
            r.pages = (uint32_t)((end - prev_end) / PAGE_SIZE);
            r.base = (uint32_t)prev_end;
        }
        map->range[out++] = r;
        prev_end = end;
    }
    map->nranges = out;
    map->pages = 0;
    for (uint32_t i = 0; i < map->nranges; i++)
        map->pages += map->range[i].pages;
}

bool
memmap_build(const struct multiboot_info *mbi, uint32_t floor, struct memmap *map)
{
    struct builder b = { .nholes = 0, .map = map };

    *map = (struct memmap){ .nranges = 0 };
    add_hole(&b, 0, floor);

    if (mbi->flags & MULTIBOOT_INFO_MEM_MAP) {
        uintptr_t p = mbi->mmap_addr;
        uintptr_t end = p + mbi->mmap_length;

        /* Holes first: they must all be known before cutting available RAM. */
        for (uintptr_t q = p; q < end;) {
            const struct multiboot_mmap_entry *e = (const void *)q;

            if (e->type != MULTIBOOT_MEMORY_AVAILABLE && e->len != 0)
                add_hole(&b, e->addr, e->addr + e->len);
            q += e->size + sizeof(e->size);
        }
        for (uintptr_t q = p; q < end;) {
            const struct multiboot_mmap_entry *e = (const void *)q;

            if (e->type == MULTIBOOT_MEMORY_AVAILABLE && e->len != 0) {
                map->ram_kib += e->len / 1024;
                add_available(&b, e->addr, e->addr + e->len);
            }
            q += e->size + sizeof(e->size);
        }
    } else if (mbi->flags & MULTIBOOT_INFO_MEMORY) {
        map->ram_kib = (uint64_t)mbi->mem_lower + mbi->mem_upper;
        add_available(&b, 0x100000, 0x100000 + (uint64_t)mbi->mem_upper * 1024);
    } else {
        return false;
    }
    sort_and_trim(map);
    return true;
}

uint32_t
memmap_carve(struct memmap *map, uint32_t pages)
{
    if (map->nranges == 0 || map->range[0].pages < pages)
        return 0;

    uint32_t addr = map->range[0].base;

    map->range[0].base += pages * PAGE_SIZE;
    map->range[0].pages -= pages;
    map->pages -= pages;
    return addr;
}
