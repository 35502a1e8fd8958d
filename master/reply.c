#include "reply.h"

#include <stdarg.h>
#include <string.h>

#include "jsonesc.h"
#include "log.h"
#include "strbuf.h"

void reply_header(struct http_req *r, const char *name, const char *value)
{
    evhtp_headers_add_header(r->ev->headers_out, evhtp_header_new(name, value, 1, 1));
}

void reply_send(struct http_req *r, int status)
{
    if (r->replied) {
        log_error("second reply to %s %s dropped", http_method_name(r), http_path(r));
        return;
    }
    r->replied = true;
    evhtp_send_reply(r->ev, (evhtp_res)status);
    if (r->paused) {
        r->paused = false;
        evhtp_request_resume(r->ev);
    }
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
    reply_json_text(r, status, s, len);
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
