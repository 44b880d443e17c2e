/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Leaving QEMU through the isa-debug-exit device (iobase 0xf4).  QEMU's
 * process exit status is then (code << 1) | 1; see README.md for the table.
 */
#pragma once

enum guest_exit {
    GUEST_EXIT_CLEAN = 0,    /* QEMU status 1: every requested pass was clean */
    GUEST_EXIT_CORRUPT = 1,  /* QEMU status 3: a checked word was wrong */
    GUEST_EXIT_BAD_ARGS = 2, /* QEMU status 5: unusable command line */
    GUEST_EXIT_NO_RUN = 3,   /* QEMU status 7: not multiboot, no memory, no PIT */
};

/*
 * Write @code to the debug-exit port.  Without that device the write goes
 * nowhere, and we halt with interrupts off for the host to reap us.
 */
__attribute__((noreturn)) void guest_exit(enum guest_exit code);
