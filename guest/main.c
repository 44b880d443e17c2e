/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashift's memory-checking guest
 * =================================
 * Starts every CPU the machine has, fills all the RAM it can reach with a
 * pattern that depends on each word's physical address and its page's
 * generation number, then loops: every CPU verifies each page of its share
 * and writes it anew with the next generation, and the boot CPU reports
 * one line per pass on COM1.  The host moves our memory between NUMA nodes
 * meanwhile; any word that comes back wrong is reported and ends the run.
 * Race mode (race=P) instead has every CPU hammer the same few pages
 * (race.c).  README.md has the report format, the command line and the
 * exit codes.
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
#include "race.h"
#include "serial.h"
#include "smp.h"
#include "traps.h"
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
static struct smp_cpus cpus;
static struct checker checker;
static struct pass_result cpu_result[MAX_CPUS];

/* Stop the other CPUs first: none may still write memory or spin once we are gone. */
__attribute__((noreturn)) static void
leave(enum guest_exit code)
{
    smp_halt_others();
    guest_exit(code);
}

__attribute__((noreturn)) static void
fatal(const char *reason)
{
    serial_printf("NSGUEST fatal reason=%s\n", reason);
    leave(GUEST_EXIT_NO_RUN);
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

/* Every active page is rewritten each pass unless window= says fewer. */
static uint32_t
pick_window(const struct guest_options *opt, uint32_t active)
{
    return opt->window_set && opt->window < active ? opt->window : active;
}

struct pass_job {
    bool rewrite;   /* verify and rewrite the active shares; else verify only */
    uint32_t limit; /* without rewrite: the first pages verified */
};

static void
pass_work(uint32_t cpu, void *arg)
{
    const struct pass_job *job = arg;

    checker_pass(&checker, cpu, job->rewrite, job->limit, &cpu_result[cpu]);
}

static void
fill_work(uint32_t cpu, void *arg)
{
    (void)arg;
    checker_fill(&checker, cpu);
}

/*
 * One pass on every CPU, in step, then its line.  Returns false after
 * reporting corruption (the caller exits).
 */
static bool
run_pass(const struct guest_options *opt, uint32_t tsc_khz, uint32_t pass, bool rewrite,
         uint32_t limit)
{
    struct pass_job job = { .rewrite = rewrite, .limit = limit };
    struct pass_result res = { .pages = 0 };
    uint32_t planted = 0;

    /* Before the pass starts, so that the page's owner verifies it after. */
    if (pass == opt->selftest_corrupt)
        planted = checker_selftest_corrupt(&checker, pass, limit);

    uint64_t start = rdtsc();

    smp_run(pass_work, &job);

    uint64_t pass_ticks = rdtsc() - start;

    for (uint32_t cpu = 0; cpu < smp_ncpus(); cpu++)
        checker_merge(&res, &cpu_result[cpu]);
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

/* A pass that only verifies every page: the one that ends a run. */
static uint32_t
final_pass(const struct guest_options *opt, uint32_t tsc_khz, uint32_t pass)
{
    if (!run_pass(opt, tsc_khz, pass, false, checker.map->pages))
        leave(GUEST_EXIT_CORRUPT);
    return pass;
}

/*
 * A run ends with a pass that verifies every page and rewrites none, so
 * that the writes of the pass before it are checked too, and with active <
 * 100 the idle pages, filled once, as well.  In a bounded run with every
 * page active that is the last requested pass; otherwise (idle pages, or
 * stopped by the host) it is one more, so a run of passes=N with active <
 * 100 reports N+1 passes.
 */
static void
run_passes(const struct guest_options *opt, uint32_t tsc_khz)
{
    bool idle_pages = checker.active < checker.map->pages;
    uint32_t pass;

    for (pass = 1; opt->passes == 0 || pass <= opt->passes; pass++) {
        if (!idle_pages && pass == opt->passes) {
            final_pass(opt, tsc_khz, pass);
            break;
        }
        if (!run_pass(opt, tsc_khz, pass, true, checker.active))
            leave(GUEST_EXIT_CORRUPT);
        /* Between passes only, so that a pass is never cut short. */
        if (opt->passes == 0 && serial_stop_requested()) {
            pass = final_pass(opt, tsc_khz, pass + 1);
            serial_printf("NSGUEST done passes=%u errors=0 exit=%u stopped=1\n", pass,
                          (unsigned)GUEST_EXIT_CLEAN);
            return;
        }
    }
    pass = opt->passes;
    if (idle_pages)
        pass = final_pass(opt, tsc_khz, pass + 1);
    serial_printf("NSGUEST done passes=%u errors=0 exit=%u\n", pass, (unsigned)GUEST_EXIT_CLEAN);
}

static void
run_race(const struct guest_options *opt, uint32_t base, uint32_t tsc_khz)
{
    struct race_params params = {
        .base = base,
        .pages = opt->race,
        .passes = opt->passes,
        .selftest = opt->selftest_race,
        .tsc_khz = tsc_khz,
    };
    struct race_result res;

    race_run(&params, &res);
    if (res.errors != 0) {
        serial_printf("NSGUEST done passes=%u errors=%llu exit=%u\n", res.passes,
                      (unsigned long long)res.errors, (unsigned)GUEST_EXIT_CORRUPT);
        leave(GUEST_EXIT_CORRUPT);
    }
    serial_printf("NSGUEST done passes=%u errors=0 exit=%u%s\n", res.passes,
                  (unsigned)GUEST_EXIT_CLEAN, res.stopped ? " stopped=1" : "");
}

/* How many CPUs to run: all available, or cpus= of them.  Fatal if there are fewer. */
static uint32_t
pick_cpus(const struct guest_options *opt)
{
    if (opt->cpus == 0)
        return cpus.available;
    if (opt->cpus > cpus.available) {
        serial_printf("NSGUEST fatal reason=cpus token=cpus=%u available=%u madt_cpus=%u\n",
                      opt->cpus, cpus.available, cpus.madt_cpus);
        guest_exit(GUEST_EXIT_NO_RUN);
    }
    return opt->cpus;
}

void
guest_main(uint32_t magic, const struct multiboot_info *mbi)
{
    struct guest_options opt;

    serial_init();
    serial_putc('\n'); /* the firmware may have left its last line open */
    traps_init();
    traps_load();
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

    /* ACPI's tables are in reserved RAM or the BIOS area: never among the checked pages. */
    smp_discover(&cpus);

    /* Race mode's pages, or the checker's generation table: below the pages it checks. */
    uint32_t carved = opt.race != 0
                          ? memmap_carve(&map, opt.race)
                          : memmap_carve(&map, checker_table_bytes(map.pages) / PAGE_SIZE);

    if (carved == 0 || map.pages == 0)
        fatal("too-little-memory");

    if (opt.selftest_fault != 0)
        __asm__ volatile("ud2"); /* traps.c must report vector 6 and end the run */

    uint32_t cal_retries = 0;
    uint32_t tsc_khz = tsc_calibrate(opt.selftest_oversleep, &cal_retries);

    if (tsc_khz == 0)
        fatal("tsc-calibration");

    uint32_t ncpus = pick_cpus(&opt);
    uint32_t failed_apic;

    if (!smp_start(&cpus, ncpus, tsc_khz, &failed_apic)) {
        serial_printf("NSGUEST fatal reason=smp-startup apic=%u cpus=%u\n", failed_apic, ncpus);
        leave(GUEST_EXIT_NO_RUN);
    }

    if (opt.race != 0) {
        /* The race pages are the pages under test; none is idle, there is no table. */
        serial_printf("NSGUEST start mem_kib=%llu pages=%u tsc_khz=%u passes=%u window=%u "
                      "seed=0x%08x ranges=0 table=0x00000000 active=%u cal_retries=%u cpus=%u "
                      "madt_cpus=%u\n",
                      (unsigned long long)map.ram_kib, opt.race, tsc_khz, opt.passes, opt.race,
                      opt.seed, opt.race, cal_retries, ncpus, cpus.madt_cpus);
        run_race(&opt, carved, tsc_khz);
        leave(GUEST_EXIT_CLEAN);
    }

    /* 32-bit arithmetic only (no libgcc here): pages / 100 first. */
    uint32_t active = map.pages / 100 * opt.active + map.pages % 100 * opt.active / 100;

    if (active == 0)
        active = 1;
    uint32_t window = pick_window(&opt, active);

    checker_init(&checker, &map, (uint32_t *)(uintptr_t)carved, opt.seed, window, active, ncpus,
                 opt.hot);
    serial_printf("NSGUEST start mem_kib=%llu pages=%u tsc_khz=%u passes=%u window=%u "
                  "seed=0x%08x ranges=%u table=0x%08x active=%u cal_retries=%u cpus=%u "
                  "madt_cpus=%u hot=%s\n",
                  (unsigned long long)map.ram_kib, map.pages, tsc_khz, opt.passes, window,
                  opt.seed, map.nranges, carved, active, cal_retries, ncpus, cpus.madt_cpus,
                  opt.hot == GUEST_HOT_HIGH        ? "high"
                  : opt.hot == GUEST_HOT_SCATTERED ? "scattered"
                                                   : "low");
    for (uint32_t r = 0; r < map.nranges; r++)
        serial_printf("NSGUEST range base=0x%08x pages=%u\n", map.range[r].base,
                      map.range[r].pages);

    uint64_t start = rdtsc();

    smp_run(fill_work, NULL);
    serial_printf("NSGUEST filled fill_us=%llu\n",
                  (unsigned long long)tsc_to_us(rdtsc() - start, tsc_khz));

    run_passes(&opt, tsc_khz);
    leave(GUEST_EXIT_CLEAN);
}
