/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pacing a move by what the guest feels (include/numashift/pacer.h).
 *
 * The pace is a level on one ladder, 0 the fastest: levels 0 .. W-1 drop
 * workers (W, W-1, .. 2 with the full budget), then the budget halves per
 * level down to the minimum (1 worker), then the rest after each call
 * grows (gap 1, 3, 7, 15).  A step down is one level; so is a step up.
 */
#include "numashift/pacer.h"

typedef struct {
    pid_t tid;
    guint64 wait_ns;
} Seen;

struct _NsPacer {
    guint workers;
    gint64 budget_us;
    guint budget_steps; /* halvings from budget_us to NS_PACER_BUDGET_MIN_US */
    guint levels;       /* the slowest level + 1 */
    guint level;
    guint calm;         /* intervals in a row under half the bound */
    guint over;         /* intervals in a row over the bound */
    gboolean begun;
    guint bound_permille; /* baseline + NS_PACER_WAIT_BOUND_PERMILLE */
    GArray *last;         /* of Seen: the previous sample */
    gint64 last_us;
    NsPacerStats stats;
};

static void
remember(NsPacer *p, const GArray *waits, gint64 now_us)
{
    g_array_set_size(p->last, 0);
    for (guint i = 0; waits != NULL && i < waits->len; i++) {
        const NsThreadWait *w = &g_array_index(waits, NsThreadWait, i);
        Seen s = { w->tid, w->wait_ns };

        g_array_append_val(p->last, s);
    }
    p->last_us = now_us;
}

/* The worst vCPU's wait since the last sample, per mille of wall time. */
static guint
worst_permille(const NsPacer *p, const GArray *waits, gint64 now_us)
{
    gint64 wall_ns = (now_us - p->last_us) * 1000;
    guint64 worst = 0;

    if (wall_ns <= 0 || waits == NULL)
        return 0;
    for (guint i = 0; i < waits->len; i++) {
        const NsThreadWait *w = &g_array_index(waits, NsThreadWait, i);

        for (guint k = 0; k < p->last->len; k++) {
            const Seen *s = &g_array_index(p->last, Seen, k);

            if (s->tid == w->tid && w->wait_ns >= s->wait_ns)
                worst = MAX(worst, w->wait_ns - s->wait_ns);
        }
    }
    return (guint)MIN(worst * 1000 / (guint64)wall_ns, 1000u);
}

NsPacer *
ns_pacer_new(const GArray *waits, gint64 now_us)
{
    NsPacer *p = g_new0(NsPacer, 1);

    p->workers = 1;
    p->budget_us = NS_PACER_BUDGET_MIN_US;
    p->levels = 1;
    p->bound_permille = NS_PACER_WAIT_BOUND_PERMILLE;
    p->last = g_array_new(FALSE, FALSE, sizeof(Seen));
    remember(p, waits, now_us);
    return p;
}

void
ns_pacer_quiet(NsPacer *p, const GArray *waits, gint64 now_us)
{
    if (!p->begun)
        remember(p, waits, now_us);
}

gint64
ns_pacer_baseline_wait_us(const NsPacer *p, gint64 now_us)
{
    if (p->begun || p->last->len == 0)
        return 0;
    return CLAMP(p->last_us + NS_PACER_BASELINE_MIN_US - now_us, 0, NS_PACER_BASELINE_MIN_US);
}

void
ns_pacer_begin(NsPacer *p, guint workers, gint64 budget_us, const GArray *waits, gint64 now_us)
{
    if (!p->begun) {
        p->begun = TRUE;
        p->workers = MAX(workers, 1u);
        p->budget_us = MAX(budget_us, NS_PACER_BUDGET_MIN_US);
        p->budget_steps = 0;
        for (gint64 b = p->budget_us; b / 2 >= NS_PACER_BUDGET_MIN_US; b /= 2)
            p->budget_steps++;
        /* Worker drops, budget halvings, gaps 1 3 7 15, and full pace. */
        p->levels = (p->workers - 1) + p->budget_steps + 4 + 1;
        if (now_us - p->last_us >= NS_PACER_BASELINE_MIN_US && p->last->len > 0)
            p->stats.baseline_permille = worst_permille(p, waits, now_us);
        p->bound_permille = MIN(p->stats.baseline_permille + NS_PACER_WAIT_BOUND_PERMILLE, 1000u);
    }
    remember(p, waits, now_us);
}

gboolean
ns_pacer_sample(NsPacer *p, const GArray *waits, gint64 now_us)
{
    guint permille = worst_permille(p, waits, now_us);
    guint old = p->level;

    remember(p, waits, now_us);
    p->stats.intervals++;
    p->stats.peak_permille = MAX(p->stats.peak_permille, permille);
    if (permille > p->bound_permille) {
        p->calm = 0;
        if (++p->over >= NS_PACER_OVER_INTERVALS && p->level + 1 < p->levels) {
            p->level++;
            p->over = 0;
            p->stats.backoffs++;
        }
    } else if (permille * 2 <= p->bound_permille) {
        p->over = 0;
        if (++p->calm >= NS_PACER_CALM_INTERVALS && p->level > 0) {
            p->level--;
            p->calm = 0;
        }
    } else {
        p->calm = 0;
        p->over = 0;
    }
    p->stats.slowest_level = MAX(p->stats.slowest_level, p->level);
    return p->level != old;
}

NsPace
ns_pacer_get(const NsPacer *p)
{
    NsPace pace = { .workers = p->workers, .budget_us = p->budget_us, .gap = 0 };
    guint level = p->level;
    guint drop = MIN(level, p->workers - 1);

    pace.workers -= drop;
    level -= drop;
    guint halve = MIN(level, p->budget_steps);

    pace.budget_us = p->budget_us >> halve;
    level -= halve;
    if (level > 0)
        pace.gap = MIN((1u << level) - 1, NS_PACER_GAP_MAX);
    return pace;
}

NsPacerStats
ns_pacer_get_stats(const NsPacer *p)
{
    return p->stats;
}

void
ns_pacer_free(NsPacer *p)
{
    if (p == NULL)
        return;
    g_array_unref(p->last);
    g_free(p);
}
