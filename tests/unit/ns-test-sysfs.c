/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ns-test-sysfs.h"

#include <glib.h>
#include <glib/gstdio.h>

void
ns_test_sysfs_write(const char *root, const char *rel, const char *contents)
{
    g_autofree char *path = g_build_filename(root, "devices/system/node", rel, NULL);
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    g_file_set_contents(path, contents, -1, &error);
    g_assert_no_error(error);
}

void
ns_test_sysfs_remove(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    if (dir != NULL) {
        while ((name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);

            ns_test_sysfs_remove(child);
        }
        g_dir_close(dir);
    }
    g_remove(path);
}
