/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test support: QMP sessions captured from a real QEMU by
 * tests/data/qmp/capture, replayed as an NsQmp transport, plus a transport
 * that answers every command with one canned text.
 *
 * A transcript (CASE.replies) holds "<- " lines QEMU sent, "-> " lines we
 * sent and "# " comments.  The first "<- " line is the greeting; each
 * "-> " request is followed by what QEMU sent before its reply (events)
 * and the reply itself, last.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "numashift/qmp.h"

G_BEGIN_DECLS

typedef struct {
    JsonNode *request;  /* without "id" */
    GPtrArray *lines;   /* of char *: events..., reply */
} Exchange;

typedef struct {
    char *greeting;
    GPtrArray *exchanges; /* of Exchange * */
    guint requests_served;
} Transcript;

/* $NS_TEST_DATA/data/@dir/@name (a new string). */
char *test_data_path(const char *dir, const char *name);

/* The contents of test_data_path(@dir, @name); NULL if it does not exist. */
char *test_data_read(const char *dir, const char *name);

/* Load tests/data/qmp/@case_name.replies; asserts that it parses. */
Transcript *transcript_load(const char *case_name);
void transcript_free(Transcript *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Transcript, transcript_free)

/* The exchange whose request equals @request (ignoring "id"), or NULL. */
const Exchange *transcript_find(const Transcript *t, JsonObject *request);

/* An NsQmp answering from the transcript of @case_name. */
NsQmp *replay_qmp_new(const char *case_name);

/*
 * An NsQmp answering every command with @reply (copied).  If @ret_requests
 * is not NULL it receives a new array collecting each request (JsonNode *)
 * for as long as the NsQmp lives; the caller unrefs it after freeing it.
 */
NsQmp *canned_qmp_new(const char *reply, GPtrArray **ret_requests);

G_END_DECLS
