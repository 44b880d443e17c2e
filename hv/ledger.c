/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's memory ledger (include/numashift/ledger.h).  A handful of
 * jobs with a handful of promises each: a flat array is enough.
 */
#include "numashift/ledger.h"

typedef struct {
    guint64 owner;
    guint node;
    guint64 page_size;
    guint64 bytes; /* promised in all */
} Promise;

typedef struct {
    guint64 owner;
    guint64 promised; /* the sum of its promises */
    guint64 delivered;
} Owner;

struct _NsLedger {
    GMutex decide;  /* ns_ledger_lock(): one decision at a time */
    GMutex data;    /* the arrays; held briefly, also by delivered/release */
    GArray *promises; /* of Promise */
    GArray *owners;   /* of Owner */
};

NsLedger *
ns_ledger_new(void)
{
    NsLedger *ledger = g_new0(NsLedger, 1);

    g_mutex_init(&ledger->decide);
    g_mutex_init(&ledger->data);
    ledger->promises = g_array_new(FALSE, FALSE, sizeof(Promise));
    ledger->owners = g_array_new(FALSE, FALSE, sizeof(Owner));
    return ledger;
}

void
ns_ledger_free(NsLedger *ledger)
{
    if (ledger == NULL)
        return;
    g_array_unref(ledger->promises);
    g_array_unref(ledger->owners);
    g_mutex_clear(&ledger->data);
    g_mutex_clear(&ledger->decide);
    g_free(ledger);
}

void
ns_ledger_lock(NsLedger *ledger)
{
    g_mutex_lock(&ledger->decide);
}

void
ns_ledger_unlock(NsLedger *ledger)
{
    g_mutex_unlock(&ledger->decide);
}

/* @owner's entry, made when missing; under data. */
static Owner *
owner_entry(NsLedger *ledger, guint64 owner)
{
    Owner fresh = { owner, 0, 0 };

    for (guint i = 0; i < ledger->owners->len; i++) {
        Owner *o = &g_array_index(ledger->owners, Owner, i);

        if (o->owner == owner)
            return o;
    }
    g_array_append_val(ledger->owners, fresh);
    return &g_array_index(ledger->owners, Owner, ledger->owners->len - 1);
}

void
ns_ledger_promise(NsLedger *ledger, guint64 owner, guint node, guint64 page_size, guint64 bytes)
{
    Promise p = { owner, node, page_size, bytes };

    g_return_if_fail(owner != 0);
    if (bytes == 0)
        return;
    g_mutex_lock(&ledger->data);
    owner_entry(ledger, owner)->promised += bytes;
    g_array_append_val(ledger->promises, p);
    g_mutex_unlock(&ledger->data);
}

/* What of @p is still to arrive: its share of what its owner has not delivered. */
static guint64
outstanding(const Promise *p, const Owner *o)
{
    if (o->delivered >= o->promised)
        return 0;
    /* bytes * (promised - delivered) / promised: a share, so a double's
     * 53 bits are plenty (a rounding error is bytes, not pages). */
    return (guint64)((double)p->bytes * (double)(o->promised - o->delivered) /
                     (double)o->promised);
}

guint64
ns_ledger_promised(NsLedger *ledger, guint64 except, guint node, guint64 page_size)
{
    guint64 sum = 0;

    g_mutex_lock(&ledger->data);
    for (guint i = 0; i < ledger->promises->len; i++) {
        const Promise *p = &g_array_index(ledger->promises, Promise, i);

        if (p->owner != except && p->node == node && p->page_size == page_size)
            sum += outstanding(p, owner_entry(ledger, p->owner));
    }
    g_mutex_unlock(&ledger->data);
    return sum;
}

void
ns_ledger_delivered(NsLedger *ledger, guint64 owner, guint64 moved_bytes)
{
    g_mutex_lock(&ledger->data);
    for (guint i = 0; i < ledger->owners->len; i++) {
        Owner *o = &g_array_index(ledger->owners, Owner, i);

        if (o->owner == owner)
            o->delivered = moved_bytes;
    }
    g_mutex_unlock(&ledger->data);
}

void
ns_ledger_release(NsLedger *ledger, guint64 owner)
{
    g_mutex_lock(&ledger->data);
    for (guint i = ledger->promises->len; i-- > 0;)
        if (g_array_index(ledger->promises, Promise, i).owner == owner)
            g_array_remove_index_fast(ledger->promises, i);
    for (guint i = ledger->owners->len; i-- > 0;)
        if (g_array_index(ledger->owners, Owner, i).owner == owner)
            g_array_remove_index_fast(ledger->owners, i);
    g_mutex_unlock(&ledger->data);
}
