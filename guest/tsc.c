/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TSC calibration against PIT channel 2
 * =====================================
 * Channel 2 runs at the PIT's fixed 1.193182 MHz whenever its gate (port
 * 0x61 bit 0) is high, and unlike channel 0 it needs no interrupt: we load
 * it in mode 0 with 0xffff and read the falling count with the "counter
 * latch" command.  Each sample brackets that latch command between two
 * rdtsc reads, so it knows its own uncertainty (the bracket's width).
 *
 * A calibration run takes a sample A near the start of the countdown and a
 * sample B about CAL_PIT_TICKS later (~40 ms); the rate is the TSC delta
 * over the PIT delta.  Its error is at most the two brackets' widths over
 * the TSC delta.  A run is retried if that exceeds 0.1%, and the best of
 * CAL_RUNS runs wins.
 *
 * A run that overslept (the vCPU descheduled past the end of the 55 ms
 * countdown, so B reads above A) is retried like an imprecise one.  Only a
 * PIT that never starts counting ends the calibration at once: a first run
 * that overslept used to be taken for "no PIT", and the guest died with
 * "fatal reason=tsc-calibration" in 5 of 12 boots on a loaded nested test
 * host (issue #9).  selftest_oversleep=N makes the first N runs oversleep
 * on purpose (tests/guest/test-guest.sh oversleep).
 *
 * Why not the usual "wait for OUT2 to rise" (Linux's pit_calibrate_tsc)?
 * That measures between a TSC read after programming and one after the
 * edge is seen; if the vCPU is descheduled at either edge - common for a
 * TCG guest on a busy host - the result is off with nothing to tell.  We
 * saw 2.1 vs 2.5 GHz on the same host that way.
 *
 * Under KVM the TSC and the in-kernel PIT both follow host time.  Under TCG
 * QEMU's rdtsc returns the host's TSC (plus an offset) and its PIT runs on
 * the virtual clock, which follows host time too, so the result is the host
 * TSC rate either way and all reported timings are wall-clock microseconds.
 */
#include "tsc.h"

#include <stdbool.h>
#include <stddef.h>

#include "io.h"

#define PIT_HZ 1193182u
#define PIT_CH2_DATA 0x42
#define PIT_CMD 0x43
#define PIT_CMD_CH2_LOHI_MODE0 0xb0 /* channel 2, lobyte/hibyte, mode 0, binary */
#define PIT_CMD_CH2_LATCH 0x80      /* channel 2, counter latch */
#define PORT_61 0x61
#define PORT_61_GATE2 0x01
#define PORT_61_SPEAKER 0x02

#define CAL_PIT_TICKS 47727u /* 40 ms; well inside one 0xffff countdown (55 ms) */
#define CAL_RUNS 3u
#define CAL_MAX_TRIES 20u
#define SAMPLE_TRIES 8u
/* A loop bound that no working PIT needs, so a missing PIT cannot hang us. */
#define CAL_MAX_POLLS 1000000u

struct pit_sample {
    uint32_t count;
    uint64_t tsc;    /* middle of the bracket */
    uint64_t spread; /* bracket width: this sample's uncertainty */
};

static struct pit_sample
read_pit_once(void)
{
    uint64_t before = rdtsc();

    outb(PIT_CMD, PIT_CMD_CH2_LATCH);

    uint64_t after = rdtsc();
    uint8_t lo = inb(PIT_CH2_DATA);
    uint8_t hi = inb(PIT_CH2_DATA);

    return (struct pit_sample){
        .count = ((uint32_t)hi << 8) | lo,
        .tsc = before + (after - before) / 2,
        .spread = after - before,
    };
}

/* The tightest of a few samples: a preempted one shows a wide bracket. */
static struct pit_sample
read_pit(void)
{
    struct pit_sample best = read_pit_once();

    for (unsigned i = 1; i < SAMPLE_TRIES; i++) {
        struct pit_sample s = read_pit_once();

        if (s.spread < best.spread)
            best = s;
    }
    return best;
}

enum measure {
    MEASURE_OK,
    MEASURE_RETRY,  /* overslept, or a result out of range: try again */
    MEASURE_NO_PIT, /* channel 2 never started counting */
};

/*
 * One run: TSC ticks per CAL_PIT_TICKS-ish PIT ticks, scaled to kHz, and
 * *err_ppm its error bound.  @oversleep: wait past the countdown's end
 * between the two samples, as a descheduled vCPU would.
 */
static enum measure
measure_once(uint32_t *khz, uint64_t *err_ppm, bool oversleep)
{
    uint8_t saved = inb(PORT_61);
    uint32_t polls = 0;
    struct pit_sample a, b;

    /* Gate on so the channel counts; speaker off so the run is silent. */
    outb(PORT_61, (uint8_t)((saved & ~PORT_61_SPEAKER) | PORT_61_GATE2));
    outb(PIT_CMD, PIT_CMD_CH2_LOHI_MODE0);
    outb(PIT_CH2_DATA, 0xff);
    outb(PIT_CH2_DATA, 0xff);

    /* Real PITs load the count on the next clock edge: wait until it runs. */
    do {
        a = read_pit();
    } while (a.count >= 0xfff0 && ++polls < CAL_MAX_POLLS);
    if (polls >= CAL_MAX_POLLS) {
        outb(PORT_61, saved);
        return MEASURE_NO_PIT;
    }
    /* Mode 0 wraps to 0xffff after 0 and counts on: past the end reads above A. */
    if (oversleep) {
        do {
            b = read_pit();
        } while (b.count <= a.count && ++polls < CAL_MAX_POLLS);
    } else {
        do {
            b = read_pit();
        } while (b.count + CAL_PIT_TICKS > a.count && b.count <= a.count &&
                 ++polls < CAL_MAX_POLLS);
    }
    outb(PORT_61, saved);

    if (polls >= CAL_MAX_POLLS || b.count > a.count || b.tsc <= a.tsc)
        return MEASURE_RETRY;

    uint64_t ticks = b.tsc - a.tsc;
    uint32_t pit = a.count - b.count;

    /* kHz = ticks * PIT_HZ / pit / 1000; the product fits 64 bits for runs below an hour. */
    uint64_t k = div_u64_u32(div_u64_u32(ticks * PIT_HZ, pit, NULL), 1000, NULL);
    uint64_t ticks_per_ppm = div_u64_u32(ticks, 1000000u, NULL);

    if (k == 0 || k > UINT32_MAX || ticks_per_ppm == 0 || ticks_per_ppm > UINT32_MAX)
        return MEASURE_RETRY;
    *khz = (uint32_t)k;
    *err_ppm = div_u64_u32(a.spread + b.spread, (uint32_t)ticks_per_ppm, NULL);
    return MEASURE_OK;
}

uint32_t
tsc_calibrate(uint32_t oversleep_runs, uint32_t *ret_retries)
{
    uint32_t best_khz = 0;
    uint64_t best_err = UINT64_MAX;
    unsigned good = 0;
    uint32_t retries = 0;

    for (unsigned tries = 0; tries < CAL_MAX_TRIES && good < CAL_RUNS; tries++) {
        uint32_t khz;
        uint64_t err_ppm;
        enum measure m = measure_once(&khz, &err_ppm, tries < oversleep_runs);

        if (m == MEASURE_NO_PIT)
            break; /* the PIT does not count at all: do not wait 20 times */
        if (m == MEASURE_RETRY) {
            retries++;
            continue;
        }
        if (err_ppm < best_err) {
            best_err = err_ppm;
            best_khz = khz;
        }
        if (err_ppm <= 1000)
            good++;
    }
    *ret_retries = retries;
    return best_khz;
}

uint64_t
tsc_to_us(uint64_t ticks, uint32_t tsc_khz)
{
    /* ticks * 1000 overflows only after ~200 days at 1 GHz. */
    return div_u64_u32(ticks * 1000u, tsc_khz, NULL);
}
