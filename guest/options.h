/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parameters from the Multiboot command line (see README.md). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Where the active pages lie among all of them (hot=). */
enum guest_hot {
    GUEST_HOT_LOW,       /* the lowest: the address order every mover walks first */
    GUEST_HOT_HIGH,      /* the highest */
    GUEST_HOT_SCATTERED, /* spread evenly over all of them */
};

struct guest_options {
    uint32_t passes;           /* 0: run until the host stops us */
    uint32_t window;           /* pages rewritten per pass */
    bool window_set;           /* false: default to 1/16 of the pages */
    uint32_t seed;             /* mixed into every pattern word */
    uint32_t selftest_corrupt; /* 0: off; else corrupt a word on that pass */
    uint32_t active;           /* percent of the pages each pass touches (1..100) */
    enum guest_hot hot;        /* which pages those are */
    uint32_t selftest_oversleep; /* the first N TSC calibration runs oversleep on purpose */
    uint32_t cpus;             /* 0: every CPU the MADT lists; else the first N (1..MAX_CPUS) */
    uint32_t race;             /* 0: the whole-guest checker; else race mode on N pages */
    uint32_t selftest_race;    /* 0: off; else plant a stale counter in that race interval */
    uint32_t selftest_fault;   /* 0: off; else execute ud2 once running: the exception report must say so */
};

/*
 * Parse space-separated key=value tokens from @cmdline into @opt (defaults
 * first).  Tokens without '=' are ignored: loaders put the kernel's own
 * path first.  Numbers are decimal or 0x-prefixed hex and must fit 32 bits;
 * hot= takes low, high or scattered.
 * Values out of their range, and options that mean nothing together
 * (selftest_race without race, selftest_corrupt with it), are bad tokens
 * too.  Returns NULL, or the first bad token (truncated, in a static
 * buffer).
 */
const char *options_parse(const char *cmdline, struct guest_options *opt);
