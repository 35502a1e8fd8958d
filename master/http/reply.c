#include "http/reply.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http/evhtp_glue.h"
#include "jsonesc.h"
#include "log.h"
#include "strbuf.h"

void reply_header(struct http_req *r, const char *name, const char *value)
{
    evhtp_headers_add_header(r->ev->headers_out, evhtp_header_new(name, value, 1, 1));
}

/* A request is answered once; a second answer is a bug, logged and dropped. */
static bool answered(const struct http_req *r)
{
    if (r->replied)
        log_error("second reply to %s %s dropped", http_method_name(r), http_path(r));
    return r->replied;
}

static void mark_answered(struct http_req *r, int status)
{
    r->replied = true;
    r->status = status;
    /* The unread rest of the body would be taken for the next request. */
    if (!r->body_done)
        glue_close_after(r->ev);
}

void reply_send(struct http_req *r, int status)
{
    if (answered(r))
        return;
    mark_answered(r, status);
    /* The contract's empty answers carry no Content-Type, which libevhtp would add. */
    if (evbuffer_get_length(r->ev->buffer_out) == 0 &&
        evhtp_header_find(r->ev->headers_out, "Content-Type") == NULL)
        glue_send_bare(r->ev, (evhtp_res)status);
    else
        evhtp_send_reply(r->ev, (evhtp_res)status);
    http_resume(r);
}

int reply_file(struct http_req *r, int status, const char *content_type, int fd, int64_t offset,
               int64_t length)
{
    struct evbuffer_file_segment *seg = NULL;
    if (answered(r)) {
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
    mark_answered(r, status);
    if (glue_send_file(r->ev, (evhtp_res)status, seg, length) < 0)
        log_error("%s %s: cannot queue the file; closing the connection", http_method_name(r),
                  http_path(r));
    if (seg != NULL)
        evbuffer_file_segment_free(seg);
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

static void reply_verror(struct http_req *r, int status, const char *code, const char *fmt,
                         va_list ap)
{
    struct strbuf msg = STRBUF_INIT;
    struct strbuf body = STRBUF_INIT;
    strbuf_vprintf(&msg, fmt, ap);
    strbuf_append_str(&body, "{\"code\":");
    jsonesc_append(&body, code, strlen(code));
    strbuf_append_str(&body, ",\"message\":");
    jsonesc_append(&body, msg.data ? msg.data : "", msg.len);
    strbuf_append_char(&body, '}');
    reply_json_text(r, status, body.data, body.len);
    strbuf_free(&msg);
    strbuf_free(&body);
}

void reply_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_verror(r, status, code, fmt, ap);
    va_end(ap);
}

void reply_unavailable(struct http_req *r, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!r->replied)
        reply_header(r, "Retry-After", "1");
    reply_verror(r, 503, code, fmt, ap);
    va_end(ap);
}

void reply_empty(struct http_req *r, int status)
{
    reply_body(r, status, NULL, "", 0);
}
