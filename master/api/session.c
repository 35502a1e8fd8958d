/*
 * Bash sessions: POST /session, POST /session/{id}/run, DELETE /session/{id}. The master
 * validates the bodies; a session lives in the worker that created it (registry kind
 * "session"), which runs its shell (worker/session/).
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/params.h"
#include "http/reply.h"
#include "jsonreq.h"
#include "relay/job.h"
#include "relay/registry.h"
#include "relay/waitq.h"
#include "xalloc.h"

/* An empty body means "defaults" for POST /session. */
static bool blank(const char *body, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (strchr(" \t\r\n", body[i]) == NULL || body[i] == '\0')
            return false;
    }
    return true;
}

void api_session_create(struct http_req *r)
{
    size_t len;
    const char *body = http_body(r, &len);
    json_object *req = NULL;
    bool is_null = false;
    if (!blank(body, len) && (req = api_parse_body(r, json_type_object, &is_null)) == NULL &&
        !is_null)
        return;
    if (req == NULL)
        req = xjson_object();
    const char *cwd;
    struct strbuf err = STRBUF_INIT;
    if (jsonreq_string(req, "cwd", &cwd) == JSONREQ_BADTYPE)
        jsonreq_type_error(&err, "cwd", "a string");
    else
        api_check_envs(req, &err);
    if (err.len > 0) {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY, "error parsing request. %s", err.data);
        json_object_put(req);
    } else {
        json_object *args = xjson_object();
        json_object_object_add(args, "request", req);
        job_start_any(r, "session.create", args);
    }
    strbuf_free(&err);
}

/* Checks a run's body: command (required), cwd, timeout (ms, >= 0). */
static int check_run(json_object *req, struct strbuf *err)
{
    const char *command, *cwd;
    int64_t timeout;
    enum jsonreq_rc rc = jsonreq_string(req, "command", &command);
    if (rc == JSONREQ_BADTYPE)
        jsonreq_type_error(err, "command", "a string");
    else if (rc == JSONREQ_ABSENT || command[0] == '\0')
        strbuf_append_str(err, "field 'command' is required");
    else if (jsonreq_string(req, "cwd", &cwd) == JSONREQ_BADTYPE)
        jsonreq_type_error(err, "cwd", "a string");
    else if ((rc = jsonreq_int64(req, "timeout", &timeout)) == JSONREQ_BADTYPE ||
             (rc == JSONREQ_OK && timeout < 0))
        jsonreq_type_error(err, "timeout", "a non-negative integer (milliseconds)");
    return err->len > 0 ? -1 : 0;
}

void api_session_run(struct http_req *r)
{
    json_object *req = api_parse_object(r);
    if (req == NULL)
        return;
    struct strbuf err = STRBUF_INIT;
    const char *id = r->params[0];
    struct worker *w;
    const char *kind;
    if (check_run(req, &err) < 0) {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY, "invalid request. %s", err.data);
    } else if ((kind = registry_lookup(id, &w)) == NULL || strcmp(kind, "session") != 0) {
        reply_error(r, 500, ERR_RUNTIME_ERROR, "error running in session. context not found");
    } else if (w == NULL) {
        waitq_unavailable(r, "the worker owning session %s is restarting", id);
    } else {
        snprintf(r->exec_id, sizeof(r->exec_id), "%s", id); /* the access log's id */
        json_object *args = xjson_object();
        json_object_object_add(args, "id", xjson_string(id));
        json_object_object_add(args, "request", json_object_get(req));
        job_start(r, w, "session.run", args);
    }
    json_object_put(req);
    strbuf_free(&err);
}

void api_session_delete(struct http_req *r)
{
    const char *id = r->params[0];
    struct worker *w;
    const char *kind = registry_lookup(id, &w);
    if (kind == NULL || strcmp(kind, "session") != 0) {
        reply_error(r, 404, ERR_CONTEXT_NOT_FOUND, "session %s not found", id);
    } else if (w == NULL) {
        waitq_unavailable(r, "the worker owning session %s is restarting", id);
    } else {
        json_object *args = xjson_object();
        json_object_object_add(args, "id", xjson_string(id));
        job_start(r, w, "session.delete", args);
    }
}
