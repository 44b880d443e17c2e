/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Handing work between threads and a GLib main context, in the two ways
 * numashift needs, each written once.
 *
 * ns_main_post() queues a call on a context, always queued, never run
 * inline: g_main_context_invoke() calls the function at once when the
 * caller owns the context or nobody does, which is wrong both for
 * libvirt's callbacks (they run with libvirt's locks held) and for job
 * threads during shutdown (the callback may free the job).
 *
 * NsMainDone is "iterate this context until a worker says it is done".
 * A worker that ends a GMainLoop with g_main_loop_quit() loses the quit
 * when it comes before the owner has entered g_main_loop_run(): the loop
 * then runs for ever (numashift migrate hung so whenever its job ended
 * first: nothing to move, a dry run, a main thread slowed by ASan).  A
 * done flag checked between iterations, with g_main_context_wakeup() to
 * end a blocking one, cannot lose the news whatever the order.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Queue @func(@data) on @context (NULL: the global default) at default
 * priority; @destroy frees @data once the source is gone.  @func runs from
 * that context's next iteration, never from this call.
 * Context: any thread; takes no lock of ours.
 */
void ns_main_post(GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy);

/* A one-shot "done" flag for a thread that waits in a main context.  Plain
 * data: embed it, no free needed. */
typedef struct {
    GMainContext *context; /* not owned */
    gint done;             /* atomic */
} NsMainDone;

/*
 * Make @done unset, for waiting in @context (NULL: the global default).
 * Context: the thread that will wait, before any worker may set it.
 */
void ns_main_done_init(NsMainDone *done, GMainContext *context);

/*
 * Set @done and wake its context; a wait in progress or to come returns.
 * Context: any thread, once or more; takes no lock of ours.
 */
void ns_main_done_set(NsMainDone *done);

/*
 * Whether @done is set.
 * Context: any thread.
 */
gboolean ns_main_done_is_set(NsMainDone *done);

/*
 * Dispatch @done's context (signal sources, I/O, timeouts attached to it)
 * until @done is set, including when it was set before this call.
 * Context: the thread that owns or may acquire the context; not from a
 * callback of that context (it would nest).
 */
void ns_main_done_wait(NsMainDone *done);

/*
 * Keep a handler for @signum (SIGINT, SIGTERM, SIGHUP...) installed in the
 * process until it exits: from now on @signum never takes its default
 * action (death); it is dispatched to the g_unix_signal_add() sources that
 * want it, or swallowed when none does.
 *
 * Why: GLib restores the default action when the last source for a signal
 * goes, and timeout(1), like a shell's Ctrl-C, delivers SIGINT twice (to
 * the process, then to its process group).  The second one, arriving after
 * the command's own source had ended its wait and gone, killed
 * `numashift status --watch` (exit 130 in CI, 2026-11-30) instead of
 * letting it exit 0.  Call this before adding the command's own sources.
 * Context: the main thread; the default main context dispatches the
 * (empty) source it adds.
 */
void ns_main_hold_signal(int signum);

G_END_DECLS
