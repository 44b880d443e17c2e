/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's serial-log reader: real logs captured from the guest under
 * QEMU (tests/guest/data/), and hand-made garbled ones that must not pass
 * for a clean run.
 */
#include <string.h>

#include <glib.h>

#include "numashift/error.h"
#include "numashift/guest-report.h"

static char *
data_path(const char *name)
{
    const char *root = g_getenv("NS_TEST_DATA");

    g_assert_nonnull(root);
    return g_build_filename(root, "guest", "data", name, NULL);
}

static NsGuestReport *
parse_ok(const char *text)
{
    g_autoptr(GError) error = NULL;
    NsGuestReport *r = ns_guest_report_parse(text, strlen(text), &error);

    g_assert_no_error(error);
    g_assert_nonnull(r);
    return r;
}

static void
parse_fails(const char *text, const char *message_part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse(text, strlen(text), &error);

    g_assert_null(r);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    if (message_part != NULL && strstr(error->message, message_part) == NULL)
        g_error("error '%s' does not mention '%s'", error->message, message_part);
}

#define START "NSGUEST start mem_kib=65023 pages=100 tsc_khz=2000000 passes=%s window=10 " \
              "seed=0x00000000 ranges=1 table=0x00108000\n"                              \
              "NSGUEST range base=0x00118000 pages=100\n"                                \
              "NSGUEST filled fill_us=1000\n"

static char *
log_with(const char *passes, const char *tail)
{
    g_autofree char *head = g_strdup_printf(START, passes);

    return g_strconcat(head, tail, NULL);
}

#define RACE_START "NSGUEST start mem_kib=65023 pages=4 tsc_khz=2000000 passes=%s window=4 " \
                   "seed=0x00000000 ranges=0 table=0x00000000 active=4 cal_retries=0 cpus=4 "  \
                   "madt_cpus=4\n"                                                              \
                   "NSGUEST race base=0x00138000 pages=4 cpus=4\n"

static char *
race_log_with(const char *passes, const char *tail)
{
    g_autofree char *head = g_strdup_printf(RACE_START, passes);

    return g_strconcat(head, tail, NULL);
}

static void
test_clean_file(void)
{
    g_autofree char *path = data_path("clean-64m.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CLEAN);
    g_assert_true(ns_guest_report_ok(r));
    g_assert_cmpuint(r->pages, ==, 16072);
    g_assert_cmpuint(r->passes, ==, 3);
    g_assert_cmpuint(r->passes_requested, ==, 3);
    g_assert_cmpuint(r->errors, ==, 0);
    g_assert_cmpuint(r->worst_access_us, ==, 182);
    g_assert_cmpuint(r->worst_access_pass, ==, 3);
    g_assert_cmpuint(r->slowest_pass_us, ==, 37254);
    g_assert_cmpuint(r->slowest_pass, ==, 1);
    g_assert_cmpuint(r->ranges->len, ==, 1);
    g_assert_cmpuint(g_array_index(r->ranges, NsGuestRange, 0).base, ==, 0x118000);
    g_assert_cmpuint(r->pass_log->len, ==, 3);
    g_assert_true(r->done);
    g_assert_false(r->stopped);
    g_assert_cmpuint(r->exit_code, ==, 0);
    g_assert_cmpstr(ns_guest_verdict_to_string(r->verdict), ==, "clean");
    /* A log from before SMP: one CPU, nothing said about the MADT, no race mode. */
    g_assert_cmpuint(r->cpus, ==, 1);
    g_assert_cmpuint(r->madt_cpus, ==, 0);
    g_assert_false(r->race);
    g_assert_cmpint(r->race_error_kind, ==, NS_GUEST_RACE_NONE);
}

/* Two CPUs (-smp 2) sharing the pages: the start line says so. */
static void
test_smp_file(void)
{
    g_autofree char *path = data_path("smp2-64m.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CLEAN);
    g_assert_true(ns_guest_report_ok(r));
    g_assert_cmpuint(r->cpus, ==, 2);
    g_assert_cmpuint(r->madt_cpus, ==, 2);
    g_assert_cmpuint(r->pages, ==, 16024);
    g_assert_cmpuint(r->window, ==, 16024);
    g_assert_cmpuint(r->passes, ==, 3);
    g_assert_cmpuint(r->worst_access_us, ==, 8056);
    g_assert_cmpuint(r->worst_access_pass, ==, 1);
    g_assert_false(r->race);
    g_assert_cmpuint(r->race_log->len, ==, 0);
}

/* race=4 passes=3 on two CPUs: three clean intervals. */
static void
test_race_file(void)
{
    g_autofree char *path = data_path("race-smp2.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CLEAN);
    g_assert_true(ns_guest_report_ok(r));
    g_assert_true(r->race);
    g_assert_cmpuint(r->race_base, ==, 0x138000);
    g_assert_cmpuint(r->race_pages, ==, 4);
    g_assert_cmpuint(r->race_cpus, ==, 2);
    g_assert_cmpuint(r->cpus, ==, 2);
    g_assert_cmpuint(r->passes, ==, 3);
    g_assert_cmpuint(r->passes_requested, ==, 3);
    g_assert_cmpuint(r->errors, ==, 0);
    g_assert_cmpuint(r->race_writes, ==, 3546721);
    g_assert_cmpuint(r->race_worst_stall_us, ==, 39957);
    g_assert_cmpuint(r->race_worst_stall_pass, ==, 3);
    g_assert_cmpuint(r->race_log->len, ==, 3);
    g_assert_cmpuint(g_array_index(r->race_log, NsGuestRacePass, 1).writes, ==, 1175287);
    g_assert_cmpuint(r->pass_log->len, ==, 0);
    g_assert_false(r->corrupt);
    g_assert_cmpint(r->race_error_kind, ==, NS_GUEST_RACE_NONE);
}

/* selftest_race=2: the BSP planted a stale counter, and a CPU caught it. */
static void
test_race_selftest_file(void)
{
    g_autofree char *path = data_path("race-selftest-smp2.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CORRUPT);
    g_assert_false(ns_guest_report_ok(r));
    g_assert_true(r->race);
    g_assert_true(r->corrupt);
    g_assert_cmpint(r->race_error_kind, ==, NS_GUEST_RACE_BACKWARD);
    g_assert_cmpstr(ns_guest_race_kind_to_string(r->race_error_kind), ==, "backward");
    g_assert_cmpuint(r->race_error_cpu, ==, 0);
    g_assert_cmpuint(r->corrupt_addr, ==, 0x138040);
    g_assert_cmpuint(r->corrupt_expected, ==, 0x3d023);
    g_assert_cmpuint(r->corrupt_found, ==, 0x3d022);
    g_assert_cmpuint(r->corrupt_pass, ==, 2);
    g_assert_true(r->selftest);
    g_assert_cmpuint(r->selftest_addr, ==, 0x138040);
    g_assert_cmpuint(r->selftest_pass, ==, 2);
    g_assert_cmpuint(r->passes, ==, 2);
    g_assert_cmpuint(r->errors, ==, 1);
    g_assert_cmpuint(r->race_writes, ==, 1319807);
    g_assert_cmpuint(r->exit_code, ==, 1);
}

/* cpus=9 on a two-CPU machine: the guest refuses to run. */
static void
test_fatal_cpus_file(void)
{
    g_autofree char *path = data_path("fatal-cpus.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_FATAL);
    g_assert_cmpstr(r->fatal_reason, ==, "cpus");
    g_assert_cmpstr(r->fatal_token, ==, "cpus=9");
    g_assert_false(r->started);
}

/* active=25: three passes over a quarter of the pages, then one over all. */
static void
test_active_file(void)
{
    g_autofree char *path = data_path("active25-64m.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CLEAN);
    g_assert_cmpuint(r->pages, ==, 16072);
    g_assert_cmpuint(r->active, ==, 4018);
    g_assert_cmpuint(r->passes_requested, ==, 3);
    g_assert_cmpuint(r->passes, ==, 4);
    g_assert_cmpuint(r->pass_log->len, ==, 4);
}

/* A guest without active= (older logs) touches every page; active= beyond the pages is garbled. */
static void
test_active_bounds(void)
{
    static const char *bad = "NSGUEST start mem_kib=65023 pages=100 tsc_khz=1000 passes=1 window=6 "
                             "seed=0x00000000 ranges=1 table=0x00108000 active=101\r\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse(bad, strlen(bad), &error);

    g_assert_null(r);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
}

static void
test_corrupt_file(void)
{
    g_autofree char *path = data_path("corrupt-64m.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CORRUPT);
    g_assert_false(ns_guest_report_ok(r));
    g_assert_true(r->corrupt);
    g_assert_cmpuint(r->corrupt_addr, ==, 0x952008);
    g_assert_cmpuint(r->corrupt_expected, ==, 0xb4f6ed88);
    g_assert_cmpuint(r->corrupt_found, ==, 0xb4f6ed8c);
    g_assert_cmpuint(r->corrupt_pass, ==, 2);
    g_assert_true(r->selftest);
    g_assert_cmpuint(r->selftest_addr, ==, 0x952008);
    g_assert_cmpuint(r->exit_code, ==, 1);
    g_assert_cmpstr(ns_guest_verdict_to_string(r->verdict), ==, "corrupt");
}

static void
test_fatal_file(void)
{
    g_autofree char *path = data_path("fatal-cmdline.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_FATAL);
    g_assert_cmpstr(r->fatal_reason, ==, "bad-cmdline");
    g_assert_cmpstr(r->fatal_token, ==, "windw=8");
    g_assert_false(ns_guest_report_ok(r));
    g_assert_cmpstr(ns_guest_verdict_to_string(r->verdict), ==, "fatal");
}

static void
test_killed_file(void)
{
    g_autofree char *path = data_path("killed-64m.log");
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file(path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_RUNNING);
    g_assert_cmpuint(r->passes, ==, 78);
    g_assert_false(r->done);
    g_assert_false(ns_guest_report_ok(r));
    g_assert_cmpstr(ns_guest_verdict_to_string(r->verdict), ==, "running");
}

static void
test_missing_file(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsGuestReport) r = ns_guest_report_parse_file("/nonexistent/serial.log", &error);

    g_assert_null(r);
    g_assert_error(error, NS_ERROR, NS_ERROR_NOT_FOUND);
}

static void
test_empty_log(void)
{
    g_autoptr(NsGuestReport) r = parse_ok("SeaBIOS\r\nnothing of ours\r\n");

    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_NOT_STARTED);
    g_assert_false(ns_guest_report_ok(r));
    g_assert_cmpstr(ns_guest_verdict_to_string(r->verdict), ==, "not-started");
}

/* A passes=0 run that the host stopped with 'q': clean, marked stopped. */
static void
test_stopped_by_host(void)
{
    g_autofree char *text = log_with("0",
                                     "NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\r\n"
                                     "NSGUEST pass=2 pages=100 errors=0 max_access_us=7 pass_us=60\r\n"
                                     "NSGUEST done passes=2 errors=0 exit=0 stopped=1\r\n");
    g_autoptr(NsGuestReport) r = parse_ok(text);

    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CLEAN);
    g_assert_true(r->stopped);
    g_assert_true(ns_guest_report_ok(r));
    g_assert_cmpuint(r->worst_access_us, ==, 7);
    g_assert_cmpuint(r->slowest_pass, ==, 2);
}

/* stopped=1 is only meaningful for an unbounded run. */
static void
test_stopped_bounded_rejected(void)
{
    g_autofree char *text = log_with("3",
                                     "NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\n"
                                     "NSGUEST done passes=1 errors=0 exit=0 stopped=1\n");

    parse_fails(text, "stopped=1");
}

static void
test_garbled(void)
{
    g_autofree char *skipped = log_with("3",
                                        "NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\n"
                                        "NSGUEST pass=3 pages=100 errors=0 max_access_us=5 pass_us=50\n");
    g_autofree char *short_done = log_with("3",
                                           "NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\n"
                                           "NSGUEST done passes=1 errors=0 exit=0\n");
    g_autofree char *bad_number = log_with("3",
                                           "NSGUEST pass=1 pages=1x0 errors=0 max_access_us=5 pass_us=50\n");
    g_autofree char *after_done = log_with("1",
                                           "NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\n"
                                           "NSGUEST done passes=1 errors=0 exit=0\n"
                                           "NSGUEST pass=2 pages=100 errors=0 max_access_us=5 pass_us=50\n");

    parse_fails(skipped, NULL);
    parse_fails(short_done, NULL);
    parse_fails(bad_number, NULL);
    parse_fails(after_done, NULL);
    parse_fails("NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\n", NULL);
    parse_fails("NSGUEST bogus x=1\n", "bogus");
}

/* The guest died mid-line: an unterminated, unparseable last line is ignored. */
static void
test_truncated_last_line(void)
{
    g_autofree char *text = log_with("0",
                                     "NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\n"
                                     "NSGUEST pass=2 pages=10");
    g_autoptr(NsGuestReport) r = parse_ok(text);

    g_assert_true(r->truncated);
    g_assert_cmpuint(r->passes, ==, 1);
    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_RUNNING);
}

/* The start line's cpus=: 1 when absent (older guests), never 0. */
static void
test_start_cpus(void)
{
    g_autofree char *old = log_with("1", "");
    g_autoptr(NsGuestReport) r = parse_ok(old);

    g_assert_cmpuint(r->cpus, ==, 1);
    g_assert_cmpuint(r->madt_cpus, ==, 0);

    static const char *four = "NSGUEST start mem_kib=65023 pages=100 tsc_khz=1000 passes=1 "
                              "window=6 seed=0x00000000 cpus=4 madt_cpus=8\n";
    g_autoptr(NsGuestReport) r4 = parse_ok(four);

    g_assert_cmpuint(r4->cpus, ==, 4);
    g_assert_cmpuint(r4->madt_cpus, ==, 8);

    parse_fails("NSGUEST start mem_kib=65023 pages=100 tsc_khz=1000 passes=1 window=6 "
                "seed=0x00000000 cpus=0\n",
                "cpus=0");
    parse_fails("NSGUEST start mem_kib=65023 pages=100 tsc_khz=1000 passes=1 window=6 "
                "seed=0x00000000 cpus=two\n",
                "cpus=two");
    parse_fails("NSGUEST start mem_kib=65023 pages=100 tsc_khz=1000 passes=1 window=6 "
                "seed=0x00000000 cpus=2 madt_cpus=-1\n",
                "madt_cpus");
}

/* An unbounded race run stopped by the host: clean, stopped, per-interval log kept. */
static void
test_race_stopped(void)
{
    g_autofree char *text =
        race_log_with("0", "NSGUEST race-pass=1 writes=100 errors=0 max_stall_us=7\r\n"
                           "NSGUEST race-pass=2 writes=250 errors=0 max_stall_us=900\r\n"
                           "NSGUEST race-pass=3 writes=300 errors=0 max_stall_us=900\r\n"
                           "NSGUEST done passes=3 errors=0 exit=0 stopped=1\r\n");
    g_autoptr(NsGuestReport) r = parse_ok(text);

    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CLEAN);
    g_assert_true(ns_guest_report_ok(r));
    g_assert_true(r->stopped);
    g_assert_cmpuint(r->race_writes, ==, 650);
    g_assert_cmpuint(r->race_worst_stall_us, ==, 900);
    g_assert_cmpuint(r->race_worst_stall_pass, ==, 2); /* the first interval with the worst */
    g_assert_cmpuint(r->race_log->len, ==, 3);
    g_assert_cmpuint(g_array_index(r->race_log, NsGuestRacePass, 2).pass, ==, 3);
}

/* Each kind of race error is parsed into the corrupt fields and the kind. */
static void
test_race_error_kinds(void)
{
    static const struct {
        const char *name;
        NsGuestRaceKind kind;
    } kinds[] = {
        { "lost", NS_GUEST_RACE_LOST },
        { "torn", NS_GUEST_RACE_TORN },
        { "backward", NS_GUEST_RACE_BACKWARD },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autofree char *tail = g_strdup_printf(
            "NSGUEST race-pass=1 writes=100 errors=0 max_stall_us=7\n"
            "NSGUEST race-error kind=%s cpu=3 addr=0x001380c0 expected=0x00000010 "
            "found=0x0000000f pass=2\n"
            "NSGUEST race-pass=2 writes=12 errors=2 max_stall_us=5\n"
            "NSGUEST done passes=2 errors=2 exit=1\n",
            kinds[i].name);
        g_autofree char *text = race_log_with("10", tail);
        g_autoptr(NsGuestReport) r = parse_ok(text);

        g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_CORRUPT);
        g_assert_false(ns_guest_report_ok(r));
        g_assert_cmpint(r->race_error_kind, ==, kinds[i].kind);
        g_assert_cmpstr(ns_guest_race_kind_to_string(r->race_error_kind), ==, kinds[i].name);
        g_assert_cmpuint(r->race_error_cpu, ==, 3);
        g_assert_cmpuint(r->corrupt_addr, ==, 0x1380c0);
        g_assert_cmpuint(r->corrupt_expected, ==, 0x10);
        g_assert_cmpuint(r->corrupt_found, ==, 0xf);
        g_assert_cmpuint(r->corrupt_pass, ==, 2);
        g_assert_cmpuint(r->errors, ==, 2);
        g_assert_cmpuint(r->exit_code, ==, 1);
    }
}

/* A guest killed during a race run: running, clean so far. */
static void
test_race_running(void)
{
    g_autofree char *text = race_log_with("0",
                                          "NSGUEST race-pass=1 writes=100 errors=0 max_stall_us=7\n"
                                          "NSGUEST race-pass=2 wri");
    g_autoptr(NsGuestReport) r = parse_ok(text);

    g_assert_cmpint(r->verdict, ==, NS_GUEST_VERDICT_RUNNING);
    g_assert_true(r->truncated);
    g_assert_cmpuint(r->passes, ==, 1);
}

/* Malformed or misplaced race lines must not pass for a clean run. */
static void
test_race_garbled(void)
{
    static const char *race_pass1 = "NSGUEST race-pass=1 writes=100 errors=0 max_stall_us=7\n";
    static const char *race_error2 = "NSGUEST race-error kind=lost cpu=1 addr=0x00138040 "
                                     "expected=0x00000010 found=0x0000000f pass=2\n";
    static const char *const bad_tails[][2] = {
        /* A second race line. */
        { "NSGUEST race base=0x00138000 pages=4 cpus=4\n", "race line after" },
        /* race-pass lines. */
        { "NSGUEST race-pass=2 writes=100 errors=0 max_stall_us=7\n", "pass 2" },
        { "NSGUEST race-pass=1 writes=x errors=0 max_stall_us=7\n", "writes=x" },
        { "NSGUEST race-pass=1 errors=0 max_stall_us=7\n", "lacks writes=" },
        { "NSGUEST race-pass=1 writes=100 errors=0\n", "lacks max_stall_us=" },
        { "NSGUEST race-pass=1 writes=100 errors=1 max_stall_us=7\n", "no race-error line" },
        { "NSGUEST race-pass=1 writes=100 errors=0 max_stall_us=7 writes=5\n", "twice" },
        /* The checker's lines have no place in race mode. */
        { "NSGUEST pass=1 pages=4 errors=0 max_access_us=5 pass_us=50\n", "in race mode" },
        { "NSGUEST corrupt addr=0x00138000 expected=0x00000001 found=0x00000002 pass=1\n",
          "in race mode" },
        /* race-error lines. */
        { "NSGUEST race-error kind=eaten cpu=1 addr=0x00138040 expected=0x00000010 "
          "found=0x0000000f pass=1\n",
          "kind=eaten" },
        { "NSGUEST race-error cpu=1 addr=0x00138040 expected=0x00000010 found=0x0000000f "
          "pass=1\n",
          "kind=(none)" },
        { "NSGUEST race-error kind=lost cpu=4 addr=0x00138040 expected=0x00000010 "
          "found=0x0000000f pass=1\n",
          "cpu=4 of 4" },
        { "NSGUEST race-error kind=lost cpu=1 addr=0x00138040 expected=0x00000010 "
          "found=0x00000010 pass=1\n",
          "expected == found" },
        { "NSGUEST race-error kind=lost cpu=1 addr=0x00138040 expected=16 found=0x0000000f "
          "pass=1\n",
          "expected=16" },
        { "NSGUEST race-error kind=lost cpu=1 addr=0x00138040 expected=0x00000010 "
          "found=0x0000000f pass=3\n",
          "pass 3" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad_tails); i++) {
        g_autofree char *text = race_log_with("3", bad_tails[i][0]);

        parse_fails(text, bad_tails[i][1]);
    }

    /* A second race-error line, and done lines that do not add up. */
    g_autofree char *two_errors = race_log_with(
        "3", "NSGUEST race-pass=1 writes=100 errors=0 max_stall_us=7\n"
             "NSGUEST race-error kind=lost cpu=1 addr=0x00138040 expected=0x00000010 "
             "found=0x0000000f pass=2\n"
             "NSGUEST race-error kind=torn cpu=2 addr=0x00138080 expected=0x00000010 "
             "found=0x0000000f pass=2\n");
    g_autofree char *short_done = race_log_with(
        "3", "NSGUEST race-pass=1 writes=100 errors=0 max_stall_us=7\n"
             "NSGUEST done passes=1 errors=0 exit=0\n");
    g_autofree char *lost_errors = g_strconcat(
        race_pass1, race_error2,
        "NSGUEST race-pass=2 writes=3 errors=1 max_stall_us=7\n"
        "NSGUEST done passes=2 errors=0 exit=0\n",
        NULL);
    g_autofree char *lost_errors_log = race_log_with("3", lost_errors);

    parse_fails(two_errors, "second race-error");
    parse_fails(short_done, "requested");
    parse_fails(lost_errors_log, "add up");

    /* The race line itself: before the start line, wrong CPUs, no pages, after the run began. */
    static const char *bare_start = "NSGUEST start mem_kib=65023 pages=100 tsc_khz=1000 passes=3 "
                                    "window=6 seed=0x00000000\n";
    static const char *race1 = "NSGUEST race base=0x00138000 pages=4 cpus=1\n";
    g_autofree char *start = log_with("3", "");
    g_autofree char *race_after_fill = g_strconcat(start, race1, NULL);
    g_autofree char *race_after_pass = log_with(
        "3", "NSGUEST pass=1 pages=100 errors=0 max_access_us=5 pass_us=50\n"
             "NSGUEST race base=0x00138000 pages=4 cpus=1\n");
    g_autofree char *wrong_cpus =
        g_strconcat(bare_start, "NSGUEST race base=0x00138000 pages=4 cpus=2\n", NULL);
    g_autofree char *no_pages =
        g_strconcat(bare_start, "NSGUEST race base=0x00138000 pages=0 cpus=1\n", NULL);
    g_autofree char *bad_base =
        g_strconcat(bare_start, "NSGUEST race base=1277952 pages=4 cpus=1\n", NULL);
    g_autofree char *good = g_strconcat(bare_start, race1, NULL);
    g_autofree char *without_race = g_strconcat(start, race_pass1, NULL);
    g_autofree char *error_without_race = g_strconcat(start, race_error2, NULL);
    g_autoptr(NsGuestReport) r = parse_ok(good);

    g_assert_true(r->race);
    g_assert_cmpuint(r->race_cpus, ==, 1);
    parse_fails(race1, "before the start line");
    parse_fails(race_after_pass, "race line after");
    parse_fails(race_after_fill, "race line after");
    parse_fails(wrong_cpus, "cpus=2");
    parse_fails(no_pages, "pages=0");
    parse_fails(bad_base, "base=");
    parse_fails(without_race, "outside race mode");
    parse_fails(error_without_race, "outside race mode");
}

static void
test_free_null(void)
{
    ns_guest_report_free(NULL);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/guest-report/clean-file", test_clean_file);
    g_test_add_func("/guest-report/smp-file", test_smp_file);
    g_test_add_func("/guest-report/race-file", test_race_file);
    g_test_add_func("/guest-report/race-selftest-file", test_race_selftest_file);
    g_test_add_func("/guest-report/fatal-cpus-file", test_fatal_cpus_file);
    g_test_add_func("/guest-report/corrupt-file", test_corrupt_file);
    g_test_add_func("/guest-report/active-file", test_active_file);
    g_test_add_func("/guest-report/active-bounds", test_active_bounds);
    g_test_add_func("/guest-report/fatal-file", test_fatal_file);
    g_test_add_func("/guest-report/killed-file", test_killed_file);
    g_test_add_func("/guest-report/missing-file", test_missing_file);
    g_test_add_func("/guest-report/empty-log", test_empty_log);
    g_test_add_func("/guest-report/stopped-by-host", test_stopped_by_host);
    g_test_add_func("/guest-report/stopped-bounded-rejected", test_stopped_bounded_rejected);
    g_test_add_func("/guest-report/garbled", test_garbled);
    g_test_add_func("/guest-report/truncated-last-line", test_truncated_last_line);
    g_test_add_func("/guest-report/start-cpus", test_start_cpus);
    g_test_add_func("/guest-report/race-stopped", test_race_stopped);
    g_test_add_func("/guest-report/race-error-kinds", test_race_error_kinds);
    g_test_add_func("/guest-report/race-running", test_race_running);
    g_test_add_func("/guest-report/race-garbled", test_race_garbled);
    g_test_add_func("/guest-report/free-null", test_free_null);
    return g_test_run();
}
