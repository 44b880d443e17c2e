/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who else maps a guest's memory.  A memory backend with share=on (a memfd
 * or a file) may be mapped by other processes too, a vhost-user backend
 * (a DPDK switch, virtiofsd) say; move_pages(2) with MPOL_MF_MOVE leaves
 * such pages where they are and answers EACCES.  numashift names those
 * processes, found as the kernel shows them: a line of /proc/PID/maps with
 * the same device and inode as QEMU's mapping of the backend.
 */
#pragma once

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    pid_t pid;
    char *comm; /* /proc/PID/comm, without its newline; "?" when gone meanwhile */
} NsMapper;

/* A mapped object as /proc/PID/maps names it: device and inode. */
typedef struct {
    guint dev_major;
    guint dev_minor;
    guint64 inode;
} NsMappedObject;

/* Free @mapper; NULL is accepted.  Context: any thread. */
void ns_mapper_free(NsMapper *mapper);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsMapper, ns_mapper_free)

/*
 * Every process under @proc_root (NULL: "/proc") other than @self whose
 * maps show any of the @n_objects @objects (each inode non-zero), as a new
 * array of NsMapper * (free function set), in ascending PID order, each
 * process once.  A process that exits meanwhile, or whose maps may not be
 * read, is skipped, not an error.  Errors: NS_ERROR_IO when @proc_root
 * cannot be listed; NS_ERROR_INVALID_INPUT for an inode 0 (anonymous
 * memory is nobody's to share by name).
 * Context: any thread; reads every process's maps once (milliseconds per
 * hundred processes): call it when pages were found shared, not per page.
 */
GPtrArray *ns_mappers_find(const char *proc_root, pid_t self, const NsMappedObject *objects,
                           guint n_objects, GError **error);

/*
 * @mappers in a few words: "pid 812 (vhost-user-blk), pid 901 (virtiofsd)",
 * the first @max named and "and N more" after them; "" for none.
 * Context: any thread; pure.
 */
char *ns_mappers_describe(const GPtrArray *mappers, guint max);

G_END_DECLS
