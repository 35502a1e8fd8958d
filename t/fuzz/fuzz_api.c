/*
 * Every route's request decoding (master/api/ behind master/http/): well-formed requests
 * built from the route table, with fuzzed path parameters, query string, Content-Type and
 * body, sent to the real server (t/fuzz/httpd.c). Handlers decode and validate, then
 * answer 4xx themselves or 503 (no worker). The answers must be HTTP and the connection
 * must end when the client is done.
 *
 * Input: ROUTE (1 byte) FLAGS (1 byte) PARAM \n QUERY \n CONTENT-TYPE \n BODY.
 *   ROUTE indexes the route table; FLAGS & 1: no access token, & 2: a chunked body,
 *   & 4: "Expect: 100-continue".
 */
#include <stdlib.h>

#include "fuzz.h"
#include "http/router.h"
#include "httpd.h"

/*
 * Routes that leave the process or never end without a client that goes away: the proxy
 * connects to local ports, a metrics watch streams until the client disconnects.
 */
static bool skipped(const struct route *r)
{
    return strncmp(r->pattern, "/proxy", 6) == 0 || strncmp(r->pattern, "/metrics/watch", 14) == 0;
}

/* Appends s[0..len), percent-encoding every byte that cannot stand in a request target. */
static void append_target(struct strbuf *out, const char *s, size_t len, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c > 0x20 && c < 0x7f && strchr("#?/%", c) == NULL) ||
            (c != 0 && strchr(keep, c) != NULL))
            strbuf_append_char(out, (char)c);
        else
            strbuf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 0xf]);
    }
}

static void append_path(struct strbuf *out, const char *pattern, const char *param, size_t len)
{
    for (const char *p = pattern; *p != '\0';) {
        if (*p != '{') {
            strbuf_append_char(out, *p++);
            continue;
        }
        if (len > 0)
            append_target(out, param, len, "");
        else
            strbuf_append_char(out, 'x');
        p = strchr(p, '}');
        p = p != NULL ? p + 1 : pattern + strlen(pattern);
    }
}

static void append_body(struct strbuf *req, const uint8_t *body, size_t len, bool chunked)
{
    if (!chunked) {
        strbuf_printf(req, "Content-Length: %zu\r\n\r\n", len);
        strbuf_append(req, body, len);
        return;
    }
    strbuf_append_str(req, "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t at = 0; at < len; at += 1000) {
        size_t n = len - at < 1000 ? len - at : 1000;
        strbuf_printf(req, "%zx\r\n", n);
        strbuf_append(req, body + at, n);
        strbuf_append_str(req, "\r\n");
    }
    strbuf_append_str(req, "0\r\n\r\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    const struct route *route = &routes[fuzz_byte(&in) % routes_count];
    uint8_t flags = fuzz_byte(&in);
    if (skipped(route))
        return 0;
    size_t param_len, query_len, type_len;
    char *param = fuzz_field(&in, '\n', &param_len);
    char *query = fuzz_field(&in, '\n', &query_len);
    char *type = fuzz_field(&in, '\n', &type_len);

    struct strbuf req = STRBUF_INIT;
    strbuf_printf(&req, "%s ", strcmp(route->method, "*") == 0 ? "GET" : route->method);
    append_path(&req, route->pattern, param, param_len);
    if (query_len > 0) {
        strbuf_append_char(&req, '?');
        append_target(&req, query, query_len, "%/?");
    }
    strbuf_append_str(&req, " HTTP/1.1\r\nHost: fuzz\r\n");
    if (!(flags & 1))
        strbuf_append_str(&req, "X-EXECD-ACCESS-TOKEN: " HTTPD_TOKEN "\r\n");
    if (flags & 4)
        strbuf_append_str(&req, "Expect: 100-continue\r\n");
    if (type_len > 0 && memchr(type, '\r', type_len) == NULL && strchr(type, '\n') == NULL &&
        strlen(type) == type_len)
        strbuf_printf(&req, "Content-Type: %s\r\n", type);
    append_body(&req, in.p, in.n, flags & 2);

    struct strbuf answer = STRBUF_INIT;
    httpd_exchange(req.data, req.len, &answer);
    httpd_check_answer(&answer);

    strbuf_free(&answer);
    strbuf_free(&req);
    free(param);
    free(query);
    free(type);
    return 0;
}
