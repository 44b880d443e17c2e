/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Entry points: the boot CPU's (Multiboot) and the other CPUs' (SIPI).
 *
 * A Multiboot loader (QEMU's -kernel, GRUB) enters _start in 32-bit
 * protected mode with paging off, flat segments, interrupts off, EAX =
 * 0x2badb002 and EBX = the boot information's physical address.  The GDT
 * the loader used may already be gone (the checker overwrites all free
 * RAM), and the other CPUs need a GDT they can reach anyway, so both run
 * on the one below, loaded first thing.  No interrupt is ever taken, so
 * there is no IDT.
 *
 * An application processor (AP) starts in real mode at the page its
 * startup IPI names: smp.c copies smp_trampoline there (below 1 MiB, where
 * real mode can reach).  The trampoline loads our GDT, switches to
 * protected mode and far-jumps into the image at ap_entry32, which takes
 * the stack and CPU index that smp.c left in smp_boot_stack and
 * smp_boot_cpu (one AP starts at a time) and calls smp_ap_main.
 */

#define MB_MAGIC 0x1badb002
#define MB_FLAG_PAGE_ALIGN (1 << 0)  /* modules on page boundaries */
#define MB_FLAG_MEMORY_INFO (1 << 1) /* ask for mem_* and the memory map */
#define MB_FLAGS (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO)

#define STACK_SIZE 16384

#define GDT_CODE 0x08
#define GDT_DATA 0x10

#define CR0_PE 0x00000001 /* protected mode */
#define CR0_NW 0x20000000 /* not write-through: set by INIT, with CD */
#define CR0_CD 0x40000000 /* cache disable: set by INIT, and slow */

    /* guest.ld puts this first; loaders look in the first 8 KiB of the file. */
    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    /*
     * Flat 4 GiB code and data segments.  The accessed bits are preset so
     * that loading a selector never writes to the table.
     */
    .section .rodata
    .balign 8
gdt:
    .quad 0                  /* the null descriptor */
    .quad 0x00cf9b000000ffff /* GDT_CODE: base 0, limit 4 GiB, 32-bit, execute/read */
    .quad 0x00cf93000000ffff /* GDT_DATA: base 0, limit 4 GiB, read/write */
gdt_end:
    .balign 4
    .word 0                  /* aligns the base below */
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .balign 16
stack_bottom:
    .skip STACK_SIZE
stack_top:

    /* Every data segment register to the flat data segment (clobbers AX). */
    .macro load_data_segments
    movw $GDT_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    .endm

    .section .text
    .globl _start
    .type _start, @function
_start:
    cli
    cld
    lgdt gdt_ptr
    ljmp $GDT_CODE, $1f
1:  movl %eax, %edx /* rep stosb needs EAX, and the segment loads AX */
    load_data_segments
    movl $stack_top, %esp

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

2:  cli
    hlt
    jmp 2b
    .size _start, . - _start

    /*
     * The APs' protected-mode entry, reached from the trampoline with our
     * code segment loaded and nothing else set up.
     */
    .globl ap_entry32
    .type ap_entry32, @function
ap_entry32:
    load_data_segments
    movl smp_boot_stack, %esp
    movl smp_boot_cpu, %eax
    subl $12, %esp
    pushl %eax /* CPU index */
    call smp_ap_main

3:  cli
    hlt
    jmp 3b
    .size ap_entry32, . - ap_entry32

    /*
     * The real-mode trampoline: never run here, only copied below 1 MiB.
     * It runs at CS:0 with CS = its page's address / 16, so everything it
     * addresses inside itself is relative to its start.  Placed in
     * .rodata: it is data to this image.
     */
    .section .rodata
    .globl smp_trampoline_start
    .globl smp_trampoline_end
    .code16
smp_trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl trampoline_gdt_ptr - smp_trampoline_start
    movl %cr0, %eax
    andl $~(CR0_CD | CR0_NW), %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $GDT_CODE, $ap_entry32
    .balign 4
    .word 0 /* aligns the base below */
trampoline_gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt /* the image's GDT: lgdtl takes a 32-bit base even in real mode */
smp_trampoline_end:
    .code32

    .section .note.GNU-stack, "", @progbits
