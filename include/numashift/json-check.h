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

G_END_DECLS
