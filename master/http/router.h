/*
 * The route table: method + path pattern -> handler. Patterns are literal
 * segments, {param} segments (one non-empty path segment each) and a final
 * "*" that matches the rest of the path, if any; method "*" is any method.
 * The table itself is in routes.c, the single place that lists every endpoint.
 */
#ifndef EXECD_ROUTER_H
#define EXECD_ROUTER_H

#include "http/request.h"
#include "strbuf.h"

typedef void (*route_fn)(struct http_req *r);

/*
 * The request body is streamed to a worker rather than buffered (uploads):
 * the handler runs as soon as the headers are in (authorized requests only)
 * and must start the relay with bodyrelay_start, never answer itself.
 */
#define ROUTE_STREAMED_BODY 0x1
/*
 * /proxy/{port}/...: when the port is the daemon's own, the request is routed
 * again as its rest, as if it had come directly (lifecycle.c).
 */
#define ROUTE_PROXY 0x2

struct route {
    const char *method;
    const char *pattern;
    route_fn fn;
    unsigned flags;
};

extern const struct route routes[];
extern const size_t routes_count;

enum router_result {
    ROUTER_FOUND,
    ROUTER_NO_PATH,   /* 404 */
    ROUTER_NO_METHOD, /* 405; allowed methods listed in allow */
};

/*
 * Matches method and path (a single trailing slash is ignored). On
 * ROUTER_FOUND *out is the route and params[] holds the decoded {param}
 * values (heap strings the caller frees).
 */
enum router_result router_match(const char *method, const char *path, const struct route **out,
                                char **params, struct strbuf *allow);

/* Percent-decodes s[0..len) into out; returns -1 on a malformed escape. */
int router_unescape(const char *s, size_t len, bool plus_is_space, struct strbuf *out);

#endif
