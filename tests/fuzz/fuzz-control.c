/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the control protocol's parsers (proto/control.c).
 *
 * Any input either fails with one NS_ERROR_INVALID_INPUT line, or parses
 * into a request that encodes back into a line which parses into the same
 * request; an ok reply echoing its id parses back with that id.  The same
 * bytes also go through the peek-id and reply/event parsers.  Every
 * invariant broken is an abort, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "numashift/control.h"
#include "numashift/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_same(const NsControlRequest *a, const NsControlRequest *b)
{
    g_assert_cmpint(a->op, ==, b->op);
    g_assert_true((a->id == NULL) == (b->id == NULL));
    g_assert_true(a->id == NULL || json_node_equal(a->id, b->id));
    g_assert_cmpstr(a->domain, ==, b->domain);
    g_assert_cmpuint(a->to, ==, b->to);
    g_assert_cmpint(a->cell, ==, b->cell);
    g_assert_true(a->rate == b->rate);
    g_assert_cmpuint(a->workers, ==, b->workers);
    g_assert_cmpstr(a->mode, ==, b->mode);
    g_assert_cmpuint(a->events, ==, b->events);
    g_assert_cmpstr(a->uuid, ==, b->uuid);
    g_assert_cmpstr(a->operation, ==, b->operation);
    g_assert_cmpstr(a->suboperation, ==, b->suboperation);
}

static void
check_message(const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NsControlMessage) m = ns_control_message_parse(line, len, &error);

    if (m == NULL) {
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_assert_null(strchr(error->message, '\n'));
        return;
    }
    g_assert_true(m->is_event ? m->body != NULL : m->ok ? m->result != NULL
                                                           : m->error_code != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    g_autoptr(GError) error = NULL;
    g_autoptr(NsControlRequest) request = ns_control_request_parse(line, size, &error);
    g_autoptr(NsControlRequest) back = NULL;
    g_autoptr(NsControlMessage) echoed = NULL;
    g_autoptr(JsonNode) peeked = NULL;
    g_autofree char *encoded = NULL;
    g_autofree char *reply = NULL;

    check_message(line, size);
    peeked = ns_control_request_peek_id(line, size);
    if (request == NULL) {
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_assert_null(strchr(error->message, '\n'));
        return 0;
    }
    g_assert_no_error(error);
    g_assert_true((peeked == NULL) == (request->id == NULL));

    encoded = ns_control_request_to_line(request, &error);
    g_assert_no_error(error);
    g_assert_true(strchr(encoded, '\n') == encoded + strlen(encoded) - 1);
    back = ns_control_request_parse(encoded, strlen(encoded), &error);
    g_assert_no_error(error);
    check_same(request, back);

    reply = ns_control_reply_ok(request->id, request->id);
    g_assert_true(strchr(reply, '\n') == reply + strlen(reply) - 1);
    echoed = ns_control_message_parse(reply, strlen(reply), &error);
    g_assert_no_error(error);
    g_assert_true(echoed->ok);
    g_assert_true(request->id == NULL ? echoed->id == NULL
                                      : json_node_equal(echoed->id, request->id));
    return 0;
}
