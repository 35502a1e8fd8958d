/*
 * One HTTP request as the handlers see it. Every request gets a struct http_req that lives
 * until libevhtp frees the request (lifecycle.c); the router fills in the route and path
 * parameters, handlers answer directly (http/reply.c) or hand the request to a worker
 * (relay/job.c).
 */
#ifndef EXECD_HTTP_REQUEST_H
#define EXECD_HTTP_REQUEST_H

#include <evhtp.h>
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

struct bodyrelay;
struct http_req;
struct job;
struct upgrade;
struct route;
struct waiter;

#define HTTP_MAX_PARAMS 2

/*
 * What holds a request beside a job (a metrics watch, a proxied exchange): told when the
 * connection fails (a write error or timeout; the request is released afterwards) and
 * when libevhtp frees the request. A holder of a streamed-body route may take the body
 * too (body: each piece as it is parsed, to drain; body_end: the request is complete).
 */
struct http_holder {
    void (*failed)(struct http_req *r);
    void (*freed)(struct http_req *r);
    evhtp_res (*body)(struct http_req *r, struct evbuffer *buf);
    void (*body_end)(struct http_req *r);
};

struct http_req {
    evhtp_request_t *ev;
    const struct route *route;
    char *params[HTTP_MAX_PARAMS]; /* decoded {param} path segments */
    int64_t start_us;
    char exec_id[40];        /* execution id for the access log, if any */
    struct job *job;         /* set while a worker produces the response */
    struct bodyrelay *relay; /* a streamed body on its way to a worker */
    bool paused;             /* evhtp request paused for an asynchronous answer */
    bool replied;
    int status;     /* of the answer sent; libevhtp's own may be overwritten by a body hook */
    bool body_done; /* the whole request has been read */
    int header_count;
    uint64_t header_bytes;
    bool headers_too_big;    /* past -max-headers or -max-header-size: answered 431 */
    struct waiter *waiter;   /* waiting for a worker (relay/waitq.c) */
    struct upgrade *upgrade; /* the connection is being taken over (lifecycle.c) */
    int64_t wait_until_us;   /* when that wait ends (0: it never waited) */
    const struct http_holder *holder;
    void *held;       /* the holder's state */
    const char *path; /* routed instead of the request's (/proxy/{own port}/...) */
};

const char *http_method_name(const struct http_req *r);
/* The path routed (for /proxy/{own port}/rest: rest) and the path as requested. */
const char *http_path(const struct http_req *r);
const char *http_request_path(const struct http_req *r);
/* The request body as a contiguous buffer (owned by libevhtp). */
const char *http_body(const struct http_req *r, size_t *len);
/*
 * Decoded query values: the first value of name (false if absent), or every
 * value through the callback, in order.
 */
bool http_query_get(const struct http_req *r, const char *name, struct strbuf *out);
typedef void (*http_query_fn)(const char *value, void *arg);
size_t http_query_each(const struct http_req *r, const char *name, http_query_fn fn, void *arg);
const char *http_header(const struct http_req *r, const char *name);

/* Marks the request as answered later (by a job); see reply.c for the rest. */
void http_pause(struct http_req *r);
/* Lets libevhtp finish a paused request once its answer is queued. */
void http_resume(struct http_req *r);
/* The client is gone or the connection failed: lets libevhtp free a paused connection. */
void http_release(struct http_req *r);

#endif
