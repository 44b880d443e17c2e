/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A domain's XML, parsed into what numashift needs (domain-config.h): GLib's
 * GMarkup only, no libvirt, so the policy and the move pipeline stay pure.
 */
#include "numashift/domain-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "numashift/error.h"
#include "numashift/topology.h"

/* ---------------------------------------------------------------- lists */

/* Highest CPU or node id a domain XML may name (libvirt's bitmaps stop far below). */
#define MAX_XML_ID 65535u

/*
 * libvirt's list syntax is the kernel's ("0-3,8") plus "^N" exclusions: the
 * kernel part is parsed by ns_topology_parse_list(), the exclusions removed.
 */
GArray *
ns_parse_cpulist(const char *list, GError **error)
{
    g_autoptr(GString) included = g_string_new(NULL);
    g_autoptr(GString) excluded = g_string_new(NULL);
    g_auto(GStrv) parts = NULL;

    if (list == NULL || strspn(list, " \t\n") == strlen(list)) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "empty CPU list");
        return NULL;
    }
    parts = g_strsplit(list, ",", -1);
    for (char **part = parts; *part != NULL; part++) {
        const char *p = g_strstrip(*part);
        gboolean negate = *p == '^';
        GString *into = negate ? excluded : included;

        if (negate)
            p++;
        if (*p == '\0' || (negate && strchr(p, '-') != NULL)) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "bad item '%s' in CPU list '%s'",
                        *part, list);
            return NULL;
        }
        g_string_append_printf(into, "%s%s", into->len ? "," : "", p);
    }

    g_autoptr(GArray) ids = ns_topology_parse_list(included->str, MAX_XML_ID, error);
    g_autoptr(GArray) drop = ids != NULL ? ns_topology_parse_list(excluded->str, MAX_XML_ID, error)
                                         : NULL;

    if (drop == NULL) {
        g_prefix_error(error, "CPU list '%s': ", list);
        return NULL;
    }
    for (guint i = 0, j = 0; i < ids->len;) {
        guint id = g_array_index(ids, guint, i);

        while (j < drop->len && g_array_index(drop, guint, j) < id)
            j++;
        if (j < drop->len && g_array_index(drop, guint, j) == id)
            g_array_remove_index(ids, i);
        else
            i++;
    }
    return g_steal_pointer(&ids);
}

/* ---------------------------------------------------------- domain XML */

/* A decimal id or count up to MAX_XML_ID, as NS_ERROR_INVALID_INPUT on failure. */
static gboolean
parse_uint(const char *text, guint *ret, GError **error)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(text, 10, 0, MAX_XML_ID, &v, NULL)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "bad number '%s'", text);
        return FALSE;
    }
    *ret = (guint)v;
    return TRUE;
}

static void
cell_clear(gpointer p)
{
    NsDomainCell *cell = p;

    g_clear_pointer(&cell->vcpus, g_array_unref);
    g_clear_pointer(&cell->memnode_mode, g_free);
    g_clear_pointer(&cell->memnode_nodeset, g_free);
}

void
ns_domain_config_free(NsDomainConfig *config)
{
    if (config == NULL)
        return;
    g_free(config->name);
    g_free(config->uuid);
    g_clear_pointer(&config->cells, g_array_unref);
    g_free(config->numatune_mode);
    g_free(config->numatune_nodeset);
    g_clear_pointer(&config->emulator_cpus, g_array_unref);
    g_free(config->pinning_device);
    g_clear_pointer(&config->memory_devices, g_array_unref);
    g_free(config->numashift_policy);
    g_free(config);
}

/* Parser state: the element path, and which text element we are in. */
typedef struct {
    NsDomainConfig *config;
    GPtrArray *path; /* of const char * (GMarkup's names, valid per callback) */
    GPtrArray *names; /* owned copies backing @path */
    GString *text;
    gboolean seen_domain;
    char *memory_unit;
    GArray *memnodes; /* of NsDomainCell (id, memnode_*): <memnode>s, which come
                         before the cells they name (<numatune> precedes <cpu>) */
    gboolean pinning_source; /* in the device that set pinning_device: name it by its
                                <source><address> */
    NsDomainMemoryDevice memory_device; /* the <memory> device being read (model set) */
} XmlState;

static void
memory_device_clear(gpointer data)
{
    NsDomainMemoryDevice *d = data;

    g_clear_pointer(&d->model, g_free);
    g_clear_pointer(&d->alias, g_free);
}

static gboolean
path_is(const XmlState *st, const char *const *want, guint n)
{
    if (st->path->len != n)
        return FALSE;
    for (guint i = 0; i < n; i++)
        if (strcmp(g_ptr_array_index(st->path, i), want[i]) != 0)
            return FALSE;
    return TRUE;
}
#define PATH_IS(st, ...)                                                                    \
    path_is((st), (const char *const[]){ __VA_ARGS__ },                                    \
            sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static const char *
attr(const char **names, const char **values, const char *key)
{
    for (guint i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], key) == 0)
            return values[i];
    return NULL;
}

static const char *
attr_or(const char **names, const char **values, const char *key, const char *fallback)
{
    const char *v = attr(names, values, key);

    return v != NULL ? v : fallback;
}

/* "@prefix DDDD:BB:SS.F", the PCI address as lspci and sysfs write it, from
 * libvirt's attributes (decimal or 0x-hex, as libvirt accepts them); as
 * written when one of them is no such number. */
static char *
pci_address_text(const char *prefix, const char *domain, const char *bus, const char *slot,
                 const char *function)
{
    const char *parts[] = { domain, bus, slot, function };
    guint v[G_N_ELEMENTS(parts)];

    for (gsize i = 0; i < G_N_ELEMENTS(parts); i++) {
        char *end = NULL;
        guint64 n;

        errno = 0;
        n = g_ascii_strtoull(parts[i], &end, 0);
        if (*parts[i] == '\0' || *end != '\0' || errno != 0 || n > 0xffff)
            return g_strdup_printf("%s %s:%s:%s.%s", prefix, domain, bus, slot, function);
        v[i] = (guint)n;
    }
    return g_strdup_printf("%s %04x:%02x:%02x.%x", prefix, v[0], v[1], v[2], v[3]);
}

/* Bytes in one @unit of libvirt's memory units; 0 if unknown. */
static guint64
unit_bytes(const char *unit)
{
    static const struct {
        const char *name;
        guint64 bytes;
    } units[] = {
        { "b", 1 },       { "bytes", 1 },      { "KB", 1000 },        { "k", 1024 },
        { "KiB", 1024 },  { "MB", 1000000 },   { "M", 1 << 20 },      { "MiB", 1 << 20 },
        { "GB", 1000000000 }, { "G", 1 << 30 }, { "GiB", 1 << 30 },
        { "TB", G_GUINT64_CONSTANT(1000000000000) }, { "T", G_GUINT64_CONSTANT(1) << 40 },
        { "TiB", G_GUINT64_CONSTANT(1) << 40 },
    };

    if (unit == NULL)
        return 1024; /* libvirt's default unit is KiB */
    for (gsize i = 0; i < G_N_ELEMENTS(units); i++)
        if (strcmp(unit, units[i].name) == 0)
            return units[i].bytes;
    return 0;
}

static gboolean
parse_kib(const char *value, const char *unit, guint64 *ret, GError **error)
{
    guint64 mult = unit_bytes(unit), v;
    char *end = NULL;

    if (mult == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "unknown memory unit '%s'", unit);
        return FALSE;
    }
    errno = 0;
    v = g_ascii_strtoull(value != NULL ? value : "", &end, 10);
    if (value == NULL || *value == '\0' || *end != '\0' || errno != 0 ||
        (v != 0 && G_MAXUINT64 / v < mult)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "bad memory size '%s'",
                    value != NULL ? value : "");
        return FALSE;
    }
    *ret = v * mult / 1024;
    return TRUE;
}

static void
xml_start(GMarkupParseContext *ctx, const char *element, const char **names,
          const char **values, gpointer user_data, GError **error)
{
    XmlState *st = user_data;
    NsDomainConfig *c = st->config;

    if (st->path->len == 0) {
        if (strcmp(element, "domain") != 0) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "not a domain XML (root element <%s>)", element);
            return;
        }
        st->seen_domain = TRUE;
    }
    char *copy = g_strdup(element);

    g_ptr_array_add(st->names, copy);
    g_ptr_array_add(st->path, copy);
    g_string_truncate(st->text, 0);

    if (PATH_IS(st, "domain", "memory")) {
        g_free(st->memory_unit);
        st->memory_unit = g_strdup(attr(names, values, "unit"));
    } else if (PATH_IS(st, "domain", "cpu", "numa", "cell")) {
        NsDomainCell cell = { 0 };
        const char *id = attr(names, values, "id");
        const char *cpus = attr(names, values, "cpus");
        const char *mem = attr(names, values, "memory");

        if (id == NULL && cpus == NULL) {
            g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                                "a vNUMA <cell> has neither id nor cpus");
            return;
        }
        cell.id = c->cells->len;
        if (id != NULL && !parse_uint(id, &cell.id, error))
            return;
        if (mem != NULL && !parse_kib(mem, attr(names, values, "unit"), &cell.memory_kib, error))
            return;
        /* A cell may have no vCPUs (memory-only cells exist since libvirt 6.5). */
        if (cpus != NULL && *cpus != '\0') {
            cell.vcpus = ns_parse_cpulist(cpus, error);
            if (cell.vcpus == NULL)
                return;
        } else {
            cell.vcpus = g_array_new(FALSE, FALSE, sizeof(guint));
        }
        g_array_append_val(c->cells, cell);
    } else if (PATH_IS(st, "domain", "cputune", "emulatorpin")) {
        const char *cpuset = attr(names, values, "cpuset");

        if (cpuset == NULL) {
            g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                                "<emulatorpin> without a cpuset");
            return;
        }
        g_clear_pointer(&c->emulator_cpus, g_array_unref);
        c->emulator_cpus = ns_parse_cpulist(cpuset, error);
        if (c->emulator_cpus == NULL)
            return;
    } else if (PATH_IS(st, "domain", "devices", "hostdev") ||
               PATH_IS(st, "domain", "devices", "interface")) {
        /* VFIO maps all guest RAM for the device's DMA and pins it
         * (vfio_iommu_type1): such a guest's memory cannot move.  USB and
         * SCSI host devices are not assigned through VFIO. */
        const char *type = attr(names, values, "type");
        gboolean hostdev = strcmp(element, "hostdev") == 0;

        if (c->pinning_device == NULL && type != NULL &&
            (hostdev ? strcmp(type, "pci") == 0 || strcmp(type, "mdev") == 0
                     : strcmp(type, "hostdev") == 0)) {
            c->pinning_device = g_strdup_printf("%s %s", element, type);
            st->pinning_source = TRUE;
        }
    } else if (st->pinning_source && st->path->len == 5 &&
               strcmp(g_ptr_array_index(st->path, 3), "source") == 0 &&
               strcmp(element, "address") == 0) {
        /* <source><address domain= bus= slot= function=/> (PCI) or uuid= (mdev) */
        const char *uuid = attr(names, values, "uuid");
        const char *bus = attr(names, values, "bus");

        if (uuid != NULL || bus != NULL) {
            g_autofree char *was = g_steal_pointer(&c->pinning_device);

            c->pinning_device =
                uuid != NULL
                    ? g_strdup_printf("%s %s", was, uuid)
                    : pci_address_text(was, attr_or(names, values, "domain", "0"), bus,
                                       attr_or(names, values, "slot", "0"),
                                       attr_or(names, values, "function", "0"));
        }
        st->pinning_source = FALSE;
    } else if (PATH_IS(st, "domain", "devices", "memory")) {
        const char *model = attr(names, values, "model");

        memory_device_clear(&st->memory_device);
        st->memory_device.node = -1;
        if (model != NULL && (strcmp(model, "dimm") == 0 || strcmp(model, "virtio-mem") == 0))
            st->memory_device.model = g_strdup(model);
    } else if (PATH_IS(st, "domain", "devices", "memory", "alias")) {
        g_free(st->memory_device.alias);
        st->memory_device.alias = g_strdup(attr(names, values, "name"));
    } else if (PATH_IS(st, "domain", "numatune", "memnode")) {
        NsDomainCell memnode = { 0 };
        const char *cellid = attr(names, values, "cellid");
        const char *mode = attr(names, values, "mode");
        const char *nodeset = attr(names, values, "nodeset");

        if (cellid == NULL || nodeset == NULL) {
            g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                                "a <memnode> lacks its cellid or nodeset");
            return;
        }
        if (!parse_uint(cellid, &memnode.id, error))
            return;
        memnode.memnode_mode = g_strdup(mode != NULL ? mode : "strict");
        memnode.memnode_nodeset = g_strdup(nodeset);
        g_array_append_val(st->memnodes, memnode);
    } else if (PATH_IS(st, "domain", "numatune", "memory")) {
        const char *mode = attr(names, values, "mode");
        const char *placement = attr(names, values, "placement");

        g_free(c->numatune_mode);
        c->numatune_mode = g_strdup(mode != NULL ? mode : "strict");
        g_free(c->numatune_nodeset);
        c->numatune_nodeset = NULL;
        if (placement == NULL || strcmp(placement, "auto") != 0)
            c->numatune_nodeset = g_strdup(attr(names, values, "nodeset"));
    } else if (st->path->len == 3 && strcmp(g_ptr_array_index(st->path, 1), "metadata") == 0 &&
               strchr(element, ':') != NULL && g_str_has_suffix(element, ":policy")) {
        /* <numashift:policy xmlns:numashift="NS_DOMAIN_METADATA_URI" mode="..."/> */
        const char *prefix_end = strchr(element, ':');
        g_autofree char *xmlns = g_strdup_printf("xmlns:%.*s", (int)(prefix_end - element), element);
        const char *uri = attr(names, values, xmlns);

        if (uri != NULL && strcmp(uri, NS_DOMAIN_METADATA_URI) == 0) {
            const char *priority = attr(names, values, "priority");
            gint64 p = 0;

            g_free(c->numashift_policy);
            c->numashift_policy = g_strdup(attr(names, values, "mode"));
            c->has_numashift_priority = priority != NULL;
            if (priority != NULL &&
                !g_ascii_string_to_signed(priority, 10, NS_DOMAIN_PRIORITY_MIN,
                                          NS_DOMAIN_PRIORITY_MAX, &p, NULL)) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "<numashift:policy priority='%s'>: not a number from %d to %d",
                            priority, NS_DOMAIN_PRIORITY_MIN, NS_DOMAIN_PRIORITY_MAX);
                return;
            }
            c->numashift_priority = (gint)p;
        }
    }
}

static void
xml_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer user_data,
         GError **error)
{
    XmlState *st = user_data;

    g_string_append_len(st->text, text, (gssize)len);
}

static void
xml_end(GMarkupParseContext *ctx, const char *element, gpointer user_data, GError **error)
{
    XmlState *st = user_data;
    NsDomainConfig *c = st->config;
    const char *text = g_strstrip(st->text->str);

    if (PATH_IS(st, "domain", "name")) {
        g_free(c->name);
        c->name = g_strdup(text);
    } else if (PATH_IS(st, "domain", "uuid")) {
        g_free(c->uuid);
        c->uuid = g_strdup(text);
    } else if (PATH_IS(st, "domain", "vcpu")) {
        if (!parse_uint(text, &c->vcpus, error))
            return;
    } else if (PATH_IS(st, "domain", "memory")) {
        if (!parse_kib(text, st->memory_unit, &c->memory_kib, error))
            return;
    } else if (PATH_IS(st, "domain", "devices", "hostdev") ||
               PATH_IS(st, "domain", "devices", "interface")) {
        st->pinning_source = FALSE; /* its <source><address> was not there */
    } else if (PATH_IS(st, "domain", "devices", "memory", "target", "node")) {
        guint node;

        if (!parse_uint(text, &node, error))
            return;
        if (node > G_MAXINT) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "memory device node %u is out of range", node);
            return;
        }
        st->memory_device.node = (gint)node;
    } else if (PATH_IS(st, "domain", "devices", "memory")) {
        if (st->memory_device.model != NULL) {
            g_array_append_val(c->memory_devices, st->memory_device);
            st->memory_device = (NsDomainMemoryDevice){ .node = -1 };
        }
        memory_device_clear(&st->memory_device);
    }
    g_ptr_array_set_size(st->path, st->path->len - 1);
    g_string_truncate(st->text, 0);
}

/* Give each cell its <memnode>'s mode and nodeset (taken from @memnodes). */
static gboolean
attach_memnodes(NsDomainConfig *c, GArray *memnodes, GError **error)
{
    for (guint i = 0; i < memnodes->len; i++) {
        NsDomainCell *m = &g_array_index(memnodes, NsDomainCell, i);
        NsDomainCell *cell = NULL;

        for (guint j = 0; j < c->cells->len && cell == NULL; j++)
            if (g_array_index(c->cells, NsDomainCell, j).id == m->id)
                cell = &g_array_index(c->cells, NsDomainCell, j);
        if (cell == NULL) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "domain XML: <memnode> for vNUMA cell %u, which the domain does not define",
                        m->id);
            return FALSE;
        }
        if (cell->memnode_mode != NULL) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "domain XML: two <memnode>s for vNUMA cell %u", m->id);
            return FALSE;
        }
        cell->memnode_mode = g_steal_pointer(&m->memnode_mode);
        cell->memnode_nodeset = g_steal_pointer(&m->memnode_nodeset);
    }
    return TRUE;
}

static gint
compare_cell(gconstpointer a, gconstpointer b)
{
    guint x = ((const NsDomainCell *)a)->id, y = ((const NsDomainCell *)b)->id;

    return x < y ? -1 : x > y;
}

NsDomainConfig *
ns_domain_config_parse(const char *xml, GError **error)
{
    static const GMarkupParser parser = {
        .start_element = xml_start,
        .end_element = xml_end,
        .text = xml_text,
    };
    g_autoptr(NsDomainConfig) config = g_new0(NsDomainConfig, 1);
    g_autoptr(GPtrArray) path = g_ptr_array_new();
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) text = g_string_new(NULL);
    g_autoptr(GArray) memnodes = g_array_new(FALSE, TRUE, sizeof(NsDomainCell));
    XmlState st = { config, path, names, text, FALSE, NULL, memnodes, FALSE, { .node = -1 } };
    g_autoptr(GMarkupParseContext) ctx = NULL;
    GError *local = NULL;

    config->cells = g_array_new(FALSE, TRUE, sizeof(NsDomainCell));
    g_array_set_clear_func(config->cells, cell_clear);
    config->memory_devices = g_array_new(FALSE, TRUE, sizeof(NsDomainMemoryDevice));
    g_array_set_clear_func(config->memory_devices, memory_device_clear);
    g_array_set_clear_func(memnodes, cell_clear);
    ctx = g_markup_parse_context_new(&parser, G_MARKUP_PREFIX_ERROR_POSITION, &st, NULL);
    if (!g_markup_parse_context_parse(ctx, xml, -1, &local) ||
        !g_markup_parse_context_end_parse(ctx, &local)) {
        /* GMarkup's messages and ours quote the offending text, line
         * breaks and bad bytes included: the message stays one line. */
        g_autofree char *line = ns_error_one_line(local->message);

        g_free(st.memory_unit);
        memory_device_clear(&st.memory_device);
        g_set_error(error, NS_ERROR,
                    local->domain == NS_ERROR ? local->code : NS_ERROR_INVALID_INPUT,
                    "domain XML: %s", line);
        g_error_free(local);
        return NULL;
    }
    g_free(st.memory_unit);
    memory_device_clear(&st.memory_device);
    if (!st.seen_domain || config->name == NULL) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "domain XML: no <domain> with a <name>");
        return NULL;
    }
    g_array_sort(config->cells, compare_cell);
    for (guint i = 1; i < config->cells->len; i++) {
        if (g_array_index(config->cells, NsDomainCell, i).id ==
            g_array_index(config->cells, NsDomainCell, i - 1).id) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "domain XML: vNUMA cell %u defined twice",
                        g_array_index(config->cells, NsDomainCell, i).id);
            return NULL;
        }
    }
    if (!attach_memnodes(config, memnodes, error))
        return NULL;
    if (config->pinning_device != NULL) {
        /* It goes into one-line messages: the XML's attributes may hold anything. */
        char *line = ns_error_one_line(config->pinning_device);

        g_free(config->pinning_device);
        config->pinning_device = line;
    }
    return g_steal_pointer(&config);
}

gint
ns_domain_config_cell_of_vcpu(const NsDomainConfig *config, guint vcpu)
{
    for (guint i = 0; i < config->cells->len; i++) {
        const NsDomainCell *cell = &g_array_index(config->cells, NsDomainCell, i);

        for (guint j = 0; j < cell->vcpus->len; j++)
            if (g_array_index(cell->vcpus, guint, j) == vcpu)
                return (gint)cell->id;
    }
    return -1;
}

