/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Only the RSDT's 32-bit table pointers are followed: every firmware that
 * boots us (SeaBIOS also under QEMU's -kernel, OVMF's CSM) writes an RSDT,
 * and a table above 4 GiB would be out of reach without paging anyway.
 * The tables live in RAM the firmware marks reserved or in the BIOS area,
 * which the checker never touches, so they can be read at any time.
 */
#include "acpi.h"

#include <stddef.h>

#define BDA_EBDA_SEGMENT 0x40eu /* the BIOS data area's word: EBDA address / 16 */
#define EBDA_SEARCH_BYTES 1024u
#define BIOS_AREA_START 0xe0000u
#define BIOS_AREA_END 0x100000u
#define RSDP_V1_BYTES 20u        /* what the ACPI 1.0 checksum covers */
#define SDT_HEADER_BYTES 36u
#define SDT_MAX_BYTES 0x100000u  /* no sane RSDT or MADT is a MiB long */
#define MADT_ENTRIES_OFFSET 44u  /* after the header, the APIC address and the flags */
#define MADT_LAPIC_ADDR_OFFSET 36u
#define MADT_TYPE_LOCAL_APIC 0u
#define MADT_LOCAL_APIC_BYTES 8u
#define MADT_LOCAL_APIC_ENABLED 1u

/*
 * A pointer to physical address @addr.  Going through an asm keeps GCC from
 * treating a small constant address as a null pointer plus an offset (and
 * warning that it points outside any object).
 */
static const uint8_t *
phys(uint32_t addr)
{
    const uint8_t *p;

    __asm__("" : "=r"(p) : "0"(addr));
    return p;
}

/* Little-endian and unaligned-safe: ACPI packs its structures. */
static uint32_t
read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* No libc headers here (they would need 32-bit ones), hence no memcmp(). */
static bool
has_signature(const uint8_t *p, const char *sig)
{
    for (; *sig != '\0'; p++, sig++)
        if (*p != (uint8_t)*sig)
            return false;
    return true;
}

static bool
checksum_ok(const uint8_t *p, uint32_t len)
{
    uint8_t sum = 0;

    for (uint32_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum == 0;
}

/* The RSDT's address from an RSDP in [start, end) (16-byte aligned), or 0. */
static uint32_t
find_rsdt_in(uint32_t start, uint32_t end)
{
    for (uint32_t a = start; a + RSDP_V1_BYTES <= end; a += 16) {
        const uint8_t *p = phys(a);

        if (has_signature(p, "RSD PTR ") && checksum_ok(p, RSDP_V1_BYTES))
            return read_u32(p + 16);
    }
    return 0;
}

/* The table at @addr if its signature is @sig and it is whole and checksummed. */
static const uint8_t *
sdt(uint32_t addr, const char *sig)
{
    if (addr == 0)
        return NULL;

    const uint8_t *p = phys(addr);
    uint32_t len = read_u32(p + 4);

    if (!has_signature(p, sig) || len < SDT_HEADER_BYTES || len > SDT_MAX_BYTES ||
        !checksum_ok(p, len))
        return NULL;
    return p;
}

static const uint8_t *
find_madt(void)
{
    uint32_t ebda = (uint32_t)(phys(BDA_EBDA_SEGMENT)[0] | phys(BDA_EBDA_SEGMENT)[1] << 8) << 4;
    uint32_t rsdt_addr = 0;

    /* A BDA without an EBDA reads 0; the interrupt vectors there are no place to look. */
    if (ebda >= 0x400 && ebda < BIOS_AREA_START)
        rsdt_addr = find_rsdt_in(ebda, ebda + EBDA_SEARCH_BYTES);
    if (rsdt_addr == 0)
        rsdt_addr = find_rsdt_in(BIOS_AREA_START, BIOS_AREA_END);

    const uint8_t *rsdt = sdt(rsdt_addr, "RSDT");

    if (rsdt == NULL)
        return NULL;

    uint32_t entries = (read_u32(rsdt + 4) - SDT_HEADER_BYTES) / 4;

    for (uint32_t i = 0; i < entries; i++) {
        const uint8_t *madt = sdt(read_u32(rsdt + SDT_HEADER_BYTES + 4 * i), "APIC");

        if (madt != NULL)
            return madt;
    }
    return NULL;
}

bool
acpi_read_madt(struct madt *madt)
{
    const uint8_t *p = find_madt();

    *madt = (struct madt){ .ncpus = 0 };
    if (p == NULL)
        return false;

    uint32_t len = read_u32(p + 4);

    if (len < MADT_ENTRIES_OFFSET)
        return false;
    madt->lapic_base = read_u32(p + MADT_LAPIC_ADDR_OFFSET);
    for (uint32_t off = MADT_ENTRIES_OFFSET; off + 2 <= len;) {
        uint8_t type = p[off];
        uint8_t entry_len = p[off + 1];

        if (entry_len < 2 || off + entry_len > len)
            break; /* malformed: keep what was listed before it */
        if (type == MADT_TYPE_LOCAL_APIC && entry_len >= MADT_LOCAL_APIC_BYTES &&
            (read_u32(p + off + 4) & MADT_LOCAL_APIC_ENABLED) &&
            madt->ncpus < MADT_MAX_CPUS)
            madt->apic_id[madt->ncpus++] = p[off + 3];
        off += entry_len;
    }
    return true;
}
