/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest's memory map: its RAM as guest-physical ranges, each with the
 * QEMU host-virtual address that backs it.
 *
 * Built from HMP `info mtree -f` (RAM regions and their backend names),
 * HMP `gpa2hva` (the host address of each range's first byte) and checked
 * against /proc/PID/maps (every range must lie inside QEMU's mappings: one
 * mapping, or adjacent ones of the same backing object).
 * The radix tree of a domain is keyed by guest frame number,
 * gfn = gpa >> NS_GUEST_PAGE_SHIFT, whatever the backing page size.
 *
 * How it is assembled, and what is checked
 * ----------------------------------------
 * 1. `info mtree -f`: the flat view whose root is "system" (what the
 *    vCPUs see).  Regions of type "ram" are kept, and "rom" views of a
 *    region that is "ram" elsewhere (a PC firmware's shadowed BIOS area:
 *    the backend's own memory, read-only through the PAM registers, so the
 *    map does not depend on when the firmware locked it); real ROMs, romd,
 *    i/o, ramd (ram-device) and nv-ram regions are not guest RAM we move.
 *    A real ROM over bytes of a RAM backend (the reset state, before the
 *    firmware shadowed its BIOS) marks the map unsettled.
 *    Each line gives gpa range, backend (memory region) name and the
 *    offset into it ("@0000000000100000"; none means 0).  The live loader
 *    also keeps only regions named after a memory backend listed by
 *    query-memdev (dropping device RAM such as vga.vram) when QEMU lists
 *    any, and keeps what query-memdev says of each backend (its NUMA policy
 *    and nodes, share) in NsMemMap.backends.  A range not aligned to
 *    NS_GUEST_PAGE_SIZE is trimmed inwards.
 * 2. `gpa2hva ADDR` for the first and last byte of each range: QEMU must
 *    name the same region, and the range must be contiguous in QEMU's
 *    address space.  "No memory is mapped" is NS_ERROR_NOT_FOUND.
 * 3. /proc/PID/smaps (or maps): each range must lie inside readable
 *    mappings without gaps, of one backing object (same device and inode,
 *    file offsets continuing).  In QEMU 7.2 every memfd backend is named
 *    "/memfd:memory-backend-memfd (deleted)", so names prove nothing:
 *    extents do.  All ranges of one backend must agree on where the backend
 *    starts in QEMU (hva - offset), and different backends must not overlap
 *    in QEMU's address space.  page_size is the mappings' KernelPageSize
 *    from smaps (the system page size when reading plain maps).
 * 4. Adjacent ranges of the same backend with continuing offsets are merged;
 *    ranges of different backends never are.  cell comes from the caller's
 *    backend -> vNUMA cell table, -1 for a backend it does not list.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>

/* The QMP connection ns_memmap_load() reads through (qmp.h); only named here,
 * so that the core (placement, engine) sees no libvirt header. */
typedef struct _NsQmp NsQmp;

G_BEGIN_DECLS

#define NS_GUEST_PAGE_SHIFT 12
#define NS_GUEST_PAGE_SIZE (G_GUINT64_CONSTANT(1) << NS_GUEST_PAGE_SHIFT)

/* One contiguous run of guest RAM backed by one contiguous host range. */
typedef struct {
    guint64 gpa;       /* guest-physical start, NS_GUEST_PAGE_SIZE aligned */
    guint64 size;      /* bytes, a multiple of NS_GUEST_PAGE_SIZE */
    guint64 hva;       /* QEMU's host-virtual address of @gpa */
    guint64 page_size; /* host page size backing it (4096, or a hugetlbfs size) */
    char *backend;     /* memory backend or RAM block name ("ram-node0", "pc.ram") */
    guint64 offset;    /* offset of @gpa's byte within @backend */
    gint cell;         /* guest vNUMA cell, -1 when the guest has none */
} NsMemRange;

/*
 * A QEMU memory backend (query-memdev) and the NUMA policy QEMU bound its
 * memory with (mbind(2) on the backend's mapping).  A page moved outside a
 * "bind" backend's host nodes would stay there, but every page the guest
 * faults in afterwards lands back inside them.
 */
typedef struct {
    char *id;          /* the backend's object id ("ram-node0", "pc.ram") */
    guint64 size;      /* bytes */
    gboolean share;    /* share=on: other processes may map the memory */
    char *policy;      /* "default", "preferred", "bind" or "interleave" */
    GArray *host_nodes; /* of guint, ascending: the policy's nodes; empty for "default" */
} NsMemBackend;

/* A guest's RAM, ranges sorted by gpa and never overlapping. */
typedef struct {
    pid_t pid;         /* the QEMU process */
    guint64 start_ticks; /* and its start time (process.h), which tells it from a later
                            process with the same PID; 0: not known */
    GArray *ranges;    /* of NsMemRange */
    GPtrArray *backends; /* of NsMemBackend *, in QEMU's order, from query-memdev;
                            empty when unknown (a map built from captured text) */
    gboolean unsettled; /* a firmware ROM still hides part of a RAM backend (a PC
                           guest before its BIOS shadowed 0xc0000-0xfffff): right
                           now, but the layout changes once the guest runs, so no
                           one keeps it for later (ns_memmap_recheck() cannot see
                           that change) */
} NsMemMap;

/* One mapping of a process, a line of /proc/PID/maps (or entry of smaps). */
typedef struct {
    guint64 start;     /* first byte */
    guint64 end;       /* one past the last byte */
    char perms[5];     /* "rw-p", "rw-s", ... */
    guint64 offset;    /* file offset of @start */
    guint dev_major;
    guint dev_minor;
    guint64 inode;     /* 0 for anonymous memory */
    char *path;        /* "[heap]", "/memfd:... (deleted)", NULL if none */
    guint64 page_size; /* smaps' KernelPageSize in bytes; 0 if not known */
} NsMapsEntry;

/*
 * A new, empty map of QEMU process @pid (ranges to be appended by the
 * caller, who then keeps them sorted and disjoint).  Free with
 * ns_memmap_free(), which frees each range's backend string.
 * Context: any thread; no locks.
 */
NsMemMap *ns_memmap_new(pid_t pid);

/*
 * Parse HMP `info mtree -f` output: the RAM regions of the flat view of
 * root "system" (and read-only views of them, as described above), as a new
 * map with pid 0, in gpa order, with gpa, size, backend and offset set (hva
 * 0, page_size 0, cell -1) and unsettled set.  Errors
 * (NS_ERROR_INVALID_INPUT): no flat view of "system", a line in it that
 * does not parse, overlapping or backwards ranges.  No RAM at all is not an
 * error here (an empty map).
 * Context: any thread; no locks.
 */
NsMemMap *ns_memmap_parse_mtree(const char *text, GError **error);

/*
 * Parse HMP `gpa2hva` output for guest-physical address @gpa, e.g.
 * "Host virtual address for 0x100000 (ram-node0) is 0x7f...\r\n".  On
 * success sets *@ret_region (new string, may be NULL to ignore) and
 * *@ret_hva.  Errors: NS_ERROR_NOT_FOUND for "No memory is mapped at
 * address ...", NS_ERROR_INVALID_INPUT for "... is not RAM", an answer about
 * another address, or anything else.
 * Context: any thread; no locks.
 */
gboolean ns_memmap_parse_gpa2hva(const char *reply, guint64 gpa, char **ret_region,
                                 guint64 *ret_hva, GError **error);

/*
 * Parse the text of /proc/PID/maps or /proc/PID/smaps into a new array of
 * NsMapsEntry (element clear function set), in file order, which must be
 * ascending and disjoint.  Errors: NS_ERROR_INVALID_INPUT.
 * Context: any thread; no locks.
 */
GArray *ns_memmap_parse_maps(const char *text, GError **error);

/*
 * Read and parse the mappings in @path (ns_memmap_parse_maps()):
 * /proc/PID/maps or smaps when @is_proc, a captured file otherwise.  Errors:
 * NS_ERROR_NOT_RUNNING for a /proc file that is gone (the process exited),
 * NS_ERROR_NOT_FOUND for a missing captured file, NS_ERROR_PERMISSION,
 * NS_ERROR_IO, and the parser's, prefixed with @path.
 * Context: any thread; reads the file; no locks.
 */
GArray *ns_memmap_read_maps(const char *path, gboolean is_proc, GError **error);

/*
 * Check and finish @raw (from ns_memmap_parse_mtree(), each range's hva
 * filled in) against @maps (from ns_memmap_parse_maps()) as described at
 * the top of this file, and return a new map for @pid: merged, page_size
 * and cell set, @raw's backends copied.  @backend_cells maps a backend name (char *) to its vNUMA
 * cell (GINT_TO_POINTER(cell)); NULL or a backend it lacks gives cell -1.
 * Errors: NS_ERROR_INVALID_INPUT when a check fails (the message names the
 * range).
 * Context: any thread; no locks.
 */
NsMemMap *ns_memmap_assemble(pid_t pid, const NsMemMap *raw, const GArray *maps,
                             GHashTable *backend_cells, GError **error);

/*
 * Build the map of the QEMU process @pid that @qmp talks to: query-memdev,
 * `info mtree -f`, two `gpa2hva` per RAM range, then @maps_path (NULL:
 * /proc/PID/smaps) and ns_memmap_assemble().  The guest's memory layout
 * must not change meanwhile (memory hotplug, a guest reprogramming PAM
 * registers during firmware boot); if it did, the checks fail rather than
 * produce a wrong map.  Errors: those of the steps; NS_ERROR_NOT_FOUND if
 * the guest has no RAM range or @maps_path does not exist;
 * NS_ERROR_NOT_RUNNING if /proc/PID does not (the process is gone);
 * NS_ERROR_PERMISSION if the maps file may not be read.
 * Context: any thread; blocks on the monitor (takes @qmp's mutex per
 * command) and on reading the maps file.
 */
NsMemMap *ns_memmap_load(NsQmp *qmp, pid_t pid, const char *maps_path,
                         GHashTable *backend_cells, GError **error);

/*
 * Check a map loaded earlier against QEMU's mappings as they are now
 * (@maps_path, NULL: /proc/PID/maps; no page-table walk, no monitor
 * command) and return a new copy of it: every range must still pass the
 * checks of ns_memmap_assemble() and come out the same (page sizes are
 * carried over).  What it cannot see, a memory device plugged into QEMU
 * since, the caller must watch for (libvirt's device events).  Errors:
 * NS_ERROR_INVALID_INPUT (the map no longer holds), NS_ERROR_NOT_RUNNING
 * (the process is gone), those of reading the file.
 * Context: any thread; no locks; reads the maps file.
 */
NsMemMap *ns_memmap_recheck(const NsMemMap *map, const char *maps_path, GError **error);

/* A deep copy of @map.  Context: any thread; no locks. */
NsMemMap *ns_memmap_copy(const NsMemMap *map);

/*
 * The backend @id of @map (NsMemMap.backends), or NULL.  Borrowed.
 * Context: any thread; no locks; @map must not change meanwhile.
 */
const NsMemBackend *ns_memmap_find_backend(const NsMemMap *map, const char *id);

/*
 * A new NsMemBackend, copying @id, @policy and @host_nodes (NULL: none).
 * Free with ns_mem_backend_free().
 * Context: any thread; no locks.
 */
NsMemBackend *ns_mem_backend_new(const char *id, guint64 size, gboolean share, const char *policy,
                                 const GArray *host_nodes);

/*
 * Free one NsMemBackend.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_mem_backend_free(NsMemBackend *backend);

/*
 * The range holding guest-physical address @gpa, or NULL.  Borrowed.
 * Context: any thread; no locks; @map must not change meanwhile.
 */
const NsMemRange *ns_memmap_lookup(const NsMemMap *map, guint64 gpa);

/*
 * Free @map, its ranges, their backend strings and its backends.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_memmap_free(NsMemMap *map);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsMemMap, ns_memmap_free)

G_END_DECLS
