/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's NUMA topology from sysfs (see topology.h for the files).
 *
 * Everything is parsed into locals and checked before anything is
 * published, so a failed load or refresh leaves nothing half-built.  The
 * kernel's formats are small and stable; the parsers are strict about
 * them anyway, because a captured tree with a typo should fail loudly
 * rather than describe a machine that does not exist.
 */
#include "numashift/topology.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <numa.h>

#include "numashift/error.h"

#define NODE_DIR "devices/system/node"
#define LIBNUMA_LOG_DOMAIN "libnuma"

/* ------------------------------------------------------------------------
 * libnuma's reporting hooks.  libnuma declares these weak; defining them
 * here makes every libnuma call in a program linked with this module log
 * through GLib instead of printing to stderr (and, with numa_exit_on_error
 * or numa_exit_on_warn set, exiting).
 */

void
numa_error(char *where)
{
    int saved = errno;

    g_log(LIBNUMA_LOG_DOMAIN, G_LOG_LEVEL_DEBUG, "%s: %s", where, g_strerror(saved));
    errno = saved;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
void
numa_warn(int num, char *fmt, ...)
{
    int saved = errno;
    g_autofree char *message = NULL;
    va_list ap;

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_strchomp(message);
    g_log(LIBNUMA_LOG_DOMAIN, G_LOG_LEVEL_INFO, "warning %d: %s", num, message);
    errno = saved;
}
#pragma GCC diagnostic pop

/* ------------------------------------------------------------------------
 * Parsing helpers
 */

static gint
compare_uint(gconstpointer a, gconstpointer b)
{
    guint x = *(const guint *)a;
    guint y = *(const guint *)b;

    return x < y ? -1 : x > y;
}

static gboolean
parse_id(const char *text, guint max, guint *out, GError **error)
{
    guint64 v;
    g_autoptr(GError) local = NULL;

    if (!g_ascii_string_to_unsigned(text, 10, 0, max, &v, &local)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "id '%s': %s", text,
                    local->message);
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

char *
ns_topology_format_list(const GArray *ids)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (guint i = 0; i < ids->len;) {
        guint first = g_array_index(ids, guint, i), last = first;

        while (i + 1 < ids->len && g_array_index(ids, guint, i + 1) == last + 1)
            last = g_array_index(ids, guint, ++i);
        i++;
        if (out->len > 0)
            g_string_append_c(out, ',');
        if (last == first)
            g_string_append_printf(out, "%u", first);
        else
            g_string_append_printf(out, "%u-%u", first, last);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

GArray *
ns_topology_parse_list(const char *text, guint max, GError **error)
{
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint));
    g_autofree char *copy = g_strstrip(g_strdup(text));
    g_auto(GStrv) items = NULL;
    guint kept = 0;

    if (*copy == '\0')
        return g_steal_pointer(&ids);

    items = g_strsplit(copy, ",", -1);
    for (guint i = 0; items[i] != NULL; i++) {
        char *dash = strchr(items[i], '-');
        guint first;
        guint last;

        if (dash != NULL)
            *dash = '\0';
        if (!parse_id(items[i], max, &first, error))
            return NULL;
        last = first;
        if (dash != NULL && !parse_id(dash + 1, max, &last, error))
            return NULL;
        if (last < first) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "range %u-%u runs backwards",
                        first, last);
            return NULL;
        }
        for (guint64 id = first; id <= last; id++) {
            guint v = (guint)id;
            g_array_append_val(ids, v);
        }
    }

    g_array_sort(ids, compare_uint);
    for (guint i = 0; i < ids->len; i++) {
        if (kept == 0 || g_array_index(ids, guint, kept - 1) != g_array_index(ids, guint, i))
            g_array_index(ids, guint, kept++) = g_array_index(ids, guint, i);
    }
    g_array_set_size(ids, kept);
    return g_steal_pointer(&ids);
}

/* Split @line on runs of blanks; the strings point into @line, modified. */
static GPtrArray *
split_blanks(char *line)
{
    GPtrArray *words = g_ptr_array_new();
    char *p = line;

    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (*p == '\0')
            break;
        g_ptr_array_add(words, p);
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
    }
    return words;
}

/* Read <root>/devices/system/node/<name> into a new string. */
static char *
read_node_file(const char *root, const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(root, NODE_DIR, name, NULL);
    g_autoptr(GError) local = NULL;
    char *contents = NULL;

    if (!g_file_get_contents(path, &contents, NULL, &local)) {
        g_set_error(error, NS_ERROR,
                    g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? NS_ERROR_NOT_FOUND
                                                                              : NS_ERROR_IO,
                    "%s", local->message);
        return NULL;
    }
    return contents;
}

static GArray *
read_list_file(const char *root, const char *name, guint max, GError **error)
{
    g_autofree char *text = read_node_file(root, name, error);
    g_autoptr(GError) local = NULL;
    GArray *ids;

    if (text == NULL)
        return NULL;
    ids = ns_topology_parse_list(text, max, &local);
    if (ids == NULL)
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s/%s/%s: %s", root, NODE_DIR,
                    name, local->message);
    return ids;
}

static gboolean
list_contains(const GArray *ids, guint id)
{
    guint lo = 0;
    guint hi = ids->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        guint v = g_array_index(ids, guint, mid);

        if (v == id)
            return TRUE;
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return FALSE;
}

/*
 * Parse node @id's meminfo: "Node <id> <Key>: <value> [kB]" lines.  Only
 * MemTotal and MemFree are required; both must be in kB.
 */
static gboolean
parse_meminfo(const char *text, guint id, guint64 *ret_total, guint64 *ret_free,
              GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    gboolean have_total = FALSE;
    gboolean have_free = FALSE;
    guint64 total = 0;
    guint64 free_kib = 0;

    for (guint i = 0; lines[i] != NULL; i++) {
        g_autoptr(GPtrArray) w = split_blanks(lines[i]);
        guint64 node;
        guint64 value;
        guint64 *slot;
        gboolean *seen;

        if (w->len == 0)
            continue;
        if (w->len < 4 || strcmp(w->pdata[0], "Node") != 0 ||
            !g_ascii_string_to_unsigned(w->pdata[1], 10, 0, G_MAXUINT, &node, NULL) ||
            !g_str_has_suffix(w->pdata[2], ":") ||
            !g_ascii_string_to_unsigned(w->pdata[3], 10, 0, G_MAXUINT64, &value, NULL) ||
            w->len > 5 || (w->len == 5 && strcmp(w->pdata[4], "kB") != 0)) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "node%u/meminfo line %u does not parse", id, i + 1);
            return FALSE;
        }
        if (node != id) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "node%u/meminfo line %u is about node %" G_GUINT64_FORMAT, id, i + 1,
                        node);
            return FALSE;
        }
        if (strcmp(w->pdata[2], "MemTotal:") == 0) {
            slot = &total;
            seen = &have_total;
        } else if (strcmp(w->pdata[2], "MemFree:") == 0) {
            slot = &free_kib;
            seen = &have_free;
        } else {
            continue;
        }
        if (w->len != 5 || value > G_MAXUINT64 / 1024) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "node%u/meminfo: %s is not a size in kB", id, (char *)w->pdata[2]);
            return FALSE;
        }
        *slot = value;
        *seen = TRUE;
    }
    if (!have_total || !have_free) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "node%u/meminfo lacks %s", id,
                    have_total ? "MemFree" : "MemTotal");
        return FALSE;
    }
    if (free_kib > total) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "node%u/meminfo: MemFree exceeds MemTotal", id);
        return FALSE;
    }
    *ret_total = total * 1024;
    *ret_free = free_kib * 1024;
    return TRUE;
}

static gboolean
read_meminfo(const char *root, guint id, guint64 *ret_total, guint64 *ret_free, GError **error)
{
    g_autofree char *name = g_strdup_printf("node%u/meminfo", id);
    g_autofree char *text = read_node_file(root, name, error);

    return text != NULL && parse_meminfo(text, id, ret_total, ret_free, error);
}

/* Fill @node->distances from nodeN/distance: one value per online node. */
static gboolean
read_distances(const char *root, NsNode *node, const GArray *online, guint max_node,
               GError **error)
{
    g_autofree char *name = g_strdup_printf("node%u/distance", node->id);
    g_autofree char *text = read_node_file(root, name, error);
    g_autoptr(GPtrArray) w = NULL;

    if (text == NULL)
        return FALSE;
    w = split_blanks(g_strstrip(text));
    if (w->len != online->len) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "node%u/distance has %u values for %u online nodes", node->id, w->len,
                    online->len);
        return FALSE;
    }
    g_array_set_size(node->distances, max_node + 1);
    for (guint i = 0; i < w->len; i++) {
        guint64 d;

        if (!g_ascii_string_to_unsigned(w->pdata[i], 10, 1, 255, &d, NULL)) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "node%u/distance: '%s' is not a distance", node->id,
                        (char *)w->pdata[i]);
            return FALSE;
        }
        g_array_index(node->distances, guint, g_array_index(online, guint, i)) = (guint)d;
    }
    return TRUE;
}

static void
node_free(gpointer data)
{
    NsNode *node = data;

    g_array_unref(node->cpus);
    g_array_unref(node->distances);
    g_array_unref(node->huge_pools);
    g_free(node);
}

static NsNode *
node_new(guint id, guint max_node)
{
    NsNode *node = g_new0(NsNode, 1);

    node->id = id;
    node->huge_pools = g_array_new(FALSE, TRUE, sizeof(NsHugePool));
    node->cpus = g_array_new(FALSE, FALSE, sizeof(guint));
    node->distances = g_array_sized_new(FALSE, TRUE, sizeof(guint), max_node + 1);
    g_array_set_size(node->distances, max_node + 1);
    return node;
}

/* One number from a huge page pool's file ("free_hugepages"), as NS_ERROR_INVALID_INPUT. */
static gboolean
read_pool_count(const char *root, const char *pool, const char *file, guint64 *ret,
                GError **error)
{
    g_autofree char *name = g_build_filename(pool, file, NULL);
    g_autofree char *text = read_node_file(root, name, error);

    if (text == NULL)
        return FALSE;
    if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, 0, G_MAXUINT32, ret, NULL)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s/%s/%s: '%s' is not a count",
                    root, NODE_DIR, name, text);
        return FALSE;
    }
    return TRUE;
}

static gint
compare_pool(gconstpointer a, gconstpointer b)
{
    guint64 x = ((const NsHugePool *)a)->page_size, y = ((const NsHugePool *)b)->page_size;

    return x < y ? -1 : x > y;
}

/* Node @id's hugetlbfs pools into a new array (empty without a hugepages directory). */
static GArray *
read_huge_pools(const char *root, guint id, GError **error)
{
    g_autofree char *rel = g_strdup_printf("node%u/hugepages", id);
    g_autofree char *dir_path = g_build_filename(root, NODE_DIR, rel, NULL);
    g_autoptr(GArray) pools = g_array_new(FALSE, TRUE, sizeof(NsHugePool));
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
    const char *entry;

    while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
        g_autofree char *pool_rel = g_build_filename(rel, entry, NULL);
        NsHugePool pool = { 0 };
        guint64 kib;
        const char *size;
        char *end = NULL;

        if (!g_str_has_prefix(entry, "hugepages-"))
            continue;
        size = entry + strlen("hugepages-");
        kib = g_ascii_strtoull(size, &end, 10);
        if (end == size || strcmp(end, "kB") != 0 || kib == 0 || kib > G_MAXUINT64 / 1024) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "%s/%s: '%s' is not a huge page pool", dir_path, entry, entry);
            return NULL;
        }
        pool.page_size = kib * 1024;
        if (!read_pool_count(root, pool_rel, "nr_hugepages", &pool.total, error) ||
            !read_pool_count(root, pool_rel, "free_hugepages", &pool.free, error))
            return NULL;
        if (pool.free > pool.total) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "%s/%s: more free huge pages than the pool holds", dir_path, entry);
            return NULL;
        }
        g_array_append_val(pools, pool);
    }
    g_array_sort(pools, compare_pool);
    return g_steal_pointer(&pools);
}

const NsHugePool *
ns_node_get_huge_pool(const NsNode *node, guint64 page_size)
{
    for (guint i = 0; i < node->huge_pools->len; i++)
        if (g_array_index(node->huge_pools, NsHugePool, i).page_size == page_size)
            return &g_array_index(node->huge_pools, NsHugePool, i);
    return NULL;
}

static gboolean
load_online_node(const char *root, NsNode *node, const GArray *online, const GArray *has_memory,
                 guint max_node, GError **error)
{
    g_autofree char *cpulist = g_strdup_printf("node%u/cpulist", node->id);
    g_autoptr(GArray) cpus = read_list_file(root, cpulist, NS_TOPOLOGY_MAX_CPU, error);

    if (cpus == NULL)
        return FALSE;
    g_array_unref(node->cpus);
    node->cpus = g_steal_pointer(&cpus);
    node->online = TRUE;
    if (!read_meminfo(root, node->id, &node->mem_total, &node->mem_free, error))
        return FALSE;
    GArray *pools = read_huge_pools(root, node->id, error);

    if (pools == NULL)
        return FALSE;
    g_array_unref(node->huge_pools);
    node->huge_pools = pools;
    node->has_memory = has_memory != NULL ? list_contains(has_memory, node->id)
                                          : node->mem_total > 0;
    return read_distances(root, node, online, max_node, error);
}

/* A CPU listed by two nodes means the tree is not one machine's. */
static gboolean
check_cpus_unique(const GPtrArray *nodes, GError **error)
{
    g_autoptr(GHashTable) owner = g_hash_table_new(g_direct_hash, g_direct_equal);

    for (guint i = 0; i < nodes->len; i++) {
        const NsNode *node = nodes->pdata[i];

        for (guint c = 0; c < node->cpus->len; c++) {
            guint cpu = g_array_index(node->cpus, guint, c);
            gpointer key = GUINT_TO_POINTER(cpu + 1);
            gpointer prev = g_hash_table_lookup(owner, key);

            if (prev != NULL) {
                g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "CPU %u is listed by node%u and node%u", cpu,
                            GPOINTER_TO_UINT(prev) - 1, node->id);
                return FALSE;
            }
            g_hash_table_insert(owner, key, GUINT_TO_POINTER(node->id + 1));
        }
    }
    return TRUE;
}

NsTopology *
ns_topology_load(const char *sysfs_root, GError **error)
{
    const char *root = sysfs_root != NULL ? sysfs_root : "/sys";
    g_autofree char *node_dir = g_build_filename(root, NODE_DIR, NULL);
    g_autoptr(GArray) possible = NULL;
    g_autoptr(GArray) online = NULL;
    g_autoptr(GArray) has_memory = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(NsTopology) topo = NULL;

    if (!g_file_test(node_dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED,
                    "%s does not exist: no NUMA support in this kernel", node_dir);
        return NULL;
    }
    possible = read_list_file(root, "possible", NS_TOPOLOGY_MAX_NODE, error);
    if (possible == NULL)
        return NULL;
    online = read_list_file(root, "online", NS_TOPOLOGY_MAX_NODE, error);
    if (online == NULL)
        return NULL;
    has_memory = read_list_file(root, "has_memory", NS_TOPOLOGY_MAX_NODE, &local);
    if (has_memory == NULL && !g_error_matches(local, NS_ERROR, NS_ERROR_NOT_FOUND)) {
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    if (possible->len == 0 || online->len == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s lists no %s node", node_dir,
                    possible->len == 0 ? "possible" : "online");
        return NULL;
    }
    for (guint i = 0; i < online->len; i++) {
        if (!list_contains(possible, g_array_index(online, guint, i))) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "node %u is online but not possible", g_array_index(online, guint, i));
            return NULL;
        }
    }

    topo = g_new0(NsTopology, 1);
    topo->sysfs_root = g_strdup(root);
    topo->max_node = g_array_index(possible, guint, possible->len - 1);
    topo->nodes = g_ptr_array_new_with_free_func(node_free);
    for (guint i = 0; i < possible->len; i++) {
        NsNode *node = node_new(g_array_index(possible, guint, i), topo->max_node);

        g_ptr_array_add(topo->nodes, node);
        if (list_contains(online, node->id) &&
            !load_online_node(root, node, online, has_memory, topo->max_node, error))
            return NULL;
    }
    if (!check_cpus_unique(topo->nodes, error))
        return NULL;

    /* Only the live host's kernel can be asked about its NUMA calls. */
    topo->numa_api = sysfs_root == NULL && numa_available() >= 0;
    return g_steal_pointer(&topo);
}

/* Frees what ns_topology_refresh_memory() did not hand to a node. */
static void
pools_free(gpointer pools)
{
    if (pools != NULL)
        g_array_unref(pools);
}

gboolean
ns_topology_refresh_memory(NsTopology *topo, GError **error)
{
    g_autofree guint64 *total = g_new0(guint64, topo->nodes->len);
    g_autofree guint64 *free_bytes = g_new0(guint64, topo->nodes->len);
    g_autoptr(GPtrArray) pools = g_ptr_array_new_full(topo->nodes->len, pools_free);

    for (guint i = 0; i < topo->nodes->len; i++) {
        const NsNode *node = topo->nodes->pdata[i];
        GArray *node_pools = NULL;

        if (node->online &&
            (!read_meminfo(topo->sysfs_root, node->id, &total[i], &free_bytes[i], error) ||
             (node_pools = read_huge_pools(topo->sysfs_root, node->id, error)) == NULL))
            return FALSE;
        g_ptr_array_add(pools, node_pools != NULL ? node_pools
                                                  : g_array_new(FALSE, TRUE, sizeof(NsHugePool)));
    }
    for (guint i = 0; i < topo->nodes->len; i++) {
        NsNode *node = topo->nodes->pdata[i];

        if (node->online) {
            node->mem_total = total[i];
            node->mem_free = free_bytes[i];
            g_array_unref(node->huge_pools);
            node->huge_pools = g_steal_pointer(&pools->pdata[i]);
        }
    }
    return TRUE;
}

const NsNode *
ns_topology_get_node(const NsTopology *topo, guint node_id)
{
    guint lo = 0;
    guint hi = topo->nodes->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const NsNode *node = topo->nodes->pdata[mid];

        if (node->id == node_id)
            return node;
        if (node->id < node_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

gint
ns_topology_node_of_cpu(const NsTopology *topo, guint cpu)
{
    for (guint i = 0; i < topo->nodes->len; i++) {
        const NsNode *node = topo->nodes->pdata[i];

        if (node->online && list_contains(node->cpus, cpu))
            return (gint)node->id;
    }
    return -1;
}

guint
ns_topology_distance(const NsTopology *topo, guint from, guint to)
{
    const NsNode *a = ns_topology_get_node(topo, from);
    const NsNode *b = ns_topology_get_node(topo, to);

    if (a == NULL || b == NULL || !a->online || !b->online)
        return 0;
    return g_array_index(a->distances, guint, to);
}

void
ns_topology_free(NsTopology *topo)
{
    if (topo == NULL)
        return;
    if (topo->nodes != NULL)
        g_ptr_array_unref(topo->nodes);
    g_free(topo->sysfs_root);
    g_free(topo);
}
