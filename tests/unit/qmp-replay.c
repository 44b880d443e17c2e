/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test support: replayed and canned QMP transports (see qmp-replay.h). */
#include "qmp-replay.h"

#include <string.h>

#include "numashift/error.h"

char *
test_data_path(const char *dir, const char *name)
{
    const char *root = g_getenv("NS_TEST_DATA");

    g_assert_nonnull(root);
    return g_build_filename(root, "data", dir, name, NULL);
}

char *
test_data_read(const char *dir, const char *name)
{
    g_autofree char *path = test_data_path(dir, name);
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    return text;
}

static void
exchange_free(gpointer data)
{
    Exchange *e = data;

    json_node_unref(e->request);
    g_ptr_array_unref(e->lines);
    g_free(e);
}

void
transcript_free(Transcript *t)
{
    if (t == NULL)
        return;
    g_free(t->greeting);
    g_ptr_array_unref(t->exchanges);
    g_free(t);
}

Transcript *
transcript_load(const char *case_name)
{
    g_autofree char *name = g_strconcat(case_name, ".replies", NULL);
    g_autofree char *text = test_data_read("qmp", name);
    g_auto(GStrv) lines = NULL;
    Transcript *t = g_new0(Transcript, 1);
    Exchange *current = NULL;

    g_assert_nonnull(text);
    t->exchanges = g_ptr_array_new_with_free_func(exchange_free);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];

        if (*line == '\0' || g_str_has_prefix(line, "# "))
            continue;
        if (g_str_has_prefix(line, "-> ")) {
            g_autoptr(GError) error = NULL;

            current = g_new0(Exchange, 1);
            current->request = json_from_string(line + 3, &error);
            g_assert_no_error(error);
            current->lines = g_ptr_array_new_with_free_func(g_free);
            g_ptr_array_add(t->exchanges, current);
        } else if (g_str_has_prefix(line, "<- ")) {
            if (current == NULL) {
                g_assert_null(t->greeting);
                t->greeting = g_strdup(line + 3);
            } else {
                g_ptr_array_add(current->lines, g_strdup(line + 3));
            }
        } else {
            g_error("%s line %u: neither '-> ', '<- ' nor '# '", name, i + 1);
        }
    }
    g_assert_nonnull(t->greeting);
    return t;
}

const Exchange *
transcript_find(const Transcript *t, JsonObject *request)
{
    g_autoptr(JsonObject) bare = json_object_new();
    g_autoptr(JsonNode) node = NULL;
    GList *members = json_object_get_members(request);

    for (GList *l = members; l != NULL; l = l->next) {
        if (strcmp(l->data, "id") != 0)
            json_object_set_member(bare, l->data,
                                   json_node_copy(json_object_get_member(request, l->data)));
    }
    g_list_free(members);
    node = json_node_init_object(json_node_alloc(), bare);
    for (guint i = 0; i < t->exchanges->len; i++) {
        const Exchange *e = t->exchanges->pdata[i];

        if (json_node_equal(e->request, node))
            return e;
    }
    return NULL;
}

static char *
replay_command(gpointer impl, JsonObject *request, GError **error)
{
    Transcript *t = impl;
    const Exchange *e = transcript_find(t, request);

    if (e == NULL || e->lines->len == 0) {
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), request);
        g_autofree char *text = json_to_string(node, FALSE);

        g_set_error(error, NS_ERROR, NS_ERROR_NOT_FOUND, "no captured reply to %s", text);
        return NULL;
    }
    t->requests_served++;
    return g_strdup(e->lines->pdata[e->lines->len - 1]);
}

static void
replay_free(gpointer impl)
{
    transcript_free(impl);
}

static const NsQmpTransport replay_transport = {
    .command = replay_command,
    .hmp = NULL,
    .free = replay_free,
};

NsQmp *
replay_qmp_new(const char *case_name)
{
    return ns_qmp_new(&replay_transport, transcript_load(case_name));
}

typedef struct {
    char *reply;
    GPtrArray *requests;
} Canned;

static char *
canned_command(gpointer impl, JsonObject *request, GError **error)
{
    Canned *c = impl;

    if (c->requests != NULL)
        g_ptr_array_add(c->requests, json_node_init_object(json_node_alloc(), request));
    return g_strdup(c->reply);
}

static void
canned_free(gpointer impl)
{
    Canned *c = impl;

    if (c->requests != NULL)
        g_ptr_array_unref(c->requests);
    g_free(c->reply);
    g_free(c);
}

static const NsQmpTransport canned_transport = {
    .command = canned_command,
    .hmp = NULL,
    .free = canned_free,
};

NsQmp *
canned_qmp_new(const char *reply, GPtrArray **ret_requests)
{
    Canned *c = g_new0(Canned, 1);

    c->reply = g_strdup(reply);
    if (ret_requests != NULL) {
        c->requests = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
        *ret_requests = g_ptr_array_ref(c->requests);
    }
    return ns_qmp_new(&canned_transport, c);
}
