/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Skip or fail a test whose prerequisite is missing, by who provides it.
 *
 * A skip is honest only where nothing the project does could have
 * provided the prerequisite.  Packages come from tools/install-deps (the
 * README's commands run it), so in CI (CI=true) a missing package is a
 * failure: a test that quietly skipped there would hide a broken install
 * list.  A host capability (two NUMA nodes, THP) is the machine's; those
 * tests skip on a machine without it, and fail where the caller asked for
 * it by name (the numa suite sets the variable inside its test host).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * TRUE when @present.  Otherwise marks the current test skipped, or failed
 * under CI=true, saying @what is missing, and returns FALSE: return then.
 * Context: the test's thread.
 */
gboolean ns_test_require_installed(gboolean present, const char *what);

/*
 * TRUE when @present.  Otherwise marks the current test skipped, or failed
 * when the environment variable @require_env is set to 1, saying @what is
 * missing, and returns FALSE: return then.
 * Context: the test's thread.
 */
gboolean ns_test_require_host(gboolean present, const char *require_env, const char *what);

G_END_DECLS
