/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an exception says before the run ends: the vector, the error code,
 * where it happened and the bytes there.  A guest that faults while the
 * host moves its memory shows here whether it ran its own code (a bug of
 * ours: the EIP is in our image and the bytes are our instructions) or
 * something else (the bytes at EIP are not what the image holds there:
 * the page under it came back wrong), instead of resetting without a word.
 */
#include "traps.h"

#include "exit.h"
#include "serial.h"
#include "smp.h"

#define GDT_CODE 0x08
#define IDT_VECTORS 32u
#define GATE_INTERRUPT_32 0x8e /* present, ring 0, 32-bit interrupt gate */

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t zero;
    uint8_t type;
    uint16_t offset_high;
} __attribute__((packed));

struct trap_frame {
    uint32_t vector;
    uint32_t error;
    uint32_t eip;
    uint32_t cs;
    uint32_t eflags;
};

extern const uint32_t trap_entries[IDT_VECTORS];
__attribute__((noreturn)) void traps_report(const struct trap_frame *f);

static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(8)));

void
traps_init(void)
{
    for (uint32_t v = 0; v < IDT_VECTORS; v++)
        idt[v] = (struct idt_gate){
            .offset_low = (uint16_t)(trap_entries[v] & 0xffffu),
            .selector = GDT_CODE,
            .type = GATE_INTERRUPT_32,
            .offset_high = (uint16_t)(trap_entries[v] >> 16),
        };
}

void
traps_load(void)
{
    struct {
        uint16_t limit;
        uint32_t base;
    } __attribute__((packed)) ptr = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };

    __asm__ volatile("lidt %0" : : "m"(ptr));
}

void
traps_report(const struct trap_frame *f)
{
    const volatile uint8_t *at = (const volatile uint8_t *)(uintptr_t)f->eip;
    uint32_t cr2;

    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    /* No lock: the CPU that faulted may hold it, and this is the last word anyway. */
    uint32_t apic = smp_apic_id();
    uint32_t code[8];

    for (uint32_t i = 0; i < 8; i++)
        code[i] = at[i];
    serial_printf("\nNSGUEST fatal reason=exception vector=%u error=0x%x eip=0x%08x cs=0x%x "
                  "eflags=0x%08x cr2=0x%08x apic=%u code=%02x%02x%02x%02x%02x%02x%02x%02x\n",
                  f->vector, f->error, f->eip, f->cs, f->eflags, cr2, apic, code[0], code[1],
                  code[2], code[3], code[4], code[5], code[6], code[7]);
    guest_exit(GUEST_EXIT_NO_RUN);
}
