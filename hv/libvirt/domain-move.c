/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The move pipeline on a libvirt domain (move.h's ns_move_run()): the
 * domain's parsed XML and its live vCPU pinning are the facts
 * ns_move_run_on() asks for.
 */
#include "numashift/domain.h"
#include "numashift/move.h"

static GPtrArray *
domain_pinning(gpointer data, GError **error)
{
    return ns_domain_get_vcpu_pinning(data, error);
}

gboolean
ns_move_run(NsMove *move, NsDomain *dom, const NsMemMap *map, NsLiveMap *live, GError **error)
{
    return ns_move_run_on(move, ns_domain_get_config(dom), domain_pinning, dom, map, live, error);
}
