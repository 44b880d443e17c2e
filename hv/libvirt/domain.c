/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A running libvirt domain: lookup the virsh way, the placement facts of its
 * live XML (read with GMarkup: we need a handful of elements, and a domain
 * XML is input that must be checked, not trusted), its QEMU's PID and a
 * monitor connection.
 */
#include "numashift/domain.h"

#include <libvirt/virterror.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "numashift/error.h"
#include "numashift/policy.h"
#include "numashift/process.h"
#include "numashift/topology.h"

struct _NsDomain {
    virDomainPtr dom;
    NsDomainConfig *config;
    NsQmp *qmp;
    NsProcess *process;
    pid_t pid;
    const char *pid_source; /* "pidfile" or "monitor" */
};

/* ---------------------------------------------------------- the domain */

/* libvirt's last error as a GError of @code, prefixed with @what. */
static void
set_virt_error(GError **error, NsErrorCode code, const char *what)
{
    virErrorPtr err = virGetLastError();

    g_set_error(error, NS_ERROR, code, "%s: %s", what,
                err != NULL && err->message != NULL ? err->message : "unknown libvirt error");
}

static gboolean
looks_like_uuid(const char *s)
{
    gsize hex = 0;

    for (const char *p = s; *p; p++) {
        if (g_ascii_isxdigit(*p))
            hex++;
        else if (*p != '-')
            return FALSE;
    }
    return hex == 32;
}

static virDomainPtr
lookup(virConnectPtr conn, const char *name, GError **error)
{
    virDomainPtr dom = NULL;
    char *end = NULL;

    if (*name == '\0') {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "empty domain name");
        return NULL;
    }
    /* virsh's order: ID, then UUID, then name. */
    guint64 id = g_ascii_strtoull(name, &end, 10);

    if (*end == '\0' && id <= G_MAXINT)
        dom = virDomainLookupByID(conn, (int)id);
    if (dom == NULL && looks_like_uuid(name))
        dom = virDomainLookupByUUIDString(conn, name);
    if (dom == NULL)
        dom = virDomainLookupByName(conn, name);
    if (dom == NULL) {
        virErrorPtr err = virGetLastError();

        if (err == NULL || err->code == VIR_ERR_NO_DOMAIN)
            g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND, "no domain '%s'", name);
        else
            set_virt_error(error, NS_ERROR_IO, name);
    }
    return dom;
}

/* The thread group (process) of thread @tid, from /proc/TID/status. */
static pid_t
tgid_of(gint64 tid, GError **error)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/status", tid);
    g_autofree char *text = NULL;
    const char *line;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        g_set_error(error, NS_ERROR, NS_ERROR_UNSUPPORTED,
                    "vCPU thread %" G_GINT64_FORMAT " is not a process of this host "
                    "(a remote libvirt URI?)", tid);
        return 0;
    }
    line = strstr(text, "\nTgid:");
    if (line == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s has no Tgid line", path);
        return 0;
    }
    return (pid_t)strtol(line + 6, NULL, 10);
}

static pid_t
find_qemu_pid_by_monitor(NsQmp *qmp, GError **error)
{
    g_autoptr(GArray) cpus = ns_qmp_query_cpus(qmp, error);
    pid_t pid = 0;

    if (cpus == NULL)
        return 0;
    if (cpus->len == 0) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                            "query-cpus-fast listed no vCPU");
        return 0;
    }
    for (guint i = 0; i < cpus->len; i++) {
        pid_t p = tgid_of(g_array_index(cpus, NsQmpCpu, i).thread_id, error);

        if (p <= 0)
            return 0;
        if (pid != 0 && p != pid) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "vCPU threads belong to two processes (%d and %d)", (int)pid, (int)p);
            return 0;
        }
        pid = p;
    }
    return pid;
}

/*
 * Where libvirt keeps the pid files of @conn's QEMU processes, or NULL
 * when they are not on this host or not known: a local qemu:///system
 * keeps them in /run/libvirt/qemu, qemu:///session in
 * $XDG_RUNTIME_DIR/libvirt/qemu/run.
 */
static char *
pid_file_dir(virConnectPtr conn)
{
    g_autofree char *uri_text = virConnectGetURI(conn);
    g_autoptr(GUri) uri = uri_text != NULL ? g_uri_parse(uri_text, G_URI_FLAGS_NONE, NULL) : NULL;

    if (uri == NULL || !g_str_has_prefix(g_uri_get_scheme(uri), "qemu") ||
        (g_uri_get_host(uri) != NULL && *g_uri_get_host(uri) != '\0'))
        return NULL;
    if (strcmp(g_uri_get_path(uri), "/system") == 0)
        return g_strdup("/run/libvirt/qemu");
    if (strcmp(g_uri_get_path(uri), "/session") == 0 && g_getenv("XDG_RUNTIME_DIR") != NULL)
        return g_build_filename(g_getenv("XDG_RUNTIME_DIR"), "libvirt", "qemu", "run", NULL);
    return NULL;
}

/* The PID in libvirt's pid file of domain @name, or 0 when there is none to read. */
static pid_t
pid_from_pid_file(virConnectPtr conn, const char *name)
{
    g_autofree char *dir = pid_file_dir(conn);
    g_autofree char *file = dir != NULL ? g_strdup_printf("%s.pid", name) : NULL;
    g_autofree char *path = dir != NULL ? g_build_filename(dir, file, NULL) : NULL;
    g_autofree char *text = NULL;
    char *end = NULL;

    if (path == NULL || !g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    guint64 pid = g_ascii_strtoull(g_strstrip(text), &end, 10);

    return end != text && *end == '\0' && pid > 0 && pid <= G_MAXINT ? (pid_t)pid : 0;
}

/*
 * The domain's QEMU, held by a pidfd: from libvirt's pid file where it can
 * be read (no monitor command: libvirt logs each one as "tainted:
 * custom-monitor"), else from the vCPU threads QEMU's monitor reports;
 * either way checked to be the process started with this domain's UUID.
 */
static gboolean
open_qemu_process(NsDomain *d, virConnectPtr conn, GError **error)
{
    pid_t pid = pid_from_pid_file(conn, d->config->name);
    g_autoptr(GError) from_file = NULL;

    if (pid > 0) {
        d->process = ns_process_open(pid, d->config->uuid, &from_file);
        if (d->process != NULL) {
            d->pid = pid;
            d->pid_source = "pidfile";
            return TRUE;
        }
        g_debug("domain %s: libvirt's pid file: %s; asking QEMU's monitor", d->config->name,
                from_file->message);
    }
    pid = find_qemu_pid_by_monitor(d->qmp, error);
    if (pid <= 0)
        return FALSE;
    d->process = ns_process_open(pid, d->config->uuid, error);
    if (d->process == NULL)
        return FALSE;
    d->pid = pid;
    d->pid_source = "monitor";
    return TRUE;
}

NsMigration
ns_migration_classify(int state, int reason, int job_error, int job_type, int operation)
{
    if (job_error == VIR_ERR_OPERATION_UNSUPPORTED)
        return NS_MIGRATION_IN; /* the qemu driver's answer on a migration's target */
    if (job_error == 0 && job_type != VIR_DOMAIN_JOB_NONE) {
        if (operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
            return NS_MIGRATION_OUT;
        if (operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN)
            return NS_MIGRATION_IN;
    }
    if (state == VIR_DOMAIN_PAUSED &&
        (reason == VIR_DOMAIN_PAUSED_MIGRATION || reason == VIR_DOMAIN_PAUSED_POSTCOPY ||
         reason == VIR_DOMAIN_PAUSED_POSTCOPY_FAILED))
        return NS_MIGRATION_OUT;
    if (state == VIR_DOMAIN_RUNNING &&
        (reason == VIR_DOMAIN_RUNNING_POSTCOPY || reason == VIR_DOMAIN_RUNNING_POSTCOPY_FAILED))
        return NS_MIGRATION_IN;
    /* A domain that is not running here (shut off after it migrated away,
     * say) has no memory to keep still or to move: the lifecycle events
     * decide about it, not this answer. */
    gboolean here = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED ||
                    state == VIR_DOMAIN_BLOCKED || state == VIR_DOMAIN_PMSUSPENDED;

    return job_error == 0 && here ? NS_MIGRATION_NONE : NS_MIGRATION_UNKNOWN;
}

NsMigration
ns_domain_get_migration(virDomainPtr dom)
{
    int state = VIR_DOMAIN_NOSTATE, reason = 0, type = VIR_DOMAIN_JOB_NONE, nparams = 0, operation = -1;
    int job_error = 0;
    virTypedParameterPtr params = NULL;

    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        state = VIR_DOMAIN_NOSTATE;
    if (virDomainGetJobStats(dom, &type, &params, &nparams, 0) < 0) {
        virErrorPtr err = virGetLastError();

        job_error = err != NULL && err->code != VIR_ERR_OK ? err->code : VIR_ERR_INTERNAL_ERROR;
    } else if (virTypedParamsGetInt(params, nparams, VIR_DOMAIN_JOB_OPERATION, &operation) != 1) {
        operation = -1;
    }
    virTypedParamsFree(params, nparams);
    return ns_migration_classify(state, reason, job_error, type, operation);
}

const char *
ns_migration_name(NsMigration m)
{
    switch (m) {
    case NS_MIGRATION_NONE:
        return "none";
    case NS_MIGRATION_OUT:
        return "away";
    case NS_MIGRATION_IN:
        return "here";
    case NS_MIGRATION_UNKNOWN:
    default:
        return "unknown";
    }
}

gboolean
ns_domain_check_not_migrating(NsDomain *d, GError **error)
{
    const char *name = d->config != NULL ? d->config->name : virDomainGetName(d->dom);
    NsMigration m = ns_domain_get_migration(d->dom);

    if (m != NS_MIGRATION_OUT && m != NS_MIGRATION_IN)
        return TRUE; /* unknown: the move's own errors will tell */
    g_set_error(error, NS_ERROR, NS_ERROR_BUSY, "domain %s is migrating %s: its memory is not moved now",
                name, ns_migration_name(m));
    return FALSE;
}

void
ns_domain_listing_free(NsDomainListing *l)
{
    if (l == NULL)
        return;
    g_free(l->uuid);
    g_free(l->name);
    g_free(l);
}

GPtrArray *
ns_domain_list_running(virConnectPtr conn, GError **error)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

    if (n < 0) {
        set_virt_error(error, NS_ERROR_IO, "cannot list the running domains");
        return NULL;
    }
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ns_domain_listing_free);

    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        const char *name = virDomainGetName(doms[i]);

        if (virDomainGetUUIDString(doms[i], uuid) == 0 && name != NULL) {
            NsDomainListing *l = g_new0(NsDomainListing, 1);

            l->uuid = g_ascii_strdown(uuid, -1);
            l->name = g_strdup(name);
            g_ptr_array_add(out, l);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return out;
}

/* The domain's definition as parsed: the live one while it runs. */
static NsDomainConfig *
read_config(virDomainPtr dom, const char *name, GError **error)
{
    g_autofree char *xml = virDomainGetXMLDesc(dom, 0);

    if (xml == NULL) {
        set_virt_error(error, NS_ERROR_IO, name);
        return NULL;
    }
    return ns_domain_config_parse(xml, error);
}

NsDomain *
ns_domain_open(virConnectPtr conn, const char *name, GError **error)
{
    g_autoptr(NsDomain) d = g_new0(NsDomain, 1);
    int active;

    d->dom = lookup(conn, name, error);
    if (d->dom == NULL)
        return NULL;
    active = virDomainIsActive(d->dom);
    if (active < 0) {
        set_virt_error(error, NS_ERROR_IO, name);
        return NULL;
    }
    if (active == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_NOT_RUNNING, "domain '%s' is not running",
                    virDomainGetName(d->dom));
        return NULL;
    }
    d->config = read_config(d->dom, name, error);
    if (d->config == NULL)
        return NULL;
    d->qmp = ns_qmp_new_libvirt(d->dom);
    if (!open_qemu_process(d, conn, error)) {
        g_prefix_error(error, "domain '%s': ", d->config->name);
        return NULL;
    }
    return g_steal_pointer(&d);
}

gboolean
ns_domain_set_policy_metadata(virConnectPtr conn, const char *name, const char *mode,
                              gboolean set_priority, gint priority, NsDomainConfig **ret_config,
                              GError **error)
{
    NsPolicyMode parsed;

    if (mode != NULL && !ns_policy_mode_from_string(mode, &parsed, error))
        return FALSE;
    if (set_priority && (priority < NS_DOMAIN_PRIORITY_MIN || priority > NS_DOMAIN_PRIORITY_MAX)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "priority %d: not from %d to %d",
                    priority, NS_DOMAIN_PRIORITY_MIN, NS_DOMAIN_PRIORITY_MAX);
        return FALSE;
    }
    virDomainPtr dom = lookup(conn, name, error);

    if (dom == NULL)
        return FALSE;
    g_autoptr(NsDomainConfig) now = read_config(dom, name, error);
    int active = virDomainIsActive(dom), persistent = virDomainIsPersistent(dom);
    unsigned int flags = (active == 1 ? VIR_DOMAIN_AFFECT_LIVE : 0u) |
                         (persistent == 1 ? VIR_DOMAIN_AFFECT_CONFIG : 0u);

    if (now == NULL || active < 0 || persistent < 0) {
        if (now != NULL)
            set_virt_error(error, NS_ERROR_IO, name);
        virDomainFree(dom);
        return FALSE;
    }
    /* What is not asked for stays as the metadata has it. */
    const char *new_mode = mode != NULL ? mode : now->numashift_policy;
    gboolean has_priority = set_priority || now->has_numashift_priority;
    gint new_priority = set_priority ? priority : now->numashift_priority;
    g_autoptr(GString) element = g_string_new("<policy");

    if (new_mode != NULL)
        g_string_append_printf(element, " mode='%s'", new_mode); /* checked: follow or off */
    if (has_priority)
        g_string_append_printf(element, " priority='%d'", new_priority);
    g_string_append(element, "/>");
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, element->str, "numashift",
                             NS_DOMAIN_METADATA_URI, flags) < 0) {
        virErrorPtr err = virGetLastError();

        set_virt_error(error,
                       err != NULL && (err->code == VIR_ERR_ACCESS_DENIED ||
                                       err->code == VIR_ERR_AUTH_FAILED ||
                                       err->code == VIR_ERR_OPERATION_DENIED)
                           ? NS_ERROR_PERMISSION
                           : NS_ERROR_IO,
                       name);
        virDomainFree(dom);
        return FALSE;
    }
    NsDomainConfig *after = ret_config != NULL ? read_config(dom, name, error) : NULL;

    virDomainFree(dom);
    if (ret_config != NULL && after == NULL)
        return FALSE;
    if (ret_config != NULL)
        *ret_config = after;
    return TRUE;
}

void
ns_domain_free(NsDomain *domain)
{
    if (domain == NULL)
        return;
    g_clear_pointer(&domain->qmp, ns_qmp_free);
    g_clear_pointer(&domain->process, ns_process_free);
    g_clear_pointer(&domain->config, ns_domain_config_free);
    if (domain->dom != NULL)
        virDomainFree(domain->dom);
    g_free(domain);
}

const NsDomainConfig *
ns_domain_get_config(const NsDomain *domain)
{
    return domain->config;
}

pid_t
ns_domain_get_pid(const NsDomain *domain)
{
    return domain->pid;
}

const NsProcess *
ns_domain_get_process(const NsDomain *domain)
{
    return domain->process;
}

const char *
ns_domain_get_pid_source(const NsDomain *domain)
{
    return domain->pid_source;
}

NsQmp *
ns_domain_get_qmp(const NsDomain *domain)
{
    return domain->qmp;
}

virDomainPtr
ns_domain_get_virdomain(const NsDomain *domain)
{
    return domain->dom;
}

NsMemMap *
ns_domain_load_memmap(NsDomain *domain, GError **error)
{
    g_autoptr(GHashTable) cells = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    /* libvirt names a vNUMA cell's memory backend "ram-node<N>". */
    for (guint i = 0; i < domain->config->cells->len; i++) {
        guint id = g_array_index(domain->config->cells, NsDomainCell, i).id;

        g_hash_table_insert(cells, g_strdup_printf("ram-node%u", id), GINT_TO_POINTER((gint)id));
    }
    /* A DIMM's or virtio-mem device's backend is "mem" + the device's alias;
     * its memory belongs to the cell its <target><node> names. */
    for (guint i = 0; i < domain->config->memory_devices->len; i++) {
        const NsDomainMemoryDevice *d =
            &g_array_index(domain->config->memory_devices, NsDomainMemoryDevice, i);

        if (d->alias != NULL && d->node >= 0)
            g_hash_table_insert(cells, g_strdup_printf("mem%s", d->alias), GINT_TO_POINTER(d->node));
    }
    NsMemMap *map = ns_memmap_load(domain->qmp, domain->pid, NULL, cells, error);

    if (map != NULL)
        map->start_ticks = ns_process_get_start_ticks(domain->process);
    return map;
}

GPtrArray *
ns_domain_get_vcpu_pinning(NsDomain *domain, GError **error)
{
    int ncpus = virNodeGetCPUMap(virDomainGetConnect(domain->dom), NULL, NULL, 0);
    guint nvcpus = domain->config->vcpus;

    if (ncpus <= 0) {
        set_virt_error(error, NS_ERROR_IO, "host CPU count");
        return NULL;
    }
    if (nvcpus == 0) {
        g_set_error_literal(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "domain has no vCPU");
        return NULL;
    }
    int maplen = VIR_CPU_MAPLEN(ncpus);
    g_autofree unsigned char *maps = g_new0(unsigned char, (gsize)maplen * nvcpus);
    int got = virDomainGetVcpuPinInfo(domain->dom, (int)nvcpus, maps, maplen,
                                      VIR_DOMAIN_AFFECT_LIVE);

    if (got < 0) {
        set_virt_error(error, NS_ERROR_IO, "vCPU pinning");
        return NULL;
    }
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);

    for (int v = 0; v < got; v++) {
        GArray *cpus = g_array_new(FALSE, FALSE, sizeof(guint));

        for (int cpu = 0; cpu < ncpus; cpu++) {
            if (VIR_CPU_USABLE(maps, maplen, v, cpu)) {
                guint c = (guint)cpu;

                g_array_append_val(cpus, c);
            }
        }
        g_ptr_array_add(out, cpus);
    }
    return out;
}
