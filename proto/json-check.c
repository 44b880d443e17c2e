/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "numashift/json-check.h"

#include <string.h>

#include "numashift/error.h"

const char *
ns_json_type_name(JsonNode *node)
{
    if (node == NULL)
        return "nothing";
    if (JSON_NODE_HOLDS_VALUE(node)) {
        switch (json_node_get_value_type(node)) {
        case G_TYPE_INT64:
            return "an integer";
        case G_TYPE_DOUBLE:
            return "a number";
        case G_TYPE_BOOLEAN:
            return "a boolean";
        case G_TYPE_STRING:
            return "a string";
        default:
            return "a value";
        }
    }
    return JSON_NODE_HOLDS_OBJECT(node) ? "an object"
           : JSON_NODE_HOLDS_ARRAY(node) ? "an array"
                                         : "null";
}

gboolean
ns_json_holds(JsonNode *node, GType type)
{
    return node != NULL && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == type;
}

static JsonNode *
member(JsonObject *object, const char *name)
{
    return object != NULL ? json_object_get_member(object, name) : NULL;
}

gint64
ns_json_member_int(JsonObject *object, const char *name, gint64 fallback)
{
    JsonNode *n = member(object, name);

    return ns_json_holds(n, G_TYPE_INT64) ? json_node_get_int(n) : fallback;
}

const char *
ns_json_member_string(JsonObject *object, const char *name, const char *fallback)
{
    JsonNode *n = member(object, name);

    return ns_json_holds(n, G_TYPE_STRING) ? json_node_get_string(n) : fallback;
}

JsonObject *
ns_json_member_object(JsonObject *object, const char *name)
{
    JsonNode *n = member(object, name);

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* ------------------------------------------------------------------------
 * RFC 8259 grammar, bounded nesting, member count
 */

static gboolean
syntax_error(GError **error, const char *what, gsize at, const char *problem)
{
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                "%s is not valid JSON at byte %" G_GSIZE_FORMAT ": %s", what, at, problem);
    return FALSE;
}

static gsize
skip_blanks(const char *s, gsize len, gsize i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static gboolean
hex4(const char *s, gsize len, gsize i, guint *ret)
{
    guint v = 0;

    if (i + 4 > len)
        return FALSE;
    for (gsize k = i; k < i + 4; k++) {
        int d = g_ascii_xdigit_value(s[k]);

        if (d < 0)
            return FALSE;
        v = v << 4 | (guint)d;
    }
    *ret = v;
    return TRUE;
}

/* The string whose opening quote is at s[*pos]; *pos moves past its closing quote. */
static gboolean
scan_string(const char *s, gsize len, gsize *pos, const char *what, GError **error)
{
    gsize i = *pos + 1;

    while (i < len) {
        guchar c = (guchar)s[i];
        guint u;
        guint low;

        if (c == '"') {
            *pos = i + 1;
            return TRUE;
        }
        if (c < 0x20)
            return syntax_error(error, what, i, "control character in a string");
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= len)
            break;
        switch (s[i + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i += 2;
            continue;
        case 'u':
            break;
        default:
            return syntax_error(error, what, i, "invalid escape in a string");
        }
        if (!hex4(s, len, i + 2, &u))
            return syntax_error(error, what, i, "invalid \\u escape");
        if (u == 0)
            return syntax_error(error, what, i, "\\u0000 in a string");
        if (u >= 0xdc00 && u <= 0xdfff)
            return syntax_error(error, what, i, "unpaired surrogate escape");
        if (u >= 0xd800 && u <= 0xdbff) {
            if (i + 7 >= len || s[i + 6] != '\\' || s[i + 7] != 'u' ||
                !hex4(s, len, i + 8, &low) || low < 0xdc00 || low > 0xdfff)
                return syntax_error(error, what, i, "unpaired surrogate escape");
            i += 12;
        } else {
            i += 6;
        }
    }
    return syntax_error(error, what, *pos, "unterminated string");
}

/* The number at s[*pos]; integers (no fraction, no exponent) must fit 64 bits. */
static gboolean
scan_number(const char *s, gsize len, gsize *pos, const char *what, GError **error)
{
    gsize start = *pos;
    gsize i = start;
    gboolean integer = TRUE;

    if (s[i] == '-')
        i++;
    if (i >= len || !g_ascii_isdigit(s[i]))
        return syntax_error(error, what, start, "invalid number");
    if (s[i] == '0') {
        i++;
        if (i < len && g_ascii_isdigit(s[i]))
            return syntax_error(error, what, start, "number with a leading zero");
    } else {
        while (i < len && g_ascii_isdigit(s[i]))
            i++;
    }
    if (i < len && s[i] == '.') {
        integer = FALSE;
        i++;
        if (i >= len || !g_ascii_isdigit(s[i]))
            return syntax_error(error, what, start, "invalid number");
        while (i < len && g_ascii_isdigit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        integer = FALSE;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !g_ascii_isdigit(s[i]))
            return syntax_error(error, what, start, "invalid number");
        while (i < len && g_ascii_isdigit(s[i]))
            i++;
    }
    if (integer) {
        char digits[24];
        gint64 v;

        if (i - start >= sizeof(digits))
            return syntax_error(error, what, start, "integer out of 64-bit range");
        memcpy(digits, s + start, i - start);
        digits[i - start] = '\0';
        if (!g_ascii_string_to_signed(digits, 10, G_MININT64, G_MAXINT64, &v, NULL))
            return syntax_error(error, what, start, "integer out of 64-bit range");
    }
    *pos = i;
    return TRUE;
}

typedef enum {
    EXPECT_VALUE,
    EXPECT_VALUE_OR_CLOSE, /* just after '[' */
    EXPECT_KEY,
    EXPECT_KEY_OR_CLOSE,   /* just after '{' */
    EXPECT_COLON,
    EXPECT_COMMA_OR_CLOSE,
} Expect;

gboolean
ns_json_is_blank(const char *s, gsize len)
{
    return skip_blanks(s, len, 0) == len;
}

gboolean
ns_json_check_text(const char *s, gsize len, guint max_depth, const char *what,
                   guint *ret_top_members, GError **error)
{
    char stack[NS_JSON_DEPTH_MAX]; /* '{' or '[' per open container */
    guint depth = 0;
    guint top_members = 0;
    Expect expect = EXPECT_VALUE;
    gsize i = 0;

    g_assert(max_depth <= G_N_ELEMENTS(stack));
    for (;;) {
        gboolean value_done = FALSE;
        char c;

        i = skip_blanks(s, len, i);
        if (i >= len)
            return syntax_error(error, what, i, "unexpected end");
        c = s[i];
        switch (expect) {
        case EXPECT_VALUE_OR_CLOSE:
        case EXPECT_KEY_OR_CLOSE:
            if (c == (expect == EXPECT_VALUE_OR_CLOSE ? ']' : '}')) {
                depth--;
                i++;
                value_done = TRUE;
            } else {
                /* Not empty: look at the same byte again as a value or a member name. */
                expect = expect == EXPECT_VALUE_OR_CLOSE ? EXPECT_VALUE : EXPECT_KEY;
            }
            break;
        case EXPECT_VALUE:
            if (c == '{' || c == '[') {
                if (depth >= max_depth) {
                    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                                "%s nests deeper than %u levels", what, max_depth);
                    return FALSE;
                }
                stack[depth++] = c;
                expect = c == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
                i++;
            } else if (c == '"') {
                if (!scan_string(s, len, &i, what, error))
                    return FALSE;
                value_done = TRUE;
            } else if (c == '-' || g_ascii_isdigit(c)) {
                if (!scan_number(s, len, &i, what, error))
                    return FALSE;
                value_done = TRUE;
            } else if (len - i >= 4 && memcmp(s + i, "true", 4) == 0) {
                i += 4;
                value_done = TRUE;
            } else if (len - i >= 5 && memcmp(s + i, "false", 5) == 0) {
                i += 5;
                value_done = TRUE;
            } else if (len - i >= 4 && memcmp(s + i, "null", 4) == 0) {
                i += 4;
                value_done = TRUE;
            } else {
                return syntax_error(error, what, i, "expected a value");
            }
            break;
        case EXPECT_KEY:
            if (c != '"')
                return syntax_error(error, what, i, "expected a member name");
            if (!scan_string(s, len, &i, what, error))
                return FALSE;
            if (depth == 1)
                top_members++;
            expect = EXPECT_COLON;
            break;
        case EXPECT_COLON:
            if (c != ':')
                return syntax_error(error, what, i, "expected ':'");
            i++;
            expect = EXPECT_VALUE;
            break;
        case EXPECT_COMMA_OR_CLOSE:
            if (c == ',') {
                expect = stack[depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
                i++;
            } else if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
                depth--;
                i++;
                value_done = TRUE;
            } else {
                return syntax_error(error, what, i,
                                    stack[depth - 1] == '{' ? "expected ',' or '}'"
                                                            : "expected ',' or ']'");
            }
            break;
        }
        if (!value_done)
            continue;
        if (depth == 0) {
            i = skip_blanks(s, len, i);
            if (i < len)
                return syntax_error(error, what, i, "data after the JSON value");
            if (ret_top_members != NULL)
                *ret_top_members = top_members;
            return TRUE;
        }
        expect = EXPECT_COMMA_OR_CLOSE;
    }
}

