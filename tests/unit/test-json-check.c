/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proto/json-check.c: the strict grammar check run before json-glib on
 * outside input, the type names of error messages, and the tolerant member
 * getters used on numashift's own JSON (numashiftd's answers, job reports).
 * The control-protocol and QMP tests cover the check through their parsers;
 * these pin each public function down by itself.
 */
#include <string.h>

#include "numashift/error.h"
#include "numashift/json-check.h"

static gboolean
check(const char *text, guint depth, guint *members, GError **error)
{
    return ns_json_check_text(text, strlen(text), depth, "the reply", members, error);
}

static void
test_check_accepts(void)
{
    const char *good[] = {
        "{}", " [ ] ", "0", "-1.5e3", "\"a\\u00e9\\ud83d\\ude00\"", "true", "null",
        "{\"a\": [1, 2, {\"b\": false}], \"c\": \"\"}", "9223372036854775807", "-9223372036854775808",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_true(check(good[i], NS_JSON_DEPTH_MAX, NULL, &error));
        g_assert_no_error(error);
    }
    guint members = 0;

    g_assert_true(check("{\"a\": 1, \"b\": {\"c\": 2, \"d\": 3}, \"e\": []}", 8, &members, NULL));
    g_assert_cmpuint(members, ==, 3); /* the outermost object's only */
}

static void
test_check_refuses(void)
{
    /* What json-glib alone would take, or what would hurt it. */
    const char *bad[] = {
        "", "{", "{} {}", "{\"a\": 1,}", "'a'", "0x10", "012", "/* c */ 1", "{\"a\" 1}",
        "9223372036854775808", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00x\"", "[1 2]", "nul",
        "\"tab\there\"",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_false(check(bad[i], NS_JSON_DEPTH_MAX, NULL, &error));
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_assert_true(g_str_has_prefix(error->message, "the reply "));
    }
    g_autoptr(GError) error = NULL;

    g_assert_false(check("{\"a\": 1,}", 8, NULL, &error));
    g_assert_cmpstr(error->message, ==, "the reply is not valid JSON at byte 8: expected a member name");
}

static void
test_check_depth(void)
{
    g_autoptr(GString) deep = g_string_new(NULL);
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 4; i++)
        g_string_append_c(deep, '[');
    for (guint i = 0; i < 4; i++)
        g_string_append_c(deep, ']');
    g_assert_true(check(deep->str, 4, NULL, NULL));
    g_assert_false(check(deep->str, 3, NULL, &error));
    g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
    g_assert_nonnull(strstr(error->message, "nests deeper than 3 levels"));

    /* No recursion: a million levels are refused, not a stack overflow. */
    g_autoptr(GString) abyss = g_string_new(NULL);

    for (guint i = 0; i < 1000000; i++)
        g_string_append_c(abyss, '[');
    g_clear_error(&error);
    g_assert_false(check(abyss->str, NS_JSON_DEPTH_MAX, NULL, &error));
    g_assert_nonnull(strstr(error->message, "nests deeper than"));
}

static void
test_blank(void)
{
    g_assert_true(ns_json_is_blank("", 0));
    g_assert_true(ns_json_is_blank(" \t\r\n", 4));
    g_assert_false(ns_json_is_blank(" x", 2));
    g_assert_true(ns_json_is_blank("  x", 2)); /* only @len bytes are looked at */
    g_assert_false(ns_json_is_blank("\v", 1));  /* not a JSON blank */
}

static JsonNode *
parse(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();

    g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
    return json_node_copy(json_parser_get_root(parser));
}

static void
test_type_names(void)
{
    g_autoptr(JsonNode) node = parse("[1, 1.5, true, \"s\", {}, [], null]");
    JsonArray *a = json_node_get_array(node);
    const char *names[] = { "an integer", "a number", "a boolean", "a string", "an object", "an array", "null" };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++)
        g_assert_cmpstr(ns_json_type_name(json_array_get_element(a, i)), ==, names[i]);
    g_assert_cmpstr(ns_json_type_name(NULL), ==, "nothing");

    g_assert_true(ns_json_holds(json_array_get_element(a, 0), G_TYPE_INT64));
    g_assert_false(ns_json_holds(json_array_get_element(a, 1), G_TYPE_INT64));
    g_assert_true(ns_json_holds(json_array_get_element(a, 3), G_TYPE_STRING));
    g_assert_false(ns_json_holds(json_array_get_element(a, 4), G_TYPE_STRING));
    g_assert_false(ns_json_holds(json_array_get_element(a, 6), G_TYPE_STRING));
    g_assert_false(ns_json_holds(NULL, G_TYPE_INT64));
}

static void
test_members(void)
{
    g_autoptr(JsonNode) node = parse("{\"n\": 7, \"f\": 2.5, \"s\": \"x\", \"o\": {\"n\": -3}, \"z\": null}");
    JsonObject *o = json_node_get_object(node);

    g_assert_cmpint(ns_json_member_int(o, "n", -1), ==, 7);
    g_assert_cmpint(ns_json_member_int(o, "f", -1), ==, -1); /* a number is not an integer */
    g_assert_cmpint(ns_json_member_int(o, "s", -1), ==, -1);
    g_assert_cmpint(ns_json_member_int(o, "z", 0), ==, 0);
    g_assert_cmpint(ns_json_member_int(o, "absent", 42), ==, 42);
    g_assert_cmpint(ns_json_member_int(NULL, "n", 5), ==, 5);

    g_assert_cmpstr(ns_json_member_string(o, "s", NULL), ==, "x");
    g_assert_cmpstr(ns_json_member_string(o, "n", "-"), ==, "-");
    g_assert_null(ns_json_member_string(o, "absent", NULL));
    g_assert_cmpstr(ns_json_member_string(NULL, "s", "-"), ==, "-");

    JsonObject *inner = ns_json_member_object(o, "o");

    g_assert_nonnull(inner);
    g_assert_cmpint(ns_json_member_int(inner, "n", 0), ==, -3);
    g_assert_null(ns_json_member_object(o, "n"));
    g_assert_null(ns_json_member_object(o, "z"));
    g_assert_null(ns_json_member_object(o, "absent"));
    g_assert_null(ns_json_member_object(NULL, "o"));
    /* Chained through a missing object: the fallback, not a crash. */
    g_assert_cmpint(ns_json_member_int(ns_json_member_object(o, "absent"), "n", 9), ==, 9);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json-check/accepts", test_check_accepts);
    g_test_add_func("/json-check/refuses", test_check_refuses);
    g_test_add_func("/json-check/depth", test_check_depth);
    g_test_add_func("/json-check/blank", test_blank);
    g_test_add_func("/json-check/type-names", test_type_names);
    g_test_add_func("/json-check/members", test_members);
    return g_test_run();
}
