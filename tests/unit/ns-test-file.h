/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small files for tests: configuration files, captured /proc files edited
 * for a case.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Write @text to a new file in the temporary directory, named after
 * @prefix ("ns-memmap" gives ns-memmap-XXXXXX); returns its path (free it,
 * unlink it when done).  Aborts the test when it cannot.
 * Context: any thread.
 */
char *ns_test_write_temp(const char *prefix, const char *text);

G_END_DECLS
