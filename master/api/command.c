#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/params.h"
#include "http/reply.h"
#include "jsonreq.h"
#include "relay/job.h"
#include "relay/registry.h"
#include "relay/waitq.h"
#include "xalloc.h"

int api_check_envs(json_object *req, struct strbuf *err)
{
    json_object *envs;
    enum jsonreq_rc rc = jsonreq_object(req, "envs", &envs);
    if (rc == JSONREQ_BADTYPE) {
        jsonreq_type_error(err, "envs", "an object of strings");
        return -1;
    }
    if (rc == JSONREQ_ABSENT)
        return 0;
    json_object_object_foreach(envs, key, value)
    {
        if (value != NULL && !json_object_is_type(value, json_type_string)) {
            strbuf_printf(err, "field 'envs.%s' must be a string", key);
            return -1;
        }
        if (key[0] == '\0' || strchr(key, '=') != NULL) {
            strbuf_printf(err, "field 'envs' has an invalid variable name \"%s\"", key);
            return -1;
        }
    }
    return 0;
}

int api_command_validate(json_object *req, struct strbuf *err)
{
    const char *command = NULL, *cwd;
    bool background;
    int64_t timeout;
    uint32_t uid, gid;

    enum jsonreq_rc rc = jsonreq_string(req, "command", &command);
    if (rc == JSONREQ_BADTYPE) {
        jsonreq_type_error(err, "command", "a string");
        return -1;
    }
    if (rc == JSONREQ_ABSENT || command[0] == '\0') {
        strbuf_append_str(err, "field 'command' is required");
        return -1;
    }
    if (jsonreq_string(req, "cwd", &cwd) == JSONREQ_BADTYPE) {
        jsonreq_type_error(err, "cwd", "a string");
        return -1;
    }
    if (jsonreq_bool(req, "background", &background) == JSONREQ_BADTYPE) {
        jsonreq_type_error(err, "background", "a boolean");
        return -1;
    }
    rc = jsonreq_int64(req, "timeout", &timeout);
    if (rc == JSONREQ_BADTYPE || (rc == JSONREQ_OK && timeout < 0)) {
        jsonreq_type_error(err, "timeout", "a non-negative integer (milliseconds)");
        return -1;
    }
    enum jsonreq_rc has_uid = jsonreq_uint32(req, "uid", &uid);
    if (has_uid == JSONREQ_BADTYPE) {
        jsonreq_type_error(err, "uid", "an integer between 0 and 4294967295");
        return -1;
    }
    rc = jsonreq_uint32(req, "gid", &gid);
    if (rc == JSONREQ_BADTYPE) {
        jsonreq_type_error(err, "gid", "an integer between 0 and 4294967295");
        return -1;
    }
    if (rc == JSONREQ_OK && has_uid != JSONREQ_OK) {
        strbuf_append_str(err, "uid is required when gid is provided");
        return -1;
    }
    return api_check_envs(req, err);
}

void api_command_run(struct http_req *r)
{
    json_object *req = api_parse_object(r);
    if (req == NULL)
        return;
    struct strbuf err = STRBUF_INIT;
    if (api_command_validate(req, &err) < 0) {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY, "invalid request, validation error %s",
                    err.data);
        strbuf_free(&err);
        json_object_put(req);
        return;
    }
    strbuf_free(&err);
    json_object *args = xjson_object();
    json_object_object_add(args, "request", req);
    job_start_any(r, "command.run", args);
}

/* Forwards op for a command id to its owner; answers itself when the id is unknown. */
static void forward_command(struct http_req *r, const char *op, int unknown_status,
                            json_object *args)
{
    const char *id = r->params[0];
    struct worker *w;
    const char *kind = registry_lookup(id, &w);

    if (kind == NULL || strcmp(kind, "command") != 0) {
        json_object_put(args);
        reply_error(r, unknown_status, ERR_INVALID_REQUEST_BODY, "command not found: %s", id);
        return;
    }
    if (w == NULL) {
        json_object_put(args);
        waitq_unavailable(r, "the worker owning command %s is restarting", id);
        return;
    }
    json_object_object_add(args, "id", xjson_string(id));
    job_start(r, w, op, args);
}

void api_command_status(struct http_req *r)
{
    forward_command(r, "command.status", 404, xjson_object());
}

void api_command_logs(struct http_req *r)
{
    struct strbuf raw = STRBUF_INIT;
    long long cursor = 0;
    if (http_query_get(r, "cursor", &raw) && raw.len > 0) {
        char *end;
        errno = 0;
        long long v = strtoll(raw.data, &end, 10);
        /* Non-numeric cursors count as 0, as in the Go daemon. */
        if (*end == '\0' && errno == 0)
            cursor = v;
    }
    strbuf_free(&raw);
    if (cursor < 0) {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY, "invalid cursor %lld: must not be negative",
                    cursor);
        return;
    }
    json_object *args = xjson_object();
    json_object_object_add(args, "cursor", xjson_int64(cursor));
    forward_command(r, "command.logs", 400, args);
}

void api_interrupt(struct http_req *r)
{
    struct strbuf id = STRBUF_INIT;
    if (!api_required_query(r, "id", &id)) {
        strbuf_free(&id);
        return;
    }
    struct worker *w;
    const char *kind = registry_lookup(id.data, &w);
    if (kind == NULL) {
        reply_error(r, 500, ERR_RUNTIME_ERROR, "error interruptting code context. no such session");
    } else if (w == NULL) {
        waitq_unavailable(r, "the worker owning %s is restarting", id.data);
    } else {
        json_object *args = xjson_object();
        json_object_object_add(args, "id", xjson_string(id.data));
        json_object_object_add(args, "kind", xjson_string(kind));
        job_start(r, w, "interrupt", args);
    }
    strbuf_free(&id);
}
