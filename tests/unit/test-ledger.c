/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the host's memory ledger (include/numashift/ledger.h): promises
 * per owner, node and page size; what an owner delivered shrinks each of
 * its promises by the same share; release forgets an owner; and the
 * decision lock lets one owner read and promise at a time, so two
 * threads deciding on the same room never both take it.
 */
#include <glib.h>

#include "numashift/ledger.h"

#define MIB (G_GUINT64_CONSTANT(1) << 20)
#define HUGE_2M (2 * MIB)

static void
test_promise_and_release(void)
{
    g_autoptr(NsLedger) ledger = ns_ledger_new();

    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 0);
    ns_ledger_promise(ledger, 7, 1, 0, 100 * MIB);
    ns_ledger_promise(ledger, 7, 1, 0, 20 * MIB); /* adds up */
    ns_ledger_promise(ledger, 8, 1, 0, 50 * MIB);
    ns_ledger_promise(ledger, 8, 0, 0, 10 * MIB);
    ns_ledger_promise(ledger, 9, 1, 0, 0); /* nothing: no entry */
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 170 * MIB);
    /* An owner does not count its own promises. */
    g_assert_cmpuint(ns_ledger_promised(ledger, 7, 1, 0), ==, 50 * MIB);
    g_assert_cmpuint(ns_ledger_promised(ledger, 8, 1, 0), ==, 120 * MIB);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 0, 0), ==, 10 * MIB);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 2, 0), ==, 0);
    ns_ledger_unlock(ledger);

    ns_ledger_release(ledger, 7);
    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 50 * MIB);
    ns_ledger_unlock(ledger);
    ns_ledger_release(ledger, 8);
    ns_ledger_release(ledger, 8); /* twice, or never promised: nothing */
    ns_ledger_release(ledger, 12);
    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 0, 0), ==, 0);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 0);
    ns_ledger_unlock(ledger);
}

/* A hugetlbfs pool is its own memory: MemFree does not show it. */
static void
test_page_sizes_apart(void)
{
    g_autoptr(NsLedger) ledger = ns_ledger_new();

    ns_ledger_lock(ledger);
    ns_ledger_promise(ledger, 3, 1, HUGE_2M, 40 * HUGE_2M);
    ns_ledger_promise(ledger, 3, 1, 0, 8 * MIB);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, HUGE_2M), ==, 40 * HUGE_2M);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 8 * MIB);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 1024 * MIB), ==, 0);
    ns_ledger_unlock(ledger);
}

/* Free memory already shows what arrived: each promise shrinks by the share delivered. */
static void
test_delivered(void)
{
    g_autoptr(NsLedger) ledger = ns_ledger_new();

    ns_ledger_lock(ledger);
    ns_ledger_promise(ledger, 5, 0, 0, 300 * MIB);
    ns_ledger_promise(ledger, 5, 1, 0, 100 * MIB);
    ns_ledger_promise(ledger, 6, 1, 0, 64 * MIB);
    ns_ledger_unlock(ledger);

    ns_ledger_delivered(ledger, 5, 100 * MIB); /* a quarter of 400 */
    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 0, 0), ==, 225 * MIB);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 75 * MIB + 64 * MIB);
    ns_ledger_unlock(ledger);

    /* A total, not a delta: the same figure again changes nothing. */
    ns_ledger_delivered(ledger, 5, 100 * MIB);
    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 0, 0), ==, 225 * MIB);
    ns_ledger_unlock(ledger);

    /* More than promised (pages of a plan larger than the decision) settles all. */
    ns_ledger_delivered(ledger, 5, 500 * MIB);
    ns_ledger_delivered(ledger, 99, 1 * MIB); /* no such owner: nothing */
    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 0, 0), ==, 0);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 64 * MIB);
    ns_ledger_unlock(ledger);
}

/*
 * Two threads each read the room left on node 1 (1000 MiB less every
 * promise) and promise up to 600 MiB of it, under the lock, many times
 * over: without the lock both would see 1000 MiB and promise 1200 in all.
 */
typedef struct {
    NsLedger *ledger;
    guint64 owner;
    guint64 got;
} Decider;

static gpointer
decide_thread(gpointer p)
{
    Decider *d = p;

    for (guint round = 0; round < 2000; round++) {
        ns_ledger_lock(d->ledger);
        guint64 taken = ns_ledger_promised(d->ledger, d->owner, 1, 0);
        guint64 room = taken < 1000 * MIB ? 1000 * MIB - taken : 0;

        d->got = MIN(room, 600 * MIB);
        ns_ledger_promise(d->ledger, d->owner, 1, 0, d->got);
        g_assert_cmpuint(ns_ledger_promised(d->ledger, 0, 1, 0), <=, 1000 * MIB);
        ns_ledger_unlock(d->ledger);
        g_thread_yield();
        ns_ledger_release(d->ledger, d->owner);
    }
    return NULL;
}

static void
test_lock_serialises(void)
{
    g_autoptr(NsLedger) ledger = ns_ledger_new();
    Decider a = { ledger, 1, 0 }, b = { ledger, 2, 0 };
    GThread *ta = g_thread_new("decider-a", decide_thread, &a);
    GThread *tb = g_thread_new("decider-b", decide_thread, &b);

    g_thread_join(ta);
    g_thread_join(tb);
    ns_ledger_lock(ledger);
    g_assert_cmpuint(ns_ledger_promised(ledger, 0, 1, 0), ==, 0);
    ns_ledger_unlock(ledger);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ledger/promise-and-release", test_promise_and_release);
    g_test_add_func("/ledger/page-sizes-apart", test_page_sizes_apart);
    g_test_add_func("/ledger/delivered", test_delivered);
    g_test_add_func("/ledger/lock-serialises", test_lock_serialises);
    return g_test_run();
}
