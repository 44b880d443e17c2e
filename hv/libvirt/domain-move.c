/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The move pipeline on a libvirt domain (move.h's ns_move_run()): the
 * domain's parsed XML and its live vCPU pinning are the facts
 * ns_move_run_on() asks for.
 */
#include <string.h>

#include "numashift/domain.h"
#include "numashift/move.h"
#include "numashift/qmp.h"

static GPtrArray *
domain_pinning(gpointer data, GError **error)
{
    return ns_domain_get_vcpu_pinning(data, error);
}

/* KVM's counters through QMP query-stats; none under TCG (an empty list). */
static gboolean
domain_kvm_counters(gpointer data, NsKvmCounters *ret)
{
    g_autoptr(GArray) stats = ns_qmp_query_kvm_stats(ns_domain_get_qmp(data), NULL);
    guint64 v;

    if (stats == NULL || stats->len == 0)
        return FALSE;
    memset(ret, 0, sizeof(*ret));
#define GET(field)                                                                                 \
    if (ns_qmp_stats_get(stats, #field, &v))                                                       \
        ret->field = (gint64)v;
    GET(pages_4k)
    GET(pages_2m)
    GET(pages_1g)
    GET(remote_tlb_flush)
    GET(remote_tlb_flush_requests)
    GET(mmu_shadow_zapped)
#undef GET
    return TRUE;
}

gboolean
ns_move_run(NsMove *move, NsDomain *dom, const NsMemMap *map, NsLiveMap *live, GError **error)
{
    /* A live migration copies the memory now: not moved under it. */
    if (!ns_domain_check_not_migrating(dom, error))
        return FALSE;
    ns_move_set_kvm_counters(move, domain_kvm_counters, dom);
    ns_move_set_process(move, ns_domain_get_process(dom));
    return ns_move_run_on(move, ns_domain_get_config(dom), domain_pinning, dom, map, live, error);
}
