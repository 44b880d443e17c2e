/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Time stamp counter: calibration against the PIT and tick conversion. */
#pragma once

#include <stdint.h>

/*
 * Measure the TSC frequency against PIT channel 2 (see tsc.c).  Returns
 * kHz, or 0 if the PIT never counted or no run succeeded; *ret_retries gets
 * the runs that had to be tried again (overslept).  The first
 * @oversleep_runs runs oversleep on purpose (selftest_oversleep=).
 */
uint32_t tsc_calibrate(uint32_t oversleep_runs, uint32_t *ret_retries);

/* Convert a TSC delta to microseconds at @tsc_khz (which must not be 0). */
uint64_t tsc_to_us(uint64_t ticks, uint32_t tsc_khz);
