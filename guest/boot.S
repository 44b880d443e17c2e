/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Entry point and Multiboot v1 header.
 *
 * A Multiboot loader (QEMU's -kernel, GRUB) enters _start in 32-bit
 * protected mode with paging off, flat segments, interrupts off, EAX =
 * 0x2badb002 and EBX = the boot information's physical address.  The GDT
 * the loader used may already be gone, which is harmless as long as no
 * segment register is reloaded and no interrupt is taken - this guest does
 * neither, so it sets up no GDT or IDT of its own.
 */

#define MB_MAGIC 0x1badb002
#define MB_FLAG_PAGE_ALIGN (1 << 0)  /* modules on page boundaries */
#define MB_FLAG_MEMORY_INFO (1 << 1) /* ask for mem_* and the memory map */
#define MB_FLAGS (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO)

#define STACK_SIZE 16384

    /* guest.ld puts this first; loaders look in the first 8 KiB of the file. */
    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .balign 16
stack_bottom:
    .skip STACK_SIZE
stack_top:

    .section .text
    .globl _start
    .type _start, @function
_start:
    cli
    cld
    movl $stack_top, %esp
    movl %eax, %edx /* rep stosb needs EAX */

    /* ELF loaders zero .bss, but C relies on it, so do not rely on them. */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    /* The i386 ABI wants ESP 16-byte aligned at the call. */
    subl $8, %esp
    pushl %ebx /* boot information */
    pushl %edx /* loader magic */
    call guest_main

1:  cli
    hlt
    jmp 1b
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
