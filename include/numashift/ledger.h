/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's memory ledger: what running moves have promised each node.
 *
 * numashiftd runs up to max-jobs moves at once, each deciding from the
 * nodes' free memory.  Free memory only drops as pages arrive, so two jobs
 * deciding in turn would both see the same room and together fill a node
 * below its reserve.  Each job therefore decides under the ledger's lock,
 * from free memory read under it, less what every other job has promised
 * the node and not yet delivered; then records its own promises before
 * the lock goes.  A promise shrinks as the job's pages arrive (its
 * progress, which the node's free memory already shows) and goes when
 * the job ends.
 *
 * Promises are kept per node and per page size: 0 for base pages and
 * transparent huge pages (they come out of MemFree), a hugetlbfs page
 * size for that node's pool of such pages (which MemFree does not show).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NsLedger NsLedger;

/*
 * A new, empty ledger.
 * Context: any thread.
 */
NsLedger *ns_ledger_new(void);

/*
 * Free @ledger (NULL: nothing).  No lock may be held.
 * Context: any thread, once no other thread uses it.
 */
void ns_ledger_free(NsLedger *ledger);

/*
 * Take the ledger's decision lock: between lock and unlock no other
 * owner's promises change, so free memory read and decided on under it,
 * less ns_ledger_promised(), is room no other job counts on.  Not
 * recursive.
 * Context: any thread; may block while another owner decides.
 */
void ns_ledger_lock(NsLedger *ledger);

/*
 * Release the decision lock.
 * Context: the thread that took it.
 */
void ns_ledger_unlock(NsLedger *ledger);

/*
 * Record that @owner (a job id, not 0) will bring @bytes to @node's memory
 * of @page_size (0: base pages and THP, out of MemFree; else a hugetlbfs
 * pool); added to what @owner promised there before.
 * Context: under ns_ledger_lock().
 */
void ns_ledger_promise(NsLedger *ledger, guint64 owner, guint node, guint64 page_size,
                       guint64 bytes);

/*
 * What every owner but @except (0: none) has promised @node's memory of
 * @page_size and not yet delivered, in bytes.
 * Context: under ns_ledger_lock().
 */
guint64 ns_ledger_promised(NsLedger *ledger, guint64 except, guint node, guint64 page_size);

/*
 * @owner has delivered @moved_bytes in all (not a delta) of what it
 * promised: each of its promises shrinks by the same share, since the
 * nodes' free memory already counts what arrived.  More than it promised
 * settles all.
 * Context: any thread; takes the lock itself (never call it under it).
 */
void ns_ledger_delivered(NsLedger *ledger, guint64 owner, guint64 moved_bytes);

/*
 * Forget every promise of @owner (its job ended, however).
 * Context: any thread; takes the lock itself (never call it under it).
 */
void ns_ledger_release(NsLedger *ledger, guint64 owner);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsLedger, ns_ledger_free)

G_END_DECLS
