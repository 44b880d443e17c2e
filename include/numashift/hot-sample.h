/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hot pages first (issue #14): which parts of a plan the guest writes.
 *
 * Debian 12's kernel has neither DAMON nor idle page tracking, but it has
 * soft-dirty bits: clear them (NsKernel.clear_soft_dirty), wait, and read
 * which pages were written since (pagemap bit 55).  The move pipeline
 * (move.h) moves those parts of its plan before the rest.
 *
 * What a sample costs the guest: clearing write-protects the whole
 * process's page tables, so every page the guest writes in the window
 * faults once (under KVM the MMU notifier drops the guest's mapping and
 * the vCPU takes an NPT/EPT fault as well).  That is one fault per
 * written page, not per write; the window bounds how many.
 */
#pragma once

#include <glib.h>

#include "numashift/engine.h"
#include "numashift/kernel.h"
#include "numashift/memmap.h"

G_BEGIN_DECLS

/* The grain of a hot part: a written page makes its 2 MiB block hot (a
 * transparent huge page's bit is the whole block's anyway). */
#define NS_HOT_BLOCK_BYTES (G_GUINT64_CONSTANT(2) << 20)

/*
 * Sample which of @plan's memory @map's process writes during @sample_us:
 * returns a new plan of the hot parts of @plan's steps (the same nodes,
 * NS_HOT_BLOCK_BYTES grain, ascending, never outside @plan), and the
 * pages written into @ret_hot_pages.  NULL with -errno in @ret_errno when
 * the sample cannot be taken (ENOTSUP: no pagemap reader; the clear's
 * error).  @kernel NULL: the host's.  @cancelled, when not NULL, is
 * asked every 10 ms of the wait (with @data): TRUE ends the wait early
 * (the parts written so far count).
 * Context: any thread; sleeps @sample_us.
 */
NsPlan *ns_hot_sample(const NsKernel *kernel, const NsMemMap *map, const NsPlan *plan,
                      gint64 sample_us, gboolean (*cancelled)(gpointer data), gpointer data,
                      guint64 *ret_hot_pages, int *ret_errno);

/*
 * @plan without the parts in @hot (both ascending, as ns_hot_sample()
 * gives them): a new plan.
 * Context: any; pure.
 */
NsPlan *ns_plan_subtract(const NsPlan *plan, const NsPlan *hot);

G_END_DECLS
