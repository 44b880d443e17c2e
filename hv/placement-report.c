/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A placement summary as JSON: numashiftd's status answer and
 * `numashift --json status` write the same object (placement.h).
 */
#include "numashift/placement.h"

static void
add_stats(JsonBuilder *b, const NsPlacementStats *st)
{
    json_builder_begin_object(b);
    if (st->cell >= 0) {
        json_builder_set_member_name(b, "cell");
        json_builder_add_int_value(b, st->cell);
    }
    json_builder_set_member_name(b, "nodes");
    json_builder_begin_object(b);
    for (guint n = 0; n < st->nodes->len; n++) {
        NsPlacementCount c = ns_placement_stats_node(st, n);
        g_autofree char *key = g_strdup_printf("%u", n);

        json_builder_set_member_name(b, key);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "pages");
        json_builder_add_int_value(b, (gint64)c.pages);
        json_builder_set_member_name(b, "bytes");
        json_builder_add_int_value(b, (gint64)c.bytes);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    NsPlacementCount unmovable = { 0 };

    for (guint k = 0; k < NS_UNMOVABLE_CAUSES; k++) {
        unmovable.pages += st->unmovable[k].pages;
        unmovable.bytes += st->unmovable[k].bytes;
    }
    const struct {
        const char *name;
        NsPlacementCount c;
    } totals[] = {
        { "present", st->present }, { "absent", st->absent },       { "migrating", st->migrating },
        { "failed", st->failed },   { "unmovable", unmovable },     { "huge", st->huge },
        { "total", st->total },
    };
    for (gsize i = 0; i < G_N_ELEMENTS(totals); i++) {
        g_autofree char *pages = g_strdup_printf("%s_pages", totals[i].name);

        json_builder_set_member_name(b, pages);
        json_builder_add_int_value(b, (gint64)totals[i].c.pages);
    }
    json_builder_set_member_name(b, "unmovable");
    json_builder_begin_array(b);
    for (NsUnmovableCause k = 0; k < NS_UNMOVABLE_CAUSES; k++) {
        if (st->unmovable[k].pages == 0)
            continue;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "cause");
        json_builder_add_string_value(b, ns_unmovable_cause_to_string(k));
        json_builder_set_member_name(b, "pages");
        json_builder_add_int_value(b, (gint64)st->unmovable[k].pages);
        json_builder_set_member_name(b, "bytes");
        json_builder_add_int_value(b, (gint64)st->unmovable[k].bytes);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

void
ns_placement_summary_add_json(JsonBuilder *b, const NsPlacementSummary *summary)
{
    json_builder_set_member_name(b, "guest");
    add_stats(b, &summary->all);
    json_builder_set_member_name(b, "cells");
    json_builder_begin_array(b);
    for (guint i = 0; i < summary->cells->len; i++)
        add_stats(b, g_ptr_array_index(summary->cells, i));
    json_builder_end_array(b);
}
