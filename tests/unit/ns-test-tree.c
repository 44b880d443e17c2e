/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ns-test-tree.h"

#include <urcu/urcu-memb.h>

void *
ns_test_tree_lookup(const NsRadix *tree, guint64 gfn)
{
    void *entry;

    urcu_memb_read_lock();
    entry = ns_radix_lookup(tree, gfn);
    urcu_memb_read_unlock();
    return entry;
}

gboolean
ns_test_tree_tag_get(const NsRadix *tree, guint64 gfn, NsRadixTag tag)
{
    gboolean on;

    urcu_memb_read_lock();
    on = ns_radix_tag_get(tree, gfn, tag);
    urcu_memb_read_unlock();
    return on;
}

GArray *
ns_test_tree_snapshot(const NsRadix *tree)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(guint64));
    NsRadixIter it;
    guint64 gfn, tagged;
    void *entry;

    ns_radix_iter_init(&it, 0, G_MAXUINT64);
    for (;;) {
        urcu_memb_read_lock();
        entry = ns_radix_iter_next(tree, &it, &gfn);
        tagged = entry != NULL && ns_radix_tag_get(tree, gfn, NS_RADIX_TAG_FAILED);
        urcu_memb_read_unlock();
        if (entry == NULL)
            break;
        g_array_append_val(out, gfn);
        g_array_append_val(out, entry);
        g_array_append_val(out, tagged);
    }
    return out;
}
