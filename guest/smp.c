/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting the other CPUs
 * =======================
 * The universal start-up algorithm of Intel's MP specification: an INIT
 * IPI puts the AP in wait-for-SIPI, and a startup IPI (sent twice, as
 * some processors miss the first) starts it in real mode at vector * 4 KiB.
 * The trampoline (boot.S) is copied to TRAMPOLINE_ADDR for that: below
 * 1 MiB, and below our image's end, so never among the checked pages
 * (memmap.c leaves everything under the image's end out).
 *
 * Once in C an AP reports in and then waits for work: smp_run() publishes
 * a function under a new sequence number, every CPU runs it, and the BSP
 * waits until all have finished.  That fork-join is the barrier that keeps
 * the checker's passes in step.  Everything shared is accessed with
 * __atomic builtins (lock-prefixed instructions on 32-bit x86, no libatomic).
 */
#include "smp.h"

#include <stddef.h>

#include "acpi.h"
#include "io.h"
#include "traps.h"

#define LAPIC_DEFAULT_BASE 0xfee00000u
#define LAPIC_ID 0x20u
#define LAPIC_SVR 0xf0u
#define LAPIC_ICR_LOW 0x300u
#define LAPIC_ICR_HIGH 0x310u
#define LAPIC_ID_SHIFT 24

#define SVR_ENABLE 0x100u
#define SVR_SPURIOUS_VECTOR 0xffu /* its low nibble must be all ones on old CPUs */
#define ICR_INIT 0x500u
#define ICR_STARTUP 0x600u
#define ICR_DELIVERY_PENDING 0x1000u
#define ICR_LEVEL_ASSERT 0x4000u
#define ICR_TRIGGER_LEVEL 0x8000u

#define TRAMPOLINE_ADDR 0x8000u /* startup vector 0x08 */
#define AP_STACK_SIZE 8192u
#define INIT_DELAY_US 10000u
#define SIPI_DELAY_US 200u
#define REPORT_IN_US 1000000u
#define HALT_WAIT_US 1000000u

extern const char smp_trampoline_start[], smp_trampoline_end[];

/* Read by ap_entry32 (boot.S) before it has a stack: one AP starts at a time. */
volatile uint32_t smp_boot_stack;
volatile uint32_t smp_boot_cpu;

__attribute__((noreturn)) void smp_ap_main(uint32_t cpu);

static uint8_t ap_stack[MAX_CPUS - 1][AP_STACK_SIZE] __attribute__((aligned(16)));

static uint32_t lapic_base = LAPIC_DEFAULT_BASE;
static uint32_t tsc_khz_saved;
static uint32_t ncpus = 1;

/* Written by the BSP, read by the APs. */
static struct {
    void (*work)(uint32_t cpu, void *arg);
    void *arg;
} job;
static uint32_t job_seq; /* bumped to publish job */
static bool halt_requested;

/* Written by the APs. */
static uint32_t reported[MAX_CPUS];
static uint32_t job_done; /* APs finished with the current job */
static uint32_t parked;   /* APs stopped for good */

static uint32_t
load32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static bool
halting(void)
{
    return __atomic_load_n(&halt_requested, __ATOMIC_ACQUIRE);
}

static uint32_t
lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(uintptr_t)(lapic_base + reg);
}

static void
lapic_write(uint32_t reg, uint32_t val)
{
    *(volatile uint32_t *)(uintptr_t)(lapic_base + reg) = val;
}

static uint64_t
us_to_ticks(uint32_t us)
{
    return div_u64_u32((uint64_t)us * tsc_khz_saved, 1000u, NULL);
}

static void
delay_us(uint32_t us)
{
    uint64_t end = rdtsc() + us_to_ticks(us);

    while (rdtsc() < end)
        cpu_relax();
}

/* Send one IPI to @apic_id and wait (boundedly) until the APIC has taken it. */
static void
send_ipi(uint32_t apic_id, uint32_t command)
{
    uint64_t end = rdtsc() + us_to_ticks(SIPI_DELAY_US);

    lapic_write(LAPIC_ICR_HIGH, apic_id << LAPIC_ID_SHIFT);
    lapic_write(LAPIC_ICR_LOW, command);
    while ((lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING) && rdtsc() < end)
        cpu_relax();
}

void
smp_discover(struct smp_cpus *cpus)
{
    static struct madt madt; /* 1 KiB: kept off the stack */

    *cpus = (struct smp_cpus){ .available = 1, .lapic_base = LAPIC_DEFAULT_BASE };
    if (!acpi_read_madt(&madt) || madt.ncpus == 0)
        return;
    cpus->lapic_base = madt.lapic_base;
    cpus->madt_cpus = madt.ncpus;
    lapic_base = madt.lapic_base;

    uint8_t bsp = (uint8_t)smp_apic_id();

    cpus->apic_id[0] = bsp;
    for (uint32_t i = 0; i < madt.ncpus && cpus->available < MAX_CPUS; i++)
        if (madt.apic_id[i] != bsp)
            cpus->apic_id[cpus->available++] = madt.apic_id[i];
}

bool
smp_start(const struct smp_cpus *cpus, uint32_t want, uint32_t tsc_khz, uint32_t *failed_apic)
{
    uint8_t *tramp = (uint8_t *)(uintptr_t)TRAMPOLINE_ADDR;
    uint32_t tramp_len = (uint32_t)(smp_trampoline_end - smp_trampoline_start);

    tsc_khz_saved = tsc_khz;
    lapic_base = cpus->lapic_base;
    if (want <= 1)
        return true;
    /* Through the asm: GCC takes a small constant address for a null pointer. */
    __asm__("" : "+r"(tramp));
    for (uint32_t i = 0; i < tramp_len; i++)
        tramp[i] = (uint8_t)smp_trampoline_start[i];
    /* Firmware may leave the APIC software-disabled, and then it may send no IPIs. */
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | SVR_ENABLE | SVR_SPURIOUS_VECTOR);

    for (uint32_t cpu = 1; cpu < want; cpu++) {
        uint32_t apic = cpus->apic_id[cpu];
        uint32_t sipi = ICR_STARTUP | TRAMPOLINE_ADDR >> 12;

        smp_boot_cpu = cpu;
        smp_boot_stack = (uint32_t)(uintptr_t)&ap_stack[cpu - 1][AP_STACK_SIZE];
        __atomic_thread_fence(__ATOMIC_SEQ_CST);

        uint64_t deadline = rdtsc() + us_to_ticks(REPORT_IN_US);

        send_ipi(apic, ICR_INIT | ICR_TRIGGER_LEVEL | ICR_LEVEL_ASSERT);
        send_ipi(apic, ICR_INIT | ICR_TRIGGER_LEVEL); /* de-assert: only old APICs need it */
        delay_us(INIT_DELAY_US);
        send_ipi(apic, sipi);
        delay_us(SIPI_DELAY_US);
        send_ipi(apic, sipi); /* ignored by a CPU that the first one started */
        while (!load32(&reported[cpu])) {
            if (rdtsc() >= deadline) {
                *failed_apic = apic;
                return false;
            }
            cpu_relax();
        }
        ncpus = cpu + 1;
    }
    return true;
}

uint32_t
smp_apic_id(void)
{
    return lapic_read(LAPIC_ID) >> LAPIC_ID_SHIFT;
}

uint32_t
smp_ncpus(void)
{
    return ncpus;
}

void
smp_ap_main(uint32_t cpu)
{
    uint32_t seen = load32(&job_seq);

    traps_load(); /* the BSP built the IDT before starting us */
    __atomic_store_n(&reported[cpu], 1, __ATOMIC_RELEASE);
    for (;;) {
        uint32_t seq;

        while ((seq = load32(&job_seq)) == seen && !halting())
            cpu_relax();
        if (seq == seen)
            break; /* halt_requested, with no job left to run */
        seen = seq;
        job.work(cpu, job.arg);
        __atomic_add_fetch(&job_done, 1, __ATOMIC_RELEASE);
    }
    __atomic_add_fetch(&parked, 1, __ATOMIC_RELEASE);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void
smp_run(void (*work)(uint32_t cpu, void *arg), void *arg)
{
    job.work = work;
    job.arg = arg;
    __atomic_store_n(&job_done, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&job_seq, 1, __ATOMIC_SEQ_CST);
    work(0, arg);
    while (load32(&job_done) != ncpus - 1)
        cpu_relax();
}

void
smp_halt_others(void)
{
    uint32_t started = 0;

    for (uint32_t cpu = 1; cpu < MAX_CPUS; cpu++)
        started += load32(&reported[cpu]);
    if (started == 0)
        return;
    __atomic_store_n(&halt_requested, true, __ATOMIC_SEQ_CST);

    uint64_t deadline = rdtsc() + us_to_ticks(HALT_WAIT_US);

    while (load32(&parked) != started && rdtsc() < deadline)
        cpu_relax();
}
