/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Port I/O, the TSC and the few bits of arithmetic that a freestanding
 * 32-bit build cannot take from libgcc.  The guest links without libgcc on
 * purpose (so it builds without gcc-multilib's 32-bit runtime), which means
 * a plain 64-bit '/' or '%' would fail to link; use div_u64_u32() instead.
 */
#pragma once

#include <stdint.h>

static inline void
outb(uint16_t port, uint8_t val)
{
    __asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
    uint8_t val;

    __asm__ volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

static inline uint64_t
rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/*
 * Tell the compiler that memory may have changed behind its back.  The
 * checked pages are changed by nobody but us - unless the host loses data,
 * which is exactly what we look for - so every verification must really
 * load from memory instead of reusing what the compiler remembers storing.
 */
static inline void
compiler_barrier(void)
{
    __asm__ volatile("" : : : "memory");
}

/*
 * n / d with a 32-bit divisor, as two chained 'divl' (long division in base
 * 2^32).  The first step leaves a remainder below d, so the second divl
 * cannot overflow.
 */
static inline uint64_t
div_u64_u32(uint64_t n, uint32_t d, uint32_t *rem)
{
    uint32_t hi = (uint32_t)(n >> 32);
    uint32_t lo = (uint32_t)n;
    uint32_t qhi = hi / d;
    uint32_t r = hi % d;
    uint32_t qlo;

    __asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
    if (rem)
        *rem = r;
    return ((uint64_t)qhi << 32) | qlo;
}
