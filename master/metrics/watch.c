#include "metrics/watch.h"

#include <stdlib.h>

#include "common.h"
#include "http/evhtp_glue.h"
#include "http/reply.h"
#include "http/server.h"
#include "jsonesc.h"
#include "list.h"
#include "log.h"
#include "metrics/hostmetrics.h"
#include "metrics/selfstats.h"
#include "xalloc.h"

struct watcher {
    struct http_req *r;
    struct glue_watch *gone;
    struct list node;
};

static struct {
    struct list all;
    int count;
    struct event *tick;
} wt = {.all = LIST_HEAD_INIT(wt.all)};

void watch_free(void)
{
    if (wt.tick != NULL)
        event_free(wt.tick);
    wt.tick = NULL;
}

/* The next line for every watcher: the figures, or why they could not be read. */
static void render_line(struct strbuf *line)
{
    struct strbuf err = STRBUF_INIT;
    if (hostmetrics_render(line, &err) < 0) {
        log_warn("metrics: %s", err.data);
        strbuf_append_str(line, "{\"error\":\"");
        jsonesc_append(line, err.data, err.len);
        strbuf_append_str(line, "\"}");
    }
    strbuf_free(&err);
    strbuf_append_char(line, '\n');
}

static void send_line(struct watcher *w, const struct strbuf *line)
{
    if (evbuffer_get_length(glue_output(w->r->ev)) > WATCH_BACKLOG)
        return;
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || evbuffer_add(b, line->data, line->len) < 0) {
        log_error("metrics watch: out of memory");
    } else {
        evhtp_send_reply_chunk(w->r->ev, b);
        selfstats_streamed(line->len);
    }
    if (b != NULL)
        evbuffer_free(b);
}

static void on_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                    void *arg EXECD_UNUSED)
{
    struct strbuf line = STRBUF_INIT;
    render_line(&line);
    list_each_safe(&wt.all, it, nx)
    {
        send_line(list_entry(it, struct watcher, node), &line);
    }
    strbuf_free(&line);
}

/* Unlinks the watcher of r (the request stays with libevhtp). */
static void forget(struct http_req *r)
{
    struct watcher *w = r->held;
    if (w == NULL)
        return;
    r->held = NULL;
    r->holder = NULL;
    glue_watch_free(w->gone);
    list_del(&w->node);
    free(w);
    wt.count--;
    selfstats_stream_closed();
    if (wt.count == 0)
        evtimer_del(wt.tick);
}

static void on_failed(struct http_req *r)
{
    forget(r);
}

static const struct http_holder holder = {.failed = on_failed, .freed = forget};

static void on_client_gone(void *arg)
{
    struct http_req *r = arg;
    log_debug("metrics watch: client disconnected");
    forget(r);
    http_release(r);
}

void watch_start(struct http_req *r)
{
    if (wt.tick == NULL &&
        (wt.tick = event_new(http_base(), -1, EV_PERSIST, on_tick, NULL)) == NULL)
        xalloc_die("the metrics watch timer");
    reply_header(r, "Content-Type", "text/event-stream");
    reply_header(r, "Cache-Control", "no-cache");
    if (glue_keepalive(r->ev))
        reply_header(r, "Connection", "keep-alive");
    reply_header(r, "X-Accel-Buffering", "no");
    evhtp_send_reply_chunk_start(r->ev, 200);
    r->replied = true;
    r->status = 200;
    http_pause(r); /* after the head: writing it sets the status libevhtp pauses by */
    /* It lasts until the client leaves: no idle timeout, the write timeout still. */
    glue_set_timeouts(r->ev, NULL, http_write_timeout());

    struct watcher *w = xcalloc(1, sizeof(*w));
    w->r = r;
    r->holder = &holder;
    r->held = w;
    list_add_tail(&wt.all, &w->node);
    wt.count++;
    selfstats_stream_opened();
    w->gone = glue_watch_disconnect(r->ev, on_client_gone, r);
    if (w->gone == NULL)
        log_error("metrics watch: cannot watch the client socket");
    struct timeval every = {WATCH_PERIOD_MS / 1000, (WATCH_PERIOD_MS % 1000) * 1000};
    if (wt.count == 1 && evtimer_add(wt.tick, &every) < 0)
        log_error("metrics watch: cannot arm the timer");

    struct strbuf line = STRBUF_INIT;
    render_line(&line);
    send_line(w, &line);
    strbuf_free(&line);
}
