/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-check.h"

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
