/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashift: move a running guest's memory to the NUMA nodes where its vCPUs
 * run.  virsh's conventions: `numashift [-c URI] COMMAND [OPTIONS] DOMAIN`,
 * a domain by name, ID or UUID, `numashift COMMAND --help`, --json for
 * scripts.  Exit codes: tools/cli.h and docs/numashift.1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <locale.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "cli.h"
#include "numashift/error.h"

static const struct {
    const char *name;
    NsCliCommand run;
    const char *summary;
} commands[] = {
    { "nodes", ns_cmd_nodes, "the host's NUMA nodes, their CPUs and free memory" },
    { "memmap", ns_cmd_memmap, "a domain's RAM: guest-physical ranges and their host backing" },
    { "status", ns_cmd_status, "where a domain's memory is: pages per host node and vNUMA cell" },
    { "migrate", ns_cmd_migrate, "move a domain's memory (or one vNUMA cell's) to a host node" },
    { "rebalance", ns_cmd_rebalance, "numashiftd: apply the policy to a domain now" },
    { "policy", ns_cmd_policy, "numashiftd: show or set a domain's policy (follow, off)" },
    { "jobs", ns_cmd_jobs, "numashiftd: its running and last jobs" },
    { "pause", ns_cmd_pause, "numashiftd: pause a domain's job (or job:N)" },
    { "resume", ns_cmd_resume, "numashiftd: resume it" },
    { "cancel", ns_cmd_cancel, "numashiftd: cancel it; the pages moved stay" },
    { "events", ns_cmd_events, "numashiftd: follow its events" },
};

static void
print_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [-c URI] [--json] COMMAND [OPTIONS] [DOMAIN]\n"
            "\n"
            "Move the memory of running libvirt/QEMU guests between host NUMA nodes, live.\n"
            "\n"
            "Commands:\n",
            prog);
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Global options (before or after COMMAND):\n"
            "  -c, --connect=URI   libvirt connection URI (default: libvirt's default)\n"
            "  --json              machine-readable output\n"
            "  -h, --help          this help; COMMAND --help for a command's\n"
            "  -V, --version       the version\n"
            "\n"
            "DOMAIN is a name, an ID or a UUID, as in virsh.\n"
            "Exit status: 0 ok, 1 failed, 2 usage, 3 not found, 4 not running,\n"
            "5 permission denied, 6 move incomplete.  See numashift(1).\n");
}

static void
quiet_libvirt_errors(void *data, virErrorPtr error)
{
    /* Errors reach the user once, through GError; libvirt must not print them too. */
}

gboolean
ns_cli_parse(NsCli *cli, const char *command, const char *params, const char *summary,
             const GOptionEntry *entries, int *argc, char ***argv)
{
    const GOptionEntry global[] = {
        { "connect", 'c', 0, G_OPTION_ARG_STRING, &cli->uri, "libvirt connection URI", "URI" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &cli->json, "Machine-readable output", NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autofree char *prgname = g_strdup_printf("%s %s", cli->prog, command);
    g_autoptr(GOptionContext) ctx = g_option_context_new(params);
    g_autoptr(GError) error = NULL;

    g_set_prgname(prgname);
    g_option_context_set_summary(ctx, summary);
    g_option_context_add_main_entries(ctx, global, NULL);
    if (entries != NULL)
        g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_strict_posix(ctx, FALSE);
    if (!g_option_context_parse(ctx, argc, argv, &error)) {
        fprintf(stderr, "%s %s: %s (see '%s %s --help')\n", cli->prog, command, error->message,
                cli->prog, command);
        return FALSE;
    }
    return TRUE;
}

virConnectPtr
ns_cli_connect(NsCli *cli, GError **error)
{
    if (cli->conn != NULL)
        return cli->conn;
    cli->conn = virConnectOpen(cli->uri);
    if (cli->conn == NULL) {
        virErrorPtr err = virGetLastError();

        g_set_error(error, NS_ERROR, NS_ERROR_IO, "cannot connect to libvirt%s%s: %s",
                    cli->uri != NULL ? " at " : "", cli->uri != NULL ? cli->uri : "",
                    err != NULL && err->message != NULL ? err->message : "unknown error");
    }
    return cli->conn;
}

int
ns_cli_fail(const NsCli *cli, const GError *error)
{
    int code = NS_EXIT_FAILED;

    fprintf(stderr, "%s: error: %s\n", cli->prog, error->message);
    if (error->domain == NS_ERROR) {
        switch ((NsErrorCode)error->code) {
        case NS_ERROR_NOT_FOUND:
            code = NS_EXIT_NOT_FOUND;
            break;
        case NS_ERROR_NOT_RUNNING:
            code = NS_EXIT_NOT_RUNNING;
            break;
        case NS_ERROR_PERMISSION:
            code = NS_EXIT_PERMISSION;
            break;
        case NS_ERROR_BUSY:
            code = NS_EXIT_BUSY;
            break;
        case NS_ERROR_INVALID_INPUT:
        case NS_ERROR_FAILED:
        case NS_ERROR_IO:
        case NS_ERROR_UNSUPPORTED:
            break;
        }
    } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        code = NS_EXIT_INCOMPLETE;
    }
    return code;
}

int
ns_cli_usage(const NsCli *cli, const char *command, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s: %s (see '%s %s --help')\n", cli->prog, command, msg, cli->prog,
            command);
    return NS_EXIT_USAGE;
}

void
ns_cli_print_json(JsonBuilder *builder)
{
    g_autoptr(JsonNode) root = json_builder_get_root(builder);

    ns_cli_print_json_node(root);
}

void
ns_cli_print_json_node(JsonNode *root)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

char *
ns_cli_format_mib(guint64 bytes)
{
    return g_strdup_printf("%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

gboolean
ns_cli_require_root(const NsCli *cli, const char *what)
{
    if (geteuid() == 0)
        return TRUE;
    fprintf(stderr, "%s: error: %s needs root (it reads and moves another process's memory)\n",
            cli->prog, what);
    return FALSE;
}

int
main(int argc, char **argv)
{
    NsCli cli = { .prog = "numashift" };
    int code;
    int first = 1;

    setlocale(LC_ALL, "");
    virSetErrorFunc(NULL, quiet_libvirt_errors);

    /* Global options may come before the command, as in virsh. */
    while (first < argc && argv[first][0] == '-') {
        const char *a = argv[first];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout, cli.prog);
            return NS_EXIT_OK;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("%s %s\n", cli.prog, NS_VERSION);
            return NS_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            cli.json = TRUE;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--connect") == 0) && first + 1 < argc) {
            g_free(cli.uri);
            cli.uri = g_strdup(argv[++first]);
        } else if (g_str_has_prefix(a, "--connect=")) {
            g_free(cli.uri);
            cli.uri = g_strdup(a + strlen("--connect="));
        } else {
            fprintf(stderr, "%s: unknown option '%s' (see '%s --help')\n", cli.prog, a, cli.prog);
            return NS_EXIT_USAGE;
        }
        first++;
    }
    if (first >= argc) {
        print_usage(stderr, cli.prog);
        return NS_EXIT_USAGE;
    }
    /* Commands read and write radix trees from this thread: an RCU reader for life. */
    urcu_memb_register_thread();
    code = -1;
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(argv[first], commands[i].name) == 0) {
            code = commands[i].run(&cli, argc - first, argv + first);
            break;
        }
    }
    if (code < 0) {
        fprintf(stderr, "%s: unknown command '%s' (see '%s --help')\n", cli.prog, argv[first],
                cli.prog);
        code = NS_EXIT_USAGE;
    }
    urcu_memb_unregister_thread();
    if (cli.conn != NULL)
        virConnectClose(cli.conn);
    g_free(cli.uri);
    return code;
}
