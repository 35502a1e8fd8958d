#include "http/stream.h"

#include <string.h>

#include "clock.h"
#include "common.h"
#include "event.h"
#include "http/bodyrelay.h"
#include "http/evhtp_glue.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/server.h"
#include "log.h"
#include "metrics/selfstats.h"
#include "relay/job.h"
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
    selfstats_streamed(len);
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

/* The client hung up while the stream was idle (a failed write goes to the error hook). */
static void on_client_gone(void *arg)
{
    struct job *j = arg;
    log_debug("job %u: client disconnected", j->id);
    struct http_req *r = j->req;
    job_client_gone(j);
    if (r != NULL)
        http_release(r);
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
    struct stream *s = &j->stream;

    reply_header(j->req, "Content-Type", "text/event-stream");
    reply_header(j->req, "Cache-Control", "no-cache");
    if (glue_keepalive(ev))
        reply_header(j->req, "Connection", "keep-alive");
    reply_header(j->req, "X-Accel-Buffering", "no");
    evhtp_send_reply_chunk_start(ev, 200);
    j->req->replied = true;
    j->req->status = 200;
    s->started = true;
    s->counted = true;
    selfstats_stream_opened();

    /* Streams may stay open for hours: no idle timeout while they run. A client that stops
     * reading is still dropped after the write timeout (the job is cancelled). */
    glue_set_timeouts(ev, NULL, http_write_timeout());

    struct timeval every = {STREAM_PING_SECS, 0};
    s->ping_ev = event_new(http_base(), -1, EV_PERSIST, on_ping, j);
    s->watch = glue_watch_disconnect(ev, on_client_gone, j);
    if (s->ping_ev == NULL || s->watch == NULL || event_add(s->ping_ev, &every) < 0)
        log_error("job %u: cannot arm the stream timers", j->id);
    s->out = glue_output(ev);
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
    if (s->counted) {
        s->counted = false;
        selfstats_stream_closed();
    }
    if (s->ping_ev != NULL) {
        event_free(s->ping_ev);
        s->ping_ev = NULL;
    }
    glue_watch_free(s->watch);
    s->watch = NULL;
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
    /* The connection may be kept alive: idle, it times out again. */
    glue_set_timeouts(j->req->ev, http_idle_timeout(), http_write_timeout());
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
