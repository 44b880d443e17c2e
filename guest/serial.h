/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COM1: the guest's only way to talk to the host (and the host's to stop it). */
#pragma once

#include <stdbool.h>

void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);

/* The next byte the host sent us, or -1 if none is waiting (never blocks). */
int serial_poll(void);

/*
 * Whether the host has sent 'q' (or 'Q'); reads every byte waiting.  An
 * unbounded run (passes=0) ends cleanly then: a test that moves our memory
 * for as long as it needs still gets a "done" verdict instead of having to
 * kill us.
 */
bool serial_stop_requested(void);

/*
 * A tiny printf: %s %c %u %x %llu %llx %%, with an optional '0' flag and
 * width (for fixed-width hex).  Nothing else is needed by the report lines.
 */
void serial_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
