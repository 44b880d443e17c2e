/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hooks for libnsradix's own tests: a reader that keeps an old root across
 * writer changes, to show that it still walks a valid subtree.  Not
 * installed, not part of the API.
 */
#pragma once

#include "numashift/radix.h"

/*
 * The tree's root pointer as a reader sees it now (opaque).
 * Context: registered RCU reader inside urcu_memb_read_lock().
 */
const void *ns_radix__root_snapshot(const NsRadix *tree);

/*
 * ns_radix_lookup() starting from a root taken earlier with
 * ns_radix__root_snapshot() in the same read-side section.
 * Context: registered RCU reader inside the read-side section that took @root.
 */
void *ns_radix__lookup_from(const void *root, uint64_t index);

/*
 * Fault injection: let @successes more node allocations succeed, then fail
 * every later one with ENOMEM until called again; -1 turns injection off.
 * Process-wide.
 * Context: any thread; a relaxed atomic store.
 */
void ns_radix__inject_alloc_failure(int successes);

/*
 * True in radix_defer_free builds, where retired nodes stay allocated until
 * ns_radix_destroy() instead of a grace period after their removal.
 * Context: any.
 */
bool ns_radix__frees_deferred(void);
