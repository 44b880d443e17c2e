/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numashiftd's control requests (see requests.h): a table from operation
 * to handler.
 */
#include "requests.h"

#include <string.h>

#include <urcu/urcu-memb.h>

#include "log.h"
#include "numashift/error.h"
#include "numashift/kernel.h"
#include "numashift/policy.h"

/* A handler: @t is the request's domain (NULL for requests without one). */
typedef void (*Handler)(const NsRequestContext *ctx, NsClient *client,
                        const NsControlRequest *req, NsManagedDomain *t);

static void
reply_described(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
                NsManagedDomain *t, gint64 serial)
{
    g_autoptr(JsonNode) result = ns_manager_describe(ctx->manager, t);

    if (serial > 0)
        json_object_set_int_member(json_node_get_object(result), "serial", serial);
    ns_client_reply_ok(client, req, result);
}

static void
handle_list(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
            NsManagedDomain *t)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) all = ns_manager_list(ctx->manager);

    json_builder_begin_array(b);
    for (guint i = 0; i < all->len; i++) {
        NsManagedDomain *x = all->pdata[i];

        if (req->op == NS_CONTROL_OP_LIST)
            json_builder_add_value(b, ns_manager_describe(ctx->manager, x));
        else if (ns_manager_get_job(x) != NULL)
            json_builder_add_value(b, ns_job_describe(ns_manager_get_job(x)));
    }
    json_builder_end_array(b);
    g_autoptr(JsonNode) result = json_builder_get_root(b);

    ns_client_reply_ok(client, req, result);
}

/* A status answer in the making: the domain described on the main thread,
 * its placement added by a worker. */
typedef struct {
    JsonNode *described;
    NsLiveMap *live; /* NULL before the first scan */
    JsonArray *decisions; /* the domain's last, for its local share; NULL: none */
    NsClientReply *reply;
} StatusAnswer;

static void
status_answer_free(gpointer p)
{
    StatusAnswer *a = p;

    json_node_unref(a->described);
    if (a->live != NULL)
        ns_live_map_unref(a->live);
    g_clear_pointer(&a->decisions, json_array_unref);
    g_free(a);
}

static void
status_placement(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    StatusAnswer *a = data;

    urcu_memb_register_thread();
    JsonNode *placement = ns_manager_placement_json(a->live, a->decisions);

    urcu_memb_unregister_thread();
    g_task_return_pointer(task, placement, (GDestroyNotify)json_node_unref);
}

static void
status_done(GObject *source, GAsyncResult *res, gpointer data)
{
    StatusAnswer *a = g_task_get_task_data(G_TASK(res));
    JsonNode *placement = g_task_propagate_pointer(G_TASK(res), NULL);

    json_object_set_member(json_node_get_object(a->described), "placement", placement);
    ns_client_reply_deferred_ok(a->reply, a->described);
}

/*
 * status: the domain now, and where its pages are from its live map.  That
 * is a walk of the tree (4.8 s for a 1 TiB guest on 4 KiB pages): a worker
 * does it, so the main thread goes on serving events, jobs and other
 * clients; this client's next requests wait for the answer.
 */
static void
handle_status(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
              NsManagedDomain *t)
{
    if (req->op != NS_CONTROL_OP_STATUS) {
        reply_described(ctx, client, req, t, 0);
        return;
    }
    StatusAnswer *a = g_new0(StatusAnswer, 1);
    g_autoptr(GTask) task = g_task_new(NULL, NULL, status_done, NULL);

    a->described = ns_manager_describe(ctx->manager, t);
    a->live = ns_manager_ref_live_map(t);
    /* A copy of its own (json_node_copy() shares the array, whose
     * reference count is not atomic) for the worker. */
    if (ns_manager_get_decisions(t) != NULL) {
        g_autoptr(JsonNode) shared = json_node_alloc();
        g_autofree char *text =
            json_to_string(json_node_init_array(shared, ns_manager_get_decisions(t)), FALSE);
        g_autoptr(JsonNode) copy = json_from_string(text, NULL);

        a->decisions = json_array_ref(json_node_get_array(copy));
    }
    a->reply = ns_client_defer(client, req);
    g_task_set_task_data(task, a, status_answer_free);
    g_task_run_in_thread(task, status_placement);
}

static void
handle_migrate(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
               NsManagedDomain *t)
{
    g_autoptr(GError) error = NULL;

    if (!ns_kernel_check_node(req->to, &error)) {
        ns_client_reply_error(client, req, ns_control_error_code(error), error->message);
        return;
    }
    NsJobSpec *spec = g_new0(NsJobSpec, 1);

    spec->kind = NS_JOB_MIGRATE;
    spec->trigger = g_strdup_printf("request from uid %u", (guint)ns_client_get_uid(client));
    spec->to = req->to;
    spec->cell = req->cell;
    spec->rate_mib_s = req->rate;
    spec->workers = req->workers;
    spec->worker_cpus = g_strdup(req->cpus);
    spec->move_shared = req->move_shared;
    spec->hot_sample_ms = req->hot_sample_ms;
    reply_described(ctx, client, req, t, (gint64)ns_manager_migrate(ctx->manager, t, spec));
}

static void
handle_rebalance(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
                 NsManagedDomain *t)
{
    reply_described(ctx, client, req, t, (gint64)ns_manager_rebalance(ctx->manager, t, "request"));
}

static void
handle_job_control(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
                   NsManagedDomain *t)
{
    if (!ns_manager_control_job(ctx->manager, t, req->op)) {
        ns_client_reply_error(client, req, NS_CONTROL_ERR_NOT_FOUND,
                              "no job is running for this domain");
        return;
    }
    ns_client_reply_ok(client, req, NULL);
}

static void
handle_policy_set(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
                  NsManagedDomain *t)
{
    NsPolicyMode mode;
    g_autoptr(GError) error = NULL;

    if (!ns_policy_mode_from_string(req->mode, &mode, &error)) {
        ns_client_reply_error(client, req, NS_CONTROL_ERR_INVALID_REQUEST, error->message);
        return;
    }
    ns_log_domain(G_LOG_LEVEL_MESSAGE, NULL, ns_manager_domain_name(t), ns_manager_domain_uuid(t), 0,
                  "domain %s: policy set to %s by uid %u", ns_manager_domain_name(t),
                  ns_policy_mode_to_string(mode), (guint)ns_client_get_uid(client));
    ns_manager_set_mode(ctx->manager, t, ns_policy_mode_to_string(mode));
    reply_described(ctx, client, req, t, 0);
}

static void
handle_subscribe(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
                 NsManagedDomain *t)
{
    ns_client_subscribe(client, req->events);
    ns_client_reply_ok(client, req, NULL);
}

static void
handle_hook(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req,
            NsManagedDomain *t)
{
    const char *op = req->operation;
    /* The hook cannot ask libvirt for the UUID: without one we go by name.
     * Never libvirt from here: libvirtd waits for the hook that sent this. */
    const char *uuid = req->uuid;
    NsManagedDomain *known = uuid == NULL ? ns_manager_find(ctx->manager, req->domain) : NULL;

    if (uuid == NULL && known != NULL)
        uuid = ns_manager_domain_uuid(known);
    g_message("hook: domain %s %s %s", req->domain, op, req->suboperation);
    if (uuid != NULL && (strcmp(op, "started") == 0 || strcmp(op, "reconnect") == 0))
        ns_manager_domain_started(ctx->manager, uuid, req->domain, "hook");
    else if (uuid != NULL && (strcmp(op, "stopped") == 0 || strcmp(op, "release") == 0))
        ns_manager_domain_stopped(ctx->manager, uuid, "hook");
    ns_client_reply_ok(client, req, NULL);
}

static const Handler handlers[NS_CONTROL_N_OPS] = {
    [NS_CONTROL_OP_LIST] = handle_list,
    [NS_CONTROL_OP_JOBS] = handle_list,
    [NS_CONTROL_OP_STATUS] = handle_status,
    [NS_CONTROL_OP_POLICY_GET] = handle_status,
    [NS_CONTROL_OP_MIGRATE] = handle_migrate,
    [NS_CONTROL_OP_REBALANCE] = handle_rebalance,
    [NS_CONTROL_OP_PAUSE] = handle_job_control,
    [NS_CONTROL_OP_RESUME] = handle_job_control,
    [NS_CONTROL_OP_CANCEL] = handle_job_control,
    [NS_CONTROL_OP_POLICY_SET] = handle_policy_set,
    [NS_CONTROL_OP_SUBSCRIBE] = handle_subscribe,
    [NS_CONTROL_OP_HOOK] = handle_hook,
};

void
ns_requests_dispatch(const NsRequestContext *ctx, NsClient *client, const NsControlRequest *req)
{
    NsManagedDomain *t = NULL;
    Handler handler = (guint)req->op < NS_CONTROL_N_OPS ? handlers[req->op] : NULL;

    if (handler == NULL) {
        ns_client_reply_error(client, req, NS_CONTROL_ERR_UNSUPPORTED, "not supported");
        return;
    }
    if (req->domain != NULL && req->op != NS_CONTROL_OP_HOOK) {
        /* From the table only: a libvirt lookup here could wait on a domain
         * lock libvirtd holds while it runs our hook.  Every running domain
         * is in the table (listed at connect, then lifecycle events). */
        t = ns_manager_find(ctx->manager, req->domain);
        if (t == NULL) {
            g_autofree char *msg = g_strdup_printf(
                !ctx->connected(ctx->data)
                    ? "not connected to libvirt (reconnecting): domain '%s' unknown yet"
                    : "no running domain '%s'",
                req->domain);

            ns_client_reply_error(client, req, NS_CONTROL_ERR_NOT_FOUND, msg);
            return;
        }
    }
    handler(ctx, client, req, t);
}
