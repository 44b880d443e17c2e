/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every CPU of the machine: finding them (ACPI's MADT), starting them
 * (INIT and startup IPIs), running work on all of them in step, stopping
 * them.  CPU 0 is always the boot CPU (BSP), which alone talks to COM1.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The most CPUs we run; more in the MADT are left asleep. */
#define MAX_CPUS 16u

struct smp_cpus {
    uint32_t available;         /* CPUs we may run: the BSP and the MADT's others, up to MAX_CPUS */
    uint32_t madt_cpus;         /* enabled processors the MADT lists; 0: no MADT found */
    uint32_t lapic_base;        /* the local APIC's physical address */
    uint8_t apic_id[MAX_CPUS];  /* [0] the BSP's, then the MADT's others in table order */
};

/* List the CPUs from the MADT.  Without one, only the BSP is available. */
void smp_discover(struct smp_cpus *cpus);

/*
 * Start CPUs 1..@ncpus-1 of @cpus, one at a time, and wait until each has
 * reported in from C.  Returns false, with *@failed_apic set, if one did
 * not within a second of its INIT; the CPUs started before it are then
 * running (smp_halt_others() stops them).  @tsc_khz times the delays.
 */
bool smp_start(const struct smp_cpus *cpus, uint32_t ncpus, uint32_t tsc_khz,
               uint32_t *failed_apic);

/* CPUs running: 1 until smp_start() succeeds. */
uint32_t smp_ncpus(void);

/* The calling CPU's local APIC ID (at the MADT's APIC base once smp_discover() ran). */
uint32_t smp_apic_id(void);

/*
 * Run @work(cpu, @arg) on every running CPU, the calling BSP as CPU 0, and
 * return when all have returned: each call is one step that every CPU
 * starts together and finishes before the next begins.  BSP only.
 */
void smp_run(void (*work)(uint32_t cpu, void *arg), void *arg);

/*
 * Tell the other CPUs to stop (cli; hlt) and wait, up to a second, until
 * they have.  Called before the guest leaves, so that no CPU still touches
 * memory or spins when the BSP exits or halts.  BSP only, between runs.
 */
void smp_halt_others(void);

/* A spin-wait hint: lets a hyperthread sibling or the host run. */
static inline void
cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}
