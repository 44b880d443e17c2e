/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checked access to JSON from outside (QMP replies, control requests):
 * what a node holds, named for error messages.  Private to hv/.
 */
#pragma once

#include <json-glib/json-glib.h>

/* "an integer", "a string", "an object", "null", "nothing" (NULL)...  Context: any; pure. */
const char *ns_json_type_name(JsonNode *node);

/* Whether @node is a value of @type (G_TYPE_INT64, G_TYPE_STRING...).  Context: any; pure. */
gboolean ns_json_holds(JsonNode *node, GType type);
