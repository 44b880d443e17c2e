/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NsPlan: guest-physical ranges and the host node each should move to.
 * Kept sorted and disjoint on insertion, so the engine can walk it in
 * order and two steps can never claim the same page.
 */
#include "numashift/engine.h"

#include "numashift/error.h"

NsPlan *
ns_plan_new(void)
{
    NsPlan *plan = g_new0(NsPlan, 1);

    plan->steps = g_array_new(FALSE, FALSE, sizeof(NsPlanStep));
    return plan;
}

void
ns_plan_free(NsPlan *plan)
{
    if (plan == NULL)
        return;
    g_array_unref(plan->steps);
    g_free(plan);
}

static gboolean
check_step(const NsPlan *plan, guint64 gpa, guint64 size, guint node, guint *ret_pos,
           GError **error)
{
    guint pos;

    if (size == 0 || gpa % NS_GUEST_PAGE_SIZE != 0 || size % NS_GUEST_PAGE_SIZE != 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "plan range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                    "x is empty or not 4 KiB aligned", gpa, size);
        return FALSE;
    }
    if (gpa + size < gpa) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "plan range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                    "x wraps around", gpa, size);
        return FALSE;
    }
    if (node > NS_PAGE_NODE_MAX) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "host node %u is beyond the largest node numashift supports (%u)", node,
                    NS_PAGE_NODE_MAX);
        return FALSE;
    }
    /* Steps are sorted: find the first one ending after @gpa. */
    for (pos = 0; pos < plan->steps->len; pos++) {
        const NsPlanStep *s = &g_array_index(plan->steps, NsPlanStep, pos);

        if (s->gpa + s->size <= gpa)
            continue;
        if (s->gpa < gpa + size) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "plan range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                        "x overlaps 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER "x",
                        gpa, size, s->gpa, s->size);
            return FALSE;
        }
        break;
    }
    *ret_pos = pos;
    return TRUE;
}

gboolean
ns_plan_add(NsPlan *plan, guint64 gpa, guint64 size, guint node, GError **error)
{
    NsPlanStep step = { .gpa = gpa, .size = size, .node = node };
    guint pos;

    if (!check_step(plan, gpa, size, node, &pos, error))
        return FALSE;
    g_array_insert_val(plan->steps, pos, step);
    return TRUE;
}

gboolean
ns_plan_add_map(NsPlan *plan, const NsMemMap *map, gint cell, guint node, GError **error)
{
    g_autoptr(NsPlan) staged = ns_plan_new();
    guint i;

    /* Stage on a copy, so that a failure leaves @plan as it was. */
    g_array_append_vals(staged->steps, plan->steps->data, plan->steps->len);
    for (i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

        if (cell >= 0 && r->cell != cell)
            continue;
        if (!ns_plan_add(staged, r->gpa, r->size, node, error))
            return FALSE;
    }
    if (staged->steps->len == plan->steps->len) {
        if (cell >= 0)
            g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                        "no RAM in vNUMA cell %d (process %d)", cell, (int)map->pid);
        else
            g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND,
                        "the memory map of process %d has no RAM range", (int)map->pid);
        return FALSE;
    }
    g_array_set_size(plan->steps, 0);
    g_array_append_vals(plan->steps, staged->steps->data, staged->steps->len);
    return TRUE;
}
