/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashift-guest-report: summarise the memory-checking guest's serial log
 * as key=value lines, for people and for test scripts.
 *
 * Exit status: 0 if the guest's run proves no data was lost (or, with
 * --allow-running, if it was still running clean when the log ends),
 * 1 for any other well-formed log (corruption, a fatal guest error, a run
 * that never started or never finished), 2 for unusable input or usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "numashift/error.h"
#include "numashift/guest-report.h"

#define EXIT_NOT_CLEAN 1
#define EXIT_BAD_INPUT 2

static const char *
yes_no(gboolean b)
{
    return b ? "true" : "false";
}

static GString *
read_stream(FILE *in, GError **error)
{
    g_autoptr(GString) text = g_string_new(NULL);
    char buf[65536];
    size_t n;

    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        g_string_append_len(text, buf, (gssize)n);
    if (ferror(in)) {
        g_set_error(error, NS_ERROR, NS_ERROR_IO, "reading standard input: %s",
                    g_strerror(errno));
        return NULL;
    }
    return g_steal_pointer(&text);
}

static NsGuestReport *
load(const char *path, GError **error)
{
    if (strcmp(path, "-") != 0)
        return ns_guest_report_parse_file(path, error);

    g_autoptr(GString) text = read_stream(stdin, error);

    if (text == NULL)
        return NULL;

    NsGuestReport *report = ns_guest_report_parse(text->str, text->len, error);

    if (report == NULL)
        g_prefix_error(error, "<stdin>: ");
    return report;
}

static void
print_report(const NsGuestReport *r, gboolean per_pass)
{
    printf("verdict=%s\n", ns_guest_verdict_to_string(r->verdict));
    printf("started=%s\n", yes_no(r->started));
    if (r->started) {
        printf("mem_kib=%" G_GUINT64_FORMAT "\n", r->mem_kib);
        printf("pages=%u\n", r->pages);
        printf("tsc_khz=%u\n", r->tsc_khz);
        printf("passes_requested=%u\n", r->passes_requested);
        printf("window=%u\n", r->window);
        printf("seed=0x%08x\n", r->seed);
        printf("ranges=%u\n", r->ranges->len);
        printf("cpus=%u\n", r->cpus);
        printf("madt_cpus=%u\n", r->madt_cpus);
    }
    printf("race=%s\n", yes_no(r->race));
    if (r->race) {
        printf("race_base=0x%08" G_GINT64_MODIFIER "x\n", r->race_base);
        printf("race_pages=%u\n", r->race_pages);
        printf("race_cpus=%u\n", r->race_cpus);
        printf("race_writes=%" G_GUINT64_FORMAT "\n", r->race_writes);
    }
    if (r->race_log->len > 0) {
        printf("race_worst_stall_us=%" G_GUINT64_FORMAT "\n", r->race_worst_stall_us);
        printf("race_worst_stall_pass=%u\n", r->race_worst_stall_pass);
    }
    if (r->filled)
        printf("fill_us=%" G_GUINT64_FORMAT "\n", r->fill_us);
    printf("passes=%u\n", r->passes);
    printf("errors=%" G_GUINT64_FORMAT "\n", r->errors);
    if (r->pass_log->len > 0) {
        printf("worst_access_us=%" G_GUINT64_FORMAT "\n", r->worst_access_us);
        printf("worst_access_pass=%u\n", r->worst_access_pass);
        printf("slowest_pass_us=%" G_GUINT64_FORMAT "\n", r->slowest_pass_us);
        printf("slowest_pass=%u\n", r->slowest_pass);
    }
    printf("corrupt=%s\n", yes_no(r->corrupt));
    if (r->corrupt) {
        printf("corrupt_addr=0x%08" G_GINT64_MODIFIER "x\n", r->corrupt_addr);
        printf("corrupt_expected=0x%08x\n", r->corrupt_expected);
        printf("corrupt_found=0x%08x\n", r->corrupt_found);
        printf("corrupt_pass=%u\n", r->corrupt_pass);
    }
    if (r->race_error_kind != NS_GUEST_RACE_NONE) {
        printf("race_error_kind=%s\n", ns_guest_race_kind_to_string(r->race_error_kind));
        printf("race_error_cpu=%u\n", r->race_error_cpu);
    }
    if (r->selftest) {
        printf("selftest_addr=0x%08" G_GINT64_MODIFIER "x\n", r->selftest_addr);
        printf("selftest_pass=%u\n", r->selftest_pass);
    }
    printf("done=%s\n", yes_no(r->done));
    if (r->done) {
        printf("stopped=%s\n", yes_no(r->stopped));
        printf("exit_code=%u\n", r->exit_code);
    }
    if (r->fatal_reason != NULL)
        printf("fatal_reason=%s\n", r->fatal_reason);
    if (r->fatal_token != NULL)
        printf("fatal_token=%s\n", r->fatal_token);
    printf("truncated=%s\n", yes_no(r->truncated));

    if (!per_pass)
        return;
    for (guint i = 0; i < r->pass_log->len; i++) {
        const NsGuestPass *p = &g_array_index(r->pass_log, NsGuestPass, i);

        printf("pass=%u pages=%u errors=%" G_GUINT64_FORMAT " max_access_us=%" G_GUINT64_FORMAT
               " pass_us=%" G_GUINT64_FORMAT "\n",
               p->pass, p->pages, p->errors, p->max_access_us, p->pass_us);
    }
    for (guint i = 0; i < r->race_log->len; i++) {
        const NsGuestRacePass *p = &g_array_index(r->race_log, NsGuestRacePass, i);

        printf("race-pass=%u writes=%" G_GUINT64_FORMAT " errors=%" G_GUINT64_FORMAT
               " max_stall_us=%" G_GUINT64_FORMAT "\n",
               p->pass, p->writes, p->errors, p->max_stall_us);
    }
}

int
main(int argc, char **argv)
{
    gboolean per_pass = FALSE;
    gboolean allow_running = FALSE;
    const GOptionEntry entries[] = {
        { "passes", 'p', 0, G_OPTION_ARG_NONE, &per_pass,
          "Also print one line per pass (race mode: per interval)", NULL },
        { "allow-running", 'r', 0, G_OPTION_ARG_NONE, &allow_running,
          "Exit 0 for a log that ends with the guest still running and clean "
          "(a passes=0 guest stopped by the host)",
          NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) context =
        g_option_context_new("LOG - summarise the numashift test guest's serial log");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_set_description(
        context, "LOG is a captured serial log, or - for standard input.\n"
                 "Exit status: 0 clean, 1 not clean (corrupt, fatal, unfinished), 2 bad input.");
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        fprintf(stderr, "numashift-guest-report: %s\n", error->message);
        return EXIT_BAD_INPUT;
    }
    if (argc != 2) {
        fprintf(stderr, "numashift-guest-report: expected one LOG argument (or -)\n");
        return EXIT_BAD_INPUT;
    }

    g_autoptr(NsGuestReport) report = load(argv[1], &error);

    if (report == NULL) {
        fprintf(stderr, "numashift-guest-report: %s\n", error->message);
        return EXIT_BAD_INPUT;
    }
    print_report(report, per_pass);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "numashift-guest-report: writing output: %s\n", g_strerror(errno));
        return EXIT_BAD_INPUT;
    }
    if (ns_guest_report_ok(report))
        return EXIT_SUCCESS;
    if (allow_running && report->verdict == NS_GUEST_VERDICT_RUNNING && report->passes > 0)
        return EXIT_SUCCESS;
    return EXIT_NOT_CLEAN;
}
