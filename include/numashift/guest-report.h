/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading the memory-checking guest's serial log
 * ==============================================
 * The guest (guest/, see guest/README.md for the line format) writes one
 * "NSGUEST ..." line per event on COM1.  This parses a captured serial log
 * into a summary.  Lines that do not start with "NSGUEST" are noise
 * (firmware banners, escape sequences) and are skipped.
 *
 * Strictness.  The guest and this reader ship together, so an NSGUEST line
 * of an unknown kind, with a missing, duplicated or malformed field, or out
 * of order (a pass before the start line, a skipped pass number, anything
 * after the final line) is an NS_ERROR_INVALID_INPUT error: a garbled log
 * must not pass for a clean run.  So is a line of the other mode: race
 * mode (a "race" line, once, right after the start line) has race-pass
 * and at most one race-error line and no pass or corrupt lines, the
 * whole-guest checker the reverse.  Unknown extra key=value fields on a
 * known line are ignored so that the guest can add fields; fields a newer
 * guest added are optional (cpus= is 1 when absent) so that older logs
 * still parse.  One exception: a last line with no terminating newline
 * that does not parse is taken to be cut off by the guest's death and is
 * ignored (see @truncated).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    NS_GUEST_VERDICT_NOT_STARTED, /* no start line: the guest never got going */
    NS_GUEST_VERDICT_RUNNING,     /* started, clean so far, no final line */
    NS_GUEST_VERDICT_CLEAN,       /* finished every requested pass, no errors */
    NS_GUEST_VERDICT_CORRUPT,     /* a checked word was wrong */
    NS_GUEST_VERDICT_FATAL,       /* the guest refused to run (see fatal_reason) */
} NsGuestVerdict;

/* One "NSGUEST pass=..." line. */
typedef struct {
    guint32 pass;          /* 1-based */
    guint32 pages;         /* pages verified */
    guint64 errors;        /* words that did not match */
    guint64 max_access_us; /* slowest single page verification */
    guint64 pass_us;       /* rewrite + verification of the whole pass */
} NsGuestPass;

/* How a race-mode check failed (the "race-error" line's kind=). */
typedef enum {
    NS_GUEST_RACE_NONE,     /* no race-error line */
    NS_GUEST_RACE_LOST,     /* a CPU's own last write had vanished */
    NS_GUEST_RACE_TORN,     /* a slot read back right after writing it differed */
    NS_GUEST_RACE_BACKWARD, /* another CPU's counter went back: an old copy came back */
} NsGuestRaceKind;

/* One "NSGUEST race-pass=..." line: an interval (about a second) of race mode. */
typedef struct {
    guint32 pass;         /* 1-based */
    guint64 writes;       /* slot writes by all CPUs in the interval */
    guint64 errors;       /* failed checks */
    guint64 max_stall_us; /* slowest single page visit of any CPU */
} NsGuestRacePass;

/* One "NSGUEST range ..." line: a run of checked guest-physical pages. */
typedef struct {
    guint64 base;
    guint32 pages;
} NsGuestRange;

typedef struct {
    /* "start": the guest's view of the machine and its parameters. */
    gboolean started;
    guint64 mem_kib;           /* all RAM the firmware called available */
    guint32 pages;             /* 4 KiB pages under test */
    guint32 tsc_khz;
    guint32 passes_requested;  /* 0: the guest runs until stopped */
    guint32 window;            /* pages rewritten per pass */
    guint32 active;            /* pages each pass touches (start line's active=, else all);
                                  fewer than @pages: one last pass checks every page */
    guint32 seed;
    guint32 cpus;              /* CPUs running (start line's cpus=; older guests: 1) */
    guint32 madt_cpus;         /* CPUs the firmware's MADT lists (madt_cpus=); 0: no MADT,
                                  or an older guest that did not say */
    GArray *ranges;            /* of NsGuestRange, in log order */

    /* "filled": the initial write of every page. */
    gboolean filled;
    guint64 fill_us;

    /* Pass lines (race mode: race-pass lines; there each pass is an interval). */
    guint32 passes;            /* pass lines seen, failed one included */
    guint64 errors;            /* bad words (race mode: failed checks) over all passes */
    guint64 worst_access_us;   /* largest max_access_us ... */
    guint32 worst_access_pass; /* ... first seen in this pass (0: no passes) */
    guint64 slowest_pass_us;
    guint32 slowest_pass;      /* 0: no passes */
    GArray *pass_log;          /* of NsGuestPass, one per pass, in order */

    /* "race": race mode, where every CPU hammers a few pages instead. */
    gboolean race;
    guint64 race_base;
    guint32 race_pages;
    guint32 race_cpus;
    guint64 race_writes;           /* over all race-pass lines */
    guint64 race_worst_stall_us;   /* largest max_stall_us ... */
    guint32 race_worst_stall_pass; /* ... first seen in this interval (0: none yet) */
    GArray *race_log;              /* of NsGuestRacePass, one per interval, in order */

    /* The first "corrupt" line, or in race mode the "race-error" line. */
    gboolean corrupt;
    guint64 corrupt_addr;
    guint32 corrupt_expected;
    guint32 corrupt_found;
    guint32 corrupt_pass;
    NsGuestRaceKind race_error_kind; /* race mode: NS_GUEST_RACE_NONE unless a race-error line */
    guint32 race_error_cpu;          /* the CPU that found it */

    /* "selftest": the guest corrupted a word itself (selftest_corrupt=, selftest_race=). */
    gboolean selftest;
    guint64 selftest_addr;
    guint32 selftest_pass;

    /* "done": the final line, written just before the guest exits. */
    gboolean done;
    gboolean stopped;          /* an unbounded run ended by the host ('q' on COM1) */
    guint32 exit_code;         /* the isa-debug-exit code the guest wrote */

    /* "fatal": the guest refused to run. */
    char *fatal_reason;        /* NULL unless it did */
    char *fatal_token;         /* the offending command-line token, or NULL */

    gboolean truncated;        /* an unparseable unterminated last line was ignored */
    NsGuestVerdict verdict;
} NsGuestReport;

/*
 * Parse @len bytes of serial log at @text (need not be NUL-terminated, may
 * contain NUL bytes in noise lines).  Returns a new report, or NULL with
 * @error set (NS_ERROR_INVALID_INPUT, message naming the line) if an
 * NSGUEST line is malformed or out of order.  A log without any NSGUEST
 * line is not an error: it yields verdict NS_GUEST_VERDICT_NOT_STARTED.
 * Context: any thread; no locks.
 */
NsGuestReport *ns_guest_report_parse(const char *text, gsize len, GError **error);

/*
 * Read and parse the serial log at @path.  Errors as for
 * ns_guest_report_parse(), plus NS_ERROR_NOT_FOUND if @path does not exist
 * and NS_ERROR_IO if it cannot be read.
 * Context: any thread; no locks; blocks on file I/O.
 */
NsGuestReport *ns_guest_report_parse_file(const char *path, GError **error);

/*
 * Free @report and everything it owns.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_guest_report_free(NsGuestReport *report);

/*
 * TRUE if the guest started, finished every requested pass and saw no
 * error: the one outcome that proves no data was lost.
 * Context: any thread; no locks.
 */
gboolean ns_guest_report_ok(const NsGuestReport *report);

/*
 * A stable lower-case name for @verdict ("clean", "corrupt", ...), for
 * logs and key=value output.
 * Context: any thread; no locks.
 */
const char *ns_guest_verdict_to_string(NsGuestVerdict verdict);

/*
 * The race-error line's name for @kind ("lost", "torn", "backward"), or
 * "none".
 * Context: any thread; no locks.
 */
const char *ns_guest_race_kind_to_string(NsGuestRaceKind kind);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsGuestReport, ns_guest_report_free)

G_END_DECLS
