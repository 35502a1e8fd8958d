/*
 * Code interpreting: POST /code, POST /code/context, GET and DELETE
 * /code/contexts[/{id}]. The master validates, answers what the registry
 * knows (listing and getting contexts) and routes the rest: shell-mode runs
 * like POST /command, everything about a context to the worker that owns its
 * kernel (relay/coderoute.c picks the worker for new and default contexts).
 *
 * A bash context created while no bash kernelspec is installed is a session shell
 * (registry kind "session" with the language as attribute; the worker decides at
 * creation): its operations go to the session executor's equivalents.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/params.h"
#include "http/reply.h"
#include "jsonesc.h"
#include "jsonreq.h"
#include "pool/supervisor.h"
#include "relay/coderoute.h"
#include "relay/job.h"
#include "relay/registry.h"
#include "relay/waitq.h"
#include "xalloc.h"

/* "Languages" that are not kernels: they have no contexts. */
static bool non_kernel(const char *language)
{
    return strcmp(language, "command") == 0 || strcmp(language, "background-command") == 0 ||
           strcmp(language, "sql") == 0;
}

/* Reads an optional string field; answers 400 and returns false when it is not a string. */
static bool opt_string(struct http_req *r, json_object *obj, const char *key, const char **out)
{
    if (jsonreq_string(obj, key, out) != JSONREQ_BADTYPE)
        return true;
    struct strbuf err = STRBUF_INIT;
    jsonreq_type_error(&err, key, "a string");
    reply_error(r, 400, ERR_INVALID_REQUEST_BODY, "invalid request, validation error %s", err.data);
    strbuf_free(&err);
    return false;
}

/* ---- POST /code ------------------------------------------------------------------ */

/* No language: the code is a shell command, run exactly like POST /command. */
static void run_shell(struct http_req *r, const char *src, bool background)
{
    json_object *request = xjson_object();
    json_object_object_add(request, "command", xjson_string(src));
    if (background)
        json_object_object_add(request, "background", xjson_bool(1));
    json_object *args = xjson_object();
    json_object_object_add(args, "request", request);
    job_start_any(r, "command.run", args);
}

/* The SQL executor: one statement on the worker's connection to the MySQL/MariaDB server. */
static void run_sql(struct http_req *r, const char *src)
{
    json_object *args = xjson_object();
    json_object_object_add(args, "code", xjson_string(src));
    job_start_any(r, "sql.run", args);
}

/*
 * The registry kind of code context id, "context" (a kernel) or "session" (a bash
 * context served by a session shell), and its owner; NULL when id is no code context.
 */
static const char *context_kind(const char *id, struct worker **w)
{
    const char *kind = registry_lookup(id, w);
    if (kind != NULL && (strcmp(kind, "context") == 0 ||
                         (strcmp(kind, "session") == 0 && registry_attr(id) != NULL)))
        return kind;
    return NULL;
}

/* The operation for a context of kind: the kernel's, or the session executor's. */
static const char *op_for(const char *kind, const char *kernel_op, const char *session_op)
{
    return strcmp(kind, "session") == 0 ? session_op : kernel_op;
}

/* Sends op {id[, code]} to w, the owner of context id; waits while that worker restarts. */
static void to_context_owner(struct http_req *r, struct worker *w, const char *id, const char *op,
                             const char *code)
{
    if (w == NULL) {
        waitq_unavailable(r, "the worker owning context %s is restarting", id);
        return;
    }
    json_object *args = xjson_object();
    json_object_object_add(args, "id", xjson_string(id));
    if (code != NULL)
        json_object_object_add(args, "code", xjson_string(code));
    job_start(r, w, op, args);
}

static void run_in_context(struct http_req *r, const char *src, const char *id)
{
    struct worker *w;
    const char *kind = context_kind(id, &w);
    if (kind == NULL)
        reply_error(r, 500, ERR_RUNTIME_ERROR, "error running codes context not found");
    else
        to_context_owner(r, w, id, op_for(kind, "code.run", "session.code.run"), src);
}

/* No context id: the language's default context, created on first use. */
static void run_default(struct http_req *r, const char *src, const char *language)
{
    const char *id;
    struct worker *w = coderoute_default(language, &id);
    if (w == NULL) {
        if (id != NULL)
            waitq_unavailable(r, "the worker owning context %s is restarting", id);
        else
            waitq_unavailable(r, "no worker is available, try again");
        return;
    }
    json_object *args = xjson_object();
    const char *op = "code.run";
    if (id != NULL) {
        struct worker *owner;
        const char *kind = context_kind(id, &owner);
        if (kind != NULL)
            op = op_for(kind, op, "session.code.run");
        json_object_object_add(args, "id", xjson_string(id));
    } else {
        json_object_object_add(args, "language", xjson_string(language));
        json_object_object_add(args, "default", xjson_bool(1));
    }
    json_object_object_add(args, "code", xjson_string(src));
    job_start(r, w, op, args);
}

void api_code_run(struct http_req *r)
{
    json_object *req = api_parse_object(r);
    if (req == NULL)
        return;
    const char *src = NULL, *id = "", *language = "";
    json_object *ctx = NULL;
    enum jsonreq_rc rc = jsonreq_string(req, "code", &src);
    if (rc == JSONREQ_BADTYPE || rc == JSONREQ_ABSENT || src[0] == '\0') {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY,
                    rc == JSONREQ_BADTYPE
                        ? "invalid request, validation error field 'code' must be a string"
                        : "invalid request, validation error field 'code' is required");
    } else if (jsonreq_object(req, "context", &ctx) == JSONREQ_BADTYPE) {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY,
                    "invalid request, validation error field 'context' must be an object");
    } else if (opt_string(r, ctx, "id", &id) && opt_string(r, ctx, "language", &language)) {
        if (language[0] == '\0' || strcmp(language, "command") == 0)
            run_shell(r, src, false);
        else if (strcmp(language, "background-command") == 0)
            run_shell(r, src, true);
        else if (strcmp(language, "sql") == 0)
            run_sql(r, src);
        else if (id[0] != '\0')
            run_in_context(r, src, id);
        else
            run_default(r, src, language);
    }
    json_object_put(req);
}

/* ---- POST /code/context --------------------------------------------------------------- */

void api_code_context_create(struct http_req *r)
{
    json_object *req = api_parse_object(r);
    if (req == NULL)
        return;
    const char *language = "", *cwd = "";
    if (opt_string(r, req, "language", &language) && opt_string(r, req, "cwd", &cwd)) {
        if (language[0] == '\0') {
            reply_error(r, 500, ERR_RUNTIME_ERROR,
                        "error creating code context. the language is required");
        } else if (non_kernel(language)) {
            reply_error(r, 500, ERR_RUNTIME_ERROR,
                        "error creating code context. unsupported language context operation: %s",
                        language);
        } else {
            struct worker *w = coderoute_pick(language);
            if (w == NULL) {
                waitq_unavailable(r, "no worker is available, try again");
            } else {
                json_object *args = xjson_object();
                json_object_object_add(args, "language", xjson_string(language));
                json_object_object_add(args, "cwd", xjson_string(cwd));
                job_start(r, w, "code.context.create", args);
            }
        }
    }
    json_object_put(req);
}

/* ---- GET /code/contexts, GET /code/contexts/{id} --------------------------------------- */

static void render_context(struct strbuf *out, const char *id, const char *language)
{
    strbuf_append_str(out, "{\"id\":");
    jsonesc_append(out, id, strlen(id));
    if (language != NULL && language[0] != '\0') {
        strbuf_append_str(out, ",\"language\":");
        jsonesc_append(out, language, strlen(language));
    }
    strbuf_append_char(out, '}');
}

struct listing {
    const char *language; /* "" : every language */
    const char **ids;
    const char **langs;
    size_t n, cap;
};

static void list_one(const char *id, const char *attr, void *arg)
{
    struct listing *l = arg;
    /* A session without a language is a /session session, not a code context. */
    if (attr == NULL || (l->language[0] != '\0' && strcmp(attr, l->language) != 0))
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->ids = xrealloc(l->ids, l->cap * sizeof(*l->ids));
        l->langs = xrealloc(l->langs, l->cap * sizeof(*l->langs));
    }
    l->ids[l->n] = id;
    l->langs[l->n] = attr;
    l->n++;
}

void api_code_contexts_list(struct http_req *r)
{
    struct strbuf language = STRBUF_INIT;
    http_query_get(r, "language", &language);
    const char *lang = language.data != NULL ? language.data : "";
    if (non_kernel(lang)) {
        reply_error(r, 500, ERR_RUNTIME_ERROR, "unsupported language context operation: %s", lang);
        strbuf_free(&language);
        return;
    }
    struct listing l = {lang, NULL, NULL, 0, 0};
    registry_each("context", list_one, &l);
    registry_each("session", list_one, &l);
    struct strbuf body = STRBUF_INIT;
    strbuf_append_char(&body, '[');
    for (size_t i = 0; i < l.n; i++) {
        if (i > 0)
            strbuf_append_char(&body, ',');
        render_context(&body, l.ids[i], l.langs[i]);
    }
    strbuf_append_char(&body, ']');
    reply_json_text(r, 200, body.data, body.len);
    strbuf_free(&body);
    free(l.ids);
    free(l.langs);
    strbuf_free(&language);
}

/* The kind of the context named by the path, or NULL after answering 404. */
static const char *context_param(struct http_req *r, struct worker **w)
{
    const char *kind = context_kind(r->params[0], w);
    if (kind == NULL)
        reply_error(r, 404, ERR_CONTEXT_NOT_FOUND, "context %s not found", r->params[0]);
    return kind;
}

void api_code_context_get(struct http_req *r)
{
    struct worker *w;
    const char *id = r->params[0];
    if (context_param(r, &w) == NULL)
        return;
    struct strbuf body = STRBUF_INIT;
    render_context(&body, id, registry_attr(id));
    reply_json_text(r, 200, body.data, body.len);
    strbuf_free(&body);
}

/* ---- DELETE /code/contexts/{id}, DELETE /code/contexts?language= --------------------------- */

void api_code_context_delete(struct http_req *r)
{
    struct worker *w;
    const char *kind = context_param(r, &w);
    if (kind != NULL)
        to_context_owner(r, w, r->params[0],
                         op_for(kind, "code.context.delete", "session.context.delete"), NULL);
}

struct owners {
    const char *language;
    const char *op;         /* what the owners of the kind being listed are sent */
    json_object *list;      /* [[slot, pid, op], ...], each worker and op once */
    const char *restarting; /* a context whose worker is restarting */
};

static void owner_one(const char *id, const char *attr, void *arg)
{
    struct owners *o = arg;
    if (attr == NULL || strcmp(attr, o->language) != 0)
        return;
    struct worker *w;
    registry_lookup(id, &w);
    if (w == NULL) {
        o->restarting = id;
        return;
    }
    size_t n = json_object_array_length(o->list);
    for (size_t i = 0; i < n; i++) {
        json_object *entry = json_object_array_get_idx(o->list, i);
        if (json_object_get_int(json_object_array_get_idx(entry, 1)) == (int)w->pid &&
            strcmp(json_object_get_string(json_object_array_get_idx(entry, 2)), o->op) == 0)
            return;
    }
    json_object *entry = xjson_array();
    json_object_array_add(entry, xjson_int64(w->slot));
    json_object_array_add(entry, xjson_int64((int)w->pid));
    json_object_array_add(entry, xjson_string(o->op));
    json_object_array_add(o->list, entry);
}

/*
 * One worker after the other deletes its contexts of the language; arg is
 * {"language", "owners": [[slot, pid, op], ...]} with the workers still to ask.
 */
static void delete_step(struct http_req *r, json_object *arg)
{
    json_object *list = json_object_object_get(arg, "owners");
    const char *language = json_object_get_string(json_object_object_get(arg, "language"));
    size_t n = json_object_array_length(list);
    if (n == 0) {
        reply_empty(r, 200);
        return;
    }
    json_object *entry = json_object_get(json_object_array_get_idx(list, n - 1));
    int slot = json_object_get_int(json_object_array_get_idx(entry, 0));
    pid_t pid = (pid_t)json_object_get_int(json_object_array_get_idx(entry, 1));
    json_object_array_del_idx(list, n - 1, 1);
    struct worker *w = supervisor_resolve(slot, pid);
    if (w == NULL) {
        waitq_unavailable(r, "a worker owning %s contexts is restarting", language);
        json_object_put(entry);
        return;
    }
    json_object *args = xjson_object();
    json_object_object_add(args, "language", xjson_string(language));
    struct job *j =
        job_start(r, w, json_object_get_string(json_object_array_get_idx(entry, 2)), args);
    json_object_put(entry);
    if (j != NULL)
        job_then(j, delete_step, json_object_get(arg));
}

void api_code_contexts_delete(struct http_req *r)
{
    struct strbuf language = STRBUF_INIT;
    if (!api_required_query(r, "language", &language)) {
        strbuf_free(&language);
        return;
    }
    struct owners o = {language.data, "code.contexts.delete", xjson_array(), NULL};
    registry_each("context", owner_one, &o);
    o.op = "session.contexts.delete";
    registry_each("session", owner_one, &o);
    if (o.restarting != NULL) {
        waitq_unavailable(r, "the worker owning context %s is restarting", o.restarting);
        json_object_put(o.list);
    } else {
        json_object *arg = xjson_object();
        json_object_object_add(arg, "language", xjson_string(language.data));
        json_object_object_add(arg, "owners", o.list);
        delete_step(r, arg);
        json_object_put(arg);
    }
    strbuf_free(&language);
}
