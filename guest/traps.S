/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exception entry points (vectors 0-31).
 *
 * Without an IDT any exception is a triple fault: under a hypervisor the
 * machine resets (libvirt's on_reboot=destroy turns that into a shutdown)
 * and the log ends mid-line with no clue.  These entry points give every vector
 * the same frame (vector, error code or 0, then the CPU's EIP, CS,
 * EFLAGS) and hand it to traps_report(), which says what happened and
 * ends the run.  Interrupts stay off, so only exceptions get here.
 */
#define GDT_CODE 0x08

/* Vectors for which the CPU pushes an error code itself. */
#define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .section .text
    .macro trap_entry vector
    .balign 16
trap_entry_\vector:
    .if !HAS_ERROR(\vector)
    pushl $0
    .endif
    pushl $\vector
    jmp trap_common
    .endm

    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    trap_entry \v
    .endr

trap_common:
    cld
    pushl %esp /* the frame: vector, error, eip, cs, eflags */
    call traps_report
1:  cli
    hlt
    jmp 1b

    /* The IDT itself is built at run time (traps_init): the entry points' addresses. */
    .section .rodata
    .balign 4
    .globl trap_entries
trap_entries:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long trap_entry_\v
    .endr

    .section .note.GNU-stack, "", @progbits
