#include "core/out.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/evsplit.h"
#include "log.h"
#include "xalloc.h"

/* Above this much queued output, producers pause until it drains below LOW. */
#define OUT_HIGH (1024 * 1024)
#define OUT_LOW (256 * 1024)

static struct ipc_chan *chan;
static struct list waiters = LIST_HEAD_INIT(waiters);

static void on_drain(struct ipc_chan *ch EXECD_UNUSED, void *arg EXECD_UNUSED)
{
    /* Only the waiters of now: a callback that waits again is called on the next drain. */
    struct list now = LIST_HEAD_INIT(now);
    list_splice_tail(&now, &waiters);
    while (!list_empty(&now)) {
        struct out_waiter *w = list_first(&now, struct out_waiter, node);
        list_del(&w->node);
        w->waiting = false;
        w->fn(w->arg);
    }
}

void out_init(struct ipc_chan *ch)
{
    chan = ch;
    if (ch != NULL)
        ipc_set_drain_cb(ch, on_drain, OUT_LOW);
}

bool out_congested(void)
{
    return chan != NULL && ipc_queued(chan) > OUT_HIGH;
}

size_t out_queued(void)
{
    return chan != NULL ? ipc_queued(chan) : 0;
}

void out_wait(struct out_waiter *w)
{
    if (w->waiting)
        return;
    w->waiting = true;
    list_add_head(&waiters, &w->node);
}

void out_cancel_wait(struct out_waiter *w)
{
    if (!w->waiting)
        return;
    list_del(&w->node);
    w->waiting = false;
}

static void send_json(uint32_t job, json_object *msg)
{
    if (chan == NULL || ipc_send_json(chan, job, msg) < 0)
        log_error("cannot send a message for job %u to the master", job);
    json_object_put(msg);
}

static json_object *new_op(const char *op)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string(op));
    return msg;
}

void out_events(uint32_t job, struct strbuf *events)
{
    const char *p = events->data;
    size_t left = events->len;
    while (left > 0) {
        /* Whole events per datagram; an event bigger than one goes alone (ipc.c fragments it). */
        size_t n = evsplit_prefix(p, left, IPC_FRAME_MAX - sizeof(struct ipc_hdr));
        if (chan == NULL || ipc_send(chan, IPC_EVENTS, job, p, n) < 0) {
            log_error("cannot send events for job %u to the master", job);
            break;
        }
        p += n;
        left -= n;
    }
    strbuf_reset(events);
}

void out_reply_json(uint32_t job, int status, json_object *body)
{
    json_object *msg = new_op("reply");
    json_object_object_add(msg, "status", xjson_int64(status));
    if (body != NULL)
        json_object_object_add(msg, "json", body);
    send_json(job, msg);
}

void out_reply_error(uint32_t job, int status, const char *code, const char *fmt, ...)
{
    struct strbuf text = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&text, fmt, ap);
    va_end(ap);
    json_object *body = xjson_object();
    json_object_object_add(body, "code", xjson_string(code));
    json_object_object_add(body, "message", xjson_string_len(text.data ? text.data : "", text.len));
    out_reply_json(job, status, body);
    strbuf_free(&text);
}

void out_reply_empty(uint32_t job, int status)
{
    out_reply_json(job, status, NULL);
}

void out_reply_file(uint32_t job, int status, json_object *headers, const char *content_type,
                    int fd, off_t offset, off_t length)
{
    json_object *msg = new_op("reply");
    json_object_object_add(msg, "status", xjson_int64(status));
    if (headers != NULL)
        json_object_object_add(msg, "headers", headers);
    json_object_object_add(msg, "content_type", xjson_string(content_type));
    json_object_object_add(msg, "file_offset", xjson_int64(offset));
    json_object_object_add(msg, "file_length", xjson_int64(length));
    size_t len;
    const char *s = json_object_to_json_string_length(
        msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (chan == NULL || ipc_send_fd(chan, IPC_MSG, job, s, len, fd) < 0)
        log_error("cannot send a file reply for job %u to the master", job);
    json_object_put(msg);
}

void out_end(uint32_t job)
{
    send_json(job, new_op("end"));
}

void out_register(uint32_t job, const char *kind, const char *id)
{
    json_object *msg = new_op("register");
    json_object_object_add(msg, "kind", xjson_string(kind));
    json_object_object_add(msg, "id", xjson_string(id));
    send_json(job, msg);
}

void out_unregister(const char *id)
{
    json_object *msg = new_op("unregister");
    json_object_object_add(msg, "id", xjson_string(id));
    send_json(0, msg);
}

void out_data(uint32_t job, const void *data, size_t len)
{
    if (chan == NULL || ipc_send(chan, IPC_DATA, job, data, len) < 0)
        log_error("cannot send data for job %u to the master", job);
}

void out_keep(const char *owner, const char *key, int fd)
{
    json_object *msg = new_op("keep");
    json_object_object_add(msg, "owner", xjson_string(owner));
    json_object_object_add(msg, "key", xjson_string(key));
    if (chan == NULL)
        close(fd);
    if (chan == NULL || ipc_send_json_fd(chan, 0, msg, fd) < 0)
        log_error("cannot hand %s %s to the master", owner, key);
    json_object_put(msg);
}

void out_drop(const char *owner, const char *prefix)
{
    json_object *msg = new_op("drop");
    json_object_object_add(msg, "owner", xjson_string(owner));
    json_object_object_add(msg, "prefix", xjson_string(prefix));
    send_json(0, msg);
}

void out_op(const char *op)
{
    send_json(0, new_op(op));
}

void out_msg(uint32_t job, json_object *msg)
{
    send_json(job, msg);
}
