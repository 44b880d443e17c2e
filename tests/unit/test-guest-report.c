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
    g_test_add_func("/guest-report/free-null", test_free_null);
    return g_test_run();
}
