/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a radix tree from a test: each call is its own read-side section,
 * so tests need not bracket every look.  The calling thread must be a
 * registered liburcu-memb thread.
 */
#pragma once

#include <glib.h>

#include "numashift/radix.h"

G_BEGIN_DECLS

/* The entry at @gfn, or NULL. */
void *ns_test_tree_lookup(const NsRadix *tree, guint64 gfn);

/* Whether @gfn carries @tag. */
gboolean ns_test_tree_tag_get(const NsRadix *tree, guint64 gfn, NsRadixTag tag);

/*
 * Every entry as (gfn, entry, FAILED tag) triples of guint64, in gfn order:
 * two snapshots compare equal with g_assert_cmpmem exactly when the trees
 * hold the same entries with the same FAILED tags.
 */
GArray *ns_test_tree_snapshot(const NsRadix *tree);

G_END_DECLS
