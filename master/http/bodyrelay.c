#include "http/bodyrelay.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "http/evhtp_glue.h"
#include "http/reply.h"
#include "http/server.h"
#include "ipc.h"
#include "list.h"
#include "log.h"
#include "pool/supervisor.h"
#include "relay/job.h"
#include "relay/waitq.h"
#include "xalloc.h"

/*
 * While a body arrives the master reads the client socket itself, this much
 * at a time: libevent 2.1's bufferevents never read more than 4 KiB per
 * call, and the system calls around each read would be the cost of an
 * upload. What is read goes into the connection's input buffer and
 * libevhtp's own read callback parses it (HTTP framing, chunked encoding)
 * as usual; the body then reaches bodyrelay_feed through the on_read hook.
 */
#define READ_CHUNK (1024 * 1024)
/* ... waking up only once this much (or the rest of a sized body) is there. */
#define READ_LOWAT (256 * 1024)
/* Payload of one IPC_DATA datagram. */
#define FRAME_DATA (IPC_FRAME_MAX - sizeof(struct ipc_hdr))

struct bodyrelay {
    struct http_req *r;
    struct event *rd; /* our reads of the client socket */
    bool reading;     /* body reads are ours; libevhtp's are switched off */
    bool *alive;      /* cleared when the relay is freed under our feet */
    struct worker *w; /* whose channel we wait on; only compared, may be gone */
    int64_t expected; /* Content-Length; -1 for a chunked body */
    int64_t received;
    int lowat;                /* the client socket's SO_RCVLOWAT */
    struct evbuffer *pending; /* less than a full frame not sent yet */
    struct list waiting;      /* in waiters while waiting for w's channel to drain */
    /* Set when no job could start or the job failed: answered once the body is in. */
    int fail_status;
    const char *fail_code; /* one of reply.h's ERR_ literals */
    char *fail_msg;
    /* While no worker is ready: the job to start, and whether the body is complete. */
    const char *wait_op;
    json_object *wait_args;
    bool wait_ended;
};

static struct list waiters = LIST_HEAD_INIT(waiters);

/* SO_RCVLOWAT of the client socket (1 restores the default). */
static void set_lowat(struct bodyrelay *rel, int want)
{
    if (rel->lowat == want)
        return;
    if (setsockopt(glue_socket(rel->r->ev), SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) != 0) {
        log_debug("%s %s: SO_RCVLOWAT %d: %s", http_method_name(rel->r), http_path(rel->r), want,
                  strerror(errno));
        return;
    }
    rel->lowat = want;
}

/* The rest of a sized body may be less than READ_LOWAT: never wait for more than that. */
static void tune_lowat(struct bodyrelay *rel)
{
    int64_t left = rel->expected - rel->received;
    set_lowat(rel, rel->expected < 0 || left < 1 ? 1 : left > READ_LOWAT ? READ_LOWAT : (int)left);
}

static void add_read_event(struct bodyrelay *rel)
{
    if (event_add(rel->rd, http_idle_timeout()) != 0)
        log_error("%s %s: cannot watch the client socket", http_method_name(rel->r),
                  http_path(rel->r));
}

/* Hands reading back to libevhtp (body complete, answered, or the client failed). */
static void give_back(struct bodyrelay *rel)
{
    if (!rel->reading)
        return;
    rel->reading = false;
    event_del(rel->rd);
    list_del(&rel->waiting);
    set_lowat(rel, 1);
    if (glue_reads_give_back(rel->r->ev) != 0)
        log_error("%s %s: cannot resume reading the connection", http_method_name(rel->r),
                  http_path(rel->r));
}

/* A worker channel's queue fell to the low watermark: resume the uploads it held up. */
static void on_drain(struct worker *w)
{
    list_each_safe(&waiters, it, nx)
    {
        struct bodyrelay *rel = list_entry(it, struct bodyrelay, waiting);
        if (rel->w != w)
            continue;
        list_del(&rel->waiting);
        if (rel->reading)
            add_read_event(rel);
    }
}

/*
 * After a chunk was parsed: reading goes back to libevhtp (body done or answered, nothing
 * to relay it to), or goes on, unless the worker is behind: then it waits for its channel
 * to drain while the client's TCP window fills up.
 */
static void after_chunk(struct bodyrelay *rel)
{
    struct http_req *r = rel->r;
    if (r->body_done || r->replied || (r->job == NULL && rel->fail_status == 0)) {
        give_back(rel);
        return;
    }
    tune_lowat(rel);
    if (r->job == NULL)
        return; /* the job failed: the rest of the body is read and dropped */
    struct worker *w = r->job->w;
    if (worker_queued(w) > BODYRELAY_HIGH) {
        event_del(rel->rd);
        rel->w = w;
        list_add_tail(&waiters, &rel->waiting);
        worker_on_drain(w, on_drain, BODYRELAY_LOW);
    }
}

/* Reads a chunk of the client socket and lets libevhtp parse it. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct bodyrelay *rel = arg;
    struct http_req *r = rel->r;

    if (what & EV_TIMEOUT) {
        /* libevhtp's idle timeout is off while we read: end the connection the same way. */
        log_info("%s %s: the client sent nothing for too long", http_method_name(r), http_path(r));
        if (shutdown(fd, SHUT_RDWR) != 0)
            log_debug("shutdown of a client socket: %s", strerror(errno));
        give_back(rel); /* libevhtp now reads the end of the stream and fails the request */
        return;
    }
    ssize_t n = glue_read_input(r->ev, READ_CHUNK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* End of stream or an error: libevhtp reads it again and fails the request. */
        give_back(rel);
        return;
    }
    bool alive = true;
    rel->alive = &alive;
    glue_parse_input(r->ev); /* may free the connection, the request and rel */
    if (!alive)
        return;
    rel->alive = NULL;
    after_chunk(rel);
}

static int64_t expected_length(const struct http_req *r)
{
    const char *te = http_header(r, "Transfer-Encoding");
    if (te != NULL && strcasestr(te, "chunked") != NULL)
        return -1;
    const char *cl = http_header(r, "Content-Length");
    return cl != NULL ? strtoll(cl, NULL, 10) : 0;
}

static void set_fail(struct bodyrelay *rel, int status, const char *code, const char *msg)
{
    if (rel->fail_status != 0)
        return; /* the first failure is the one answered */
    rel->fail_status = status;
    rel->fail_code = code;
    rel->fail_msg = xstrdup(msg);
}

bool bodyrelay_defer_error(struct http_req *r, int status, const char *code, const char *msg)
{
    struct bodyrelay *rel = r->relay;
    if (rel == NULL || r->body_done || r->replied)
        return false;
    log_info("%s %s: %s; answering once the body is in", http_method_name(r), http_path(r), msg);
    set_fail(rel, status, code, msg);
    if (rel->reading) {
        /* No channel to wait for any more: read on (bodyrelay_feed drops it all). */
        list_del(&rel->waiting);
        add_read_event(rel);
    }
    return true;
}

/*
 * Starts the job on w and reads the body for it. Returns 0, or -1 when the job could not
 * start (the failure is answered once the body is in).
 */
static int open_job(struct bodyrelay *rel, struct worker *w, const char *op, json_object *args)
{
    struct http_req *r = rel->r;
    if (job_open(r, w, op, args) == NULL) {
        set_fail(rel, 503, ERR_UNAVAILABLE, "the worker is unavailable, try again");
        return -1;
    }
    /* Without a job the body is only discarded, and libevhtp's reads do. */
    rel->rd = glue_socket_event(r->ev, EV_READ | EV_PERSIST, on_readable, rel);
    if (rel->rd == NULL)
        xalloc_die("a client read event");
    if (glue_reads_take(r->ev) != 0)
        log_error("%s %s: cannot switch libevhtp's reads off", http_method_name(r), http_path(r));
    rel->reading = true;
    add_read_event(rel);
    return 0;
}

static int send_pending(struct bodyrelay *rel, size_t min_frame);
static void on_worker_ready(struct http_req *r);
static void on_no_worker(struct http_req *r, const char *why);
static const struct waitq_ops wait_ops = {on_worker_ready, on_no_worker};

/* The wait for a worker ended: the body may be read again, by us or by libevhtp. */
static void end_wait(struct bodyrelay *rel)
{
    json_object_put(rel->wait_args);
    rel->wait_args = NULL;
    rel->wait_op = NULL;
    if (!rel->wait_ended && rel->rd == NULL && glue_reads_give_back(rel->r->ev) != 0)
        log_error("%s %s: cannot resume reading the connection", http_method_name(rel->r),
                  http_path(rel->r));
}

static void on_worker_ready(struct http_req *r)
{
    struct bodyrelay *rel = r->relay;
    struct worker *w = supervisor_pick(0);
    if (w == NULL) {
        waitq_wait(r, &wait_ops, "no worker is available, try again");
        return;
    }
    const char *op = rel->wait_op;
    json_object *args = rel->wait_args;
    rel->wait_args = NULL;
    bool opened = open_job(rel, w, op, args) == 0;
    end_wait(rel);
    if (opened)
        send_pending(rel, FRAME_DATA);
    if (rel->wait_ended)
        bodyrelay_end(r);
}

static void on_no_worker(struct http_req *r, const char *why)
{
    struct bodyrelay *rel = r->relay;
    set_fail(rel, 503, ERR_UNAVAILABLE, why);
    end_wait(rel);
    if (rel->wait_ended)
        bodyrelay_end(r);
}

void bodyrelay_start(struct http_req *r, const char *op, json_object *args)
{
    struct bodyrelay *rel = xcalloc(1, sizeof(*rel));
    rel->r = r;
    rel->lowat = 1;
    rel->expected = expected_length(r);
    rel->pending = evbuffer_new();
    if (rel->pending == NULL)
        xalloc_die("a request body buffer");
    list_init(&rel->waiting);
    r->relay = rel;

    struct worker *w = supervisor_pick(0);
    if (w != NULL) {
        open_job(rel, w, op, args);
        return;
    }
    /* No worker is ready (a respawn): the body waits in the socket, and what libevhtp has
     * read already in pending. */
    rel->wait_op = op;
    rel->wait_args = args;
    if (glue_reads_take(r->ev) != 0)
        log_error("%s %s: cannot switch libevhtp's reads off", http_method_name(r), http_path(r));
    waitq_wait(r, &wait_ops, "no worker is available, try again");
}

/*
 * Sends the pending bytes in frames while at least min_frame are left.
 * Returns 0, or -1 when the channel failed: its close callback has then
 * already ended the job (freed, r->job cleared) and left its error for
 * bodyrelay_end to answer (bodyrelay_defer_error).
 */
static int send_pending(struct bodyrelay *rel, size_t min_frame)
{
    struct job *j = rel->r->job;
    int slot = j->w->slot;
    size_t left;
    while ((left = evbuffer_get_length(rel->pending)) >= min_frame && left > 0) {
        size_t n = left < FRAME_DATA ? left : FRAME_DATA;
        const char *p = (const char *)evbuffer_pullup(rel->pending, (ev_ssize_t)n);
        if (worker_send_data(j->w, j->id, p, n) < 0) {
            log_error("%s %s: cannot relay the body to worker %d", http_method_name(rel->r),
                      http_path(rel->r), slot);
            evbuffer_drain(rel->pending, left);
            return -1;
        }
        evbuffer_drain(rel->pending, n);
    }
    return 0;
}

evhtp_res bodyrelay_feed(struct http_req *r, struct evbuffer *buf)
{
    struct bodyrelay *rel = r->relay;
    size_t len = evbuffer_get_length(buf);
    struct job *j = r->job;

    if (rel != NULL)
        rel->received += (int64_t)len;
    if (rel != NULL && rel->wait_op != NULL) {
        evbuffer_add_buffer(rel->pending, buf); /* one read at most: reads are ours */
        return EVHTP_RES_OK;
    }
    /* Not authorized, no job, or already answered: the rest is discarded. */
    if (rel == NULL || r->replied || j == NULL || !worker_connected(j->w)) {
        evbuffer_drain(buf, len);
        return EVHTP_RES_OK;
    }
    /* Only full frames go now: every frame costs the worker a wake-up. Flow
     * control is in on_readable, which decides when the socket is read. */
    evbuffer_add_buffer(rel->pending, buf);
    send_pending(rel, FRAME_DATA);
    return EVHTP_RES_OK;
}

void bodyrelay_end(struct http_req *r)
{
    static const char nothing[1];
    struct bodyrelay *rel = r->relay;

    if (rel == NULL) {
        reply_error(r, 500, ERR_RUNTIME_ERROR, "the request body was not relayed");
        return;
    }
    if (rel->wait_op != NULL) {
        rel->wait_ended = true; /* answered once the wait for a worker is over */
        http_pause(r);
        return;
    }
    if (rel->fail_status == 503) {
        reply_unavailable(r, rel->fail_code, "%s", rel->fail_msg);
    } else if (rel->fail_status != 0) {
        reply_error(r, rel->fail_status, rel->fail_code, "%s", rel->fail_msg);
    } else if (r->job == NULL || !worker_connected(r->job->w)) {
        reply_error(r, 500, ERR_RUNTIME_ERROR, "the worker handling this request went away");
    } else {
        struct job *j = r->job;
        /* The rest, then an empty data frame: the end of the body. */
        if (send_pending(rel, 1) == 0 && worker_send_data(j->w, j->id, nothing, 0) < 0)
            log_error("%s %s: cannot end the body relay", http_method_name(r), http_path(r));
        if (r->job != NULL)
            http_pause(r);
    }
    give_back(rel);
}

void bodyrelay_free(struct http_req *r)
{
    struct bodyrelay *rel = r->relay;
    if (rel == NULL)
        return;
    if (rel->alive != NULL)
        *rel->alive = false;
    if (rel->rd != NULL)
        event_free(rel->rd);
    list_del(&rel->waiting);
    evbuffer_free(rel->pending);
    json_object_put(rel->wait_args);
    free(rel->fail_msg);
    free(rel);
    r->relay = NULL;
}
