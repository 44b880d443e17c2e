/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol (proto/control.c): every op valid and invalid, the
 * line's limits (size, nesting, NUL, UTF-8, line breaks), JSON that
 * json-glib alone would take but the protocol must not, random bytes and
 * mutated requests (never a crash, always a clean error or a request that
 * encodes back to itself), id echo, and the reply/event encoders and
 * their parser.
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "numashift/control.h"
#include "numashift/error.h"

static NsControlRequest *
parse_ok(const char *line)
{
    g_autoptr(GError) error = NULL;
    NsControlRequest *r = ns_control_request_parse(line, strlen(line), &error);

    if (r == NULL)
        g_error("'%s' rejected: %s", line, error->message);
    return r;
}

/* @line must be rejected with a one-line message containing @part (if not NULL). */
static void
parse_fails_len(const char *line, gsize len, const char *part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsControlRequest) r = ns_control_request_parse(line, len, &error);

    if (r != NULL)
        g_error("'%.*s' accepted", (int)MIN(len, 200), line);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_null(strchr(error->message, '\n'));
    if (part != NULL && strstr(error->message, part) == NULL)
        g_error("'%.*s': error '%s' does not mention '%s'", (int)MIN(len, 200), line,
                error->message, part);
}

static void
parse_fails(const char *line, const char *part)
{
    parse_fails_len(line, strlen(line), part);
}

/* Two requests say the same thing. */
static void
assert_same_request(const NsControlRequest *a, const NsControlRequest *b)
{
    g_assert_cmpint(a->op, ==, b->op);
    g_assert_true((a->id == NULL) == (b->id == NULL));
    if (a->id != NULL)
        g_assert_true(json_node_equal(a->id, b->id));
    g_assert_cmpstr(a->domain, ==, b->domain);
    g_assert_cmpuint(a->to, ==, b->to);
    g_assert_cmpint(a->cell, ==, b->cell);
    g_assert_cmpfloat(a->rate, ==, b->rate);
    g_assert_cmpuint(a->workers, ==, b->workers);
    g_assert_cmpstr(a->cpus, ==, b->cpus);
    g_assert_cmpint(a->move_shared, ==, b->move_shared);
    g_assert_cmpuint(a->hot_sample_ms, ==, b->hot_sample_ms);
    g_assert_cmpstr(a->mode, ==, b->mode);
    g_assert_cmpuint(a->events, ==, b->events);
    g_assert_cmpstr(a->uuid, ==, b->uuid);
    g_assert_cmpstr(a->operation, ==, b->operation);
    g_assert_cmpstr(a->suboperation, ==, b->suboperation);
}

/* Encoding @r and parsing the line gives @r back. */
static void
assert_round_trip(const NsControlRequest *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *line = ns_control_request_to_line(r, &error);
    g_autoptr(NsControlRequest) back = NULL;

    g_assert_no_error(error);
    g_assert_true(g_str_has_suffix(line, "\n"));
    g_assert_true(strchr(line, '\n') == line + strlen(line) - 1);
    back = parse_ok(line);
    assert_same_request(r, back);
}

/* ------------------------------------------------------------------------
 * Ops
 */

static void
test_list_jobs(void)
{
    static const char *const ops[] = { "list", "jobs" };

    for (gsize i = 0; i < G_N_ELEMENTS(ops); i++) {
        g_autofree char *plain = g_strdup_printf("{\"op\":\"%s\"}", ops[i]);
        g_autofree char *extra = g_strdup_printf("{\"op\":\"%s\",\"domain\":\"a\"}", ops[i]);
        g_autofree char *unknown = g_strdup_printf("{\"op\":\"%s\",\"verbose\":true}", ops[i]);
        g_autoptr(NsControlRequest) r = parse_ok(plain);

        g_assert_cmpint(r->op, ==, i == 0 ? NS_CONTROL_OP_LIST : NS_CONTROL_OP_JOBS);
        g_assert_null(r->id);
        g_assert_null(r->domain);
        g_assert_cmpint(r->cell, ==, -1);
        assert_round_trip(r);
        parse_fails(extra, "takes no field \"domain\"");
        parse_fails(unknown, "takes no field \"verbose\"");
    }
}

static void
test_domain_ops(void)
{
    static const struct {
        const char *name;
        NsControlOp op;
    } ops[] = {
        { "status", NS_CONTROL_OP_STATUS },     { "rebalance", NS_CONTROL_OP_REBALANCE },
        { "pause", NS_CONTROL_OP_PAUSE },       { "resume", NS_CONTROL_OP_RESUME },
        { "cancel", NS_CONTROL_OP_CANCEL },     { "policy-get", NS_CONTROL_OP_POLICY_GET },
    };
    g_autofree char *longest = g_strnfill(NS_CONTROL_DOMAIN_MAX, 'd');
    g_autofree char *too_long = g_strnfill(NS_CONTROL_DOMAIN_MAX + 1, 'd');

    for (gsize i = 0; i < G_N_ELEMENTS(ops); i++) {
        const char *op = ops[i].name;
        g_autofree char *ok = g_strdup_printf("{\"op\":\"%s\",\"domain\":\"vm1\"}", op);
        g_autofree char *ok_utf8 =
            g_strdup_printf("{\"op\":\"%s\",\"domain\":\"v\xc3\xa9m \\u00e9 \\ud83d\\ude00\"}", op);
        g_autofree char *ok_longest = g_strdup_printf("{\"op\":\"%s\",\"domain\":\"%s\"}", op, longest);
        g_autofree char *missing = g_strdup_printf("{\"op\":\"%s\"}", op);
        g_autofree char *empty = g_strdup_printf("{\"op\":\"%s\",\"domain\":\"\"}", op);
        g_autofree char *as_int = g_strdup_printf("{\"op\":\"%s\",\"domain\":7}", op);
        g_autofree char *as_null = g_strdup_printf("{\"op\":\"%s\",\"domain\":null}", op);
        g_autofree char *as_array = g_strdup_printf("{\"op\":\"%s\",\"domain\":[\"a\"]}", op);
        g_autofree char *as_object = g_strdup_printf("{\"op\":\"%s\",\"domain\":{}}", op);
        g_autofree char *too_long_line = g_strdup_printf("{\"op\":\"%s\",\"domain\":\"%s\"}", op, too_long);
        g_autofree char *extra = g_strdup_printf("{\"op\":\"%s\",\"domain\":\"a\",\"to\":1}", op);
        g_autoptr(NsControlRequest) r = parse_ok(ok);
        g_autoptr(NsControlRequest) u = parse_ok(ok_utf8);
        g_autoptr(NsControlRequest) l = parse_ok(ok_longest);

        g_assert_cmpint(r->op, ==, ops[i].op);
        g_assert_cmpstr(r->domain, ==, "vm1");
        g_assert_cmpstr(u->domain, ==, "v\xc3\xa9m \xc3\xa9 \xf0\x9f\x98\x80");
        g_assert_cmpuint(strlen(l->domain), ==, NS_CONTROL_DOMAIN_MAX);
        assert_round_trip(r);
        assert_round_trip(u);
        assert_round_trip(l);
        parse_fails(missing, "needs \"domain\"");
        parse_fails(empty, "\"domain\" is empty");
        parse_fails(as_int, "\"domain\" is an integer, expected a string");
        parse_fails(as_null, "\"domain\" is null");
        parse_fails(as_array, "\"domain\" is an array");
        parse_fails(as_object, "\"domain\" is an object");
        parse_fails(too_long_line, "longer than 1024");
        parse_fails(extra, "takes no field \"to\"");
    }
}

static void
test_migrate(void)
{
    g_autoptr(NsControlRequest) full = parse_ok(
        "{\"id\":3,\"op\":\"migrate\",\"domain\":\"vm\",\"to\":1,\"cell\":0,\"rate\":12.5,"
        "\"workers\":4,\"cpus\":\"2-5,^3\",\"move_shared\":true,\"hot_sample_ms\":250}");
    g_autoptr(NsControlRequest) min = parse_ok("{\"op\":\"migrate\",\"domain\":\"vm\",\"to\":0}");
    g_autoptr(NsControlRequest) edges = parse_ok(
        "{\"op\":\"migrate\",\"domain\":\"vm\",\"to\":2046,\"cell\":2046,\"rate\":1048576,"
        "\"workers\":64}");

    g_assert_cmpint(full->op, ==, NS_CONTROL_OP_MIGRATE);
    g_assert_true(ns_control_op_is_mutating(full->op));
    g_assert_cmpstr(full->domain, ==, "vm");
    g_assert_cmpuint(full->to, ==, 1);
    g_assert_cmpint(full->cell, ==, 0);
    g_assert_cmpfloat(full->rate, ==, 12.5);
    g_assert_cmpuint(full->workers, ==, 4);
    g_assert_cmpstr(full->cpus, ==, "2-5,^3");
    g_assert_true(full->move_shared);
    g_assert_false(min->move_shared);
    g_assert_cmpuint(full->hot_sample_ms, ==, 250);
    g_assert_cmpuint(min->hot_sample_ms, ==, 0);
    g_assert_null(min->cpus);
    g_assert_cmpint(json_node_get_int(full->id), ==, 3);
    g_assert_cmpint(min->cell, ==, -1);
    g_assert_cmpfloat(min->rate, ==, 0);
    g_assert_cmpuint(min->workers, ==, 0);
    g_assert_cmpuint(edges->to, ==, NS_CONTROL_NODE_MAX);
    g_assert_cmpint(edges->cell, ==, NS_CONTROL_NODE_MAX);
    g_assert_cmpfloat(edges->rate, ==, NS_CONTROL_RATE_MAX);
    g_assert_cmpuint(edges->workers, ==, NS_CONTROL_WORKERS_MAX);
    assert_round_trip(full);
    assert_round_trip(min);
    assert_round_trip(edges);
}

static void
test_migrate_invalid(void)
{
#define M "{\"op\":\"migrate\",\"domain\":\"vm\","
    g_autoptr(NsControlRequest) low = parse_ok(M "\"to\":0,\"rate\":0.001,\"workers\":1}");

    g_assert_cmpfloat(low->rate, ==, NS_CONTROL_RATE_MIN);
    parse_fails("{\"op\":\"migrate\",\"to\":1}", "needs \"domain\"");
    parse_fails(M "\"cell\":1}", "needs \"to\"");
    parse_fails(M "\"to\":-1}", "\"to\" is -1, out of range 0..2046");
    parse_fails(M "\"to\":2047}", "out of range");
    parse_fails(M "\"to\":9223372036854775807}", "out of range");
    parse_fails(M "\"to\":\"1\"}", "\"to\" is a string, expected an integer");
    parse_fails(M "\"to\":1.0}", "\"to\" is a number, expected an integer");
    parse_fails(M "\"to\":1e0}", "expected an integer");
    parse_fails(M "\"to\":true}", "\"to\" is a boolean");
    parse_fails(M "\"to\":null}", "\"to\" is null");
    parse_fails(M "\"to\":[1]}", "\"to\" is an array");
    parse_fails(M "\"to\":1,\"cell\":-1}", "\"cell\" is -1");
    parse_fails(M "\"to\":1,\"cell\":5000}", "\"cell\" is 5000");
    parse_fails(M "\"to\":1,\"cell\":\"0\"}", "\"cell\" is a string");
    parse_fails(M "\"to\":1,\"rate\":0}", "\"rate\" is 0, out of range");
    parse_fails(M "\"to\":1,\"rate\":0.0}", "out of range");
    parse_fails(M "\"to\":1,\"rate\":-0.0}", "out of range");
    parse_fails(M "\"to\":1,\"rate\":-5}", "out of range");
    parse_fails(M "\"to\":1,\"rate\":0.0001}", "out of range");
    parse_fails(M "\"to\":1,\"rate\":1048577}", "out of range");
    parse_fails(M "\"to\":1,\"rate\":1e999}", "\"rate\" is inf");
    parse_fails(M "\"to\":1,\"rate\":1e-999}", "out of range");
    parse_fails(M "\"to\":1,\"rate\":\"10\"}", "\"rate\" is a string, expected a number");
    parse_fails(M "\"to\":1,\"workers\":0}", "\"workers\" is 0, out of range 1..64");
    parse_fails(M "\"to\":1,\"workers\":65}", "out of range 1..64");
    parse_fails(M "\"to\":1,\"workers\":-1}", "out of range");
    parse_fails(M "\"to\":1,\"workers\":2.5}", "\"workers\" is a number");
    parse_fails(M "\"to\":1,\"cpus\":\"\"}", "\"cpus\" is \"\": a CPU list");
    parse_fails(M "\"to\":1,\"cpus\":\"2 3\"}", "\"cpus\" is \"2 3\": a CPU list");
    parse_fails(M "\"to\":1,\"cpus\":\"all\"}", "a CPU list");
    parse_fails(M "\"to\":1,\"cpus\":3}", "\"cpus\" is an integer, expected a string");
    parse_fails(M "\"to\":1,\"move_shared\":1}", "\"move_shared\" is an integer, expected true or false");
    parse_fails(M "\"to\":1,\"move_shared\":\"yes\"}", "expected true or false");
    parse_fails("{\"op\":\"rebalance\",\"domain\":\"vm\",\"move_shared\":true}",
                "takes no field \"move_shared\"");
    parse_fails(M "\"to\":1,\"hot_sample_ms\":0}", "\"hot_sample_ms\" is 0, out of range 1..60000");
    parse_fails(M "\"to\":1,\"hot_sample_ms\":60001}", "out of range 1..60000");
    parse_fails("{\"op\":\"rebalance\",\"domain\":\"vm\",\"hot_sample_ms\":10}",
                "takes no field \"hot_sample_ms\"");
    {
        g_autofree char *long_list = g_strnfill(NS_CONTROL_CPUS_MAX + 1, '1');
        g_autofree char *line = g_strdup_printf(M "\"to\":1,\"cpus\":\"%s\"}", long_list);

        parse_fails(line, "of 1 to 256 bytes");
    }
    parse_fails("{\"op\":\"rebalance\",\"domain\":\"vm\",\"cpus\":\"1\"}",
                "takes no field \"cpus\"");
    parse_fails(M "\"to\":1,\"speed\":1}", "takes no field \"speed\"");
    parse_fails(M "\"to\":1,\"mode\":\"x\"}", "takes no field \"mode\"");
#undef M
}

static void
test_policy(void)
{
    g_autoptr(NsControlRequest) get = parse_ok("{\"op\":\"policy-get\",\"domain\":\"vm\"}");
    g_autoptr(NsControlRequest) set =
        parse_ok("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"follow-vcpus_2.x\"}");
    g_autofree char *longest = g_strnfill(NS_CONTROL_TOKEN_MAX, 'm');
    g_autofree char *too_long = g_strnfill(NS_CONTROL_TOKEN_MAX + 1, 'm');
    g_autofree char *ok_long =
        g_strdup_printf("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"%s\"}", longest);
    g_autofree char *bad_long =
        g_strdup_printf("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"%s\"}", too_long);
    g_autoptr(NsControlRequest) l = parse_ok(ok_long);

    g_assert_cmpint(get->op, ==, NS_CONTROL_OP_POLICY_GET);
    g_assert_false(ns_control_op_is_mutating(get->op));
    g_assert_null(get->mode);
    g_assert_cmpint(set->op, ==, NS_CONTROL_OP_POLICY_SET);
    g_assert_true(ns_control_op_is_mutating(set->op));
    g_assert_cmpstr(set->mode, ==, "follow-vcpus_2.x");
    assert_round_trip(set);
    assert_round_trip(l);
    parse_fails(bad_long, "\"mode\" must be 1 to 64 bytes long");
    parse_fails("{\"op\":\"policy-set\",\"domain\":\"vm\"}", "needs \"mode\"");
    parse_fails("{\"op\":\"policy-set\",\"mode\":\"auto\"}", "needs \"domain\"");
    parse_fails("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"\"}", "1 to 64 bytes");
    parse_fails("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"a b\"}", "only letters");
    parse_fails("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"a/b\"}", "only letters");
    parse_fails("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"\xc3\xa9\"}", "only letters");
    parse_fails("{\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":1}", "\"mode\" is an integer");
    parse_fails("{\"op\":\"policy-get\",\"domain\":\"vm\",\"mode\":\"auto\"}",
                "takes no field \"mode\"");
}

static void
test_subscribe(void)
{
    g_autoptr(NsControlRequest) all = parse_ok("{\"op\":\"subscribe\"}");
    g_autoptr(NsControlRequest) some =
        parse_ok("{\"op\":\"subscribe\",\"events\":[\"job\",\"progress\"]}");
    g_autoptr(NsControlRequest) each =
        parse_ok("{\"op\":\"subscribe\",\"events\":[\"domain\",\"policy\",\"job\",\"progress\"]}");

    g_assert_cmpint(all->op, ==, NS_CONTROL_OP_SUBSCRIBE);
    g_assert_false(ns_control_op_is_mutating(all->op));
    g_assert_cmpuint(all->events, ==, NS_CONTROL_EVENTS_ALL);
    g_assert_cmpuint(some->events, ==, NS_CONTROL_EVENT_JOB | NS_CONTROL_EVENT_PROGRESS);
    g_assert_cmpuint(each->events, ==, NS_CONTROL_EVENTS_ALL);
    assert_round_trip(all);
    assert_round_trip(some);
    for (guint bit = 1; bit <= NS_CONTROL_EVENTS_ALL; bit <<= 1) {
        g_autofree char *line = g_strdup_printf("{\"op\":\"subscribe\",\"events\":[\"%s\"]}",
                                                ns_control_event_to_string(bit));
        g_autoptr(NsControlRequest) one = parse_ok(line);

        g_assert_cmpuint(one->events, ==, bit);
        assert_round_trip(one);
    }
    parse_fails("{\"op\":\"subscribe\",\"events\":[]}", "\"events\" is empty");
    parse_fails("{\"op\":\"subscribe\",\"events\":[\"jobs\"]}", "\"events\"[0] is \"jobs\"");
    parse_fails("{\"op\":\"subscribe\",\"events\":[\"job\",\"job\"]}", "names \"job\" twice");
    parse_fails("{\"op\":\"subscribe\",\"events\":[\"job\",1]}", "\"events\"[1] is an integer");
    parse_fails("{\"op\":\"subscribe\",\"events\":[[\"job\"]]}", "\"events\"[0] is an array");
    parse_fails("{\"op\":\"subscribe\",\"events\":\"job\"}", "\"events\" is a string");
    parse_fails("{\"op\":\"subscribe\",\"events\":null}", "\"events\" is null");
    parse_fails("{\"op\":\"subscribe\",\"events\":{\"job\":true}}", "\"events\" is an object");
    parse_fails("{\"op\":\"subscribe\",\"domain\":\"vm\"}", "takes no field \"domain\"");
}

static void
test_hook(void)
{
    g_autoptr(NsControlRequest) full = parse_ok(
        "{\"op\":\"hook\",\"domain\":\"vm\",\"uuid\":\"4DEA22B3-1D52-D8F3-2516-782E98AB3FA0\","
        "\"operation\":\"started\",\"suboperation\":\"begin\"}");
    g_autoptr(NsControlRequest) no_uuid = parse_ok(
        "{\"op\":\"hook\",\"domain\":\"vm\",\"operation\":\"release\",\"suboperation\":\"-\"}");

    g_assert_cmpint(full->op, ==, NS_CONTROL_OP_HOOK);
    g_assert_true(ns_control_op_is_mutating(full->op));
    g_assert_cmpstr(full->uuid, ==, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    g_assert_cmpstr(full->operation, ==, "started");
    g_assert_cmpstr(full->suboperation, ==, "begin");
    g_assert_null(no_uuid->uuid);
    g_assert_cmpstr(no_uuid->suboperation, ==, "-");
    assert_round_trip(full);
    assert_round_trip(no_uuid);
#define H "{\"op\":\"hook\",\"domain\":\"vm\","
    parse_fails(H "\"operation\":\"started\"}", "needs \"suboperation\"");
    parse_fails(H "\"suboperation\":\"begin\"}", "needs \"operation\"");
    parse_fails("{\"op\":\"hook\",\"operation\":\"started\",\"suboperation\":\"begin\"}",
                "needs \"domain\"");
    parse_fails(H "\"operation\":\"started\",\"suboperation\":\"begin\",\"uuid\":\"nope\"}",
                "\"uuid\" is \"nope\", not a UUID");
    parse_fails(H "\"operation\":\"started\",\"suboperation\":\"begin\","
                  "\"uuid\":\"4dea22b31d52d8f32516782e98ab3fa0\"}",
                "not a UUID");
    parse_fails(H "\"operation\":\"started\",\"suboperation\":\"begin\",\"uuid\":1}",
                "\"uuid\" is an integer");
    parse_fails(H "\"operation\":\"start ed\",\"suboperation\":\"begin\"}", "only letters");
    parse_fails(H "\"operation\":\"started\",\"suboperation\":\"\"}", "1 to 64 bytes");
    parse_fails(H "\"operation\":\"started\",\"suboperation\":[]}", "\"suboperation\" is an array");
    parse_fails(H "\"operation\":\"started\",\"suboperation\":\"begin\",\"xml\":\"<x/>\"}",
                "takes no field \"xml\"");
#undef H
}

static void
test_op_member(void)
{
    parse_fails("{}", "lacks \"op\"");
    parse_fails("{\"id\":1}", "lacks \"op\"");
    parse_fails("{\"op\":1}", "\"op\" is an integer, expected a string");
    parse_fails("{\"op\":null}", "\"op\" is null");
    parse_fails("{\"op\":[\"list\"]}", "\"op\" is an array");
    parse_fails("{\"op\":\"frobnicate\"}", "unknown op \"frobnicate\"");
    parse_fails("{\"op\":\"LIST\"}", "unknown op \"LIST\"");
    parse_fails("{\"op\":\"list \"}", "unknown op");
    parse_fails("{\"op\":\"\"}", "unknown op \"\"");
    /* The op's name is escaped and cut in the message. */
    parse_fails("{\"op\":\"a\\nb\\u0001xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                "unknown op \"a\\nb\\001");
}

static void
test_op_names(void)
{
    for (guint op = 0; op < NS_CONTROL_N_OPS; op++) {
        const char *name = ns_control_op_to_string(op);
        NsControlOp back;

        g_assert_nonnull(name);
        g_assert_true(ns_control_op_from_string(name, &back));
        g_assert_cmpint(back, ==, op);
    }
    g_assert_null(ns_control_op_to_string(NS_CONTROL_N_OPS));
    g_assert_null(ns_control_op_to_string((NsControlOp)-1));
    g_assert_cmpstr(ns_control_op_to_string(NS_CONTROL_OP_POLICY_SET), ==, "policy-set");
    g_assert_false(ns_control_op_from_string("nope", &(NsControlOp){ 0 }));
    g_assert_false(ns_control_op_from_string(NULL, &(NsControlOp){ 0 }));
}

static void
test_mutating(void)
{
    static const NsControlOp mutating[] = {
        NS_CONTROL_OP_MIGRATE, NS_CONTROL_OP_REBALANCE, NS_CONTROL_OP_PAUSE, NS_CONTROL_OP_RESUME,
        NS_CONTROL_OP_CANCEL, NS_CONTROL_OP_POLICY_SET, NS_CONTROL_OP_HOOK,
    };

    for (guint op = 0; op < NS_CONTROL_N_OPS; op++) {
        gboolean expected = FALSE;

        for (gsize i = 0; i < G_N_ELEMENTS(mutating); i++)
            expected |= mutating[i] == op;
        g_assert_cmpint(ns_control_op_is_mutating(op), ==, expected);
    }
    g_assert_false(ns_control_op_is_mutating(NS_CONTROL_N_OPS));
}

static void
test_event_names(void)
{
    g_assert_cmpstr(ns_control_event_to_string(NS_CONTROL_EVENT_PROGRESS), ==, "progress");
    g_assert_cmpstr(ns_control_event_to_string(NS_CONTROL_EVENT_JOB), ==, "job");
    g_assert_cmpstr(ns_control_event_to_string(NS_CONTROL_EVENT_POLICY), ==, "policy");
    g_assert_cmpstr(ns_control_event_to_string(NS_CONTROL_EVENT_DOMAIN), ==, "domain");
    g_assert_null(ns_control_event_to_string(0));
    g_assert_null(ns_control_event_to_string(NS_CONTROL_EVENT_JOB | NS_CONTROL_EVENT_POLICY));
    g_assert_null(ns_control_event_to_string(1u << 4));
}

/* ------------------------------------------------------------------------
 * ids
 */

static void
test_id(void)
{
    g_autoptr(NsControlRequest) i = parse_ok("{\"op\":\"list\",\"id\":42}");
    g_autoptr(NsControlRequest) neg = parse_ok("{\"id\":-9223372036854775808,\"op\":\"list\"}");
    g_autoptr(NsControlRequest) max = parse_ok("{\"id\":9223372036854775807,\"op\":\"list\"}");
    g_autoptr(NsControlRequest) s = parse_ok("{\"id\":\"req-\\\"7\\\"\",\"op\":\"jobs\"}");
    g_autoptr(NsControlRequest) empty = parse_ok("{\"id\":\"\",\"op\":\"jobs\"}");
    g_autofree char *longest_id = g_strnfill(NS_CONTROL_ID_MAX, 'i');
    g_autofree char *too_long_id = g_strnfill(NS_CONTROL_ID_MAX + 1, 'i');
    g_autofree char *ok_long = g_strdup_printf("{\"id\":\"%s\",\"op\":\"list\"}", longest_id);
    g_autofree char *bad_long = g_strdup_printf("{\"id\":\"%s\",\"op\":\"list\"}", too_long_id);
    g_autoptr(NsControlRequest) l = parse_ok(ok_long);

    g_assert_cmpint(json_node_get_int(i->id), ==, 42);
    g_assert_cmpint(json_node_get_int(neg->id), ==, G_MININT64);
    g_assert_cmpint(json_node_get_int(max->id), ==, G_MAXINT64);
    g_assert_cmpstr(json_node_get_string(s->id), ==, "req-\"7\"");
    g_assert_cmpstr(json_node_get_string(empty->id), ==, "");
    g_assert_cmpuint(strlen(json_node_get_string(l->id)), ==, NS_CONTROL_ID_MAX);
    assert_round_trip(i);
    assert_round_trip(neg);
    assert_round_trip(s);
    parse_fails(bad_long, "\"id\" is 257 bytes long");
    parse_fails("{\"id\":1.5,\"op\":\"list\"}", "\"id\" is a number, expected an integer or a string");
    parse_fails("{\"id\":1e3,\"op\":\"list\"}", "\"id\" is a number");
    parse_fails("{\"id\":null,\"op\":\"list\"}", "\"id\" is null");
    parse_fails("{\"id\":true,\"op\":\"list\"}", "\"id\" is a boolean");
    parse_fails("{\"id\":[1],\"op\":\"list\"}", "\"id\" is an array");
    parse_fails("{\"id\":{},\"op\":\"list\"}", "\"id\" is an object");
    parse_fails("{\"id\":9223372036854775808,\"op\":\"list\"}", "integer out of 64-bit range");
    parse_fails("{\"id\":-9223372036854775809,\"op\":\"list\"}", "integer out of 64-bit range");
    parse_fails("{\"id\":123456789012345678901234567890,\"op\":\"list\"}", "out of 64-bit range");
}

/* The daemon echoes the id of a request it rejected, when there is a valid one. */
static void
test_peek_id(void)
{
    static const char *const no_id[] = {
        "{\"op\":\"migrate\"}",
        "{\"id\":1.5,\"op\":\"nope\"}",
        "{\"id\":null}",
        "[{\"id\":1}]",
        "{\"id\":1",
        "{\"id\":1,\"id\":2}",
        "",
        "garbage",
    };
    static const char bad_op[] = "{\"id\":7,\"op\":\"nope\"}";
    static const char bad_to[] = "{\"op\":\"migrate\",\"id\":\"x\",\"to\":-1}\n";
    g_autoptr(JsonNode) i = NULL;
    g_autoptr(JsonNode) s = NULL;

    i = ns_control_request_peek_id(bad_op, strlen(bad_op));
    g_assert_nonnull(i);
    g_assert_cmpint(json_node_get_int(i), ==, 7);
    s = ns_control_request_peek_id(bad_to, strlen(bad_to));
    g_assert_nonnull(s);
    g_assert_cmpstr(json_node_get_string(s), ==, "x");
    for (gsize k = 0; k < G_N_ELEMENTS(no_id); k++)
        g_assert_null(ns_control_request_peek_id(no_id[k], strlen(no_id[k])));
}

/* ------------------------------------------------------------------------
 * JSON and line rules
 */

static void
test_json_strictness(void)
{
    static const struct {
        const char *line;
        const char *part;
    } bad[] = {
        { "{\"op\":\"list\"", "unexpected end" },
        { "{\"op\":\"list\",}", "expected a member name" },
        { "{\"op\" \"list\"}", "expected ':'" },
        { "{\"op\":\"list\" \"id\":1}", "expected ',' or '}'" },
        { "{'op':'list'}", "expected a member name" },
        { "{op:\"list\"}", "expected a member name" },
        { "{\"op\":\"list\"} {}", "data after the JSON value" },
        { "{\"op\":\"list\"}x", "data after the JSON value" },
        { "{\"op\":\"list\"}}", "data after the JSON value" },
        { "/* c */ {\"op\":\"list\"}", "expected a value" },
        { "{\"op\":\"list\"} // c", "data after the JSON value" },
        { "{\"op\":\"list\",\"id\":0x10}", "expected ',' or '}'" },
        { "{\"op\":\"list\",\"id\":01}", "leading zero" },
        { "{\"op\":\"list\",\"id\":-01}", "leading zero" },
        { "{\"op\":\"list\",\"id\":+1}", "expected a value" },
        { "{\"op\":\"list\",\"id\":1.}", "invalid number" },
        { "{\"op\":\"list\",\"id\":.5}", "expected a value" },
        { "{\"op\":\"list\",\"id\":1e}", "invalid number" },
        { "{\"op\":\"list\",\"id\":1e+}", "invalid number" },
        { "{\"op\":\"list\",\"id\":-}", "invalid number" },
        { "{\"op\":\"list\",\"id\":NaN}", "expected a value" },
        { "{\"op\":\"list\",\"id\":Infinity}", "expected a value" },
        { "{\"op\":\"list\",\"id\":tru}", "expected a value" },
        { "{\"op\":\"list\",\"id\":True}", "expected a value" },
        { "{\"op\":\"list\",\"id\":nulls}", "expected ',' or '}'" },
        { "{\"op\":\"list\",\"id\":\"a\\u0000b\"}", "\\u0000 in a string" },
        { "{\"op\":\"list\",\"id\":\"\\ud800\"}", "unpaired surrogate" },
        { "{\"op\":\"list\",\"id\":\"\\ud800x\"}", "unpaired surrogate" },
        { "{\"op\":\"list\",\"id\":\"\\ud800\\u0041\"}", "unpaired surrogate" },
        { "{\"op\":\"list\",\"id\":\"\\udc00\"}", "unpaired surrogate" },
        { "{\"op\":\"list\",\"id\":\"\\u12\"}", "invalid \\u escape" },
        { "{\"op\":\"list\",\"id\":\"\\u12g4\"}", "invalid \\u escape" },
        { "{\"op\":\"list\",\"id\":\"\\x41\"}", "invalid escape" },
        { "{\"op\":\"list\",\"id\":\"\\'\"}", "invalid escape" },
        { "{\"op\":\"list\",\"id\":\"a\tb\"}", "control character in a string" },
        { "{\"op\":\"list\",\"id\":\"a\rb\"}", "control character in a string" },
        { "{\"op\":\"list\",\"id\":\"abc}", "unterminated string" },
        { "{\"op\":\"list\",\"id\":\"abc\\", "unterminated string" },
        { "{\"op\":\"list\",\"id\":[1,]}", "expected a value" },
        { "{\"op\":\"list\",\"id\":[1 2]}", "expected ',' or ']'" },
        { "{\"op\":\"list\",\"id\":[}", "expected a value" },
        { "{\"op\":\"list\",\"op\":\"jobs\"}", "gives a member more than once" },
        { "{\"op\":\"list\",\"id\":1,\"id\":1}", "gives a member more than once" },
        { "[]", "is an array, not a JSON object" },
        { "[{\"op\":\"list\"}]", "is an array, not a JSON object" },
        { "42", "is an integer, not a JSON object" },
        { "\"list\"", "is a string, not a JSON object" },
        { "null", "is null, not a JSON object" },
        { "true", "is a boolean, not a JSON object" },
        { "", "empty request" },
        { "\n", "empty request" },
        { " \t\r ", "empty request" },
        { "{", "unexpected end" },
        { "}", "expected a value" },
        { ":", "expected a value" },
        { "\xef\xbb\xbf{\"op\":\"list\"}", "expected a value" }, /* a BOM */
    };
    static const char *const good[] = {
        "{\"op\":\"list\"}\n",
        "{\"op\":\"list\"}\r\n",
        " \t{ \"op\" : \"list\" , \"id\" : -0 } \r",
        "{\"op\":\"l\\u0069st\"}",
        "{\"op\":\"list\",\"id\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"}",
        "{\"op\":\"list\",\"id\":0}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
        parse_fails(bad[i].line, bad[i].part);
    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(NsControlRequest) r = parse_ok(good[i]);

        g_assert_cmpint(r->op, ==, NS_CONTROL_OP_LIST);
    }
}

static void
test_line_breaks(void)
{
    parse_fails("{\"op\":\n\"list\"}", "line break at byte 6 before its end");
    parse_fails("{\"op\":\"list\"}\n\n", "line break at byte 13");
    parse_fails("\n{\"op\":\"list\"}", "line break at byte 0");
}

static void
test_nul_bytes(void)
{
    static const char line[] = "{\"op\":\"list\",\"id\":\"ab\"}";

    for (gsize at = 0; at < sizeof(line) - 1; at++) {
        g_autofree char *copy = g_memdup2(line, sizeof(line));

        copy[at] = '\0';
        parse_fails_len(copy, sizeof(line) - 1, "NUL byte");
    }
    /* The NUL terminator after @len is not part of the line. */
    g_autoptr(NsControlRequest) r = parse_ok(line);
    g_assert_nonnull(r);
}

static void
test_utf8(void)
{
    parse_fails("{\"op\":\"status\",\"domain\":\"\xff\"}", "not valid UTF-8 at byte 25");
    parse_fails("{\"op\":\"status\",\"domain\":\"\xc0\x80\"}", "not valid UTF-8");      /* overlong NUL */
    parse_fails("{\"op\":\"status\",\"domain\":\"\xe2\x82\"}", "not valid UTF-8");      /* cut short */
    parse_fails("{\"op\":\"status\",\"domain\":\"\xed\xa0\x80\"}", "not valid UTF-8");  /* a surrogate */
    parse_fails("{\"op\":\"status\",\"domain\":\"\xf4\x90\x80\x80\"}", "not valid UTF-8"); /* > U+10FFFF */
    parse_fails("{\"op\":\"status\",\"domain\":\"a\"}\xff", "not valid UTF-8");
}

static void
test_size_limit(void)
{
    static const char head[] = "{\"op\":\"list\"}";
    g_autofree char *line = g_malloc(NS_CONTROL_LINE_MAX + 2);
    g_autofree char *huge = NULL;
    gsize huge_len = 16u * 1024 * 1024;
    g_autoptr(GError) error = NULL;
    NsControlRequest *r;
    gint64 t0;

    /* Exactly the limit, "\n" included, passes; one byte more does not. */
    memset(line, ' ', NS_CONTROL_LINE_MAX + 1);
    memcpy(line, head, sizeof(head) - 1);
    line[NS_CONTROL_LINE_MAX - 1] = '\n';
    r = ns_control_request_parse(line, NS_CONTROL_LINE_MAX, &error);
    g_assert_no_error(error);
    ns_control_request_free(r);
    line[NS_CONTROL_LINE_MAX - 1] = ' ';
    r = ns_control_request_parse(line, NS_CONTROL_LINE_MAX, &error);
    g_assert_no_error(error);
    ns_control_request_free(r);
    line[NS_CONTROL_LINE_MAX] = '\n';
    parse_fails_len(line, NS_CONTROL_LINE_MAX + 1, "request of 65537 bytes exceeds the limit of 65536");

    /* A huge line is refused at once, before anything looks at its bytes. */
    huge = g_malloc(huge_len);
    memset(huge, '[', huge_len);
    t0 = g_get_monotonic_time();
    parse_fails_len(huge, huge_len, "exceeds the limit");
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 1000000);
}

static void
test_nesting(void)
{
    GString *deep = g_string_new("{\"op\":\"list\",\"id\":");
    g_autofree char *ok_depth = NULL;
    g_autofree char *max_line = g_malloc(NS_CONTROL_LINE_MAX);

    /* Depth NS_CONTROL_DEPTH_MAX passes the grammar (and fails on the type). */
    for (guint i = 1; i < NS_CONTROL_DEPTH_MAX; i++)
        g_string_append_c(deep, '[');
    for (guint i = 1; i < NS_CONTROL_DEPTH_MAX; i++)
        g_string_append_c(deep, ']');
    g_string_append_c(deep, '}');
    ok_depth = g_strdup(deep->str);
    parse_fails(ok_depth, "\"id\" is an array");

    /* One more level is refused by the grammar check. */
    g_string_insert_c(deep, strlen("{\"op\":\"list\",\"id\":"), '[');
    g_string_insert_c(deep, deep->len - 1, ']');
    parse_fails(deep->str, "request nests deeper than 8 levels");
    g_string_free(deep, TRUE);

    /* A line full of brackets, objects or arrays: a clean error, no recursion. */
    memset(max_line, '[', NS_CONTROL_LINE_MAX);
    parse_fails_len(max_line, NS_CONTROL_LINE_MAX, "nests deeper");
    for (gsize i = 0; i + 5 <= NS_CONTROL_LINE_MAX; i += 5)
        memcpy(max_line + i, "{\"a\":", 5);
    parse_fails_len(max_line, NS_CONTROL_LINE_MAX - NS_CONTROL_LINE_MAX % 5, "nests deeper");
}

/* ------------------------------------------------------------------------
 * Random input
 */

/* Whatever @line is, parsing ends in a request that encodes to itself or in a clean error. */
static void
check_any(const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsControlRequest) r = ns_control_request_parse(line, len, &error);

    if (r == NULL) {
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_assert_null(strchr(error->message, '\n'));
        return;
    }
    g_assert_no_error(error);
    assert_round_trip(r);
}

static void
test_random_bytes(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(g_test_rand_int());
    guint8 buf[512];

    for (guint n = 0; n < 20000; n++) {
        gsize len = g_rand_int_range(rand, 0, sizeof(buf));
        /* Half the time, bytes from JSON's own alphabet, which get further. */
        static const char alphabet[] = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\n\t\r";
        gboolean json_ish = n % 2 == 0;

        for (gsize i = 0; i < len; i++) {
            buf[i] = json_ish ? (guint8)alphabet[g_rand_int_range(rand, 0, sizeof(alphabet) - 1)]
                              : (guint8)g_rand_int_range(rand, 0, 256);
        }
        check_any((const char *)buf, len);
    }
}

static void
test_random_mutations(void)
{
    static const char *const seeds[] = {
        "{\"id\":3,\"op\":\"migrate\",\"domain\":\"vm\",\"to\":1,\"cell\":0,\"rate\":12.5,\"workers\":4}",
        "{\"op\":\"subscribe\",\"events\":[\"job\",\"progress\"]}",
        ("{\"op\":\"hook\",\"domain\":\"vm\",\"uuid\":\"4dea22b3-1d52-d8f3-2516-782e98ab3fa0\","
         "\"operation\":\"started\",\"suboperation\":\"begin\"}"),
        "{\"id\":\"x\\u00e9\",\"op\":\"policy-set\",\"domain\":\"vm\",\"mode\":\"auto\"}",
    };
    g_autoptr(GRand) rand = g_rand_new_with_seed(g_test_rand_int());

    for (gsize s = 0; s < G_N_ELEMENTS(seeds); s++) {
        gsize len = strlen(seeds[s]);

        check_any(seeds[s], len);
        for (guint n = 0; n < 5000; n++) {
            g_autofree char *copy = g_strdup(seeds[s]);
            guint edits = g_rand_int_range(rand, 1, 4);
            gsize cut = len;

            for (guint e = 0; e < edits; e++) {
                gsize at = g_rand_int_range(rand, 0, (gint32)len);

                switch (g_rand_int_range(rand, 0, 3)) {
                case 0:
                    copy[at] = (char)g_rand_int_range(rand, 0, 256);
                    break;
                case 1:
                    copy[at] = "{}[]:,\"\\0-e."[g_rand_int_range(rand, 0, 12)];
                    break;
                default:
                    cut = MIN(cut, at);
                    break;
                }
            }
            check_any(copy, cut);
        }
    }
}

/* ------------------------------------------------------------------------
 * Encoding requests
 */

static void
test_request_new_and_to_line(void)
{
    g_autoptr(NsControlRequest) r = ns_control_request_new(NS_CONTROL_OP_MIGRATE);
    g_autoptr(NsControlRequest) list = ns_control_request_new(NS_CONTROL_OP_LIST);
    g_autoptr(NsControlRequest) sub = ns_control_request_new(NS_CONTROL_OP_SUBSCRIBE);
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;

    g_assert_cmpint(r->cell, ==, -1);
    g_assert_cmpuint(r->events, ==, NS_CONTROL_EVENTS_ALL);
    g_assert_null(r->id);

    /* Incomplete or out of range: the parser's own message. */
    g_assert_null(ns_control_request_to_line(r, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "needs \"domain\""));
    g_clear_error(&error);
    r->domain = g_strdup("vm");
    r->to = NS_CONTROL_NODE_MAX + 1;
    g_assert_null(ns_control_request_to_line(r, &error));
    g_assert_nonnull(strstr(error->message, "\"to\" is 2047"));
    g_clear_error(&error);
    r->to = 1;
    r->rate = NAN;
    g_assert_null(ns_control_request_to_line(r, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    r->rate = 100;
    r->workers = 65;
    g_assert_null(ns_control_request_to_line(r, &error));
    g_assert_nonnull(strstr(error->message, "\"workers\" is 65"));
    g_clear_error(&error);
    r->workers = 2;
    r->cell = 1;
    r->id = json_node_init_string(json_node_alloc(), "m1");
    r->mode = g_strdup("ignored: migrate takes no mode");
    line = ns_control_request_to_line(r, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(line, ==,
                    "{\"id\":\"m1\",\"op\":\"migrate\",\"domain\":\"vm\",\"to\":1,\"cell\":1,"
                    "\"rate\":100.0,\"workers\":2}\n");
    g_clear_pointer(&r->mode, g_free);
    assert_round_trip(r);

    g_clear_pointer(&line, g_free);
    line = ns_control_request_to_line(list, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(line, ==, "{\"op\":\"list\"}\n");

    sub->events = 0;
    g_assert_null(ns_control_request_to_line(sub, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    sub->events = 1u << 7;
    g_assert_null(ns_control_request_to_line(sub, &error));
    g_clear_error(&error);
    sub->events = NS_CONTROL_EVENT_DOMAIN | NS_CONTROL_EVENT_PROGRESS;
    g_clear_pointer(&line, g_free);
    line = ns_control_request_to_line(sub, &error);
    g_assert_cmpstr(line, ==, "{\"op\":\"subscribe\",\"events\":[\"progress\",\"domain\"]}\n");

    list->op = NS_CONTROL_N_OPS;
    g_assert_null(ns_control_request_to_line(list, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    list->op = NS_CONTROL_OP_LIST;

    ns_control_request_free(NULL);
}

/* A domain name that is not UTF-8 cannot go on the wire. */
static void
test_to_line_bad_utf8(void)
{
    g_autoptr(NsControlRequest) r = ns_control_request_new(NS_CONTROL_OP_STATUS);
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;

    r->domain = g_strdup("bad\xff");
    line = ns_control_request_to_line(r, &error);
    g_assert_null(line);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
}

/* ------------------------------------------------------------------------
 * Replies and events
 */

static void
assert_one_line(const char *line)
{
    g_assert_nonnull(line);
    g_assert_true(g_str_has_suffix(line, "\n"));
    g_assert_true(strchr(line, '\n') == line + strlen(line) - 1);
    g_assert_true(g_utf8_validate(line, -1, NULL));
}

static NsControlMessage *
message_ok(const char *line)
{
    g_autoptr(GError) error = NULL;
    NsControlMessage *m = ns_control_message_parse(line, strlen(line), &error);

    g_assert_no_error(error);
    g_assert_nonnull(m);
    return m;
}

static void
message_fails(const char *line, const char *part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsControlMessage) m = ns_control_message_parse(line, strlen(line), &error);

    g_assert_null(m);
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    if (part != NULL && strstr(error->message, part) == NULL)
        g_error("'%s': error '%s' does not mention '%s'", line, error->message, part);
}

static void
test_reply_ok(void)
{
    g_autoptr(NsControlRequest) ri = parse_ok("{\"id\":17,\"op\":\"list\"}");
    g_autoptr(NsControlRequest) rs = parse_ok("{\"id\":\"abc\\n\",\"op\":\"list\"}");
    g_autoptr(NsControlRequest) rn = parse_ok("{\"op\":\"list\"}");
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) result = NULL;
    g_autofree char *with_int = NULL;
    g_autofree char *with_string = NULL;
    g_autofree char *without = NULL;
    g_autoptr(NsControlMessage) m = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "domains");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "vm\none");
    json_builder_end_array(b);
    json_builder_end_object(b);
    result = json_builder_get_root(b);

    with_int = ns_control_reply_ok(ri->id, result);
    with_string = ns_control_reply_ok(rs->id, NULL);
    without = ns_control_reply_ok(rn->id, result);
    assert_one_line(with_int);
    assert_one_line(with_string);
    assert_one_line(without);
    g_assert_cmpstr(with_int, ==, "{\"id\":17,\"ok\":true,\"result\":{\"domains\":[\"vm\\none\"]}}\n");
    g_assert_cmpstr(with_string, ==, "{\"id\":\"abc\\n\",\"ok\":true,\"result\":null}\n");
    g_assert_cmpstr(without, ==, "{\"ok\":true,\"result\":{\"domains\":[\"vm\\none\"]}}\n");

    m = message_ok(with_int);
    g_assert_false(m->is_event);
    g_assert_true(m->ok);
    g_assert_true(json_node_equal(m->id, ri->id));
    g_assert_true(json_node_equal(m->result, result));
    g_clear_pointer(&m, ns_control_message_free);
    m = message_ok(with_string);
    g_assert_cmpstr(json_node_get_string(m->id), ==, "abc\n");
    g_assert_true(JSON_NODE_HOLDS_NULL(m->result));
    g_clear_pointer(&m, ns_control_message_free);
    m = message_ok(without);
    g_assert_null(m->id);
}

static void
test_reply_error(void)
{
    g_autoptr(NsControlRequest) r = parse_ok("{\"id\":-4,\"op\":\"list\"}");
    g_autofree char *line = ns_control_reply_error(r->id, NS_CONTROL_ERR_BUSY,
                                                   "line one\nline two\r\xff \"quoted\"");
    g_autofree char *no_id = ns_control_reply_error(NULL, NS_CONTROL_ERR_INVALID_REQUEST, "bad");
    g_autoptr(NsControlMessage) m = NULL;

    assert_one_line(line);
    assert_one_line(no_id);
    g_assert_cmpstr(no_id, ==,
                    "{\"ok\":false,\"error\":{\"code\":\"invalid-request\",\"message\":\"bad\"}}\n");
    m = message_ok(line);
    g_assert_false(m->is_event);
    g_assert_false(m->ok);
    g_assert_cmpint(json_node_get_int(m->id), ==, -4);
    g_assert_cmpstr(m->error_code, ==, "busy");
    g_assert_cmpstr(m->error_message, ==, "line one line two \xef\xbf\xbd \"quoted\"");
    g_assert_null(m->result);
}

static void
test_error_code(void)
{
    static const struct {
        GQuark domain;
        gint code;
        const char *expected;
    } cases[] = {
        { 0, NS_ERROR_INVALID_INPUT, NS_CONTROL_ERR_INVALID_REQUEST },
        { 0, NS_ERROR_NOT_FOUND, NS_CONTROL_ERR_NOT_FOUND },
        { 0, NS_ERROR_NOT_RUNNING, NS_CONTROL_ERR_NOT_RUNNING },
        { 0, NS_ERROR_PERMISSION, NS_CONTROL_ERR_PERMISSION_DENIED },
        { 0, NS_ERROR_UNSUPPORTED, NS_CONTROL_ERR_UNSUPPORTED },
        { 0, NS_ERROR_IO, NS_CONTROL_ERR_FAILED },
        { 0, NS_ERROR_FAILED, NS_CONTROL_ERR_FAILED },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = g_error_new_literal(NS_ERROR, cases[i].code, "x");

        g_assert_cmpstr(ns_control_error_code(error), ==, cases[i].expected);
    }
    g_autoptr(GError) other = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "x");
    g_assert_cmpstr(ns_control_error_code(other), ==, NS_CONTROL_ERR_FAILED);
    g_assert_cmpstr(ns_control_error_code(NULL), ==, NS_CONTROL_ERR_FAILED);
}

static void
test_event(void)
{
    g_autoptr(JsonNode) body = json_from_string("{\"domain\":\"vm\",\"done\":10,\"total\":20}", NULL);

    for (guint bit = 1; bit <= NS_CONTROL_EVENTS_ALL; bit <<= 1) {
        g_autofree char *line = ns_control_event(bit, body);
        g_autofree char *expected = g_strdup_printf(
            "{\"event\":\"%s\",\"body\":{\"domain\":\"vm\",\"done\":10,\"total\":20}}\n",
            ns_control_event_to_string(bit));
        g_autoptr(NsControlMessage) m = NULL;

        assert_one_line(line);
        g_assert_cmpstr(line, ==, expected);
        m = message_ok(line);
        g_assert_true(m->is_event);
        g_assert_cmpuint(m->event, ==, bit);
        g_assert_true(json_node_equal(m->body, body));
    }
    g_autofree char *null_body = ns_control_event(NS_CONTROL_EVENT_JOB, NULL);
    g_assert_cmpstr(null_body, ==, "{\"event\":\"job\",\"body\":null}\n");
}

/* Not one event kind: a programming error, caught by g_return_val_if_fail(). */
static void
test_event_invalid_kind(void)
{
    if (g_test_subprocess()) {
        g_assert_null(ns_control_event(NS_CONTROL_EVENT_JOB | NS_CONTROL_EVENT_DOMAIN, NULL));
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*CRITICAL*name != NULL*");
}

static void
test_message_invalid(void)
{
    g_autofree char *deep = NULL;
    g_autofree char *too_deep = NULL;
    GString *s = g_string_new("{\"ok\":true,\"result\":");
    g_autoptr(NsControlMessage) m = NULL;

    message_fails("{}", "neither a reply");
    message_fails("{\"id\":1}", "neither a reply");
    message_fails("{\"ok\":1,\"result\":null}", "\"ok\" is an integer, expected a boolean");
    message_fails("{\"ok\":true}", "ok reply lacks \"result\"");
    message_fails("{\"ok\":true,\"result\":1,\"extra\":2}", "unknown member \"extra\"");
    message_fails("{\"ok\":true,\"result\":1,\"error\":{}}", "unknown member \"error\"");
    message_fails("{\"ok\":false}", "\"error\" is nothing, expected an object");
    message_fails("{\"ok\":false,\"error\":\"busy\"}", "\"error\" is a string");
    message_fails("{\"ok\":false,\"error\":{\"code\":\"busy\"}}", "\"message\" is nothing");
    message_fails("{\"ok\":false,\"error\":{\"message\":\"x\"}}", "\"code\" is nothing");
    message_fails("{\"ok\":false,\"error\":{\"code\":\"b\",\"message\":\"x\",\"at\":1}}",
                  "unknown member \"at\"");
    message_fails("{\"ok\":false,\"result\":1,\"error\":{\"code\":\"b\",\"message\":\"x\"}}",
                  "unknown member \"result\"");
    message_fails("{\"ok\":true,\"result\":1,\"id\":1.5}", "\"id\" is a number");
    message_fails("{\"event\":\"job\"}", "event lacks \"body\"");
    message_fails("{\"event\":\"jobs\",\"body\":1}", "unknown event kind \"jobs\"");
    message_fails("{\"event\":1,\"body\":1}", "\"event\" is an integer");
    message_fails("{\"event\":\"job\",\"body\":1,\"ok\":true}", "unknown member \"ok\"");
    message_fails("[]", "not a JSON object");
    message_fails("{\"ok\":true,\"ok\":true,\"result\":1}", "more than once");
    message_fails("{\"ok\":true,\"result\":1}\n{", "line break");

    /* Replies may nest deeper than requests, up to 64 levels. */
    for (guint i = 1; i < 64; i++)
        g_string_append_c(s, '[');
    for (guint i = 1; i < 64; i++)
        g_string_append_c(s, ']');
    g_string_append_c(s, '}');
    deep = g_strdup(s->str);
    m = message_ok(deep);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(m->result));
    g_string_insert_c(s, strlen("{\"ok\":true,\"result\":"), '[');
    g_string_insert_c(s, s->len - 1, ']');
    too_deep = g_string_free(s, FALSE);
    message_fails(too_deep, "line nests deeper than 64 levels");
    ns_control_message_free(NULL);
}

static void
test_message_size(void)
{
    gsize len = NS_CONTROL_MESSAGE_MAX + 1;
    g_autofree char *big = g_malloc(len);
    g_autoptr(GError) error = NULL;

    memset(big, ' ', len);
    memcpy(big, "{\"ok\":true,\"result\":1}", 22);
    g_assert_null(ns_control_message_parse(big, len, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "exceeds the limit of 16777216"));
    g_clear_error(&error);
    {
        g_autoptr(NsControlMessage) m = ns_control_message_parse(big, len - 1, &error);

        g_assert_no_error(error);
        g_assert_true(m->ok);
    }
}

/*
 * Regression: json-glib 1.6 writes U+001F raw inside strings (it escapes
 * every other control character), which is invalid JSON.  Found by
 * fuzz-hook with a domain name holding that byte: the hook's request line
 * failed its own check, and a daemon reply naming such a domain, or with
 * it in an error message, would not have parsed at the client.  Takes
 * milliseconds; if the bug returns, the lines below fail to parse.
 */
static void
test_regress_unit_separator(void)
{
    g_autoptr(NsControlRequest) r = ns_control_request_new(NS_CONTROL_OP_STATUS);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) result = json_node_init_string(json_node_alloc(), "");
    g_autoptr(NsControlMessage) ok = NULL;
    g_autoptr(NsControlMessage) err = NULL;
    g_autofree char *line = NULL;
    g_autofree char *ok_line = NULL;
    g_autofree char *err_line = NULL;
    char all[32];

    for (int c = 1; c < 0x20; c++)
        all[c - 1] = (char)c;
    all[31] = '\0';
    json_node_set_string(result, all);

    r->domain = g_strdup("vm\x1fname");
    r->id = json_node_init_string(json_node_alloc(), "\x1f");
    line = ns_control_request_to_line(r, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(line, "vm\\u001fname"));
    assert_round_trip(r);

    ok_line = ns_control_reply_ok(r->id, result);
    assert_one_line(ok_line);
    ok = message_ok(ok_line);
    g_assert_cmpstr(json_node_get_string(ok->result), ==, all);
    g_assert_cmpstr(json_node_get_string(ok->id), ==, "\x1f");

    err_line = ns_control_reply_error(NULL, NS_CONTROL_ERR_NOT_FOUND, "no domain a\x1f" "b");
    assert_one_line(err_line);
    err = message_ok(err_line);
    g_assert_cmpstr(err->error_message, ==, "no domain a\x1f" "b");
}

/*
 * Found by the fuzzer (CI, session 10): when the JSON grammar check moved
 * into json-check.c, the control parser's "blank line" test became
 * strspn(), which reads up to a NUL the socket's line buffer does not have:
 * a heap-buffer-overflow on a line of blanks.  Here a line of blanks sits
 * at the very end of its heap block with no NUL after it; under ASan the
 * bug, if it comes back, is an overflow report.
 */
static void
test_blank_line_unterminated(void)
{
    g_autofree char *line = g_malloc(3);
    g_autoptr(GError) error = NULL;

    memcpy(line, " \t ", 3);
    g_assert_null(ns_control_request_parse(line, 3, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_clear_error(&error);
    g_assert_null(ns_control_message_parse(line, 3, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/control/ops/list-jobs", test_list_jobs);

    g_test_add_func("/control/blank-line-unterminated", test_blank_line_unterminated);
    g_test_add_func("/control/ops/domain-ops", test_domain_ops);
    g_test_add_func("/control/ops/migrate", test_migrate);
    g_test_add_func("/control/ops/migrate-invalid", test_migrate_invalid);
    g_test_add_func("/control/ops/policy", test_policy);
    g_test_add_func("/control/ops/subscribe", test_subscribe);
    g_test_add_func("/control/ops/hook", test_hook);
    g_test_add_func("/control/ops/op-member", test_op_member);
    g_test_add_func("/control/ops/names", test_op_names);
    g_test_add_func("/control/ops/mutating", test_mutating);
    g_test_add_func("/control/events/names", test_event_names);
    g_test_add_func("/control/id/echo", test_id);
    g_test_add_func("/control/id/peek", test_peek_id);
    g_test_add_func("/control/line/json-strictness", test_json_strictness);
    g_test_add_func("/control/line/line-breaks", test_line_breaks);
    g_test_add_func("/control/line/nul", test_nul_bytes);
    g_test_add_func("/control/line/utf8", test_utf8);
    g_test_add_func("/control/line/size", test_size_limit);
    g_test_add_func("/control/line/nesting", test_nesting);
    g_test_add_func("/control/random/bytes", test_random_bytes);
    g_test_add_func("/control/random/mutations", test_random_mutations);
    g_test_add_func("/control/encode/request", test_request_new_and_to_line);
    g_test_add_func("/control/encode/request-bad-utf8", test_to_line_bad_utf8);
    g_test_add_func("/control/encode/reply-ok", test_reply_ok);
    g_test_add_func("/control/encode/reply-error", test_reply_error);
    g_test_add_func("/control/encode/error-code", test_error_code);
    g_test_add_func("/control/encode/event", test_event);
    g_test_add_func("/control/encode/event-invalid-kind", test_event_invalid_kind);
    g_test_add_func("/control/message/invalid", test_message_invalid);
    g_test_add_func("/control/message/size", test_message_size);
    g_test_add_func("/control/regress/unit-separator", test_regress_unit_separator);
    return g_test_run();
}
