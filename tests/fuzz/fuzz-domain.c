/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the domain XML parser (hv/domain-config.c), which
 * reads what libvirt says of a domain (virDomainGetXMLDesc, the hook's
 * stdin): its cells, numatune and <memnode>s, pinning and metadata.
 *
 * Input: the XML text.  Invariants: a parse fails with
 * NS_ERROR_INVALID_INPUT and one line starting "domain XML: ", or gives a
 * config with a name whose cells are sorted by id, unique, each with an
 * ascending vCPU list, and each with both or neither of a memnode's mode
 * and nodeset; the name of a device pinning guest RAM is one printable line; a CPU or node list the parser kept parses again the same
 * way; ns_domain_config_cell_of_vcpu() names a cell that holds the vCPU.
 */
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "numashift/domain-config.h"
#include "numashift/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_ascending(const GArray *ids)
{
    for (guint i = 1; ids != NULL && i < ids->len; i++)
        g_assert_cmpuint(g_array_index(ids, guint, i - 1), <, g_array_index(ids, guint, i));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = g_strndup((const char *)data, size);
    g_autoptr(GError) error = NULL;
    g_autoptr(NsDomainConfig) c = ns_domain_config_parse(xml, &error);

    if (c == NULL) {
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_assert_true(g_str_has_prefix(error->message, "domain XML: "));
        g_assert_null(strchr(error->message, '\n'));
        return 0;
    }
    g_assert_no_error(error);
    g_assert_nonnull(c->name);
    for (const char *ch = c->pinning_device; ch != NULL && *ch != '\0'; ch++)
        g_assert_true((guchar)*ch >= 0x20 && *ch != 0x7f);
    check_ascending(c->emulator_cpus);
    for (guint i = 0; i < c->cells->len; i++) {
        const NsDomainCell *cell = &g_array_index(c->cells, NsDomainCell, i);

        if (i > 0)
            g_assert_cmpuint(g_array_index(c->cells, NsDomainCell, i - 1).id, <, cell->id);
        g_assert_nonnull(cell->vcpus);
        check_ascending(cell->vcpus);
        g_assert_true((cell->memnode_mode == NULL) == (cell->memnode_nodeset == NULL));
        for (guint j = 0; j < cell->vcpus->len; j++) {
            gint owner = ns_domain_config_cell_of_vcpu(c, g_array_index(cell->vcpus, guint, j));
            gboolean held = FALSE;

            /* The first cell listing the vCPU owns it (a vCPU in two cells is libvirt's error). */
            g_assert_cmpint(owner, >=, 0);
            for (guint k = 0; k < c->cells->len; k++) {
                const NsDomainCell *o = &g_array_index(c->cells, NsDomainCell, k);

                if (o->id == (guint)owner)
                    for (guint m = 0; m < o->vcpus->len; m++)
                        held |= g_array_index(o->vcpus, guint, m) ==
                                g_array_index(cell->vcpus, guint, j);
            }
            g_assert_true(held);
        }
        if (cell->memnode_nodeset != NULL) {
            g_autoptr(GError) again_error = NULL;
            g_autoptr(GArray) once = ns_parse_cpulist(cell->memnode_nodeset, &again_error);
            g_autoptr(GArray) twice = ns_parse_cpulist(cell->memnode_nodeset, NULL);

            /* A nodeset that does not parse is the policy's error, not the parser's. */
            g_assert_true((once == NULL) == (twice == NULL));
            if (once == NULL)
                g_assert_error(again_error, NS_ERROR, NS_ERROR_INVALID_INPUT);
            else
                check_ascending(once);
        }
    }
    return 0;
}
