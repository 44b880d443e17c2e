/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checked JSON from outside (QMP replies, control requests): the one
 * strict grammar check both run before json-glib, which alone accepts
 * comments, single quotes, hex and octal numbers, trailing data, integers
 * that overflow, \u0000 and lone surrogates, and recurses per nesting
 * level; and what a parsed node holds, named for error messages.
 * Part of proto/, used by the control protocol and by hv/qemu/'s QMP.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define NS_JSON_DEPTH_MAX 64u

/*
 * Check that @len bytes at @s are exactly one JSON value (RFC 8259; blanks
 * around it allowed; integers within 64 bits; no \u0000, no unpaired
 * surrogate) nesting at most @max_depth (<= NS_JSON_DEPTH_MAX) deep,
 * without recursion; count the members of the outermost object into
 * @ret_top_members (may be NULL).  NS_ERROR_INVALID_INPUT naming @what and
 * the byte: "WHAT is not valid JSON at byte N: PROBLEM", or "WHAT nests
 * deeper than N levels".  Context: any; pure.
 */
gboolean ns_json_check_text(const char *s, gsize len, guint max_depth, const char *what,
                            guint *ret_top_members, GError **error);

/* Whether the @len bytes at @s (not NUL-terminated) are JSON blanks only.  Context: any; pure. */
gboolean ns_json_is_blank(const char *s, gsize len);

/* "an integer", "a string", "an object", "null", "nothing" (NULL)...  Context: any; pure. */
const char *ns_json_type_name(JsonNode *node);

/* Whether @node is a value of @type (G_TYPE_INT64, G_TYPE_STRING...).  Context: any; pure. */
gboolean ns_json_holds(JsonNode *node, GType type);

/*
 * Members of JSON that numashift itself wrote (numashiftd's answers and
 * events, a job's report), read where a missing or odd member is no error
 * but a blank in a display: @object may be NULL, and a member that is
 * absent or of another type gives the fallback.  Input from outside is
 * checked instead (the control protocol, QMP).
 */

/* @object's integer member @name, else @fallback.  Context: any; pure. */
gint64 ns_json_member_int(JsonObject *object, const char *name, gint64 fallback);

/* @object's string member @name (borrowed), else @fallback.  Context: any; pure. */
const char *ns_json_member_string(JsonObject *object, const char *name, const char *fallback);

/* @object's object member @name (borrowed), else NULL.  Context: any; pure. */
JsonObject *ns_json_member_object(JsonObject *object, const char *name);

G_END_DECLS
