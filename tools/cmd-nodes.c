/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* numashift nodes: the host's NUMA nodes (needs no libvirt, no root). */
#include <stdio.h>

#include "cli.h"
#include "numashift/topology.h"

/* The kernel's list syntax, "-" for none. */
static char *
format_ids(const GArray *ids)
{
    return ids->len > 0 ? ns_topology_format_list(ids) : g_strdup("-");
}

int
ns_cmd_nodes(NsCli *cli, int argc, char **argv)
{
    g_autofree char *sysfs = NULL;
    const GOptionEntry entries[] = {
        { "sysfs", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &sysfs,
          "Read this sysfs tree instead of /sys (tests)", "DIR" },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GError) error = NULL;

    if (!ns_cli_parse(cli, "nodes", "", "Show the host's NUMA nodes, CPUs, memory and distances.",
                      entries, &argc, &argv))
        return NS_EXIT_USAGE;
    if (argc > 1)
        return ns_cli_usage(cli, "nodes", "unexpected argument '%s'", argv[1]);

    g_autoptr(NsTopology) topo = ns_topology_load(sysfs, &error);

    if (topo == NULL)
        return ns_cli_fail(cli, error);

    if (cli->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "nodes");
        json_builder_begin_array(b);
        for (guint i = 0; i < topo->nodes->len; i++) {
            const NsNode *n = g_ptr_array_index(topo->nodes, i);

            json_builder_begin_object(b);
            json_builder_set_member_name(b, "id");
            json_builder_add_int_value(b, n->id);
            json_builder_set_member_name(b, "online");
            json_builder_add_boolean_value(b, n->online);
            json_builder_set_member_name(b, "cpus");
            json_builder_begin_array(b);
            for (guint c = 0; c < n->cpus->len; c++)
                json_builder_add_int_value(b, g_array_index(n->cpus, guint, c));
            json_builder_end_array(b);
            json_builder_set_member_name(b, "mem_total_bytes");
            json_builder_add_int_value(b, (gint64)n->mem_total);
            json_builder_set_member_name(b, "mem_free_bytes");
            json_builder_add_int_value(b, (gint64)n->mem_free);
            json_builder_set_member_name(b, "distances");
            json_builder_begin_array(b);
            for (guint d = 0; n->distances != NULL && d < n->distances->len; d++)
                json_builder_add_int_value(b, g_array_index(n->distances, guint, d));
            json_builder_end_array(b);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        ns_cli_print_json(b);
        return NS_EXIT_OK;
    }

    printf("%-5s %-8s %-16s %12s %12s  %s\n", "node", "state", "cpus", "total", "free", "distances");
    for (guint i = 0; i < topo->nodes->len; i++) {
        const NsNode *n = g_ptr_array_index(topo->nodes, i);
        g_autofree char *cpus = format_ids(n->cpus);
        g_autofree char *total = ns_cli_format_mib(n->mem_total);
        g_autofree char *free_ = ns_cli_format_mib(n->mem_free);
        g_autoptr(GString) dist = g_string_new(NULL);

        for (guint d = 0; n->distances != NULL && d < n->distances->len; d++)
            g_string_append_printf(dist, "%s%u", d ? " " : "", g_array_index(n->distances, guint, d));
        printf("%-5u %-8s %-16s %12s %12s  %s\n", n->id, n->online ? "online" : "offline", cpus,
               total, free_, dist->str);
    }
    return NS_EXIT_OK;
}
