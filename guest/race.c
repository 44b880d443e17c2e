/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race mode
 * =========
 * The whole-guest checker spreads its writes over all of memory, so a
 * page the host is moving at some instant is written there only by luck.
 * Here every CPU writes into the same few pages as fast as it can while
 * the host moves exactly those: a write that lands on the old copy of a
 * page after the copy was taken, and so vanishes, is caught within one
 * round.
 *
 * Each race page holds one 64-byte slot per CPU (slot c at c * 64).  CPU c
 * owns its slots and keeps a counter, the value it last wrote into all of
 * them.  For each page in turn it
 *   (a) reads its slot's counter word, which must still hold that value
 *       (else "lost": a write vanished);
 *   (b) writes the next value into every word of the slot (word 0 the
 *       value itself, word i value * SLOT_MUL ^ i);
 *   (c) reads the slot back, which must match (else "torn");
 *   (d) reads every other CPU's counter word in the page, which must never
 *       go backward from what this CPU saw there last (else "backward": an
 *       older copy of the page came back).  The comparison is modulo 2^32.
 * Each page's (a)-(d) is timed with the TSC: a page the host is moving
 * stalls the CPU that touches it, and the worst such stall is reported.
 *
 * The counts a CPU publishes live in its own per-CPU record, never in the
 * race pages.  The BSP hammers too, and between its rounds ends an
 * interval about every second: it prints the interval's line, looks for
 * 'q' on COM1 and tells every CPU to stop when the run is over or any CPU
 * has found an error.
 */
#include "race.h"

#include <stddef.h>

#include "io.h"
#include "memmap.h"
#include "serial.h"
#include "smp.h"
#include "tsc.h"

#define SLOT_BYTES 64u
#define SLOT_WORDS (SLOT_BYTES / 4u)
#define SLOT_MUL 0x9e3779b1u /* odd: every value gives other words */
#define INTERVAL_US 1000000u
/*
 * Stalls are kept in units of 2^STALL_SHIFT TSC ticks so that a 32-bit
 * word (updated atomically) holds minutes; 256 ticks is well under a
 * microsecond at any TSC rate that matters.
 */
#define STALL_SHIFT 8
#define NO_CPU UINT32_MAX

_Static_assert(MAX_CPUS * SLOT_BYTES <= PAGE_SIZE, "a race page holds a slot per CPU");

enum race_kind {
    RACE_LOST,
    RACE_TORN,
    RACE_BACKWARD,
};

static const char *const kind_name[] = {
    [RACE_LOST] = "lost",
    [RACE_TORN] = "torn",
    [RACE_BACKWARD] = "backward",
};

struct race_error {
    enum race_kind kind;
    uint32_t addr;
    uint32_t expected;
    uint32_t found;
};

/* One per CPU, written by that CPU; the BSP reads writes and takes max_stall. */
struct race_cpu {
    uint32_t seen[RACE_MAX_PAGES][MAX_CPUS]; /* the others' counters as last read here */
    uint32_t last;                           /* the value in all of this CPU's slots */
    uint32_t writes;                         /* page writes so far, modulo 2^32 */
    uint32_t max_stall;                      /* worst page since the BSP took it last */
    uint32_t errors;
    struct race_error error;                 /* the first */
} __attribute__((aligned(64)));

static struct race_cpu percpu[MAX_CPUS];

static struct {
    struct race_params p;
    uint32_t cpus;
    bool quit;          /* every CPU stops at its next page */
    uint32_t first_cpu; /* whose error the log names; NO_CPU while there is none */
    struct race_result *result;
} race;

static volatile uint32_t *
page_words(uint32_t page)
{
    return (volatile uint32_t *)(uintptr_t)(race.p.base + page * PAGE_SIZE);
}

static bool
quitting(void)
{
    return __atomic_load_n(&race.quit, __ATOMIC_ACQUIRE);
}

/* Record an error of @cpu; the first CPU to get here is the one reported. */
static void
record_error(struct race_cpu *me, uint32_t cpu, enum race_kind kind, volatile uint32_t *word,
             uint32_t expected, uint32_t found)
{
    uint32_t none = NO_CPU;

    if (me->errors++ == 0)
        me->error = (struct race_error){
            .kind = kind,
            .addr = (uint32_t)(uintptr_t)word,
            .expected = expected,
            .found = found,
        };
    __atomic_compare_exchange_n(&race.first_cpu, &none, cpu, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    __atomic_store_n(&race.quit, true, __ATOMIC_RELEASE);
}

/* Raise @me's worst stall to @ticks; the BSP may take it at any moment. */
static void
note_stall(struct race_cpu *me, uint64_t ticks)
{
    uint64_t units64 = ticks >> STALL_SHIFT;
    uint32_t units = units64 > UINT32_MAX ? UINT32_MAX : (uint32_t)units64;
    uint32_t cur = __atomic_load_n(&me->max_stall, __ATOMIC_RELAXED);

    while (units > cur && !__atomic_compare_exchange_n(&me->max_stall, &cur, units, false,
                                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Steps (a)-(d) on one page; false after recording an error. */
static bool
hammer_page(uint32_t cpu, struct race_cpu *me, uint32_t page, uint32_t next)
{
    volatile uint32_t *words = page_words(page);
    volatile uint32_t *slot = words + cpu * SLOT_WORDS;
    uint64_t start = rdtsc();
    uint32_t found = slot[0];

    if (found != me->last) {
        record_error(me, cpu, RACE_LOST, &slot[0], me->last, found);
        return false;
    }
    slot[0] = next;
    for (uint32_t i = 1; i < SLOT_WORDS; i++)
        slot[i] = next * SLOT_MUL ^ i;
    for (uint32_t i = 0; i < SLOT_WORDS; i++) {
        uint32_t want = i == 0 ? next : next * SLOT_MUL ^ i;

        found = slot[i];
        if (found != want) {
            record_error(me, cpu, RACE_TORN, &slot[i], want, found);
            return false;
        }
    }
    for (uint32_t other = 0; other < race.cpus; other++) {
        volatile uint32_t *counter = words + other * SLOT_WORDS;
        uint32_t before = me->seen[page][other];

        if (other == cpu)
            continue;
        found = *counter;
        if ((int32_t)(found - before) < 0) {
            record_error(me, cpu, RACE_BACKWARD, counter, before, found);
            return false;
        }
        me->seen[page][other] = found;
    }
    note_stall(me, rdtsc() - start);
    __atomic_store_n(&me->writes, me->writes + 1, __ATOMIC_RELAXED);
    return true;
}

/* One round over every race page; false once this CPU should stop. */
static bool
hammer_round(uint32_t cpu)
{
    struct race_cpu *me = &percpu[cpu];
    uint32_t next = me->last + 1;

    for (uint32_t page = 0; page < race.p.pages; page++)
        if (quitting() || !hammer_page(cpu, me, page, next))
            return false;
    me->last = next;
    return true;
}

/*
 * selftest_race: overwrite a counter word with a value its owner did not
 * write last and that goes backward from what the BSP saw: another CPU's
 * (its owner then finds it lost, the BSP backward), or with one CPU the
 * BSP's own.  Repeated every round of the interval, as the owner may
 * overwrite it before anybody looks.
 */
static uint32_t
plant_stale_counter(void)
{
    uint32_t victim = race.cpus > 1 ? 1 : 0;
    volatile uint32_t *counter = page_words(0) + victim * SLOT_WORDS;

    if (victim == 0)
        *counter = percpu[0].last - 1;
    else
        *counter = percpu[0].seen[0][victim] - 1;
    return (uint32_t)(uintptr_t)counter;
}

/* Print the line of @interval: what every CPU did since the last one. */
static void
report_interval(uint32_t interval, uint64_t errors)
{
    static uint32_t writes_before[MAX_CPUS];
    uint64_t writes = 0;
    uint32_t stall = 0;

    for (uint32_t cpu = 0; cpu < race.cpus; cpu++) {
        uint32_t now = __atomic_load_n(&percpu[cpu].writes, __ATOMIC_RELAXED);
        uint32_t cpu_stall = __atomic_exchange_n(&percpu[cpu].max_stall, 0, __ATOMIC_RELAXED);

        writes += now - writes_before[cpu];
        writes_before[cpu] = now;
        if (cpu_stall > stall)
            stall = cpu_stall;
    }
    serial_printf("NSGUEST race-pass=%u writes=%llu errors=%llu max_stall_us=%llu\n", interval,
                  (unsigned long long)writes, (unsigned long long)errors,
                  (unsigned long long)tsc_to_us((uint64_t)stall << STALL_SHIFT, race.p.tsc_khz));
    race.result->passes = interval;
}

/* The BSP: hammer, and end an interval about every second. */
static void
bsp_loop(void)
{
    uint64_t interval_ticks = (uint64_t)race.p.tsc_khz * (INTERVAL_US / 1000u);
    uint64_t end = rdtsc() + interval_ticks;
    bool planted = false;

    for (uint32_t interval = 1; hammer_round(0);) {
        if (interval == race.p.selftest) {
            uint32_t addr = plant_stale_counter();

            if (!planted)
                serial_printf("NSGUEST selftest addr=0x%08x pass=%u\n", addr, interval);
            planted = true;
        }
        if (rdtsc() < end)
            continue;
        report_interval(interval, 0);
        if (race.p.passes != 0 && interval == race.p.passes)
            break;
        if (race.p.passes == 0 && serial_stop_requested()) {
            race.result->stopped = true;
            break;
        }
        interval++;
        /* From now, not from the planned end: a slow line must not shorten the next interval. */
        end = rdtsc() + interval_ticks;
    }
    __atomic_store_n(&race.quit, true, __ATOMIC_RELEASE);
}

static void
race_work(uint32_t cpu, void *arg)
{
    (void)arg;
    if (cpu == 0) {
        bsp_loop();
        return;
    }
    while (hammer_round(cpu))
        ;
}

void
race_run(const struct race_params *params, struct race_result *result)
{
    race.p = *params;
    race.cpus = smp_ncpus();
    race.first_cpu = NO_CPU;
    race.result = result;
    *result = (struct race_result){ .passes = 0 };

    /* Every counter starts at 0, the value each CPU "last wrote". */
    for (uint32_t page = 0; page < race.p.pages; page++) {
        volatile uint32_t *words = page_words(page);

        for (uint32_t i = 0; i < PAGE_SIZE / 4u; i++)
            words[i] = 0;
    }
    serial_printf("NSGUEST race base=0x%08x pages=%u cpus=%u\n", race.p.base, race.p.pages,
                  race.cpus);

    smp_run(race_work, NULL);

    /* Every CPU has stopped: the counts are final. */
    if (race.first_cpu == NO_CPU)
        return;

    const struct race_error *e = &percpu[race.first_cpu].error;
    uint32_t interval = result->passes + 1; /* the one under way, even if found after the last */

    for (uint32_t cpu = 0; cpu < race.cpus; cpu++)
        result->errors += percpu[cpu].errors;
    serial_printf("NSGUEST race-error kind=%s cpu=%u addr=0x%08x expected=0x%08x found=0x%08x "
                  "pass=%u\n",
                  kind_name[e->kind], race.first_cpu, e->addr, e->expected, e->found, interval);
    report_interval(interval, result->errors);
    result->stopped = false;
}
