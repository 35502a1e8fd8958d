/*
 * Routing and query strings (master/http/router.c, request.c): a method and a path
 * matched against the route table, a path unescaped both ways, and every value of a
 * query parameter read from a raw query string, as handlers read them.
 *
 * Input: METHOD \n PATH \n NAME \n QUERY (QUERY is the rest).
 */
#include <stdlib.h>

#include "fuzz.h"
#include "http/request.h"
#include "http/router.h"

static void count_value(const char *value, void *arg)
{
    size_t *n = arg;
    if (value == NULL)
        abort();
    (*n)++;
}

static void check_route(const char *method, const char *path)
{
    const struct route *route = NULL;
    char *params[HTTP_MAX_PARAMS] = {NULL, NULL};
    struct strbuf allow = STRBUF_INIT;
    enum router_result res = router_match(method, path, &route, params, &allow);
    if (res == ROUTER_FOUND && route == NULL)
        abort();
    if (res == ROUTER_NO_METHOD && allow.len == 0)
        abort();
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(params[i]);
    strbuf_free(&allow);
}

static void check_unescape(const char *s, size_t len, bool plus)
{
    struct strbuf out = STRBUF_INIT;
    if (router_unescape(s, len, plus, &out) == 0 && out.len > len)
        abort();
    strbuf_free(&out);
}

/* A request as libevhtp leaves it for the handlers: only the raw query is read. */
static void check_query(const char *name, char *query)
{
    evhtp_uri_t uri = {0};
    evhtp_request_t ev = {0};
    uri.query_raw = (unsigned char *)query;
    ev.uri = &uri;
    struct http_req r = {0};
    r.ev = &ev;

    size_t n = 0;
    size_t found = http_query_each(&r, name, count_value, &n);
    struct strbuf first = STRBUF_INIT;
    bool got = http_query_get(&r, name, &first);
    if (found != n || got != (found > 0))
        abort();
    strbuf_free(&first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *method = fuzz_field(&in, '\n', NULL);
    size_t path_len;
    char *path = fuzz_field(&in, '\n', &path_len);
    char *name = fuzz_field(&in, '\n', NULL);
    char *query = fuzz_field(&in, '\0', NULL);

    check_route(method, path);
    check_unescape(path, path_len, false);
    check_unescape(path, path_len, true);
    check_query(name, query);

    free(method);
    free(path);
    free(name);
    free(query);
    return 0;
}
