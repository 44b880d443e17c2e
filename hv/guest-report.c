/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parser for the memory-checking guest's serial log (see guest-report.h
 * for the rules and guest/README.md for the line format).
 *
 * Each line handler parses and checks every field into locals before it
 * touches the report, so a line that fails leaves the report as it was.
 * That is what lets the driver drop a cut-off last line and still return
 * everything before it.
 */
#include "numashift/guest-report.h"

#include <string.h>

#include "numashift/error.h"

#define LINE_PREFIX "NSGUEST"
#define LINE_PREFIX_LEN (sizeof(LINE_PREFIX) - 1)

/* One NSGUEST line split into its kind and key=value fields. */
typedef struct {
    const char *kind;
    GHashTable *fields; /* key -> value, both pointing into the caller's copy */
} Line;

typedef gboolean (*LineHandler)(NsGuestReport *report, const Line *line, GError **error);

static gboolean
get_u64(const Line *line, const char *key, gboolean hex, guint64 max, guint64 *out,
        GError **error)
{
    const char *value = g_hash_table_lookup(line->fields, key);
    g_autoptr(GError) local = NULL;

    if (value == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "'%s' line lacks %s=", line->kind,
                    key);
        return FALSE;
    }
    if (hex && !g_str_has_prefix(value, "0x")) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s=%s: expected 0x-prefixed hex",
                    key, value);
        return FALSE;
    }
    if (!g_ascii_string_to_unsigned(hex ? value + 2 : value, hex ? 16 : 10, 0, max, out,
                                    &local)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s=%s: %s", key, value,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
get_u32(const Line *line, const char *key, gboolean hex, guint32 *out, GError **error)
{
    guint64 v;

    if (!get_u64(line, key, hex, G_MAXUINT32, &v, error))
        return FALSE;
    *out = (guint32)v;
    return TRUE;
}

static gboolean
is_finished(const NsGuestReport *report)
{
    return report->done || report->fatal_reason != NULL;
}

static gboolean
require_running(const NsGuestReport *report, const Line *line, GError **error)
{
    if (!report->started) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "'%s' line before the start line",
                    line->kind);
        return FALSE;
    }
    return TRUE;
}

/* Corrupt and selftest lines precede the pass line of the pass they name. */
static gboolean
require_current_pass(const NsGuestReport *report, const Line *line, guint32 pass,
                     GError **error)
{
    if ((guint64)pass != (guint64)report->passes + 1) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "'%s' line names pass %u, but the pass under way is %u", line->kind, pass,
                    report->passes + 1);
        return FALSE;
    }
    return TRUE;
}

/* Race mode has race-pass and race-error lines, the whole-guest checker pass and corrupt ones. */
static gboolean
require_mode(const NsGuestReport *report, const Line *line, gboolean race, GError **error)
{
    if (report->race != race) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "'%s' line %s race mode",
                    line->kind, race ? "outside" : "in");
        return FALSE;
    }
    return TRUE;
}

/* An optional numeric field: @fallback when absent (older guests), else it must parse. */
static gboolean
get_u32_or(const Line *line, const char *key, guint32 fallback, guint32 *out, GError **error)
{
    if (!g_hash_table_contains(line->fields, key)) {
        *out = fallback;
        return TRUE;
    }
    return get_u32(line, key, FALSE, out, error);
}

static gboolean
handle_start(NsGuestReport *report, const Line *line, GError **error)
{
    guint64 mem_kib;
    guint32 pages, tsc_khz, passes, window, seed, active, cpus, madt_cpus;

    if (report->started) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "second start line: the log spans a guest restart");
        return FALSE;
    }
    if (!get_u64(line, "mem_kib", FALSE, G_MAXUINT64, &mem_kib, error) ||
        !get_u32(line, "pages", FALSE, &pages, error) ||
        !get_u32(line, "tsc_khz", FALSE, &tsc_khz, error) ||
        !get_u32(line, "passes", FALSE, &passes, error) ||
        !get_u32(line, "window", FALSE, &window, error) ||
        !get_u32(line, "seed", TRUE, &seed, error) ||
        /* Older guests had no active= (every pass touched every page) ... */
        !get_u32_or(line, "active", pages, &active, error) ||
        /* ... and ran on one CPU without looking for others. */
        !get_u32_or(line, "cpus", 1, &cpus, error) ||
        !get_u32_or(line, "madt_cpus", 0, &madt_cpus, error))
        return FALSE;
    if (tsc_khz == 0) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "tsc_khz=0");
        return FALSE;
    }
    if (active == 0 || active > pages) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "active=%u of %u pages", active,
                    pages);
        return FALSE;
    }
    if (cpus == 0) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "cpus=0");
        return FALSE;
    }

    report->started = TRUE;
    report->mem_kib = mem_kib;
    report->pages = pages;
    report->tsc_khz = tsc_khz;
    report->passes_requested = passes;
    report->window = window;
    report->seed = seed;
    report->active = active;
    report->cpus = cpus;
    report->madt_cpus = madt_cpus;
    return TRUE;
}

static gboolean
handle_range(NsGuestReport *report, const Line *line, GError **error)
{
    NsGuestRange range;

    if (!require_running(report, line, error) ||
        !get_u64(line, "base", TRUE, G_MAXUINT64, &range.base, error) ||
        !get_u32(line, "pages", FALSE, &range.pages, error))
        return FALSE;
    g_array_append_val(report->ranges, range);
    return TRUE;
}

static gboolean
handle_filled(NsGuestReport *report, const Line *line, GError **error)
{
    guint64 fill_us;

    if (!require_running(report, line, error))
        return FALSE;
    if (report->filled) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "second filled line");
        return FALSE;
    }
    if (!get_u64(line, "fill_us", FALSE, G_MAXUINT64, &fill_us, error))
        return FALSE;
    report->filled = TRUE;
    report->fill_us = fill_us;
    return TRUE;
}

/*
 * Count pass @pass (a pass or race-pass @line) with its @errors.  The guest
 * names the first bad word (an @error_kind line) before the line that
 * counts it, so errors without one mean a garbled log.
 */
static gboolean
count_pass(NsGuestReport *report, const Line *line, const char *error_kind, guint32 pass,
           guint64 errors, GError **error)
{
    if (errors > 0 && !report->corrupt) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s %u has errors=%" G_GUINT64_FORMAT " but no %s line", line->kind, pass,
                    errors, error_kind);
        return FALSE;
    }
    if (report->errors > G_MAXUINT64 - errors) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "error count overflows");
        return FALSE;
    }
    report->passes = pass;
    report->errors += errors;
    return TRUE;
}

static gboolean
handle_pass(NsGuestReport *report, const Line *line, GError **error)
{
    NsGuestPass p;

    if (!require_running(report, line, error) || !require_mode(report, line, FALSE, error) ||
        !get_u32(line, "pass", FALSE, &p.pass, error) ||
        !get_u32(line, "pages", FALSE, &p.pages, error) ||
        !get_u64(line, "errors", FALSE, G_MAXUINT64, &p.errors, error) ||
        !get_u64(line, "max_access_us", FALSE, G_MAXUINT64, &p.max_access_us, error) ||
        !get_u64(line, "pass_us", FALSE, G_MAXUINT64, &p.pass_us, error) ||
        !require_current_pass(report, line, p.pass, error))
        return FALSE;
    if (!count_pass(report, line, "corrupt", p.pass, p.errors, error))
        return FALSE;
    if (report->worst_access_pass == 0 || p.max_access_us > report->worst_access_us) {
        report->worst_access_us = p.max_access_us;
        report->worst_access_pass = p.pass;
    }
    if (report->slowest_pass == 0 || p.pass_us > report->slowest_pass_us) {
        report->slowest_pass_us = p.pass_us;
        report->slowest_pass = p.pass;
    }
    g_array_append_val(report->pass_log, p);
    return TRUE;
}

/* The first bad word a corrupt or race-error line names. */
typedef struct {
    guint64 addr;
    guint32 expected;
    guint32 found;
    guint32 pass;
} BadWord;

/* Read and check @line's bad word: addr, expected != found, in the pass under way. */
static gboolean
get_bad_word(const NsGuestReport *report, const Line *line, BadWord *w, GError **error)
{
    if (!get_u64(line, "addr", TRUE, G_MAXUINT64, &w->addr, error) ||
        !get_u32(line, "expected", TRUE, &w->expected, error) ||
        !get_u32(line, "found", TRUE, &w->found, error) ||
        !get_u32(line, "pass", FALSE, &w->pass, error) ||
        !require_current_pass(report, line, w->pass, error))
        return FALSE;
    if (w->expected == w->found) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s line with expected == found (0x%08x)", line->kind, w->found);
        return FALSE;
    }
    return TRUE;
}

static void
record_bad_word(NsGuestReport *report, const BadWord *w)
{
    report->corrupt = TRUE;
    report->corrupt_addr = w->addr;
    report->corrupt_expected = w->expected;
    report->corrupt_found = w->found;
    report->corrupt_pass = w->pass;
}

static gboolean
handle_corrupt(NsGuestReport *report, const Line *line, GError **error)
{
    BadWord w;

    if (!require_running(report, line, error) || !require_mode(report, line, FALSE, error) ||
        !get_bad_word(report, line, &w, error))
        return FALSE;
    if (!report->corrupt) /* keep the first */
        record_bad_word(report, &w);
    return TRUE;
}

/* "race": right after the start line, once, for the CPUs the start line named. */
static gboolean
handle_race(NsGuestReport *report, const Line *line, GError **error)
{
    guint64 base;
    guint32 pages, cpus;

    if (!require_running(report, line, error) ||
        !get_u64(line, "base", TRUE, G_MAXUINT64, &base, error) ||
        !get_u32(line, "pages", FALSE, &pages, error) ||
        !get_u32(line, "cpus", FALSE, &cpus, error))
        return FALSE;
    if (report->race || report->passes > 0 || report->filled) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "race line after the run began");
        return FALSE;
    }
    if (pages == 0) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "race line with pages=0");
        return FALSE;
    }
    if (cpus != report->cpus) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "race line says cpus=%u, the start line cpus=%u", cpus, report->cpus);
        return FALSE;
    }
    report->race = TRUE;
    report->race_base = base;
    report->race_pages = pages;
    report->race_cpus = cpus;
    return TRUE;
}

static gboolean
handle_race_pass(NsGuestReport *report, const Line *line, GError **error)
{
    NsGuestRacePass p;

    if (!require_running(report, line, error) || !require_mode(report, line, TRUE, error) ||
        !get_u32(line, "race-pass", FALSE, &p.pass, error) ||
        !get_u64(line, "writes", FALSE, G_MAXUINT64, &p.writes, error) ||
        !get_u64(line, "errors", FALSE, G_MAXUINT64, &p.errors, error) ||
        !get_u64(line, "max_stall_us", FALSE, G_MAXUINT64, &p.max_stall_us, error) ||
        !require_current_pass(report, line, p.pass, error))
        return FALSE;
    if (report->race_writes > G_MAXUINT64 - p.writes) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "race write count overflows");
        return FALSE;
    }
    if (!count_pass(report, line, "race-error", p.pass, p.errors, error))
        return FALSE;
    report->race_writes += p.writes;
    if (report->race_worst_stall_pass == 0 || p.max_stall_us > report->race_worst_stall_us) {
        report->race_worst_stall_us = p.max_stall_us;
        report->race_worst_stall_pass = p.pass;
    }
    g_array_append_val(report->race_log, p);
    return TRUE;
}

static gboolean
parse_race_kind(const Line *line, NsGuestRaceKind *out, GError **error)
{
    const char *kind = g_hash_table_lookup(line->fields, "kind");

    for (NsGuestRaceKind k = NS_GUEST_RACE_LOST; k <= NS_GUEST_RACE_BACKWARD; k++) {
        if (kind != NULL && strcmp(kind, ns_guest_race_kind_to_string(k)) == 0) {
            *out = k;
            return TRUE;
        }
    }
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                "'%s' line with kind=%s: expected lost, torn or backward", line->kind,
                kind != NULL ? kind : "(none)");
    return FALSE;
}

/* "race-error": the race-mode counterpart of a corrupt line, and the run's end. */
static gboolean
handle_race_error(NsGuestReport *report, const Line *line, GError **error)
{
    NsGuestRaceKind kind;
    guint32 cpu;
    BadWord w;

    if (!require_running(report, line, error) || !require_mode(report, line, TRUE, error) ||
        !parse_race_kind(line, &kind, error) ||
        !get_u32(line, "cpu", FALSE, &cpu, error))
        return FALSE;
    if (cpu >= report->race_cpus) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "race-error line names cpu=%u of %u", cpu, report->race_cpus);
        return FALSE;
    }
    if (!get_bad_word(report, line, &w, error))
        return FALSE;
    if (report->corrupt) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "second race-error line: the guest stops at the first");
        return FALSE;
    }
    record_bad_word(report, &w);
    report->race_error_kind = kind;
    report->race_error_cpu = cpu;
    return TRUE;
}

static gboolean
handle_selftest(NsGuestReport *report, const Line *line, GError **error)
{
    guint64 addr;
    guint32 pass;

    if (!require_running(report, line, error) ||
        !get_u64(line, "addr", TRUE, G_MAXUINT64, &addr, error) ||
        !get_u32(line, "pass", FALSE, &pass, error) ||
        !require_current_pass(report, line, pass, error))
        return FALSE;
    report->selftest = TRUE;
    report->selftest_addr = addr;
    report->selftest_pass = pass;
    return TRUE;
}

static gboolean
handle_done(NsGuestReport *report, const Line *line, GError **error)
{
    guint32 passes, exit_code;
    guint64 errors;

    if (!require_running(report, line, error) ||
        !get_u32(line, "passes", FALSE, &passes, error) ||
        !get_u64(line, "errors", FALSE, G_MAXUINT64, &errors, error) ||
        !get_u32(line, "exit", FALSE, &exit_code, error))
        return FALSE;
    /* A mismatch means pass lines went missing: the log cannot vouch for the run. */
    if (passes != report->passes || errors != report->errors) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "done line says passes=%u errors=%" G_GUINT64_FORMAT
                    ", but the pass lines add up to passes=%u errors=%" G_GUINT64_FORMAT,
                    passes, errors, report->passes, report->errors);
        return FALSE;
    }
    if ((exit_code == 0) != (errors == 0)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "done line with exit=%u and errors=%" G_GUINT64_FORMAT, exit_code, errors);
        return FALSE;
    }
    /* stopped=1: the host ended an unbounded run (passes=0) between passes. */
    const char *stopped = g_hash_table_lookup(line->fields, "stopped");
    gboolean by_host = stopped != NULL && strcmp(stopped, "1") == 0;

    if (by_host && report->passes_requested != 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "done line with stopped=1, but the run was not unbounded (passes=%u)",
                    report->passes_requested);
        return FALSE;
    }
    /* A partly active run ends with one more pass, over every page (race mode has none). */
    guint32 final_pass = !report->race && report->active < report->pages ? 1 : 0;

    if (errors == 0 && !by_host && passes != report->passes_requested + final_pass) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "clean done line after %u passes, but %u were requested", passes,
                    report->passes_requested);
        return FALSE;
    }
    report->done = TRUE;
    report->stopped = by_host;
    report->exit_code = exit_code;
    return TRUE;
}

static gboolean
handle_fatal(NsGuestReport *report, const Line *line, GError **error)
{
    const char *reason = g_hash_table_lookup(line->fields, "reason");
    const char *token = g_hash_table_lookup(line->fields, "token");

    if (reason == NULL || *reason == '\0') {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "'fatal' line lacks reason=");
        return FALSE;
    }
    report->fatal_reason = g_strdup(reason);
    report->fatal_token = g_strdup(token);
    return TRUE;
}

static const struct {
    const char *kind;
    LineHandler handle;
} handlers[] = {
    { "start", handle_start },     { "range", handle_range },
    { "filled", handle_filled },   { "pass", handle_pass },
    { "corrupt", handle_corrupt }, { "selftest", handle_selftest },
    { "done", handle_done },       { "fatal", handle_fatal },
    { "race", handle_race },       { "race-pass", handle_race_pass },
    { "race-error", handle_race_error },
};

static gboolean
is_guest_line(const char *s, gsize n)
{
    return n >= LINE_PREFIX_LEN && memcmp(s, LINE_PREFIX, LINE_PREFIX_LEN) == 0 &&
           (n == LINE_PREFIX_LEN || s[LINE_PREFIX_LEN] == ' ');
}

/*
 * Split "NSGUEST kind k=v ..." (or "NSGUEST pass=N k=v ..." and
 * "NSGUEST race-pass=N ...", where the first field names the kind) and
 * hand it to its handler.
 */
static gboolean
parse_line(NsGuestReport *report, const char *s, gsize n, GError **error)
{
    if (memchr(s, '\0', n) != NULL) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "NSGUEST line contains a NUL byte");
        return FALSE;
    }

    g_autofree char *copy = g_strndup(s + LINE_PREFIX_LEN, n - LINE_PREFIX_LEN);
    g_auto(GStrv) tokens = g_strsplit(copy, " ", -1);
    g_autoptr(GHashTable) fields = g_hash_table_new(g_str_hash, g_str_equal);
    Line line = { .kind = NULL, .fields = fields };

    for (char **t = tokens; *t != NULL; t++) {
        char *eq = strchr(*t, '=');

        if (**t == '\0')
            continue; /* repeated spaces */
        if (line.kind == NULL && (eq == NULL || eq != *t)) {
            line.kind = *t;
            if (eq == NULL)
                continue;
        }
        if (eq == NULL || eq == *t) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "'%s' is not key=value", *t);
            return FALSE;
        }
        *eq = '\0';
        if (!g_hash_table_insert(fields, *t, eq + 1)) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s= appears twice", *t);
            return FALSE;
        }
    }
    if (line.kind == NULL) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "empty NSGUEST line");
        return FALSE;
    }
    if (is_finished(report)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "'%s' line after the guest's %s line",
                    line.kind, report->done ? "done" : "fatal");
        return FALSE;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(handlers); i++)
        if (strcmp(line.kind, handlers[i].kind) == 0)
            return handlers[i].handle(report, &line, error);
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "unknown NSGUEST line kind '%s'",
                line.kind);
    return FALSE;
}

static NsGuestVerdict
compute_verdict(const NsGuestReport *report)
{
    if (report->fatal_reason != NULL)
        return NS_GUEST_VERDICT_FATAL;
    if (report->corrupt || report->errors > 0)
        return NS_GUEST_VERDICT_CORRUPT;
    if (!report->started)
        return NS_GUEST_VERDICT_NOT_STARTED;
    return report->done ? NS_GUEST_VERDICT_CLEAN : NS_GUEST_VERDICT_RUNNING;
}

static NsGuestReport *
report_new(void)
{
    NsGuestReport *report = g_new0(NsGuestReport, 1);

    report->ranges = g_array_new(FALSE, FALSE, sizeof(NsGuestRange));
    report->pass_log = g_array_new(FALSE, FALSE, sizeof(NsGuestPass));
    report->race_log = g_array_new(FALSE, FALSE, sizeof(NsGuestRacePass));
    return report;
}

NsGuestReport *
ns_guest_report_parse(const char *text, gsize len, GError **error)
{
    g_return_val_if_fail(text != NULL || len == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    g_autoptr(NsGuestReport) report = report_new();
    gsize pos = 0;
    guint lineno = 0;

    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        gsize n = nl != NULL ? (gsize)(nl - s) : len - pos;
        g_autoptr(GError) local = NULL;

        pos += n + (nl != NULL ? 1 : 0);
        lineno++;
        while (n > 0 && s[n - 1] == '\r')
            n--;
        if (!is_guest_line(s, n) || parse_line(report, s, n, &local))
            continue;
        /* An unterminated last line that does not parse was cut off mid-write. */
        if (nl == NULL) {
            report->truncated = TRUE;
            break;
        }
        g_propagate_prefixed_error(error, g_steal_pointer(&local), "line %u: ", lineno);
        return NULL;
    }
    report->verdict = compute_verdict(report);
    return g_steal_pointer(&report);
}

NsGuestReport *
ns_guest_report_parse_file(const char *path, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &text, &len, &local)) {
        gboolean missing = g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT);

        g_set_error_literal(error, NS_ERROR, missing ? NS_ERROR_NOT_FOUND : NS_ERROR_IO,
                            local->message);
        return NULL;
    }

    NsGuestReport *report = ns_guest_report_parse(text, len, error);

    if (report == NULL)
        g_prefix_error(error, "%s: ", path);
    return report;
}

void
ns_guest_report_free(NsGuestReport *report)
{
    if (report == NULL)
        return;
    g_array_unref(report->ranges);
    g_array_unref(report->pass_log);
    g_array_unref(report->race_log);
    g_free(report->fatal_reason);
    g_free(report->fatal_token);
    g_free(report);
}

gboolean
ns_guest_report_ok(const NsGuestReport *report)
{
    g_return_val_if_fail(report != NULL, FALSE);

    return report->started && report->done && report->errors == 0 && !report->corrupt &&
           report->fatal_reason == NULL;
}

const char *
ns_guest_verdict_to_string(NsGuestVerdict verdict)
{
    switch (verdict) {
    case NS_GUEST_VERDICT_NOT_STARTED:
        return "not-started";
    case NS_GUEST_VERDICT_RUNNING:
        return "running";
    case NS_GUEST_VERDICT_CLEAN:
        return "clean";
    case NS_GUEST_VERDICT_CORRUPT:
        return "corrupt";
    case NS_GUEST_VERDICT_FATAL:
        return "fatal";
    }
    return "unknown";
}

const char *
ns_guest_race_kind_to_string(NsGuestRaceKind kind)
{
    switch (kind) {
    case NS_GUEST_RACE_NONE:
        return "none";
    case NS_GUEST_RACE_LOST:
        return "lost";
    case NS_GUEST_RACE_TORN:
        return "torn";
    case NS_GUEST_RACE_BACKWARD:
        return "backward";
    }
    return "unknown";
}
