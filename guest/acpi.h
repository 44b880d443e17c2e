/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CPUs the firmware's ACPI tables (the MADT) list. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define MADT_MAX_CPUS 256u /* APIC IDs are 8 bits in Processor Local APIC entries */

struct madt {
    uint32_t lapic_base; /* the local APIC's physical address */
    uint32_t ncpus;      /* enabled Processor Local APIC entries */
    uint8_t apic_id[MADT_MAX_CPUS]; /* theirs, in table order */
};

/*
 * Find the RSDP (in the EBDA's first KiB, then in 0xe0000-0xfffff), follow
 * it to the RSDT and that to the MADT ("APIC"), checking every checksum,
 * and list the enabled processors.  Returns false if there is no such
 * table (or no valid one): the caller then knows of the boot CPU only.
 */
bool acpi_read_madt(struct madt *madt);
