/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the per-domain mover lock (include/numashift/mover-lock.h):
 * exclusive within a process and across processes, released by its
 * holder's death (SIGKILL), and refusing what is not a UUID.  Runs in a
 * temporary lock directory (NUMASHIFT_MOVER_LOCK_DIR).
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "numashift/error.h"
#include "numashift/mover-lock.h"

#define UUID_A "6f1c9a52-0000-4000-8000-000000000001"
#define UUID_B "6f1c9a52-0000-4000-8000-000000000002"

static void
test_exclusive(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsMoverLock) a = ns_mover_lock_take(UUID_A, "first mover", &error);

    g_assert_no_error(error);
    g_assert_nonnull(a);

    /* A second open of the same lock, in the same process: refused, naming the holder. */
    NsMoverLock *again = ns_mover_lock_take(UUID_A, "second mover", &error);

    g_assert_null(again);
    g_assert_error(error, NS_ERROR, NS_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "first mover"));
    g_clear_error(&error);

    /* Another domain is another lock. */
    g_autoptr(NsMoverLock) b = ns_mover_lock_take(UUID_B, "mover of B", &error);

    g_assert_no_error(error);
    g_assert_nonnull(b);

    /* Released: the next one gets it. */
    g_clear_pointer(&a, ns_mover_lock_release);
    again = ns_mover_lock_take(UUID_A, "second mover", &error);
    g_assert_no_error(error);
    g_assert_nonnull(again);
    ns_mover_lock_release(again);
    ns_mover_lock_release(NULL);
}

/* A holder SIGKILLed mid-move never keeps the next mover out. */
static void
test_holder_dies(void)
{
    g_autoptr(GError) error = NULL;
    int ready[2];
    char c = 0;
    int status = 0;

    g_assert_cmpint(pipe(ready), ==, 0);
    pid_t child = fork();

    g_assert_cmpint(child, >=, 0);
    if (child == 0) {
        NsMoverLock *lock = ns_mover_lock_take(UUID_A, "child mover", NULL);

        c = lock != NULL ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(2);
        pause();
        _exit(0);
    }
    close(ready[1]);
    g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
    close(ready[0]);
    g_assert_cmpint(c, ==, 'y');

    NsMoverLock *refused = ns_mover_lock_take(UUID_A, "parent", &error);

    g_assert_null(refused);
    g_assert_error(error, NS_ERROR, NS_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "child mover"));
    g_clear_error(&error);

    g_assert_cmpint(kill(child, SIGKILL), ==, 0);
    g_assert_cmpint(waitpid(child, &status, 0), ==, child);
    g_assert_true(WIFSIGNALED(status));

    g_autoptr(NsMoverLock) after = ns_mover_lock_take(UUID_A, "parent", &error);

    g_assert_no_error(error);
    g_assert_nonnull(after);
}

static void
test_bad_input(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_null(ns_mover_lock_take("../../etc/passwd", "x", &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    g_assert_null(ns_mover_lock_take(NULL, "x", &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);

    /* A lock directory that cannot exist (a file in its way): one error, no crash. */
    g_autofree char *file = g_build_filename(g_getenv(NS_MOVER_LOCK_DIR_ENV), "plain-file", NULL);
    g_autofree char *below = g_build_filename(file, "movers", NULL);

    g_assert_true(g_file_set_contents(file, "", 0, NULL));
    g_setenv(NS_MOVER_LOCK_DIR_ENV, below, TRUE);
    g_assert_null(ns_mover_lock_take(UUID_A, "x", &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_IO);
    g_autofree char *dir = g_path_get_dirname(file);

    g_setenv(NS_MOVER_LOCK_DIR_ENV, dir, TRUE);
    g_assert_cmpint(g_remove(file), ==, 0);
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("ns-mover-lock-XXXXXX", &error);
    int rc;

    g_assert_no_error(error);
    g_setenv(NS_MOVER_LOCK_DIR_ENV, dir, TRUE);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mover-lock/exclusive", test_exclusive);
    g_test_add_func("/mover-lock/holder-dies", test_holder_dies);
    g_test_add_func("/mover-lock/bad-input", test_bad_input);
    rc = g_test_run();
    /* The lock files stay after a release, by design: remove them here. */
    for (const char *const *u = (const char *const[]){ UUID_A, UUID_B, NULL }; *u != NULL; u++) {
        g_autofree char *name = g_strdup_printf("%s/%s.lock", dir, *u);

        g_remove(name);
    }
    if (g_rmdir(dir) != 0)
        g_printerr("test-mover-lock: %s left behind\n", dir);
    return rc;
}
