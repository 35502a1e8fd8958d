/*
 * A job is one HTTP request being answered by a worker. The master keeps a
 * table of jobs by id (the id travels in every IPC frame of the job); frames
 * from the worker are routed here and become either a single reply or a
 * stream (http/stream.c). A job ends when the worker says so or dies; the HTTP
 * request may go away earlier (client gone), in which case the worker is told
 * to cancel and later output is dropped.
 */
#ifndef EXECD_JOB_H
#define EXECD_JOB_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/stream.h"
#include "ipc.h"
#include "list.h"
#include "relay/livelimit.h"

struct http_req;
struct worker;

/*
 * The next step of a request answered by several workers in turn (fan-out):
 * called with the still paused request instead of answering it; it starts
 * the next job on r or answers r. arg is the json_object given to job_then.
 */
typedef void (*job_then_fn)(struct http_req *r, json_object *arg);

/*
 * A job that answers no HTTP request (a PTY session's WebSocket, relay/ptylink.c): what the
 * worker sends goes to its owner instead of a reply or a stream.
 */
struct job_sink {
    /* IPC_DATA from the worker. */
    void (*data)(void *arg, const char *data, size_t len);
    /* An IPC_MSG other than register (msg borrowed, op its "op"). */
    void (*message)(void *arg, json_object *msg, const char *op);
    /* The worker died or its channel broke: the job is freed once this returns. */
    void (*lost)(void *arg, const char *why);
};

struct job {
    uint32_t id;
    struct worker *w;
    struct http_req *req; /* NULL once the client is gone */
    struct stream stream;
    struct list in_worker; /* in w->jobs */
    struct list in_all;    /* every job, for job_free_all */
    job_then_fn then;      /* see job_then */
    json_object *then_arg;
    bool execution; /* a command or code run: counted in w->executions */
    char kind[16];  /* an execution's kind: its operation's first word ("command", "code") */
    enum live_kind starting; /* what it may start, until the worker's first answer */
    const struct job_sink *sink; /* set for a job without a request (then req is NULL) */
    void *sink_arg;
};

/*
 * At most max executions (commands and code runs, background commands included) at once,
 * in all and spread evenly over the workers; 0: no limit. Beyond, 503 TOO_MANY_REQUESTS
 * with Retry-After.
 */
void job_configure(int max);

/*
 * Sends {"op": op, ...args} to worker w as a new job for request r and pauses
 * r until the worker answers. args is consumed (may be NULL). Returns the job,
 * or NULL: past the execution, kernel or session limit (r answered 503,
 * relay/livelimit.h), or when the send failed
 * (r then waits for a worker, relay/waitq.h).
 */
struct job *job_start(struct http_req *r, struct worker *w, const char *op, json_object *args);
/* job_start on the least loaded worker; r waits for one when none is ready (relay/waitq.h). */
struct job *job_start_any(struct http_req *r, const char *op, json_object *args);
/*
 * job_start for a request whose body is still arriving (http/bodyrelay.c): r is
 * neither paused nor answered. Returns NULL (logged) when nothing was sent.
 */
struct job *job_open(struct http_req *r, struct worker *w, const char *op, json_object *args);
/*
 * Sends {"op": op, ...args} to w as a new job whose messages go to sink (see struct
 * job_sink). args is consumed. Returns the job, or NULL when the send failed.
 */
struct job *job_start_sink(struct worker *w, const char *op, json_object *args,
                           const struct job_sink *sink, void *arg);
/* IPC_DATA for j's worker. Returns 0, or -1 (the channel broke: j ended through lost). */
int job_send_data(struct job *j, const void *data, size_t len);
/* The worker ended a sink job (its last message): nothing more is delivered. */
void job_end_sink(struct job *j);
/* The owner is done with a sink job: it ends here and its worker gets cancel. */
void job_cancel_sink(struct job *j);

/*
 * When j's worker answers with a status below 400 (and the client is still
 * there), fn(request, arg) runs instead of sending that answer; any other
 * outcome is answered as usual. arg is consumed.
 */
void job_then(struct job *j, job_then_fn fn, json_object *arg);

/* A frame with a non-zero job id arrived from w. */
void job_on_message(struct worker *w, const struct ipc_msg *msg);
/* w died or its channel broke: every job of w ends with an error. */
void job_worker_lost(struct worker *w, const char *why);
/* libevhtp is freeing the request of j. */
void job_request_gone(struct job *j);
/* The client disconnected or the connection failed. */
void job_client_gone(struct job *j);
/*
 * Sends a job-scoped control message (pause/resume/cancel) to j's worker.
 * When the send fails the channel's close callback has ended j: callers do
 * not touch j afterwards.
 */
void job_send_op(struct job *j, const char *op);

/* Jobs answering HTTP requests (sink jobs, which may last for hours, are not counted). */
size_t job_count(void);
/* Calls fn for every job in flight. */
typedef void (*job_fn)(const struct job *j, void *arg);
void job_each(job_fn fn, void *arg);
void job_free_all(void);

#endif
