/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ns-test-require.h"

static gboolean
env_is(const char *name, const char *value)
{
    return g_strcmp0(g_getenv(name), value) == 0;
}

static gboolean
require(gboolean present, gboolean must, const char *why_must, const char *what)
{
    if (present)
        return TRUE;
    if (must)
        g_test_fail_printf("%s is missing, and %s", what, why_must);
    else
        g_test_skip_printf("%s is missing", what);
    return FALSE;
}

gboolean
ns_test_require_installed(gboolean present, const char *what)
{
    return require(present, env_is("CI", "true"),
                   "CI=true: tools/install-deps should have installed it", what);
}

gboolean
ns_test_require_host(gboolean present, const char *require_env, const char *what)
{
    g_autofree char *why = g_strdup_printf("%s=1 asks for it", require_env);

    return require(present, env_is(require_env, "1"), why, what);
}
