/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of include/numashift/mainloop.h: a done flag a worker sets for a
 * thread waiting in a main context, and work posted to a context.
 *
 * Regression (/mainloop/done/set-before-wait), issue #9: `numashift
 * migrate` hung for ever on a fresh machine (libvirt-bad-input under ASan
 * was killed at 300 s after its first lines).  The engine thread ended the
 * command's GMainLoop with g_main_loop_quit(); when the job ended before
 * the main thread had entered g_main_loop_run() (nothing to move, a dry
 * run, --to the node it is on, a main thread slowed by ASan), the quit
 * was lost and the loop ran until SIGKILL.  This test forces exactly that
 * order: the worker sets the flag and is joined before the wait starts.
 * It takes a millisecond; if the bug comes back the wait never returns by
 * itself, and a 10 s watchdog source on the same context ends it and
 * fails the test with a message that says what was waited for.
 *
 * Regression (/mainloop/hold-signal/...): `numashift status --watch`, ended
 * by `timeout -s INT`, exited 130 (killed by SIGINT) instead of 0 in CI
 * (numa-daemon-live-map, 2026-11-30).  timeout(1) sends the signal to the
 * command and then to its process group, so the command gets it twice;
 * the first one ended the wait and its source returned G_SOURCE_REMOVE,
 * GLib then restored the default action, and the second one killed the
 * process.  The test does that in a subprocess: SIGINT, wait, SIGINT
 * again.  With ns_main_hold_signal() the subprocess exits normally; the
 * companion case shows the same steps without it die of the signal, so
 * the first case can fail.
 */
#include <glib-unix.h>
#include <glib.h>
#include <signal.h>

#include "numashift/mainloop.h"

#define WATCHDOG_S 10

typedef struct {
    NsMainDone *done;
    gboolean fired;
} Watchdog;

static gboolean
watchdog_fired(gpointer data)
{
    Watchdog *w = data;

    w->fired = TRUE;
    ns_main_done_set(w->done);
    return G_SOURCE_REMOVE;
}

/* Wait for @done in the default context, for at most WATCHDOG_S seconds; FALSE on timeout. */
static gboolean
wait_bounded(NsMainDone *done)
{
    Watchdog w = { .done = done };
    guint id = g_timeout_add_seconds(WATCHDOG_S, watchdog_fired, &w);

    ns_main_done_wait(done);
    if (!w.fired)
        g_source_remove(id);
    return !w.fired;
}

static gpointer
set_now(gpointer data)
{
    ns_main_done_set(data);
    return NULL;
}

static gpointer
set_later(gpointer data)
{
    g_usleep(50 * G_TIME_SPAN_MILLISECOND);
    ns_main_done_set(data);
    return NULL;
}

static void
test_done_set_before_wait(void)
{
    NsMainDone done;
    GThread *worker;

    ns_main_done_init(&done, NULL);
    worker = g_thread_new("worker", set_now, &done);
    g_thread_join(worker); /* the worker has finished: the losing order, forced */
    g_assert_true(ns_main_done_is_set(&done));
    if (!wait_bounded(&done))
        g_test_fail_printf("ns_main_done_wait() still waited %d s after the worker had set "
                           "the flag and ended (the lost-quit hang of issue #9)",
                           WATCHDOG_S);
}

static void
test_done_set_while_waiting(void)
{
    NsMainDone done;
    GThread *worker;

    ns_main_done_init(&done, NULL);
    g_assert_false(ns_main_done_is_set(&done));
    worker = g_thread_new("worker", set_later, &done);
    if (!wait_bounded(&done))
        g_test_fail_printf("no wake-up within %d s from a worker that set the flag after 50 ms",
                           WATCHDOG_S);
    g_thread_join(worker);
}

static gboolean
count_and_finish(gpointer data)
{
    NsMainDone *done = data;

    ns_main_done_set(done);
    return G_SOURCE_REMOVE;
}

static gboolean
count_call(gpointer data)
{
    (*(guint *)data)++;
    return G_SOURCE_REMOVE;
}

/* While it waits, the context's sources run (the CLI's SIGINT handler is one). */
static void
test_done_dispatches(void)
{
    NsMainDone done;
    guint calls = 0;

    ns_main_done_init(&done, NULL);
    ns_main_post(NULL, count_call, &calls, NULL);
    ns_main_post(NULL, count_and_finish, &done, NULL);
    if (!wait_bounded(&done))
        g_test_fail_printf("a posted callback that sets the flag did not end the wait in %d s",
                           WATCHDOG_S);
    g_assert_cmpuint(calls, ==, 1);
}

/* A private context: waiting there leaves the default context's sources alone. */
static void
test_done_private_context(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    NsMainDone done;
    guint outside = 0;
    guint id;
    GThread *worker;

    g_main_context_push_thread_default(ctx);
    id = g_idle_add(count_call, &outside); /* default context: must not run */
    ns_main_done_init(&done, ctx);
    g_assert_true(done.context == ctx);
    worker = g_thread_new("worker", set_later, &done);
    ns_main_done_wait(&done);
    g_thread_join(worker);
    g_main_context_pop_thread_default(ctx);
    g_assert_cmpuint(outside, ==, 0);
    g_source_remove(id);
}

/* Posted work runs from the context's next iteration, never inline, even from its owner. */
static void
test_post_never_inline(void)
{
    guint calls = 0;

    g_assert_true(g_main_context_acquire(NULL));
    ns_main_post(NULL, count_call, &calls, NULL);
    g_assert_cmpuint(calls, ==, 0);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpuint(calls, ==, 1);
    g_main_context_release(NULL);
}

typedef struct {
    GMainContext *ctx;
    NsMainDone *done;
    guint *calls;
} Poster;

static gpointer
post_from_thread(gpointer data)
{
    Poster *p = data;

    ns_main_post(p->ctx, count_call, p->calls, NULL);
    ns_main_post(p->ctx, count_and_finish, p->done, NULL);
    return NULL;
}

typedef struct {
    guint calls;
    guint destroyed;
} Counted;

static gboolean
counted_call(gpointer data)
{
    Counted *c = data;

    g_assert_cmpuint(c->destroyed, ==, 0); /* not freed before it ran */
    c->calls++;
    return G_SOURCE_REMOVE;
}

static void
counted_destroy(gpointer data)
{
    ((Counted *)data)->destroyed++;
}

/* From another thread, in order; @destroy runs once, after the call. */
static void
test_post_from_thread(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    NsMainDone done;
    guint calls = 0;
    Poster p = { ctx, &done, &calls };
    Counted counted = { 0, 0 };
    GThread *worker;

    ns_main_done_init(&done, ctx);
    worker = g_thread_new("poster", post_from_thread, &p);
    ns_main_done_wait(&done);
    g_thread_join(worker);
    g_assert_cmpuint(calls, ==, 1);

    ns_main_post(ctx, counted_call, &counted, counted_destroy);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_assert_cmpuint(counted.calls, ==, 1);
    g_assert_cmpuint(counted.destroyed, ==, 1);
}

static gboolean
done_on_signal(gpointer data)
{
    ns_main_done_set(data);
    return G_SOURCE_REMOVE;
}

/* SIGINT ends a wait (its source gone with it), then SIGINT again. */
static void
interrupt_twice(gboolean hold)
{
    NsMainDone done;

    if (hold)
        ns_main_hold_signal(SIGINT);
    ns_main_done_init(&done, NULL);
    g_unix_signal_add(SIGINT, done_on_signal, &done);
    raise(SIGINT);
    ns_main_done_wait(&done);
    raise(SIGINT);
    /* Dispatch whatever the second one queued, as an exiting command does. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void
test_hold_signal_second_sigint(void)
{
    if (g_test_subprocess()) {
        interrupt_twice(TRUE);
        return;
    }
    g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
}

static void
test_hold_signal_without_it_kills(void)
{
    if (g_test_subprocess()) {
        interrupt_twice(FALSE);
        return;
    }
    g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mainloop/done/set-before-wait", test_done_set_before_wait);
    g_test_add_func("/mainloop/done/set-while-waiting", test_done_set_while_waiting);
    g_test_add_func("/mainloop/done/dispatches", test_done_dispatches);
    g_test_add_func("/mainloop/done/private-context", test_done_private_context);
    g_test_add_func("/mainloop/post/never-inline", test_post_never_inline);
    g_test_add_func("/mainloop/post/from-thread", test_post_from_thread);
    g_test_add_func("/mainloop/hold-signal/second-sigint", test_hold_signal_second_sigint);
    g_test_add_func("/mainloop/hold-signal/without-it-kills", test_hold_signal_without_it_kills);
    return g_test_run();
}
