/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ns-test-file.h"

#include <unistd.h>

char *
ns_test_write_temp(const char *prefix, const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pattern = g_strconcat(prefix, "-XXXXXX", NULL);
    char *path = NULL;
    int fd = g_file_open_tmp(pattern, &path, &error);

    g_assert_no_error(error);
    close(fd);
    g_assert_true(g_file_set_contents(path, text, -1, &error));
    return path;
}
