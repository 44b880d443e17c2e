/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol of numashiftd
 * ==================================
 * numashiftd listens on a UNIX socket (NS_CONTROL_SOCKET_PATH).  Clients
 * (the numashift command, the libvirt hook) send requests and the daemon
 * answers; both directions carry one JSON object per line, UTF-8, ended by
 * "\n".  This module is the protocol alone, without sockets: it parses and
 * checks requests, encodes them (for clients), encodes replies and events
 * (for the daemon) and parses those (for clients).
 *
 * Requests:
 *
 *   {"id": ID, "op": OP, FIELDS...}
 *
 *   "id" is optional, an integer or a string of at most NS_CONTROL_ID_MAX
 *   bytes; the reply echoes it.  The ops and their fields (? = optional):
 *
 *     list, jobs                  (none)
 *     status, rebalance, pause,   "domain": str
 *       resume, cancel,
 *       policy-get
 *     migrate                     "domain": str, "to": node, "cell"?: node,
 *                                 "rate"?: MiB/s, "workers"?: 1..64,
 *                                 "cpus"?: CPU list (the workers' CPUs),
 *                                 "move_shared"?: bool (move pages other
 *                                 processes map too, MPOL_MF_MOVE_ALL),
 *                                 "hot_sample_ms"?: 1..NS_CONTROL_HOT_SAMPLE_MS_MAX
 *                                 (move the pages written in such a
 *                                 sample first)
 *     policy-set                  "domain": str, "mode": token
 *     subscribe                   "events"?: ["progress"|"job"|"policy"|"domain", ...]
 *     hook                        "domain": str, "uuid"?: UUID,
 *                                 "operation": token, "suboperation": token
 *
 *   A domain is a non-empty string of at most NS_CONTROL_DOMAIN_MAX bytes
 *   (a name, an ID or a UUID, as for virsh).  Nodes and cells are integers
 *   in 0..NS_CONTROL_NODE_MAX; "rate" is a number (integer or not) in
 *   NS_CONTROL_RATE_MIN..NS_CONTROL_RATE_MAX.  A token is 1..64 bytes of
 *   ASCII letters, digits, '-', '_' and '.'; which policy modes and which
 *   hook operations mean something is the daemon's business.  "uuid" is a
 *   UUID in its 36-character text form.  A CPU list is libvirt's syntax
 *   ("2-3,^3,8"), 1..NS_CONTROL_CPUS_MAX bytes of digits, ',', '-' and '^';
 *   whether its CPUs exist is the daemon's business.
 *
 * Strictness.  A request line is at most NS_CONTROL_LINE_MAX bytes, its
 * "\n" included; it must be RFC 8259 JSON -- no comments, single quotes,
 * hex or leading-zero numbers, trailing commas or second value, all of
 * which json-glib alone would let through -- valid UTF-8, with no NUL byte
 * (raw or as \u0000), no unpaired surrogate escape, no integer outside
 * 64 bits, nesting at most NS_CONTROL_DEPTH_MAX deep, and one JSON object
 * whose members are exactly those its op allows, each given once and of
 * its type (integers must be written without fraction or exponent).
 * Anything else is an NS_ERROR_INVALID_INPUT error with a one-line
 * message.  Parsing never recurses on the input, so no line can exhaust
 * the stack.
 *
 * Replies and events, daemon to client:
 *
 *   {"id": ID, "ok": true, "result": RESULT}
 *   {"id": ID, "ok": false, "error": {"code": CODE, "message": MESSAGE}}
 *   {"event": KIND, "body": BODY}
 *
 *   "id" appears only if the request had one.  RESULT and BODY are any
 *   JSON value (null when there is none).  CODE is one of the
 *   NS_CONTROL_ERR_* strings below.  Events go only to connections that
 *   subscribed to their kind.
 *
 * Who may do what: ns_control_op_is_mutating() says which ops change state;
 * the daemon requires uid 0 (SO_PEERCRED) for those and answers others with
 * "permission-denied".
 *
 * "hook" comes from the libvirt hook (hook.h) while libvirtd waits for it:
 * the daemon must answer at once and only then call libvirt about that
 * domain, or both wait until the hook gives up (NS_HOOK_TIMEOUT_MS).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Where numashiftd listens, and the environment variable that overrides it. */
#define NS_CONTROL_SOCKET_PATH "/run/numashift/control.sock"
#define NS_CONTROL_SOCKET_ENV "NUMASHIFT_CONTROL_SOCKET"

/* The longest request line, "\n" included, in bytes. */
#define NS_CONTROL_LINE_MAX (64u * 1024)
/* The longest reply or event line ns_control_message_parse() accepts. */
#define NS_CONTROL_MESSAGE_MAX (16u * 1024 * 1024)
/* The deepest nesting of arrays and objects in a line (the request object is 1). */
#define NS_CONTROL_DEPTH_MAX 8
/* The longest domain name, ID or UUID, in bytes. */
#define NS_CONTROL_DOMAIN_MAX 1024
/* The longest string "id", in bytes. */
#define NS_CONTROL_ID_MAX 256
/* The longest token ("mode", "operation", "suboperation"), in bytes. */
#define NS_CONTROL_TOKEN_MAX 64
/* The highest host node or vNUMA cell number (the radix entries' NS_PAGE_NODE_MAX). */
#define NS_CONTROL_NODE_MAX 2046
/* The range of "rate", in MiB/s (the lower bound keeps it >= 1 KiB/s). */
#define NS_CONTROL_RATE_MIN 0.001
#define NS_CONTROL_RATE_MAX 1048576.0
/* The range of "workers". */
#define NS_CONTROL_WORKERS_MAX 64
/* The longest hot-pages sample a migrate may ask for, in ms (engine.h). */
#define NS_CONTROL_HOT_SAMPLE_MS_MAX 60000
/* The longest "cpus", in bytes. */
#define NS_CONTROL_CPUS_MAX 256

/* Error codes of error replies. */
#define NS_CONTROL_ERR_INVALID_REQUEST "invalid-request"
#define NS_CONTROL_ERR_PERMISSION_DENIED "permission-denied"
#define NS_CONTROL_ERR_NOT_FOUND "not-found"
#define NS_CONTROL_ERR_NOT_RUNNING "not-running"
#define NS_CONTROL_ERR_UNSUPPORTED "unsupported"
#define NS_CONTROL_ERR_BUSY "busy"
#define NS_CONTROL_ERR_FAILED "failed"

typedef enum {
    NS_CONTROL_OP_LIST,
    NS_CONTROL_OP_STATUS,
    NS_CONTROL_OP_MIGRATE,
    NS_CONTROL_OP_REBALANCE,
    NS_CONTROL_OP_PAUSE,
    NS_CONTROL_OP_RESUME,
    NS_CONTROL_OP_CANCEL,
    NS_CONTROL_OP_POLICY_GET,
    NS_CONTROL_OP_POLICY_SET,
    NS_CONTROL_OP_SUBSCRIBE,
    NS_CONTROL_OP_JOBS,
    NS_CONTROL_OP_HOOK,
} NsControlOp;

#define NS_CONTROL_N_OPS (NS_CONTROL_OP_HOOK + 1)

/* Event kinds, also bits of a subscription mask. */
typedef enum {
    NS_CONTROL_EVENT_PROGRESS = 1 << 0, /* a job's pages done, rate, ETA */
    NS_CONTROL_EVENT_JOB = 1 << 1,      /* a job started, paused, resumed, ended */
    NS_CONTROL_EVENT_POLICY = 1 << 2,   /* a domain's policy changed */
    NS_CONTROL_EVENT_DOMAIN = 1 << 3,   /* a domain started, stopped, was re-pinned */
} NsControlEvent;

#define NS_CONTROL_EVENTS_ALL 0xfu

/*
 * One request.  Fields an op does not take are zero / NULL, except cell
 * (-1).  Strings are valid UTF-8 without NUL bytes.
 */
typedef struct {
    NsControlOp op;
    JsonNode *id;        /* the request's "id", an integer or string value; NULL: none */
    char *domain;        /* every op but list, jobs and subscribe */
    /* migrate */
    guint to;            /* target host node */
    gint cell;           /* only this vNUMA cell's memory; -1: all of it */
    gdouble rate;        /* MiB/s; 0: not given (no limit) */
    guint workers;       /* 0: not given (the daemon's default) */
    char *cpus;          /* the workers' CPUs, libvirt list syntax; NULL: not given */
    gboolean move_shared; /* move pages other processes map too; FALSE: not given */
    guint hot_sample_ms;  /* hot pages first, this long a sample; 0: not given */
    /* policy-set */
    char *mode;
    /* subscribe */
    guint events;        /* NsControlEvent bits, never 0; NS_CONTROL_EVENTS_ALL if not given */
    /* hook */
    char *uuid;          /* NULL: not given */
    char *operation;     /* libvirt's hook operation: "started", "stopped", ... */
    char *suboperation;  /* "begin", "end", "-" */
} NsControlRequest;

/* A line from the daemon: a reply or an event. */
typedef struct {
    gboolean is_event;
    /* replies */
    JsonNode *id;          /* the echoed "id"; NULL: none */
    gboolean ok;
    JsonNode *result;      /* ok: the result, a JSON null node when there is none */
    char *error_code;      /* !ok: one of NS_CONTROL_ERR_* (or a newer one) */
    char *error_message;   /* !ok */
    /* events */
    NsControlEvent event;
    JsonNode *body;        /* a JSON null node when there is none */
} NsControlMessage;

/*
 * Parse and check one request line, @len bytes at @line (need not be
 * NUL-terminated; one final "\n" is allowed).  Returns a new request, or
 * NULL with @error set (NS_ERROR_INVALID_INPUT, a one-line message) if the
 * line breaks any rule at the top of this file.
 * Context: any thread; no locks.
 */
NsControlRequest *ns_control_request_parse(const char *line, gsize len, GError **error);

/*
 * The "id" of a request line that ns_control_request_parse() rejected, so
 * that the error reply can still echo it: a new node if @line is a JSON
 * object (strictly as above) with a valid "id", else NULL.
 * Context: any thread; no locks.
 */
JsonNode *ns_control_request_peek_id(const char *line, gsize len);

/*
 * A new request for @op with every field unset (cell -1, events
 * NS_CONTROL_EVENTS_ALL), for clients to fill in and encode.
 * Context: any thread; no locks.
 */
NsControlRequest *ns_control_request_new(NsControlOp op);

/*
 * Encode @request as one request line ending in "\n".  Fields that its op
 * does not take are ignored.  Fails with NS_ERROR_INVALID_INPUT, and the
 * message ns_control_request_parse() would give, if the line would not
 * pass it (a missing domain, a node out of range...): what this returns
 * always parses back into the same request.
 * Context: any thread; no locks.
 */
char *ns_control_request_to_line(const NsControlRequest *request, GError **error);

/*
 * Free @request and everything it owns.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_control_request_free(NsControlRequest *request);

/*
 * The wire name of @op ("policy-set"...), or NULL if @op is not an op.
 * Context: any thread; pure.
 */
const char *ns_control_op_to_string(NsControlOp op);

/*
 * The op named @name, or FALSE if there is none.
 * Context: any thread; pure.
 */
gboolean ns_control_op_from_string(const char *name, NsControlOp *ret_op);

/*
 * Whether @op changes state (migrate, rebalance, pause, resume, cancel,
 * policy-set, hook): the daemon allows those to uid 0 only.
 * Context: any thread; pure.
 */
gboolean ns_control_op_is_mutating(NsControlOp op);

/*
 * The wire name of one event kind ("progress"...), or NULL if @event is
 * not exactly one kind.
 * Context: any thread; pure.
 */
const char *ns_control_event_to_string(NsControlEvent event);

/*
 * An ok reply line, ending in "\n" and containing no other newline:
 * echoes @id (NULL: none) and carries @result (NULL: JSON null).  Neither
 * is consumed.  Strings in @result must be valid UTF-8 and numbers finite.
 * Context: any thread; no locks.
 */
char *ns_control_reply_ok(JsonNode *id, JsonNode *result);

/*
 * An error reply line, ending in "\n" and containing no other newline:
 * echoes @id (NULL: none), with @code (an NS_CONTROL_ERR_* string) and
 * @message (invalid UTF-8 in it is replaced, line breaks become spaces).
 * Context: any thread; no locks.
 */
char *ns_control_reply_error(JsonNode *id, const char *code, const char *message);

/*
 * The error code of an error reply for @error: NS_ERROR_INVALID_INPUT is
 * "invalid-request", NS_ERROR_NOT_FOUND "not-found", NS_ERROR_NOT_RUNNING
 * "not-running", NS_ERROR_PERMISSION "permission-denied",
 * NS_ERROR_UNSUPPORTED "unsupported", anything else "failed".
 * Context: any thread; pure.
 */
const char *ns_control_error_code(const GError *error);

/*
 * An event line of kind @event (exactly one NsControlEvent) carrying @body
 * (NULL: JSON null; not consumed), ending in "\n" and containing no other
 * newline.  NULL if @event is not one kind.
 * Context: any thread; no locks.
 */
char *ns_control_event(NsControlEvent event, JsonNode *body);

/*
 * Parse a line from the daemon, @len bytes at @line (one final "\n"
 * allowed, at most NS_CONTROL_MESSAGE_MAX bytes): a reply or an event,
 * checked as strictly as requests (unknown members, wrong types, an
 * unknown event kind are errors).  An error *reply* is not an error here:
 * it parses into a message with ok FALSE.  Returns NULL with @error set
 * (NS_ERROR_INVALID_INPUT) if the line is neither.
 * Context: any thread; no locks.
 */
NsControlMessage *ns_control_message_parse(const char *line, gsize len, GError **error);

/*
 * Free @message and everything it owns.  NULL is accepted.
 * Context: any thread; no locks.
 */
void ns_control_message_free(NsControlMessage *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsControlRequest, ns_control_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NsControlMessage, ns_control_message_free)

G_END_DECLS
