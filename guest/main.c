/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashift's memory-checking guest
 * =================================
 * Fills all the RAM it can reach with a pattern that depends on each word's
 * physical address and its page's generation number, then loops: rewrite a
 * window of pages with their next generation, verify every page, report
 * one line on COM1.  The host moves our memory between NUMA nodes meanwhile;
 * any word that comes back wrong is reported and ends the run.  README.md
 * has the report format, the command line and the exit codes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checker.h"
#include "exit.h"
#include "io.h"
#include "memmap.h"
#include "multiboot.h"
#include "options.h"
#include "serial.h"
#include "tsc.h"

#define CMDLINE_MAX 256u

/* From guest.ld: the first page-aligned address past our image and bss. */
extern char __image_end[];

__attribute__((noreturn)) void guest_main(uint32_t magic, const struct multiboot_info *mbi);

/*
 * Everything we keep lives in .bss (inside the image) because the boot
 * information itself sits in RAM that the checker will overwrite.
 */
static char cmdline[CMDLINE_MAX];
static struct memmap map;
static struct checker checker;

__attribute__((noreturn)) static void
fatal(const char *reason)
{
    serial_printf("NSGUEST fatal reason=%s\n", reason);
    guest_exit(GUEST_EXIT_NO_RUN);
}

static const char *
copy_cmdline(const struct multiboot_info *mbi)
{
    if (!(mbi->flags & MULTIBOOT_INFO_CMDLINE) || mbi->cmdline == 0)
        return NULL;

    const char *src = (const char *)(uintptr_t)mbi->cmdline;
    uint32_t i = 0;

    for (; i < CMDLINE_MAX - 1 && src[i] != '\0'; i++)
        cmdline[i] = src[i];
    cmdline[i] = '\0';
    return cmdline;
}

static uint32_t
pick_window(const struct guest_options *opt, uint32_t pages)
{
    uint32_t window = opt->window_set ? opt->window : pages / 16;

    if (!opt->window_set && window == 0)
        window = 1;
    return window > pages ? pages : window;
}

/*
 * An unbounded run (passes=0) ends cleanly when the host sends 'q' on COM1:
 * a test that moves our memory for as long as it needs can then still get
 * a "done" verdict instead of having to kill us.  Checked between passes
 * only, so a pass is never cut short.
 */
static bool
stop_requested(void)
{
    int c;

    while ((c = serial_poll()) >= 0)
        if (c == 'q' || c == 'Q')
            return true;
    return false;
}

/*
 * One pass: rewrite the window, verify the first @limit pages, report.
 * Returns false after reporting corruption (the caller exits).
 */
static bool
run_pass(const struct guest_options *opt, uint32_t tsc_khz, uint32_t pass, uint32_t limit)
{
    struct pass_result res;
    uint32_t planted = 0;
    uint64_t start = rdtsc();

    if (limit == checker.active)
        checker_rewrite_window(&checker);
    if (pass == opt->selftest_corrupt)
        planted = checker_selftest_corrupt(&checker, pass);
    checker_verify(&checker, limit, &res);

    uint64_t pass_ticks = rdtsc() - start;

    /* Printed after the pass so that serial output is not timed. */
    if (planted != 0)
        serial_printf("NSGUEST selftest addr=0x%08x pass=%u\n", planted, pass);
    if (res.corrupt)
        serial_printf("NSGUEST corrupt addr=0x%08x expected=0x%08x found=0x%08x pass=%u\n",
                      res.addr, res.expected, res.found, pass);
    serial_printf("NSGUEST pass=%u pages=%u errors=%llu max_access_us=%llu pass_us=%llu\n", pass,
                  res.pages, (unsigned long long)res.errors,
                  (unsigned long long)tsc_to_us(res.max_access_ticks, tsc_khz),
                  (unsigned long long)tsc_to_us(pass_ticks, tsc_khz));
    if (res.errors != 0) {
        serial_printf("NSGUEST done passes=%u errors=%llu exit=%u\n", pass,
                      (unsigned long long)res.errors, (unsigned)GUEST_EXIT_CORRUPT);
        return false;
    }
    return true;
}

/*
 * With active < 100 the passes touch only the first pages; the idle rest,
 * filled once, is verified by one more pass over everything at the end, so
 * that "no byte lost" covers idle memory too.
 */
static uint32_t
finish_passes(const struct guest_options *opt, uint32_t tsc_khz, uint32_t pass)
{
    if (checker.active == checker.map->pages)
        return pass;
    if (!run_pass(opt, tsc_khz, pass + 1, checker.map->pages))
        guest_exit(GUEST_EXIT_CORRUPT);
    return pass + 1;
}

static void
run_passes(const struct guest_options *opt, uint32_t tsc_khz)
{
    uint32_t pass;

    for (pass = 1; opt->passes == 0 || pass <= opt->passes; pass++) {
        if (!run_pass(opt, tsc_khz, pass, checker.active))
            guest_exit(GUEST_EXIT_CORRUPT);
        if (opt->passes == 0 && stop_requested()) {
            pass = finish_passes(opt, tsc_khz, pass);
            serial_printf("NSGUEST done passes=%u errors=0 exit=%u stopped=1\n", pass,
                          (unsigned)GUEST_EXIT_CLEAN);
            return;
        }
    }
    pass = finish_passes(opt, tsc_khz, opt->passes);
    serial_printf("NSGUEST done passes=%u errors=0 exit=%u\n", pass, (unsigned)GUEST_EXIT_CLEAN);
}

void
guest_main(uint32_t magic, const struct multiboot_info *mbi)
{
    struct guest_options opt;

    serial_init();
    serial_putc('\n'); /* the firmware may have left its last line open */
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fatal("not-multiboot");

    const char *bad = options_parse(copy_cmdline(mbi), &opt);

    if (bad != NULL) {
        serial_printf("NSGUEST fatal reason=bad-cmdline token=%s\n", bad);
        guest_exit(GUEST_EXIT_BAD_ARGS);
    }
    if (!memmap_build(mbi, (uint32_t)(uintptr_t)__image_end, &map))
        fatal("no-memory-map");
    /* From here on the boot information may be overwritten. */

    uint32_t table = memmap_carve(&map, checker_table_bytes(map.pages) / PAGE_SIZE);

    if (table == 0 || map.pages == 0)
        fatal("too-little-memory");

    uint32_t cal_retries = 0;
    uint32_t tsc_khz = tsc_calibrate(opt.selftest_oversleep, &cal_retries);

    if (tsc_khz == 0)
        fatal("tsc-calibration");

    /* 32-bit arithmetic only (no libgcc here): pages / 100 first. */
    uint32_t active = map.pages / 100 * opt.active + map.pages % 100 * opt.active / 100;

    if (active == 0)
        active = 1;
    uint32_t window = pick_window(&opt, active);

    checker_init(&checker, &map, (uint32_t *)(uintptr_t)table, opt.seed, window, active);
    serial_printf("NSGUEST start mem_kib=%llu pages=%u tsc_khz=%u passes=%u window=%u "
                  "seed=0x%08x ranges=%u table=0x%08x active=%u cal_retries=%u\n",
                  (unsigned long long)map.ram_kib, map.pages, tsc_khz, opt.passes, window,
                  opt.seed, map.nranges, table, active, cal_retries);
    for (uint32_t r = 0; r < map.nranges; r++)
        serial_printf("NSGUEST range base=0x%08x pages=%u\n", map.range[r].base,
                      map.range[r].pages);

    uint64_t start = rdtsc();

    checker_fill(&checker);
    serial_printf("NSGUEST filled fill_us=%llu\n",
                  (unsigned long long)tsc_to_us(rdtsc() - start, tsc_khz));

    run_passes(&opt, tsc_khz);
    guest_exit(GUEST_EXIT_CLEAN);
}
