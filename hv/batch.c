/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pacing for the migration engine: batch sizing by a time budget, and the
 * token bucket behind the rate limit.  Both are pure: the engine passes in
 * the measurements and the clock, so the tests can drive them exactly.
 */
#include "numashift/engine.h"

/* ---- batch sizing -------------------------------------------------------- */

static guint64
clamp_pages(guint64 pages, guint64 lo, guint64 hi)
{
    return pages < lo ? lo : pages > hi ? hi : pages;
}

static guint64
double_pages(guint64 pages)
{
    return pages > G_MAXUINT64 / 2 ? G_MAXUINT64 : pages * 2;
}

guint64
ns_engine_batch_next(const NsBatchSizing *sizing, guint64 last_pages, gint64 last_us)
{
    guint64 lo = MAX(sizing->min_pages, G_GUINT64_CONSTANT(1));
    guint64 hi = MAX(sizing->max_pages, lo);
    guint64 grown;
    double ideal;

    if (last_pages == 0)
        return clamp_pages(NS_ENGINE_BATCH_INITIAL, lo, hi);
    if (sizing->budget_us <= 0)
        return hi;
    grown = double_pages(last_pages);
    if (last_us <= 0)
        return clamp_pages(grown, lo, hi);

    /* In double: last_pages * budget can overflow 64 bits. */
    ideal = (double)last_pages * (double)sizing->budget_us / (double)last_us;
    if (ideal >= (double)grown)
        return clamp_pages(grown, lo, hi);
    if (ideal < 1.0)
        return lo;
    return clamp_pages((guint64)ideal, lo, hi);
}

/* ---- token bucket -------------------------------------------------------- */

/*
 * Credit is kept in bytes * 1e6 so that a refill of elapsed_us * rate is an
 * exact integer: no rounding, no drift over a long job.
 */
#define SCALE G_GINT64_CONSTANT(1000000)
#define SCALED_MAX (G_MAXINT64 / 4)

static gint64
scale_bytes(guint64 bytes)
{
    return bytes >= (guint64)(SCALED_MAX / SCALE) ? SCALED_MAX : (gint64)bytes * SCALE;
}

static void
refill(NsTokenBucket *bucket, gint64 now_us)
{
    gint64 elapsed = now_us - bucket->last_us;
    gint64 room;

    if (elapsed <= 0)
        return;
    bucket->last_us = now_us;
    if (bucket->tokens >= bucket->capacity)
        return;
    room = bucket->capacity - bucket->tokens;
    /* elapsed * rate could overflow; compare against room / rate first. */
    if ((guint64)elapsed >= (guint64)room / bucket->rate + 1)
        bucket->tokens = bucket->capacity;
    else
        bucket->tokens += elapsed * (gint64)bucket->rate;
}

void
ns_token_bucket_init(NsTokenBucket *bucket, guint64 rate_bytes_per_s, guint64 capacity_bytes,
                     gint64 now_us)
{
    bucket->rate = MIN(rate_bytes_per_s, (guint64)(SCALED_MAX / SCALE));
    bucket->capacity = scale_bytes(capacity_bytes);
    bucket->tokens = bucket->capacity;
    bucket->last_us = now_us;
}

void
ns_token_bucket_set_rate(NsTokenBucket *bucket, guint64 rate_bytes_per_s,
                         guint64 capacity_bytes, gint64 now_us)
{
    if (bucket->rate != 0)
        refill(bucket, now_us);
    else
        bucket->tokens = G_MAXINT64; /* capped below */
    bucket->last_us = MAX(bucket->last_us, now_us);
    bucket->rate = MIN(rate_bytes_per_s, (guint64)(SCALED_MAX / SCALE));
    bucket->capacity = scale_bytes(capacity_bytes);
    bucket->tokens = MIN(bucket->tokens, bucket->capacity);
}

gint64
ns_token_bucket_take(NsTokenBucket *bucket, guint64 bytes, gint64 now_us)
{
    gint64 want;
    gint64 debt;

    if (bucket->rate == 0)
        return 0;
    refill(bucket, now_us);
    want = scale_bytes(bytes);
    /* Keep the debt bounded so that the arithmetic below cannot overflow. */
    if (bucket->tokens < -SCALED_MAX + want)
        bucket->tokens = -SCALED_MAX;
    else
        bucket->tokens -= want;
    if (bucket->tokens >= 0)
        return 0;
    debt = -bucket->tokens;
    /* Round up: waiting a microsecond too little would overdraw. */
    return (gint64)(((guint64)debt + bucket->rate - 1) / bucket->rate);
}
