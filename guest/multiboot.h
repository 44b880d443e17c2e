/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parts of the Multiboot v1 boot information we read.  Layout from the
 * Multiboot Specification 0.6.96, section 3.3.
 */
#pragma once

#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u

#define MULTIBOOT_INFO_MEMORY (1u << 0)  /* mem_lower, mem_upper valid */
#define MULTIBOOT_INFO_CMDLINE (1u << 2) /* cmdline valid */
#define MULTIBOOT_INFO_MEM_MAP (1u << 6) /* mmap_* valid */

#define MULTIBOOT_MEMORY_AVAILABLE 1u

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB from 0 */
    uint32_t mem_upper; /* KiB from 1 MiB, up to the first hole */
    uint32_t boot_device;
    uint32_t cmdline; /* physical address of a NUL-terminated string */
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;
    uint32_t mmap_addr;
};

/*
 * One memory map entry.  'size' does not count itself, and entries may be
 * larger than this struct, so the next entry is at (char *)e + e->size + 4.
 */
struct multiboot_mmap_entry {
    uint32_t size;
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));
