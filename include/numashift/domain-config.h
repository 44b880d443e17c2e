/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a domain's XML says about memory placement
 * ===============================================
 * The facts the policy and the move pipeline read about a domain (vCPUs,
 * vNUMA cells, numatune, numashift's own metadata), parsed from the XML
 * libvirt gives (virDomainGetXMLDesc).  No libvirt here: the policy is pure
 * and is tested on XML text alone; domain.h reads the XML from libvirt.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A guest vNUMA cell from <cpu><numa><cell .../>. */
typedef struct {
    guint id;
    guint64 memory_kib;
    GArray *vcpus;          /* of guint, ascending */
    char *memnode_mode;     /* <numatune><memnode cellid='id' mode='...'>: "strict" (also
                               when the mode is left out, as libvirt does), "preferred",
                               "interleave", "restrictive"; NULL without a memnode */
    char *memnode_nodeset;  /* that memnode's nodeset, e.g. "0"; NULL without a memnode */
} NsDomainCell;

/*
 * A memory device (<devices><memory model='dimm'|'virtio-mem'>), hot-plugged
 * or not: its RAM belongs to the vNUMA cell its <target><node> names.
 * libvirt names the device's memory backend "mem" + its alias ("memdimm0",
 * "memvirtiomem0").
 */
typedef struct {
    char *model;            /* "dimm" or "virtio-mem" */
    char *alias;            /* <alias name='dimm0'/> (the live XML has it); NULL: none yet */
    gint node;              /* <target><node>: its vNUMA cell; -1: not given */
} NsDomainMemoryDevice;

/* What the domain XML says about memory placement. */
typedef struct {
    char *name;
    char *uuid;
    guint vcpus;            /* <vcpu> count */
    guint64 memory_kib;     /* <memory> */
    GArray *cells;          /* of NsDomainCell, by id; empty without vNUMA */
    char *numatune_mode;    /* "strict", "preferred", "interleave", "restrictive"; NULL */
    char *numatune_nodeset; /* e.g. "0-1"; NULL when absent or placement='auto' */
    char *numashift_policy; /* <metadata><numashift:policy mode='...'/>; NULL */
    gboolean has_numashift_priority;
    gint numashift_priority; /* its priority='N' (NS_DOMAIN_PRIORITY_MIN..MAX): among
                                numashiftd's pending jobs of one urgency, higher first */
    GArray *emulator_cpus;  /* <cputune><emulatorpin cpuset='...'/>: host CPUs QEMU's
                               own threads run on, of guint ascending; NULL: none */
    GArray *memory_devices; /* of NsDomainMemoryDevice: dimm and virtio-mem devices, in
                               XML order (nvdimm and virtio-pmem are file-backed
                               persistent memory: not RAM numashift moves) */
    char *pinning_device;   /* the first assigned device whose DMA pins all guest RAM
                               (VFIO: <hostdev type='pci'|'mdev'>, <interface
                               type='hostdev'>), e.g. "hostdev pci 0000:03:00.0"; NULL: none */
} NsDomainConfig;

/* The XML namespace of numashift's element in a domain's <metadata>. */
#define NS_DOMAIN_METADATA_URI "http://numashift.org/schemas/domain/1.0"

/* The range of a domain's priority, in its metadata or numashiftd.conf. */
#define NS_DOMAIN_PRIORITY_MIN (-1000)
#define NS_DOMAIN_PRIORITY_MAX 1000

/*
 * Parse the domain XML @xml (virDomainGetXMLDesc's) into a new config.
 * Errors: NS_ERROR_INVALID_INPUT for XML that does not parse, is not a
 * <domain>, or has a malformed number, unit or CPU list where we read one,
 * a <memnode> without cellid or nodeset, naming a cell the domain does not
 * define, or a cell twice.
 * Context: any thread; no locks.
 */
NsDomainConfig *ns_domain_config_parse(const char *xml, GError **error);

/*
 * The vNUMA cell that holds vCPU @vcpu, or -1.
 * Context: any thread; no locks.
 */
gint ns_domain_config_cell_of_vcpu(const NsDomainConfig *config, guint vcpu);

/*
 * Free @config.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_domain_config_free(NsDomainConfig *config);

/*
 * Parse a libvirt-style CPU or node list ("0-3,^2,8") into a new ascending
 * array of guint with no duplicates.  Errors: NS_ERROR_INVALID_INPUT.
 * Context: any thread; no locks.
 */
GArray *ns_parse_cpulist(const char *list, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsDomainConfig, ns_domain_config_free)

G_END_DECLS
