#include "http/stream.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "http/bodyrelay.h"
#include "clock.h"
#include "common.h"
#include "event.h"
#include "http/http.h"
#include "relay/job.h"
#include "log.h"
#include "http/reply.h"
#include "strbuf.h"

static void write_chunk(struct job *j, const char *data, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        log_error("job %u: out of memory writing to the client", j->id);
        return;
    }
    evbuffer_add(b, data, len);
    evhtp_send_reply_chunk(j->req->ev, b);
    evbuffer_free(b);
}

static void write_ping(struct job *j)
{
    struct strbuf ping = STRBUF_INIT;
    event_text(&ping, "ping", "pong", 4, clock_wall_ms());
    write_chunk(j, ping.data, ping.len);
    strbuf_free(&ping);
}

static void on_ping(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct job *j = arg;
    if (j->req != NULL)
        write_ping(j);
}

/*
 * While the connection is paused libevhtp does not read it, so a client that
 * hangs up would only be noticed at the next failed write. Watch the socket:
 * EOF means the client is gone; data means a pipelined request, which we
 * leave alone (and stop watching).
 */
static void on_watch(evutil_socket_t fd, short what EXECD_UNUSED, void *arg)
{
    struct job *j = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        event_del(j->stream.watch_ev);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    log_debug("job %u: client disconnected", j->id);
    struct http_req *r = j->req;
    job_client_gone(j);
    if (r != NULL && r->paused) {
        r->paused = false;
        evhtp_request_resume(r->ev);
    }
}

static void on_output_change(struct evbuffer *buf, const struct evbuffer_cb_info *info EXECD_UNUSED,
                             void *arg)
{
    struct job *j = arg;
    if (j->stream.worker_paused && evbuffer_get_length(buf) <= STREAM_LOW_WATER) {
        j->stream.worker_paused = false;
        job_send_op(j, "resume");
    }
}

static void start(struct job *j)
{
    evhtp_request_t *ev = j->req->ev;
    evhtp_connection_t *conn = evhtp_request_get_connection(ev);
    struct stream *s = &j->stream;

    reply_header(j->req, "Content-Type", "text/event-stream");
    reply_header(j->req, "Cache-Control", "no-cache");
    if (ev->flags & EVHTP_REQ_FLAG_KEEPALIVE)
        reply_header(j->req, "Connection", "keep-alive");
    reply_header(j->req, "X-Accel-Buffering", "no");
    evhtp_send_reply_chunk_start(ev, 200);
    j->req->replied = true;
    j->req->status = 200;
    s->started = true;

    /* Streams may stay open for hours: no idle timeout while they run. */
    bufferevent_set_timeouts(conn->bev, NULL, NULL);

    struct timeval every = {STREAM_PING_SECS, 0};
    s->ping_ev = event_new(conn->evbase, -1, EV_PERSIST, on_ping, j);
    s->watch_ev = event_new(conn->evbase, conn->sock, EV_READ | EV_PERSIST, on_watch, j);
    if (s->ping_ev == NULL || s->watch_ev == NULL || event_add(s->ping_ev, &every) < 0 ||
        event_add(s->watch_ev, NULL) < 0)
        log_error("job %u: cannot arm the stream timers", j->id);
    s->out = bufferevent_get_output(conn->bev);
    s->out_cb = evbuffer_add_cb(s->out, on_output_change, j);
}

void stream_events(struct job *j, const char *data, size_t len)
{
    struct stream *s = &j->stream;
    if (j->req == NULL || s->finished || len == 0)
        return;
    if (!s->started) {
        start(j);
        /* The Go daemon pings right after `init`: keep that order. */
        const char *end = memmem(data, len, "\n\n", 2);
        size_t first = end ? (size_t)(end - data) + 2 : len;
        write_chunk(j, data, first);
        write_ping(j);
        data += first;
        len -= first;
    }
    if (len > 0)
        write_chunk(j, data, len);
    if (!s->worker_paused && s->out != NULL && evbuffer_get_length(s->out) > STREAM_HIGH_WATER) {
        s->worker_paused = true;
        job_send_op(j, "pause");
    }
}

void stream_detach(struct job *j)
{
    struct stream *s = &j->stream;
    if (s->ping_ev != NULL) {
        event_free(s->ping_ev);
        s->ping_ev = NULL;
    }
    if (s->watch_ev != NULL) {
        event_free(s->watch_ev);
        s->watch_ev = NULL;
    }
    if (s->out_cb != NULL) {
        evbuffer_remove_cb_entry(s->out, s->out_cb);
        s->out_cb = NULL;
        s->out = NULL;
    }
}

void stream_finish(struct job *j)
{
    struct stream *s = &j->stream;
    if (j->req == NULL || s->finished)
        return;
    if (!s->started) {
        stream_fail(j, 500, ERR_RUNTIME_ERROR, "the worker ended the request without an answer");
        return;
    }
    s->finished = true;
    stream_detach(j);
    evhtp_send_reply_chunk_end(j->req->ev);
    http_resume(j->req);
}

void stream_fail(struct job *j, int status, const char *code, const char *message)
{
    if (j->req == NULL || j->stream.finished)
        return;
    if (!j->stream.started) {
        j->stream.finished = true;
        if (!bodyrelay_defer_error(j->req, status, code, message))
            reply_error(j->req, status, code, "%s", message);
        return;
    }
    struct strbuf ev = STRBUF_INIT;
    static const char *const no_traceback[1];
    event_error(&ev, code, message, no_traceback, 0, clock_wall_ms());
    write_chunk(j, ev.data, ev.len);
    strbuf_free(&ev);
    stream_finish(j);
}
