/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unknown keys and malformed numbers are fatal rather than ignored: a
 * misspelt "pass=3" that silently ran forever would hang whatever test
 * started us, which is harder to diagnose than an immediate refusal.
 */
#include "options.h"

#include <stddef.h>

#include "race.h"
#include "smp.h"

#define TOKEN_MAX 64u

static char bad_token[TOKEN_MAX];

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
key_is(const char *tok, size_t key_len, const char *key)
{
    size_t i = 0;

    for (; i < key_len && key[i] != '\0'; i++)
        if (tok[i] != key[i])
            return false;
    return i == key_len && key[i] == '\0';
}

static int
digit_value(char c, uint32_t base)
{
    int v = -1;

    if (c >= '0' && c <= '9')
        v = c - '0';
    else if (c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        v = c - 'A' + 10;
    return v >= 0 && (uint32_t)v < base ? v : -1;
}

static bool
parse_u32(const char *s, size_t len, uint32_t *out)
{
    uint32_t base = 10;
    uint64_t v = 0;

    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        int d = digit_value(s[i], base);

        if (d < 0)
            return false;
        v = v * base + (uint32_t)d;
        if (v > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)v;
    return true;
}

static const char *
reject(const char *tok, size_t len)
{
    size_t n = len < TOKEN_MAX - 1 ? len : TOKEN_MAX - 1;

    for (size_t i = 0; i < n; i++)
        bad_token[i] = tok[i];
    bad_token[n] = '\0';
    return bad_token;
}

/* Whether @value is acceptable for the option stored at @dst. */
static bool
in_range(const struct guest_options *opt, const uint32_t *dst, uint32_t value)
{
    if (dst == &opt->active)
        return value >= 1 && value <= 100;
    if (dst == &opt->cpus)
        return value <= MAX_CPUS;
    if (dst == &opt->race)
        return value <= RACE_MAX_PAGES;
    return true;
}

const char *
options_parse(const char *cmdline, struct guest_options *opt)
{
    *opt = (struct guest_options){ .passes = 0, .active = 100 };
    if (cmdline == NULL)
        return NULL;

    const char *p = cmdline;
    /* The tokens that may conflict with each other once all are known. */
    const char *selftest_corrupt_tok = NULL, *selftest_race_tok = NULL;
    size_t selftest_corrupt_len = 0, selftest_race_len = 0;

    while (*p) {
        while (is_space(*p))
            p++;
        if (*p == '\0')
            break;

        const char *tok = p;
        const char *eq = NULL;

        while (*p && !is_space(*p)) {
            if (*p == '=' && eq == NULL)
                eq = p;
            p++;
        }
        if (eq == NULL)
            continue;

        size_t key_len = (size_t)(eq - tok);
        const char *val = eq + 1;
        size_t val_len = (size_t)(p - val);
        uint32_t *dst;

        if (key_is(tok, key_len, "passes")) {
            dst = &opt->passes;
        } else if (key_is(tok, key_len, "window")) {
            dst = &opt->window;
            opt->window_set = true;
        } else if (key_is(tok, key_len, "seed")) {
            dst = &opt->seed;
        } else if (key_is(tok, key_len, "selftest_corrupt")) {
            dst = &opt->selftest_corrupt;
            selftest_corrupt_tok = tok;
            selftest_corrupt_len = (size_t)(p - tok);
        } else if (key_is(tok, key_len, "selftest_oversleep")) {
            dst = &opt->selftest_oversleep;
        } else if (key_is(tok, key_len, "selftest_fault")) {
            dst = &opt->selftest_fault;
        } else if (key_is(tok, key_len, "active")) {
            dst = &opt->active;
        } else if (key_is(tok, key_len, "hot")) {
            if (key_is(val, val_len, "low"))
                opt->hot = GUEST_HOT_LOW;
            else if (key_is(val, val_len, "high"))
                opt->hot = GUEST_HOT_HIGH;
            else if (key_is(val, val_len, "scattered"))
                opt->hot = GUEST_HOT_SCATTERED;
            else
                return reject(tok, (size_t)(p - tok));
            continue;
        } else if (key_is(tok, key_len, "cpus")) {
            dst = &opt->cpus;
        } else if (key_is(tok, key_len, "race")) {
            dst = &opt->race;
        } else if (key_is(tok, key_len, "selftest_race")) {
            dst = &opt->selftest_race;
            selftest_race_tok = tok;
            selftest_race_len = (size_t)(p - tok);
        } else {
            return reject(tok, (size_t)(p - tok));
        }
        if (!parse_u32(val, val_len, dst) || !in_range(opt, dst, *dst))
            return reject(tok, (size_t)(p - tok));
    }
    /*
     * A selftest that cannot fire would let its test "pass" by proving
     * nothing, so one aimed at the mode that is not running is refused.
     */
    if (opt->race == 0 && opt->selftest_race != 0)
        return reject(selftest_race_tok, selftest_race_len);
    if (opt->race != 0 && opt->selftest_corrupt != 0)
        return reject(selftest_corrupt_tok, selftest_corrupt_len);
    return NULL;
}
