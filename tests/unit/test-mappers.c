/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who else maps a guest's memory (hv/kernel/mappers.c): a real memfd that
 * a child maps too, found in the real /proc; then a /proc tree written
 * here for what the real one cannot show on demand (processes that vanish,
 * names that are not PIDs, maps that do not parse).
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numashift/error.h"
#include "numashift/mappers.h"

/* A child that maps @fd shared, names itself "ns-mapper" and waits. */
static pid_t
start_mapper(int fd, gsize size)
{
    int ready[2];
    char c;
    pid_t pid;

    g_assert_cmpint(pipe(ready), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        void *p;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "ns-mapper");
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            _exit(1);
        (void)write(ready[1], "r", 1);
        for (;;)
            pause();
    }
    close(ready[1]);
    g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
    close(ready[0]);
    return pid;
}

static void
test_real_memfd(void)
{
    const gsize size = 16 * 4096;
    int fd = memfd_create("ns-test-guest-ram", MFD_CLOEXEC);
    struct stat st;
    void *mine;
    pid_t child;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) found = NULL;
    g_autoptr(GPtrArray) none = NULL;
    g_autofree char *text = NULL;
    g_autofree char *want = NULL;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    const NsMappedObject guest_ram = { major(st.st_dev), minor(st.st_dev), st.st_ino };

    mine = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    g_assert_true(mine != MAP_FAILED);
    child = start_mapper(fd, size);

    /* Seen from "QEMU" (this process): the child maps it, by name. */
    found = ns_mappers_find(NULL, getpid(), &guest_ram, 1, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(found->len, ==, 1);
    g_assert_cmpint(((NsMapper *)found->pdata[0])->pid, ==, child);
    g_assert_cmpstr(((NsMapper *)found->pdata[0])->comm, ==, "ns-mapper");
    text = ns_mappers_describe(found, 4);
    want = g_strdup_printf("pid %d (ns-mapper)", (int)child);
    g_assert_cmpstr(text, ==, want);

    /* Seen from the child: this process maps it. */
    g_clear_pointer(&found, g_ptr_array_unref);
    found = ns_mappers_find(NULL, child, &guest_ram, 1, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(found->len, ==, 1);
    g_assert_cmpint(((NsMapper *)found->pdata[0])->pid, ==, getpid());

    /* Once the child is gone, nobody else. */
    kill(child, SIGKILL);
    g_assert_cmpint(waitpid(child, NULL, 0), ==, child);
    none = ns_mappers_find(NULL, getpid(), &guest_ram, 1, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(none->len, ==, 0);
    munmap(mine, size);
    close(fd);
}

static void
write_proc(const char *root, const char *pid, const char *maps, const char *comm)
{
    g_autofree char *dir = g_build_filename(root, pid, NULL);
    g_autofree char *maps_path = g_build_filename(dir, "maps", NULL);
    g_autofree char *comm_path = g_build_filename(dir, "comm", NULL);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    if (maps != NULL)
        g_assert_true(g_file_set_contents(maps_path, maps, -1, NULL));
    if (comm != NULL)
        g_assert_true(g_file_set_contents(comm_path, comm, -1, NULL));
}

static void
remove_tree(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR))
            remove_tree(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

static void
test_written_proc(void)
{
    static const char shared[] =
        "7f0000000000-7f0004000000 rw-s 00000000 00:01 1046   /memfd:guest (deleted)\n";
    static const char other[] =
        "7f0000000000-7f0004000000 rw-s 00000000 00:01 2000   /memfd:other (deleted)\n";
    const NsMappedObject guest = { 0, 1, 1046 };
    const NsMappedObject both[] = { { 0, 1, 1046 }, { 0, 1, 2000 } };
    const NsMappedObject anonymous = { 0, 1, 0 };
    g_autofree char *root = g_dir_make_tmp("ns-proc-XXXXXX", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) found = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GPtrArray) many = g_ptr_array_new_with_free_func((GDestroyNotify)ns_mapper_free);
    g_autofree char *many_text = NULL;
    g_autofree char *missing = NULL;

    g_assert_nonnull(root);
    write_proc(root, "100", shared, "qemu-system-x86\n");    /* "QEMU" itself */
    write_proc(root, "812", shared, "vhost-user-blk\n");
    write_proc(root, "77", shared, NULL);                    /* gone before its comm */
    write_proc(root, "90", other, "bystander\n");
    write_proc(root, "91", "not a maps line\n", "garbled\n"); /* skipped */
    write_proc(root, "92", NULL, "no-maps\n");               /* exited: skipped */
    write_proc(root, "self", shared, "self\n");              /* not a PID */
    write_proc(root, "0123", shared, "leading-zero\n");      /* not a PID */

    found = ns_mappers_find(root, 100, &guest, 1, &error);
    g_assert_no_error(error);
    text = ns_mappers_describe(found, 4);
    g_assert_cmpstr(text, ==, "pid 77 (?), pid 812 (vhost-user-blk)");
    /* Two backends in one pass: each process once, in PID order. */
    g_clear_pointer(&found, g_ptr_array_unref);
    g_clear_pointer(&text, g_free);
    found = ns_mappers_find(root, 100, both, G_N_ELEMENTS(both), &error);
    g_assert_no_error(error);
    text = ns_mappers_describe(found, 4);
    g_assert_cmpstr(text, ==, "pid 77 (?), pid 90 (bystander), pid 812 (vhost-user-blk)");

    /* Anonymous memory has nobody to name; an unreadable root is an error. */
    g_assert_null(ns_mappers_find(root, 100, &anonymous, 1, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    missing = g_build_filename(root, "nowhere", NULL);
    g_assert_null(ns_mappers_find(missing, 100, &guest, 1, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);

    /* Many: the first few by name, then a count. */
    for (guint i = 0; i < 6; i++) {
        NsMapper *m = g_new0(NsMapper, 1);

        m->pid = (pid_t)(10 + i);
        m->comm = g_strdup("dpdk");
        g_ptr_array_add(many, m);
    }
    many_text = ns_mappers_describe(many, 2);
    g_assert_cmpstr(many_text, ==, "pid 10 (dpdk), pid 11 (dpdk), and 4 more");
    g_free(many_text);
    many_text = ns_mappers_describe(NULL, 2);
    g_assert_cmpstr(many_text, ==, "");
    remove_tree(root);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mappers/real-memfd", test_real_memfd);
    g_test_add_func("/mappers/written-proc", test_written_proc);
    return g_test_run();
}
