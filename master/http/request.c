#include "http/request.h"

#include <string.h>

#include "http/evhtp_glue.h"
#include "http/router.h"
#include "log.h"

const char *http_method_name(const struct http_req *r)
{
    static const char *names[] = {"GET",    "HEAD",  "POST",    "PUT",      "DELETE",    "MKCOL",
                                  "COPY",   "MOVE",  "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK",
                                  "UNLOCK", "TRACE", "CONNECT", "PATCH"};
    htp_method m = r->ev->method;
    if ((size_t)m < sizeof(names) / sizeof(names[0]))
        return names[m];
    return "UNKNOWN";
}

const char *http_path(const struct http_req *r)
{
    return r->path != NULL ? r->path : http_request_path(r);
}

const char *http_request_path(const struct http_req *r)
{
    if (r->ev->uri == NULL || r->ev->uri->path == NULL || r->ev->uri->path->full == NULL)
        return "/";
    return r->ev->uri->path->full;
}

const char *http_body(const struct http_req *r, size_t *len)
{
    *len = evbuffer_get_length(r->ev->buffer_in);
    if (*len == 0)
        return "";
    return (const char *)evbuffer_pullup(r->ev->buffer_in, -1);
}

const char *http_header(const struct http_req *r, const char *name)
{
    return evhtp_kv_find(r->ev->headers_in, name);
}

/* Walks the raw query string, calling fn for each decoded value of name. */
size_t http_query_each(const struct http_req *r, const char *name, http_query_fn fn, void *arg)
{
    const char *q = r->ev->uri ? (const char *)r->ev->uri->query_raw : NULL;
    size_t found = 0;
    struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;

    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        if (router_unescape(q, klen, true, &key) == 0 && key.len > 0 &&
            strcmp(key.data, name) == 0) {
            const char *v = eq ? eq + 1 : q + len;
            size_t vlen = eq ? len - klen - 1 : 0;
            if (router_unescape(v, vlen, true, &val) == 0) {
                fn(val.data ? val.data : "", arg);
                found++;
            }
        }
        q = amp ? amp + 1 : NULL;
    }
    strbuf_free(&key);
    strbuf_free(&val);
    return found;
}

static void keep_first(const char *value, void *arg)
{
    struct strbuf *out = arg;
    if (out->data == NULL || out->len == 0)
        strbuf_append_str(out, value);
}

bool http_query_get(const struct http_req *r, const char *name, struct strbuf *out)
{
    strbuf_reset(out);
    struct strbuf first = STRBUF_INIT;
    size_t n = http_query_each(r, name, keep_first, &first);
    if (n > 0)
        strbuf_append(out, first.data ? first.data : "", first.len);
    strbuf_free(&first);
    return n > 0;
}

void http_pause(struct http_req *r)
{
    if (r->paused)
        return;
    r->paused = true;
    evhtp_request_pause(r->ev);
}

void http_resume(struct http_req *r)
{
    if (!r->paused)
        return;
    r->paused = false;
    if (glue_resume(r->ev) < 0)
        log_error("%s %s: cannot resume the connection", http_method_name(r), http_path(r));
}

void http_release(struct http_req *r)
{
    if (!r->paused)
        return;
    r->paused = false;
    glue_release(r->ev);
}
