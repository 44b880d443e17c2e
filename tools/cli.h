/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared pieces of the numashift command: global options, exit codes,
 * output helpers.  Each sub-command lives in its own cmd-*.c file.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "numashift/control.h"

/* Exit codes, documented in docs/numashift.1. */
enum {
    NS_EXIT_OK = 0,
    NS_EXIT_FAILED = 1,      /* the operation failed (libvirt, QEMU, kernel) */
    NS_EXIT_USAGE = 2,       /* bad command line */
    NS_EXIT_NOT_FOUND = 3,   /* no such domain, or node that does not exist / is offline */
    NS_EXIT_NOT_RUNNING = 4, /* the domain does not run, or its QEMU died */
    NS_EXIT_PERMISSION = 5,  /* not root, or a node outside the domain's allowed nodes */
    NS_EXIT_INCOMPLETE = 6,  /* a move ended with pages left behind (cancelled, full, failed) */
    NS_EXIT_BUSY = 7,        /* another mover (numashiftd, another numashift) moves this domain */
};

/* Options every sub-command takes, and what they lead to. */
typedef struct {
    const char *prog;   /* "numashift" */
    char *uri;          /* -c/--connect */
    gboolean json;      /* --json */
    virConnectPtr conn; /* opened on demand by ns_cli_connect() */
} NsCli;

typedef int (*NsCliCommand)(NsCli *cli, int argc, char **argv);

int ns_cmd_nodes(NsCli *cli, int argc, char **argv);
int ns_cmd_memmap(NsCli *cli, int argc, char **argv);
int ns_cmd_status(NsCli *cli, int argc, char **argv);
int ns_cmd_migrate(NsCli *cli, int argc, char **argv);
int ns_cmd_jobs(NsCli *cli, int argc, char **argv);
int ns_cmd_events(NsCli *cli, int argc, char **argv);
int ns_cmd_rebalance(NsCli *cli, int argc, char **argv);
int ns_cmd_policy(NsCli *cli, int argc, char **argv);
int ns_cmd_pause(NsCli *cli, int argc, char **argv);
int ns_cmd_resume(NsCli *cli, int argc, char **argv);
int ns_cmd_cancel(NsCli *cli, int argc, char **argv);

/* A connection to numashiftd's control socket (cmd-daemon.c). */
typedef struct NsDaemonLink NsDaemonLink;

/*
 * Connect to numashiftd ($NUMASHIFT_CONTROL_SOCKET or the default path).
 * NS_ERROR_NOT_RUNNING when no daemon listens.
 */
NsDaemonLink *ns_cli_daemon_open(GError **error);
void ns_cli_daemon_close(NsDaemonLink *link);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsDaemonLink, ns_cli_daemon_close)

/*
 * Send @req (rebalance or migrate) to the daemon and, unless @no_wait,
 * print its events until the job ends; returns the exit code.
 */
int ns_cli_daemon_submit(NsCli *cli, NsDaemonLink *link, NsControlRequest *req, gboolean no_wait);

/* numashiftd's view of @domain (policy, job, progress), or NULL when no daemon answers. */
JsonNode *ns_cli_daemon_domain_status(const char *domain);

/* One line of it, for `numashift status`. */
void ns_cli_print_daemon_status(JsonNode *status);

/*
 * Parse a sub-command's options with @entries (plus the global ones),
 * leaving positional arguments in @argc/@argv.  On a usage error prints one
 * line and returns FALSE; --help prints and exits 0.
 */
gboolean ns_cli_parse(NsCli *cli, const char *command, const char *params, const char *summary,
                      const GOptionEntry *entries, int *argc, char ***argv);

/* Open the libvirt connection (once).  Errors as GError (NS_ERROR_IO). */
virConnectPtr ns_cli_connect(NsCli *cli, GError **error);

/* Print "numashift: message" on stderr and return the exit code for @error. */
int ns_cli_fail(const NsCli *cli, const GError *error);

/* Print a usage error line and return NS_EXIT_USAGE. */
int ns_cli_usage(const NsCli *cli, const char *command, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Print what @builder built (pretty JSON) on stdout, with a newline. */
void ns_cli_print_json(JsonBuilder *builder);

/* Print @root (pretty JSON) on stdout, with a newline. */
void ns_cli_print_json_node(JsonNode *root);

/* Format @bytes as "12.3 MiB" (new string). */
char *ns_cli_format_mib(guint64 bytes);

/* Whether the caller is root; if not, print why @what needs it and return FALSE. */
gboolean ns_cli_require_root(const NsCli *cli, const char *what);
