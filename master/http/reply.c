#include "http/reply.h"

#include <event2/bufferevent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jsonesc.h"
#include "log.h"
#include "strbuf.h"

void reply_header(struct http_req *r, const char *name, const char *value)
{
    evhtp_headers_add_header(r->ev->headers_out, evhtp_header_new(name, value, 1, 1));
}

/* The header line libevhtp adds to every answer that has no Content-Type. */
static const char default_ctype[] = "\r\nContent-Type: text/plain\r\n";

/*
 * The contract's empty answers carry no Content-Type, but libevhtp's
 * serializer always adds one. evhtp_send_reply only queues the serialized
 * head on the socket's output buffer (the write happens later on the loop),
 * so when that buffer held nothing else the head is rewritten there without
 * the line. A socket bufferevent freezes the start of its output buffer (only
 * its own writer drains it); it is thawed for the rewrite. The stripped copy
 * is added before the original is drained, so a failure leaves libevhtp's
 * answer intact.
 */
static void strip_default_ctype(struct evbuffer *out)
{
    char head[2048];
    size_t len = evbuffer_get_length(out);
    struct evbuffer_ptr at = evbuffer_search(out, default_ctype, sizeof(default_ctype) - 1, NULL);
    if (at.pos < 0 || len > sizeof(head))
        return;
    if (evbuffer_unfreeze(out, 1) < 0) {
        log_error("cannot thaw the output buffer: an empty answer keeps libevhtp's Content-Type");
        return;
    }
    size_t cut = (size_t)at.pos + 2, cut_len = sizeof(default_ctype) - 3;
    if (evbuffer_copyout(out, head, len) != (ev_ssize_t)len) {
        log_error("cannot read an empty answer's head back");
    } else {
        memmove(head + cut, head + cut + cut_len, len - cut - cut_len);
        if (evbuffer_add(out, head, len - cut_len) < 0)
            log_error("out of memory: an empty answer keeps libevhtp's Content-Type");
        else if (evbuffer_drain(out, len) < 0)
            log_error("cannot drain an empty answer's original head");
    }
    if (evbuffer_freeze(out, 1) < 0)
        log_error("cannot freeze the output buffer's start again");
}

void reply_send(struct http_req *r, int status)
{
    if (r->replied) {
        log_error("second reply to %s %s dropped", http_method_name(r), http_path(r));
        return;
    }
    r->replied = true;
    r->status = status;
    /* The unread rest of the body would be taken for the next request. */
    if (!r->body_done)
        r->ev->flags &= (uint16_t)~EVHTP_REQ_FLAG_KEEPALIVE;
    bool empty = evbuffer_get_length(r->ev->buffer_out) == 0 &&
                 evhtp_header_find(r->ev->headers_out, "Content-Type") == NULL;
    struct evbuffer *out =
        bufferevent_get_output(evhtp_connection_get_bev(evhtp_request_get_connection(r->ev)));
    empty = empty && evbuffer_get_length(out) == 0; /* else pipelined: left as is */
    evhtp_send_reply(r->ev, (evhtp_res)status);
    if (empty)
        strip_default_ctype(out);
    http_resume(r);
}

int reply_file(struct http_req *r, int status, const char *content_type, int fd, int64_t offset,
               int64_t length)
{
    struct evbuffer_file_segment *seg = NULL;
    if (r->replied) {
        log_error("second reply to %s %s dropped", http_method_name(r), http_path(r));
        close(fd);
        return 0;
    }
    if (length > 0) {
        seg = evbuffer_file_segment_new(fd, offset, length, EVBUF_FS_CLOSE_ON_FREE);
        if (seg == NULL) {
            log_error("%s %s: cannot map the file to send", http_method_name(r), http_path(r));
            close(fd);
            return -1;
        }
    } else {
        close(fd);
    }
    char cl[24];
    snprintf(cl, sizeof(cl), "%lld", (long long)length);
    reply_header(r, "Content-Type", content_type);
    reply_header(r, "Content-Length", cl);
    r->replied = true;
    r->status = status;
    if (!r->body_done)
        r->ev->flags &= (uint16_t)~EVHTP_REQ_FLAG_KEEPALIVE;
    evhtp_send_reply_start(r->ev, (evhtp_res)status);
    if (seg != NULL) {
        /*
         * Straight into the socket's own buffer, behind the headers: only a
         * buffer that drains to a descriptor gets sendfile; added to the
         * request's buffer_out, libevent would map or read the whole range.
         */
        struct bufferevent *bev = evhtp_connection_get_bev(evhtp_request_get_connection(r->ev));
        if (evbuffer_add_file_segment(bufferevent_get_output(bev), seg, 0, length) < 0) {
            log_error("%s %s: cannot queue the file; closing the connection", http_method_name(r),
                      http_path(r));
            r->ev->flags &= (uint16_t)~EVHTP_REQ_FLAG_KEEPALIVE; /* the body is short */
        }
        evbuffer_file_segment_free(seg);
    }
    evhtp_send_reply_end(r->ev);
    http_resume(r);
    return 0;
}

void reply_body(struct http_req *r, int status, const char *content_type, const char *body,
                size_t len)
{
    if (content_type != NULL)
        reply_header(r, "Content-Type", content_type);
    evbuffer_add(r->ev->buffer_out, body, len);
    if (len == 0)
        reply_header(r, "Content-Length", "0");
    reply_send(r, status);
}

void reply_json_text(struct http_req *r, int status, const char *json, size_t len)
{
    reply_body(r, status, "application/json; charset=utf-8", json, len);
}

void reply_json(struct http_req *r, int status, json_object *body)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    struct strbuf fixed = STRBUF_INIT;
    if (jsonesc_repair_utf8(s, len, &fixed))
        reply_json_text(r, status, fixed.data, fixed.len);
    else
        reply_json_text(r, status, s, len);
    strbuf_free(&fixed);
}

void reply_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
{
    struct strbuf msg = STRBUF_INIT;
    struct strbuf body = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);
    strbuf_append_str(&body, "{\"code\":");
    jsonesc_append(&body, code, strlen(code));
    strbuf_append_str(&body, ",\"message\":");
    jsonesc_append(&body, msg.data ? msg.data : "", msg.len);
    strbuf_append_char(&body, '}');
    reply_json_text(r, status, body.data, body.len);
    strbuf_free(&msg);
    strbuf_free(&body);
}

void reply_empty(struct http_req *r, int status)
{
    reply_body(r, status, NULL, "", 0);
}
