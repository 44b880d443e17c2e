/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol: request parser and encoder, reply and event
 * encoders and parser (see control.h for the wire format and its rules).
 *
 * Two passes over every line.  json-glib alone is lenient where a control
 * socket must not be: it takes comments, 'single quotes', 0x10 and 010,
 * a second value after the first ("{} {}"), wraps integers that overflow
 * 64 bits, truncates a string at \u0000 and turns a lone surrogate escape
 * into invalid UTF-8; its parser also recurses once per nesting level.
 * So ns_json_check_text() (json-check.c, shared with QMP) first checks the
 * line against RFC 8259's grammar with a
 * bounded explicit stack, integer range and string escapes included, and
 * counts the members of the top-level object (json-glib silently keeps
 * the last of two members with one name; a count that differs after
 * parsing means a duplicate).  Only a line that passed reaches json-glib,
 * whose tree is then checked member by member: every value's type is
 * verified before json-glib's typed getters see it (they g_critical() on
 * a mismatch).
 */
#include "numashift/json-check.h"
#include "numashift/control.h"

#include <math.h>
#include <string.h>

#include "numashift/error.h"
#include "numashift/radix.h"

_Static_assert(NS_CONTROL_NODE_MAX == NS_PAGE_NODE_MAX,
               "control nodes must fit the radix entries' node field");

/* Replies carry daemon data (status reports): they may nest deeper than requests. */
#define MESSAGE_DEPTH_MAX 64

/* ------------------------------------------------------------------------
 * The op and field tables
 */

enum {
    F_DOMAIN = 1 << 0,
    F_TO = 1 << 1,
    F_CELL = 1 << 2,
    F_RATE = 1 << 3,
    F_WORKERS = 1 << 4,
    F_MODE = 1 << 5,
    F_EVENTS = 1 << 6,
    F_UUID = 1 << 7,
    F_OPERATION = 1 << 8,
    F_SUBOPERATION = 1 << 9,
    F_CPUS = 1 << 10,
    F_MOVE_SHARED = 1 << 11,
    F_HOT_SAMPLE = 1 << 12,
};

/* By bit number of the F_ flags. */
static const char *const field_names[] = {
    "domain", "to", "cell", "rate", "workers", "mode", "events", "uuid", "operation",
    "suboperation", "cpus", "move_shared", "hot_sample_ms",
};

_Static_assert(1u << G_N_ELEMENTS(field_names) == F_HOT_SAMPLE << 1, "one name per field bit");

static const struct {
    const char *name;
    guint required;
    guint optional;
    gboolean mutating;
} ops[NS_CONTROL_N_OPS] = {
    [NS_CONTROL_OP_LIST] = { "list", 0, 0, FALSE },
    [NS_CONTROL_OP_STATUS] = { "status", F_DOMAIN, 0, FALSE },
    [NS_CONTROL_OP_MIGRATE] = { "migrate", F_DOMAIN | F_TO,
                                  F_CELL | F_RATE | F_WORKERS | F_CPUS | F_MOVE_SHARED | F_HOT_SAMPLE,
                                     TRUE },
    [NS_CONTROL_OP_REBALANCE] = { "rebalance", F_DOMAIN, 0, TRUE },
    [NS_CONTROL_OP_PAUSE] = { "pause", F_DOMAIN, 0, TRUE },
    [NS_CONTROL_OP_RESUME] = { "resume", F_DOMAIN, 0, TRUE },
    [NS_CONTROL_OP_CANCEL] = { "cancel", F_DOMAIN, 0, TRUE },
    [NS_CONTROL_OP_POLICY_GET] = { "policy-get", F_DOMAIN, 0, FALSE },
    [NS_CONTROL_OP_POLICY_SET] = { "policy-set", F_DOMAIN | F_MODE, 0, TRUE },
    [NS_CONTROL_OP_SUBSCRIBE] = { "subscribe", 0, F_EVENTS, FALSE },
    [NS_CONTROL_OP_JOBS] = { "jobs", 0, 0, FALSE },
    [NS_CONTROL_OP_HOOK] = { "hook", F_DOMAIN | F_OPERATION | F_SUBOPERATION, F_UUID, TRUE },
};

/* By bit number of NsControlEvent. */
static const char *const event_names[] = { "progress", "job", "policy", "domain" };

_Static_assert(G_N_ELEMENTS(event_names) == 4 && NS_CONTROL_EVENTS_ALL == 0xf,
               "one name per event bit");

const char *
ns_control_op_to_string(NsControlOp op)
{
    return (guint)op < NS_CONTROL_N_OPS ? ops[op].name : NULL;
}

gboolean
ns_control_op_from_string(const char *name, NsControlOp *ret_op)
{
    for (guint i = 0; name != NULL && i < NS_CONTROL_N_OPS; i++) {
        if (strcmp(ops[i].name, name) == 0) {
            *ret_op = (NsControlOp)i;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean
ns_control_op_is_mutating(NsControlOp op)
{
    return (guint)op < NS_CONTROL_N_OPS && ops[op].mutating;
}

const char *
ns_control_event_to_string(NsControlEvent event)
{
    guint bits = (guint)event;

    if (bits == 0 || (bits & (bits - 1)) != 0 || (bits & ~NS_CONTROL_EVENTS_ALL) != 0)
        return NULL;
    return event_names[g_bit_nth_lsf(bits, -1)];
}

static gboolean
event_from_string(const char *name, NsControlEvent *ret_event)
{
    for (guint i = 0; i < G_N_ELEMENTS(event_names); i++) {
        if (strcmp(event_names[i], name) == 0) {
            *ret_event = (NsControlEvent)(1u << i);
            return TRUE;
        }
    }
    return FALSE;
}

/* ------------------------------------------------------------------------
 * Messages
 */

/* @text quoted for an error message: escaped, cut after 40 bytes. */
static char *
quoted(const char *text)
{
    g_autofree char *head = g_strndup(text, 40);
    g_autofree char *escaped = g_strescape(head, NULL);

    return g_strdup_printf("\"%s%s\"", escaped, strlen(text) > 40 ? "..." : "");
}

static gboolean
wrong_type(GError **error, const char *name, const char *expected, JsonNode *node)
{
    g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "\"%s\" is %s, expected %s", name,
                ns_json_type_name(node), expected);
    return FALSE;
}

/*
 * The checks every line goes through: size, NUL bytes, UTF-8, one line,
 * grammar; then json-glib's tree, whose root must be an object with no
 * member given twice.  Returns the parser (which owns *ret_obj).
 */
static JsonParser *
load_line(const char *line, gsize len, gsize max_len, guint max_depth, const char *what,
          JsonObject **ret_obj, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) local = NULL;
    const char *nul;
    const char *end;
    const char *newline;
    guint top_members = 0;
    JsonNode *root;

    if (len > max_len) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s of %" G_GSIZE_FORMAT " bytes exceeds the limit of %" G_GSIZE_FORMAT, what,
                    len, max_len);
        return NULL;
    }
    nul = memchr(line, '\0', len);
    if (nul != NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s contains a NUL byte at byte %" G_GSIZE_FORMAT, what,
                    (gsize)(nul - line));
        return NULL;
    }
    if (!g_utf8_validate_len(line, len, &end)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s is not valid UTF-8 at byte %" G_GSIZE_FORMAT, what, (gsize)(end - line));
        return NULL;
    }
    newline = memchr(line, '\n', len);
    if (newline != NULL && newline != line + len - 1) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s has a line break at byte %" G_GSIZE_FORMAT " before its end", what,
                    (gsize)(newline - line));
        return NULL;
    }
    if (ns_json_is_blank(line, len)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "empty %s", what);
        return NULL;
    }
    if (!ns_json_check_text(line, len, max_depth, what, &top_members, error))
        return NULL;

    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, line, (gssize)len, &local)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s is not valid JSON: %s", what,
                    local->message);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s is %s, not a JSON object", what,
                    ns_json_type_name(root));
        return NULL;
    }
    if (json_object_get_size(json_node_get_object(root)) != top_members) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "%s gives a member more than once", what);
        return NULL;
    }
    *ret_obj = json_node_get_object(root);
    return g_steal_pointer(&parser);
}

/* ------------------------------------------------------------------------
 * Pass 2: members
 */

static gboolean
get_id(JsonObject *obj, JsonNode **ret_id, GError **error)
{
    JsonNode *node = json_object_get_member(obj, "id");

    *ret_id = NULL;
    if (node == NULL)
        return TRUE;
    if (ns_json_holds(node, G_TYPE_STRING)) {
        gsize n = strlen(json_node_get_string(node));

        if (n > NS_CONTROL_ID_MAX) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "\"id\" is %" G_GSIZE_FORMAT " bytes long, longer than %u", n,
                        NS_CONTROL_ID_MAX);
            return FALSE;
        }
    } else if (!ns_json_holds(node, G_TYPE_INT64)) {
        return wrong_type(error, "id", "an integer or a string", node);
    }
    *ret_id = json_node_copy(node);
    return TRUE;
}

static gboolean
get_string(JsonObject *obj, const char *name, const char **ret, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!ns_json_holds(node, G_TYPE_STRING))
        return wrong_type(error, name, "a string", node);
    *ret = json_node_get_string(node);
    return TRUE;
}

static gboolean
get_domain(JsonObject *obj, char **ret, GError **error)
{
    const char *s;
    gsize n;

    if (!get_string(obj, "domain", &s, error))
        return FALSE;
    n = strlen(s);
    if (n == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "\"domain\" is empty");
        return FALSE;
    }
    if (n > NS_CONTROL_DOMAIN_MAX) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "\"domain\" is %" G_GSIZE_FORMAT " bytes long, longer than %u", n,
                    NS_CONTROL_DOMAIN_MAX);
        return FALSE;
    }
    *ret = g_strdup(s);
    return TRUE;
}

/* A CPU list in libvirt's syntax, checked for its characters only. */
static gboolean
get_cpus(JsonObject *obj, char **ret, GError **error)
{
    const char *s;
    gsize n;

    if (!get_string(obj, "cpus", &s, error))
        return FALSE;
    n = strlen(s);
    if (n == 0 || n > NS_CONTROL_CPUS_MAX || strspn(s, "0123456789,-^") != n) {
        g_autofree char *shown = quoted(s);

        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "\"cpus\" is %s: a CPU list (\"2-3,8\") of 1 to %u bytes", shown,
                    NS_CONTROL_CPUS_MAX);
        return FALSE;
    }
    *ret = g_strdup(s);
    return TRUE;
}

static gboolean
get_token(JsonObject *obj, const char *name, char **ret, GError **error)
{
    const char *s;
    gsize n;

    if (!get_string(obj, name, &s, error))
        return FALSE;
    n = strlen(s);
    if (n == 0 || n > NS_CONTROL_TOKEN_MAX) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "\"%s\" must be 1 to %u bytes long", name, NS_CONTROL_TOKEN_MAX);
        return FALSE;
    }
    for (gsize i = 0; i < n; i++) {
        if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') {
            g_autofree char *shown = quoted(s);

            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "\"%s\" is %s: only letters, digits, '-', '_' and '.' are allowed", name,
                        shown);
            return FALSE;
        }
    }
    *ret = g_strdup(s);
    return TRUE;
}

static gboolean
get_uint(JsonObject *obj, const char *name, guint min, guint max, guint *ret, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);
    gint64 v;

    if (!ns_json_holds(node, G_TYPE_INT64))
        return wrong_type(error, name, "an integer", node);
    v = json_node_get_int(node);
    if (v < min || v > max) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "\"%s\" is %" G_GINT64_FORMAT ", out of range %u..%u", name, v, min, max);
        return FALSE;
    }
    *ret = (guint)v;
    return TRUE;
}

static gboolean
get_bool(JsonObject *obj, const char *name, gboolean *ret, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!ns_json_holds(node, G_TYPE_BOOLEAN))
        return wrong_type(error, name, "true or false", node);
    *ret = json_node_get_boolean(node);
    return TRUE;
}

static gboolean
get_rate(JsonObject *obj, gdouble *ret, GError **error)
{
    JsonNode *node = json_object_get_member(obj, "rate");
    gdouble v;

    if (ns_json_holds(node, G_TYPE_INT64))
        v = (gdouble)json_node_get_int(node);
    else if (ns_json_holds(node, G_TYPE_DOUBLE))
        v = json_node_get_double(node);
    else
        return wrong_type(error, "rate", "a number", node);
    if (!isfinite(v) || v < NS_CONTROL_RATE_MIN || v > NS_CONTROL_RATE_MAX) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "\"rate\" is %g, out of range %g..%g MiB/s", v, NS_CONTROL_RATE_MIN,
                    NS_CONTROL_RATE_MAX);
        return FALSE;
    }
    *ret = v;
    return TRUE;
}

static gboolean
get_events(JsonObject *obj, guint *ret, GError **error)
{
    JsonNode *node = json_object_get_member(obj, "events");
    JsonArray *array;
    guint mask = 0;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return wrong_type(error, "events", "an array of strings", node);
    array = json_node_get_array(node);
    if (json_array_get_length(array) == 0) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "\"events\" is empty: name at least one kind, or leave it out for all");
        return FALSE;
    }
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);
        NsControlEvent event;

        if (!ns_json_holds(element, G_TYPE_STRING)) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "\"events\"[%u] is %s, expected a string", i, ns_json_type_name(element));
            return FALSE;
        }
        if (!event_from_string(json_node_get_string(element), &event)) {
            g_autofree char *shown = quoted(json_node_get_string(element));

            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "\"events\"[%u] is %s, expected \"progress\", \"job\", \"policy\" or "
                        "\"domain\"", i, shown);
            return FALSE;
        }
        if (mask & event) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "\"events\" names \"%s\" twice", ns_control_event_to_string(event));
            return FALSE;
        }
        mask |= event;
    }
    *ret = mask;
    return TRUE;
}

static gboolean
get_uuid(JsonObject *obj, char **ret, GError **error)
{
    const char *s;

    if (!get_string(obj, "uuid", &s, error))
        return FALSE;
    if (!g_uuid_string_is_valid(s)) {
        g_autofree char *shown = quoted(s);

        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "\"uuid\" is %s, not a UUID", shown);
        return FALSE;
    }
    *ret = g_ascii_strdown(s, -1);
    return TRUE;
}

/* Which F_ flag member @name is, or 0. */
static guint
field_of_name(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(field_names); i++) {
        if (strcmp(field_names[i], name) == 0)
            return 1u << i;
    }
    return 0;
}

static gboolean
check_members(JsonObject *obj, NsControlOp op, GError **error)
{
    g_autoptr(GList) members = json_object_get_members(obj);
    guint allowed = ops[op].required | ops[op].optional;

    for (GList *l = members; l != NULL; l = l->next) {
        const char *name = l->data;

        if (strcmp(name, "id") == 0 || strcmp(name, "op") == 0)
            continue;
        if ((field_of_name(name) & allowed) == 0) {
            g_autofree char *shown = quoted(name);

            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "op \"%s\" takes no field %s",
                        ops[op].name, shown);
            return FALSE;
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(field_names); i++) {
        if ((ops[op].required & (1u << i)) && !json_object_has_member(obj, field_names[i])) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "op \"%s\" needs \"%s\"",
                        ops[op].name, field_names[i]);
            return FALSE;
        }
    }
    return TRUE;
}

NsControlRequest *
ns_control_request_new(NsControlOp op)
{
    NsControlRequest *request = g_new0(NsControlRequest, 1);

    request->op = op;
    request->cell = -1;
    request->events = NS_CONTROL_EVENTS_ALL;
    return request;
}

void
ns_control_request_free(NsControlRequest *request)
{
    if (request == NULL)
        return;
    g_clear_pointer(&request->id, json_node_unref);
    g_free(request->domain);
    g_free(request->mode);
    g_free(request->uuid);
    g_free(request->operation);
    g_free(request->suboperation);
    g_free(request->cpus);
    g_free(request);
}

NsControlRequest *
ns_control_request_parse(const char *line, gsize len, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(NsControlRequest) request = NULL;
    JsonObject *obj = NULL;
    JsonNode *op_node;
    NsControlOp op;
    guint cell;

    parser = load_line(line, len, NS_CONTROL_LINE_MAX, NS_CONTROL_DEPTH_MAX, "request", &obj,
                       error);
    if (parser == NULL)
        return NULL;

    op_node = json_object_get_member(obj, "op");
    if (op_node == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "request lacks \"op\"");
        return NULL;
    }
    if (!ns_json_holds(op_node, G_TYPE_STRING)) {
        wrong_type(error, "op", "a string", op_node);
        return NULL;
    }
    if (!ns_control_op_from_string(json_node_get_string(op_node), &op)) {
        g_autofree char *shown = quoted(json_node_get_string(op_node));

        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "unknown op %s", shown);
        return NULL;
    }
    request = ns_control_request_new(op);
    if (!get_id(obj, &request->id, error) || !check_members(obj, op, error))
        return NULL;

    /* check_members() made sure each member present is one this op takes. */
    if (json_object_has_member(obj, "domain") && !get_domain(obj, &request->domain, error))
        return NULL;
    if (json_object_has_member(obj, "to") &&
        !get_uint(obj, "to", 0, NS_CONTROL_NODE_MAX, &request->to, error))
        return NULL;
    if (json_object_has_member(obj, "cell")) {
        if (!get_uint(obj, "cell", 0, NS_CONTROL_NODE_MAX, &cell, error))
            return NULL;
        request->cell = (gint)cell;
    }
    if (json_object_has_member(obj, "rate") && !get_rate(obj, &request->rate, error))
        return NULL;
    if (json_object_has_member(obj, "workers") &&
        !get_uint(obj, "workers", 1, NS_CONTROL_WORKERS_MAX, &request->workers, error))
        return NULL;
    if (json_object_has_member(obj, "cpus") && !get_cpus(obj, &request->cpus, error))
        return NULL;
    if (json_object_has_member(obj, "move_shared") &&
        !get_bool(obj, "move_shared", &request->move_shared, error))
        return NULL;
    if (json_object_has_member(obj, "hot_sample_ms") &&
        !get_uint(obj, "hot_sample_ms", 1, NS_CONTROL_HOT_SAMPLE_MS_MAX, &request->hot_sample_ms,
                  error))
        return NULL;
    if (json_object_has_member(obj, "mode") && !get_token(obj, "mode", &request->mode, error))
        return NULL;
    if (json_object_has_member(obj, "events") && !get_events(obj, &request->events, error))
        return NULL;
    if (json_object_has_member(obj, "uuid") && !get_uuid(obj, &request->uuid, error))
        return NULL;
    if (json_object_has_member(obj, "operation") &&
        !get_token(obj, "operation", &request->operation, error))
        return NULL;
    if (json_object_has_member(obj, "suboperation") &&
        !get_token(obj, "suboperation", &request->suboperation, error))
        return NULL;
    return g_steal_pointer(&request);
}

JsonNode *
ns_control_request_peek_id(const char *line, gsize len)
{
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *obj = NULL;
    JsonNode *id = NULL;

    parser = load_line(line, len, NS_CONTROL_LINE_MAX, NS_CONTROL_DEPTH_MAX, "request", &obj,
                       NULL);
    if (parser == NULL || !get_id(obj, &id, NULL))
        return NULL;
    return id;
}

/* ------------------------------------------------------------------------
 * Encoders
 */

/*
 * @obj as one line with "\n"; consumes @obj.
 *
 * json-glib 1.6's generator escapes every control character in strings
 * but U+001F, which it writes raw: invalid JSON (found by fuzz-hook: a
 * domain name with that byte).  Outside strings its output has no control
 * characters at all, so each raw 0x1f byte is one to escape.
 */
static char *
object_to_line(JsonObject *obj)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), obj);
    g_autofree char *text = NULL;
    GString *line;

    json_object_unref(obj);
    text = json_to_string(node, FALSE);
    if (strchr(text, '\x1f') == NULL)
        return g_strconcat(text, "\n", NULL);
    line = g_string_sized_new(strlen(text) + 16);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\x1f')
            g_string_append(line, "\\u001f");
        else
            g_string_append_c(line, *p);
    }
    g_string_append_c(line, '\n');
    return g_string_free(line, FALSE);
}

static void
set_node_or_null(JsonObject *obj, const char *name, JsonNode *node)
{
    if (node != NULL)
        json_object_set_member(obj, name, json_node_copy(node));
    else
        json_object_set_null_member(obj, name);
}

char *
ns_control_request_to_line(const NsControlRequest *request, GError **error)
{
    g_autoptr(JsonObject) obj = NULL;
    g_autoptr(NsControlRequest) check = NULL;
    g_autofree char *line = NULL;
    guint fields;

    if ((guint)request->op >= NS_CONTROL_N_OPS) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "unknown op %d", (int)request->op);
        return NULL;
    }
    fields = ops[request->op].required | ops[request->op].optional;
    obj = json_object_new();
    if (request->id != NULL)
        json_object_set_member(obj, "id", json_node_copy(request->id));
    json_object_set_string_member(obj, "op", ops[request->op].name);
    if ((fields & F_DOMAIN) && request->domain != NULL)
        json_object_set_string_member(obj, "domain", request->domain);
    if (fields & F_TO)
        json_object_set_int_member(obj, "to", request->to);
    if ((fields & F_CELL) && request->cell >= 0)
        json_object_set_int_member(obj, "cell", request->cell);
    if ((fields & F_RATE) && request->rate != 0)
        json_object_set_double_member(obj, "rate", request->rate);
    if ((fields & F_WORKERS) && request->workers != 0)
        json_object_set_int_member(obj, "workers", request->workers);
    if ((fields & F_CPUS) && request->cpus != NULL)
        json_object_set_string_member(obj, "cpus", request->cpus);
    if ((fields & F_MOVE_SHARED) && request->move_shared)
        json_object_set_boolean_member(obj, "move_shared", TRUE);
    if ((fields & F_HOT_SAMPLE) && request->hot_sample_ms != 0)
        json_object_set_int_member(obj, "hot_sample_ms", request->hot_sample_ms);
    if ((fields & F_MODE) && request->mode != NULL)
        json_object_set_string_member(obj, "mode", request->mode);
    if ((fields & F_EVENTS) && request->events != NS_CONTROL_EVENTS_ALL) {
        g_autoptr(JsonArray) events = json_array_new();

        if (request->events == 0 || (request->events & ~NS_CONTROL_EVENTS_ALL) != 0) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                        "events mask 0x%x is not a set of event kinds", request->events);
            return NULL;
        }
        for (guint i = 0; i < G_N_ELEMENTS(event_names); i++) {
            if (request->events & (1u << i))
                json_array_add_string_element(events, event_names[i]);
        }
        json_object_set_array_member(obj, "events", g_steal_pointer(&events));
    }
    if ((fields & F_UUID) && request->uuid != NULL)
        json_object_set_string_member(obj, "uuid", request->uuid);
    if ((fields & F_OPERATION) && request->operation != NULL)
        json_object_set_string_member(obj, "operation", request->operation);
    if ((fields & F_SUBOPERATION) && request->suboperation != NULL)
        json_object_set_string_member(obj, "suboperation", request->suboperation);

    line = object_to_line(g_steal_pointer(&obj));
    /* What we send must be what the daemon accepts: check it the same way. */
    check = ns_control_request_parse(line, strlen(line), error);
    if (check == NULL)
        return NULL;
    return g_steal_pointer(&line);
}

char *
ns_control_reply_ok(JsonNode *id, JsonNode *result)
{
    JsonObject *obj = json_object_new();

    if (id != NULL)
        json_object_set_member(obj, "id", json_node_copy(id));
    json_object_set_boolean_member(obj, "ok", TRUE);
    set_node_or_null(obj, "result", result);
    return object_to_line(obj);
}

char *
ns_control_reply_error(JsonNode *id, const char *code, const char *message)
{
    g_autofree char *text = NULL;
    JsonObject *obj;
    JsonObject *err;

    g_return_val_if_fail(code != NULL && message != NULL, NULL);

    text = g_utf8_make_valid(message, -1);
    g_strdelimit(text, "\r\n", ' ');
    err = json_object_new();
    json_object_set_string_member(err, "code", code);
    json_object_set_string_member(err, "message", text);
    obj = json_object_new();
    if (id != NULL)
        json_object_set_member(obj, "id", json_node_copy(id));
    json_object_set_boolean_member(obj, "ok", FALSE);
    json_object_set_object_member(obj, "error", err);
    return object_to_line(obj);
}

const char *
ns_control_error_code(const GError *error)
{
    if (error == NULL || error->domain != NS_ERROR)
        return NS_CONTROL_ERR_FAILED;
    switch ((NsErrorCode)error->code) {
    case NS_ERROR_INVALID_INPUT:
        return NS_CONTROL_ERR_INVALID_REQUEST;
    case NS_ERROR_NOT_FOUND:
        return NS_CONTROL_ERR_NOT_FOUND;
    case NS_ERROR_NOT_RUNNING:
        return NS_CONTROL_ERR_NOT_RUNNING;
    case NS_ERROR_PERMISSION:
        return NS_CONTROL_ERR_PERMISSION_DENIED;
    case NS_ERROR_UNSUPPORTED:
        return NS_CONTROL_ERR_UNSUPPORTED;
    case NS_ERROR_BUSY:
        return NS_CONTROL_ERR_BUSY;
    case NS_ERROR_FAILED:
    case NS_ERROR_IO:
        break;
    }
    return NS_CONTROL_ERR_FAILED;
}

char *
ns_control_event(NsControlEvent event, JsonNode *body)
{
    const char *name = ns_control_event_to_string(event);
    JsonObject *obj;

    g_return_val_if_fail(name != NULL, NULL);

    obj = json_object_new();
    json_object_set_string_member(obj, "event", name);
    set_node_or_null(obj, "body", body);
    return object_to_line(obj);
}

/* ------------------------------------------------------------------------
 * Replies and events, client side
 */

void
ns_control_message_free(NsControlMessage *message)
{
    if (message == NULL)
        return;
    g_clear_pointer(&message->id, json_node_unref);
    g_clear_pointer(&message->result, json_node_unref);
    g_clear_pointer(&message->body, json_node_unref);
    g_free(message->error_code);
    g_free(message->error_message);
    g_free(message);
}

/* Every member of @obj is one of the NULL-terminated @allowed. */
static gboolean
only_members(JsonObject *obj, const char *where, const char *const *allowed, GError **error)
{
    g_autoptr(GList) members = json_object_get_members(obj);

    for (GList *l = members; l != NULL; l = l->next) {
        if (!g_strv_contains(allowed, l->data)) {
            g_autofree char *shown = quoted(l->data);

            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "%s has an unknown member %s",
                        where, shown);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
parse_event(JsonObject *obj, NsControlMessage *message, GError **error)
{
    static const char *const allowed[] = { "event", "body", NULL };
    JsonNode *node = json_object_get_member(obj, "event");

    if (!only_members(obj, "event", allowed, error))
        return FALSE;
    if (!ns_json_holds(node, G_TYPE_STRING))
        return wrong_type(error, "event", "a string", node);
    if (!event_from_string(json_node_get_string(node), &message->event)) {
        g_autofree char *shown = quoted(json_node_get_string(node));

        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "unknown event kind %s", shown);
        return FALSE;
    }
    node = json_object_get_member(obj, "body");
    if (node == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "event lacks \"body\"");
        return FALSE;
    }
    message->is_event = TRUE;
    message->body = json_node_copy(node);
    return TRUE;
}

static gboolean
parse_reply(JsonObject *obj, NsControlMessage *message, GError **error)
{
    static const char *const allowed_ok[] = { "id", "ok", "result", NULL };
    static const char *const allowed_error[] = { "id", "ok", "error", NULL };
    static const char *const allowed_detail[] = { "code", "message", NULL };
    JsonNode *node = json_object_get_member(obj, "ok");
    JsonObject *detail;
    const char *code;
    const char *text;

    if (node == NULL) {
        g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT,
                    "line is neither a reply (\"ok\") nor an event (\"event\")");
        return FALSE;
    }
    if (!ns_json_holds(node, G_TYPE_BOOLEAN))
        return wrong_type(error, "ok", "a boolean", node);
    message->ok = json_node_get_boolean(node);
    if (!only_members(obj, "reply", message->ok ? allowed_ok : allowed_error, error) ||
        !get_id(obj, &message->id, error))
        return FALSE;
    if (message->ok) {
        node = json_object_get_member(obj, "result");
        if (node == NULL) {
            g_set_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT, "ok reply lacks \"result\"");
            return FALSE;
        }
        message->result = json_node_copy(node);
        return TRUE;
    }
    node = json_object_get_member(obj, "error");
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
        return wrong_type(error, "error", "an object", node);
    detail = json_node_get_object(node);
    if (!only_members(detail, "\"error\"", allowed_detail, error) ||
        !get_string(detail, "code", &code, error) || !get_string(detail, "message", &text, error))
        return FALSE;
    message->error_code = g_strdup(code);
    message->error_message = g_strdup(text);
    return TRUE;
}

NsControlMessage *
ns_control_message_parse(const char *line, gsize len, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(NsControlMessage) message = NULL;
    JsonObject *obj = NULL;

    parser = load_line(line, len, NS_CONTROL_MESSAGE_MAX, MESSAGE_DEPTH_MAX, "line", &obj, error);
    if (parser == NULL)
        return NULL;
    message = g_new0(NsControlMessage, 1);
    if (json_object_has_member(obj, "event")) {
        if (!parse_event(obj, message, error))
            return NULL;
    } else if (!parse_reply(obj, message, error)) {
        return NULL;
    }
    return g_steal_pointer(&message);
}
