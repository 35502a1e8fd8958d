#include "relay/job.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/reply.h"
#include "http/request.h"
#include "jsonreq.h"
#include "log.h"
#include "pool/supervisor.h"
#include "relay/registry.h"
#include "relay/waitq.h"
#include "strmap.h"
#include "xalloc.h"

static uint32_t next_id = 1;
static struct strmap jobs; /* "id" -> struct job: a frame from a worker finds its job */
static struct list all = LIST_HEAD_INIT(all);
static int max_executions; /* in all; 0: no limit */
static size_t sinks;       /* jobs without a request */

void job_configure(int max)
{
    max_executions = max;
}

/* Operations that start an execution: what -max-executions counts. */
static bool is_execution(const char *op)
{
    return strcmp(op, "command.run") == 0 || strcmp(op, "code.run") == 0 ||
           strcmp(op, "session.run") == 0 || strcmp(op, "session.code.run") == 0;
}

/* A worker's share of the limit: executions spread over the workers. */
static int per_worker_max(void)
{
    int slots = supervisor_slot_count() > 0 ? supervisor_slot_count() : 1;
    return max_executions > 0 ? (max_executions + slots - 1) / slots : 0;
}

/*
 * Whether op may start on w (NULL: any worker) under -max-executions; if not, r is
 * answered 503 TOO_MANY_REQUESTS with Retry-After.
 */
static bool execution_allowed(struct http_req *r, const struct worker *w, const char *op)
{
    if (max_executions <= 0 || !is_execution(op))
        return true;
    int total = supervisor_executions_total();
    if (total < max_executions && (w == NULL || supervisor_executions(w) < per_worker_max()))
        return true;
    log_warn("%s %s: execution limit reached (%d running, -max-executions %d)", http_method_name(r),
             http_path(r), total, max_executions);
    reply_unavailable(r, ERR_TOO_MANY_REQUESTS,
                      "too many executions running (%d in all, at most %d, %d per worker); "
                      "try again later",
                      total, max_executions, per_worker_max());
    return false;
}

static const char *key_of(uint32_t id, char key[static 11])
{
    snprintf(key, 11, "%u", id);
    return key;
}

static struct job *lookup(uint32_t id)
{
    char key[11];
    return strmap_get(&jobs, key_of(id, key));
}

static uint32_t new_id(void)
{
    for (;;) {
        uint32_t id = next_id++;
        if (id != 0 && lookup(id) == NULL)
            return id;
    }
}

size_t job_count(void)
{
    return jobs.len - sinks;
}

void job_each(job_fn fn, void *arg)
{
    list_each_safe(&all, it, nx)
    {
        fn(list_entry(it, struct job, in_all), arg);
    }
}

/* The worker answered j for the first time: what it started is registered, or it failed. */
static void job_answered(struct job *j)
{
    livelimit_answered(j->starting);
    j->starting = LIVE_NONE;
}

static void job_end(struct job *j)
{
    job_answered(j);
    if (j->execution)
        j->w->executions--;
    if (j->sink != NULL)
        sinks--;
    json_object_put(j->then_arg);
    stream_detach(j);
    if (j->req != NULL)
        j->req->job = NULL;
    worker_job_unlink(j->w, &j->in_worker);
    char key[11];
    strmap_del(&jobs, key_of(j->id, key));
    list_del(&j->in_all);
    free(j);
}

/*
 * Sends op as a new job for r to w, then registers it: a failed send runs the channel's
 * close callback, which ends every job registered on w, so the job is registered only once
 * the worker has it. Returns the job, or NULL (nothing sent). args is consumed.
 */
static struct job *send_start(struct http_req *r, struct worker *w, const char *op,
                              json_object *args)
{
    uint32_t id = new_id();
    json_object *msg = args != NULL ? args : xjson_object();
    json_object_object_add(msg, "op", xjson_string(op));
    enum live_kind starting = livelimit_kind_of(op, msg);
    int rc = worker_send_json(w, id, msg);
    json_object_put(msg);
    if (rc < 0)
        return NULL;
    struct job *j = xcalloc(1, sizeof(*j));
    j->id = id;
    j->w = w;
    j->starting = starting;
    livelimit_starting(starting);
    j->execution = is_execution(op);
    if (j->execution) {
        w->executions++;
        snprintf(j->kind, sizeof(j->kind), "%.*s", (int)strcspn(op, "."), op);
    }
    j->req = r;
    if (r != NULL)
        r->job = j;
    char key[11];
    strmap_put(&jobs, key_of(id, key), j);
    list_add_tail(&all, &j->in_all);
    worker_job_link(w, &j->in_worker);
    return j;
}

struct job *job_start(struct http_req *r, struct worker *w, const char *op, json_object *args)
{
    if (!execution_allowed(r, w, op) || !livelimit_allowed(r, livelimit_kind_of(op, args))) {
        json_object_put(args);
        return NULL;
    }
    struct job *j = send_start(r, w, op, args);
    if (j == NULL) {
        waitq_unavailable(r, "the worker is unavailable, try again");
        return NULL;
    }
    http_pause(r);
    return j;
}

struct job *job_start_any(struct http_req *r, const char *op, json_object *args)
{
    /* An execution goes to a worker below its share of the limit. When every ready worker
     * is at its share, job_start refuses it on the least loaded one. */
    struct worker *w = supervisor_pick(is_execution(op) ? per_worker_max() : 0);
    if (w == NULL)
        w = supervisor_pick(0);
    if (w == NULL) {
        json_object_put(args);
        waitq_unavailable(r, "no worker is available, try again");
        return NULL;
    }
    return job_start(r, w, op, args);
}

struct job *job_open(struct http_req *r, struct worker *w, const char *op, json_object *args)
{
    return send_start(r, w, op, args);
}

struct job *job_start_sink(struct worker *w, const char *op, json_object *args,
                           const struct job_sink *sink, void *arg)
{
    struct job *j = send_start(NULL, w, op, args);
    if (j == NULL)
        return NULL;
    j->sink = sink;
    j->sink_arg = arg;
    sinks++;
    return j;
}

int job_send_data(struct job *j, const void *data, size_t len)
{
    return worker_send_data(j->w, j->id, data, len);
}

void job_end_sink(struct job *j)
{
    job_end(j);
}

void job_cancel_sink(struct job *j)
{
    struct worker *w = j->w;
    uint32_t id = j->id;
    job_end(j); /* first: a failed send below ends the worker's jobs, this one no more */
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("cancel"));
    if (worker_send_json(w, id, msg) < 0)
        log_warn("job %u: cannot send cancel to worker", id);
    json_object_put(msg);
}

void job_then(struct job *j, job_then_fn fn, json_object *arg)
{
    json_object_put(j->then_arg);
    j->then = fn;
    j->then_arg = arg;
}

void job_send_op(struct job *j, const char *op)
{
    if (j->w == NULL)
        return;
    uint32_t id = j->id; /* a failed send ends j (the channel's close callback) */
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string(op));
    if (worker_send_json(j->w, id, msg) < 0)
        log_warn("job %u: cannot send %s to worker", id, op);
    json_object_put(msg);
}

static void add_headers(struct http_req *r, json_object *headers)
{
    if (headers == NULL || !json_object_is_type(headers, json_type_object))
        return;
    json_object_object_foreach(headers, name, value)
    {
        if (json_object_is_type(value, json_type_string))
            reply_header(r, name, json_object_get_string(value));
    }
}

static void close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Too late for a status line: a failure becomes an error event, anything else ends the stream. */
static void end_started_stream(struct job *j, int status, json_object *body)
{
    const char *code = ERR_RUNTIME_ERROR, *message = "request failed";
    jsonreq_string(body, "code", &code);
    jsonreq_string(body, "message", &message);
    if (status >= 400)
        stream_fail(j, status, code, message);
    else
        stream_finish(j);
}

/* A reply carrying a file range: sent with sendfile. Returns false when it carries none. */
static bool answer_file(struct job *j, int status, json_object *msg, int fd)
{
    const char *ctype = "text/plain; charset=utf-8";
    int64_t off = 0, len = 0;
    if (fd < 0 || jsonreq_int64(msg, "file_offset", &off) != JSONREQ_OK ||
        jsonreq_int64(msg, "file_length", &len) != JSONREQ_OK)
        return false;
    jsonreq_string(msg, "content_type", &ctype);
    if (reply_file(j->req, status, ctype, fd, off, len) < 0) {
        j->stream.finished = false;
        stream_fail(j, 500, ERR_RUNTIME_ERROR, "cannot send the file");
    }
    return true;
}

/* A reply with a JSON value, a text, or nothing as the body. */
static void answer_body(struct http_req *r, int status, json_object *msg)
{
    const char *text = NULL, *ctype = "text/plain; charset=utf-8";
    json_object *body = NULL;
    if (json_object_object_get_ex(msg, "json", &body) && body != NULL) {
        reply_json(r, status, body);
    } else if (jsonreq_string(msg, "text", &text) == JSONREQ_OK) {
        jsonreq_string(msg, "content_type", &ctype);
        reply_body(r, status, ctype, text, strlen(text));
    } else {
        reply_empty(r, status);
    }
}

/*
 * A complete answer from the worker:
 *   {"op":"reply","status":N,"headers":{...},"json":<value>}
 *   {"op":"reply","status":N,"content_type":"...","text":"..."}
 *   {"op":"reply","status":N,"file_offset":O,"file_length":L} + descriptor
 *   {"op":"reply","status":N}  (empty body)
 */
static void apply_reply(struct job *j, json_object *msg, int fd)
{
    int64_t status = 500;
    jsonreq_int64(msg, "status", &status);
    if (j->req == NULL || j->stream.finished) {
        close_fd(fd);
    } else if (j->stream.started) {
        close_fd(fd);
        end_started_stream(j, (int)status, json_object_object_get(msg, "json"));
    } else {
        j->stream.finished = true;
        add_headers(j->req, json_object_object_get(msg, "headers"));
        if (!answer_file(j, (int)status, msg, fd)) {
            close_fd(fd);
            answer_body(j->req, (int)status, msg);
        }
    }
}

/* reply: the answer, or the next step of a request answered by several workers in turn. */
static void on_reply(struct job *j, json_object *msg, int fd)
{
    int64_t status = 500;
    jsonreq_int64(msg, "status", &status);
    if (j->then == NULL || j->req == NULL || j->stream.started || status >= 400) {
        apply_reply(j, msg, fd);
        job_end(j);
        return;
    }
    struct http_req *r = j->req;
    job_then_fn then = j->then;
    json_object *arg = json_object_get(j->then_arg);
    close_fd(fd);
    job_end(j); /* r stays paused for the next step */
    then(r, arg);
    json_object_put(arg);
}

/* register {kind, id} on a job: id lives in this worker and names the job in the access log. */
static void on_register(struct job *j, json_object *msg)
{
    const char *id = NULL, *kind = NULL;
    if (jsonreq_string(msg, "id", &id) != JSONREQ_OK ||
        jsonreq_string(msg, "kind", &kind) != JSONREQ_OK)
        return;
    registry_put(id, kind, j->w);
    if (j->req != NULL)
        snprintf(j->req->exec_id, sizeof(j->req->exec_id), "%s", id);
}

/* A message for the owner of a sink job; register still goes to the registry. */
static void sink_control(struct job *j, json_object *obj, const char *op)
{
    if (strcmp(op, "register") == 0)
        on_register(j, obj);
    else
        j->sink->message(j->sink_arg, obj, op);
}

static void on_control(struct job *j, const struct ipc_msg *msg)
{
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse(msg->data, msg->len, &err);
    const char *op = NULL;

    if (obj == NULL || jsonreq_string(obj, "op", &op) != JSONREQ_OK) {
        log_error("job %u: malformed message from worker: %s", j->id, err.data ? err.data : "");
        close_fd(msg->fd);
    } else if (j->sink != NULL) {
        close_fd(msg->fd);
        sink_control(j, obj, op);
    } else if (strcmp(op, "reply") == 0) {
        on_reply(j, obj, msg->fd);
    } else if (strcmp(op, "end") == 0) {
        stream_finish(j);
        job_end(j);
    } else if (strcmp(op, "register") == 0) {
        on_register(j, obj);
    } else {
        log_warn("job %u: unknown op '%s' from worker", j->id, op);
    }
    json_object_put(obj);
    strbuf_free(&err);
}

void job_on_message(struct worker *w, const struct ipc_msg *msg)
{
    struct job *j = lookup(msg->job);
    if (j == NULL || j->w != w) {
        /* The job already ended (e.g. cancelled and answered); drop late frames. */
        close_fd(msg->fd);
        return;
    }
    job_answered(j);
    switch (msg->type) {
    case IPC_EVENTS:
        if (j->sink == NULL)
            stream_events(j, msg->data, msg->len);
        break;
    case IPC_MSG:
        on_control(j, msg);
        break;
    case IPC_DATA:
        close_fd(msg->fd);
        if (j->sink != NULL)
            j->sink->data(j->sink_arg, msg->data, msg->len);
        else
            log_warn("job %u: unexpected data frame from worker", j->id);
        break;
    }
}

void job_worker_lost(struct worker *w, const char *why)
{
    struct job *j;
    while ((j = list_first(&w->jobs, struct job, in_worker)) != NULL) {
        if (j->sink != NULL)
            j->sink->lost(j->sink_arg, why);
        else
            stream_fail(j, 500, ERR_RUNTIME_ERROR, why);
        job_end(j);
    }
}

void job_request_gone(struct job *j)
{
    stream_detach(j);
    j->req = NULL;
    job_send_op(j, "cancel");
}

void job_client_gone(struct job *j)
{
    stream_detach(j);
    if (j->req != NULL)
        j->req->job = NULL;
    j->req = NULL;
    job_send_op(j, "cancel");
}

void job_free_all(void)
{
    struct job *j;
    while ((j = list_first(&all, struct job, in_all)) != NULL)
        job_end(j);
    strmap_free(&jobs, NULL);
}
