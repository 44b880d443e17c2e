/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race mode (race=P): every CPU hammers the same few pages while the host
 * moves exactly those pages between NUMA nodes, over and over.  See race.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define RACE_MAX_PAGES 64u

struct race_params {
    uint32_t base;     /* first race page (page aligned; the pages are contiguous) */
    uint32_t pages;    /* 1..RACE_MAX_PAGES */
    uint32_t passes;   /* intervals to run; 0: until the host sends 'q' */
    uint32_t selftest; /* 0: off; else plant a stale counter in that interval */
    uint32_t tsc_khz;
};

struct race_result {
    uint32_t passes; /* intervals reported */
    uint64_t errors; /* failed checks, all CPUs; the run ends at the first */
    bool stopped;    /* an unbounded run ended by the host's 'q' */
};

/*
 * Run race mode on every running CPU (smp_run), printing the race line,
 * one race-pass line per interval and, on failure, the race-error line.
 * Returns when the run is over; the caller prints the done line.  BSP only.
 */
void race_run(const struct race_params *params, struct race_result *result);
