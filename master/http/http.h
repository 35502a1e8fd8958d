/*
 * The master's HTTP server: libevhtp on the master's event base. Every request
 * gets a struct http_req that lives until libevhtp frees the request; the
 * router fills in the route and path parameters, handlers answer directly
 * (reply.c) or hand the request to a worker (job.c).
 */
#ifndef EXECD_HTTP_H
#define EXECD_HTTP_H

#include <evhtp.h>
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

struct bodyrelay;
struct config;
struct job;
struct route;

#define HTTP_MAX_PARAMS 2

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
};

/* Binds and starts serving. Returns 0 or -1 (logged). */
int http_start(struct event_base *base, const struct config *cfg);
/* Applies settings that can change on reload (token, limits, timeouts). */
void http_reconfigure(const struct config *cfg);
/* Stops accepting new connections (shutdown). */
void http_stop_accepting(void);
void http_free(void);

/* Largest JSON body currently accepted. */
uint64_t http_max_body(void);
/* The idle (keep-alive) timeout of client connections, NULL when off. */
const struct timeval *http_idle_timeout(void);

/* Request helpers for handlers. */
const char *http_method_name(const struct http_req *r);
const char *http_path(const struct http_req *r);
/* The request body as a contiguous buffer (owned by libevhtp). */
const char *http_body(const struct http_req *r, size_t *len);
/*
 * Decoded query values: the first value of name (NULL if absent), or every
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

#endif
