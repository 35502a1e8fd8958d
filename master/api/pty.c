/*
 * PTY sessions (api-contract §10): POST /pty creates one on the least loaded worker, which
 * owns it from then on (registry kind "pty"); GET and DELETE go to that worker; GET
 * /pty/{id}/ws decides 404, 409 and the handshake here, before the upgrade, and hands the
 * connection to relay/ptylink.c.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/reply.h"
#include "http/websocket.h"
#include "jsonreq.h"
#include "log.h"
#include "relay/job.h"
#include "relay/ptylink.h"
#include "relay/registry.h"
#include "relay/waitq.h"
#include "xalloc.h"

#define ERR_ALREADY_CONNECTED "ALREADY_CONNECTED"

/* POST /pty {"cwd", "command"}, both optional; an empty body means defaults. */
void api_pty_create(struct http_req *r)
{
    size_t len;
    const char *body = http_body(r, &len);
    json_object *args = xjson_object();
    if (len > 0) {
        struct strbuf err = STRBUF_INIT;
        json_object *req = jsonreq_parse(body, len, &err);
        const char *cwd = NULL, *command = NULL;
        if (req != NULL && !json_object_is_type(req, json_type_object) &&
            !json_object_is_type(req, json_type_null))
            strbuf_append_str(&err, "the body must be a JSON object");
        else if (req != NULL && jsonreq_string(req, "cwd", &cwd) == JSONREQ_BADTYPE)
            jsonreq_type_error(&err, "cwd", "a string");
        else if (req != NULL && jsonreq_string(req, "command", &command) == JSONREQ_BADTYPE)
            jsonreq_type_error(&err, "command", "a string");
        if (req == NULL || err.len > 0) {
            reply_error(r, 400, ERR_INVALID_REQUEST_BODY, "error parsing request: %s", err.data);
            strbuf_free(&err);
            json_object_put(req);
            json_object_put(args);
            return;
        }
        if (cwd != NULL)
            json_object_object_add(args, "cwd", xjson_string(cwd));
        if (command != NULL)
            json_object_object_add(args, "command", xjson_string(command));
        strbuf_free(&err);
        json_object_put(req);
    }
    job_start_any(r, "pty.create", args);
}

/* The session named by the path and its worker, or NULL after answering (404, or waiting). */
static const char *session_param(struct http_req *r, struct worker **w)
{
    const char *id = r->params[0];
    const char *kind = registry_lookup(id, w);
    if (kind == NULL || strcmp(kind, "pty") != 0) {
        reply_error(r, 404, ERR_CONTEXT_NOT_FOUND, "pty session %s not found", id);
        return NULL;
    }
    snprintf(r->exec_id, sizeof(r->exec_id), "%s", id);
    if (*w == NULL) {
        waitq_unavailable(r, "the worker owning pty session %s is restarting", id);
        return NULL;
    }
    return id;
}

static void to_owner(struct http_req *r, const char *op)
{
    struct worker *w;
    const char *id = session_param(r, &w);
    if (id == NULL)
        return;
    json_object *args = xjson_object();
    json_object_object_add(args, "id", xjson_string(id));
    job_start(r, w, op, args);
}

void api_pty_get(struct http_req *r)
{
    to_owner(r, "pty.status");
}

void api_pty_delete(struct http_req *r)
{
    to_owner(r, "pty.delete");
}

/* Go's strconv.ParseInt with the handler's default: anything unparsable is 0. */
static int64_t since_param(const struct http_req *r)
{
    struct strbuf v = STRBUF_INIT;
    int64_t since = 0;
    if (http_query_get(r, "since", &v) && v.len > 0) {
        char *end;
        long long n = strtoll(v.data, &end, 10);
        if (*end == '\0' && n > 0)
            since = n;
    }
    strbuf_free(&v);
    return since;
}

static bool query_is(const struct http_req *r, const char *name, const char *value)
{
    struct strbuf v = STRBUF_INIT;
    bool is = http_query_get(r, name, &v) && v.data != NULL && strcmp(v.data, value) == 0;
    strbuf_free(&v);
    return is;
}

/*
 * GET /pty/{id}/ws[?pty=0][&since=N][&takeover=1]: 404, 409 (a holder, and no takeover
 * with a real upgrade), 400 for a handshake gorilla/websocket would refuse, then the upgrade.
 */
void api_pty_ws(struct http_req *r)
{
    const char *id = r->params[0];
    struct worker *w = NULL;
    const char *kind = registry_lookup(id, &w);
    if (kind == NULL || strcmp(kind, "pty") != 0) {
        reply_error(r, 404, ERR_CONTEXT_NOT_FOUND, "pty session %s not found", id);
        return;
    }
    snprintf(r->exec_id, sizeof(r->exec_id), "%s", id);
    const char *connection = http_header(r, "Connection"), *upgrade = http_header(r, "Upgrade");
    if (ptylink_held(id) && !(query_is(r, "takeover", "1") && ws_is_upgrade(connection, upgrade))) {
        reply_error(r, 409, ERR_ALREADY_CONNECTED,
                    "another client is already connected to pty session %s", id);
        return;
    }
    const char *why, *key = http_header(r, "Sec-WebSocket-Key");
    if (!ws_handshake_ok(connection, upgrade, http_header(r, "Sec-WebSocket-Version"), key, &why)) {
        log_info("GET %s: not a WebSocket handshake: %s", http_path(r), why);
        reply_header(r, "Sec-WebSocket-Version", "13");
        reply_body(r, 400, "text/plain; charset=utf-8", "Bad Request\n", 12);
        return;
    }
    if (w == NULL) {
        waitq_unavailable(r, "the worker owning pty session %s is restarting", id);
        return;
    }
    ptylink_attach(r, id, key, query_is(r, "pty", "0"), since_param(r));
}
