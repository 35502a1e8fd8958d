#include "http/lifecycle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "http/bodyrelay.h"
#include "http/evhtp_glue.h"
#include "http/listener.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "http/server.h"
#include "log.h"
#include "proxy/proxy.h"
#include "metrics/selfstats.h"
#include "relay/job.h"
#include "relay/waitq.h"
#include "xalloc.h"

#define UNAUTHORIZED_BODY                                                                          \
    "{\"error\":\"Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN\"}"

static bool streamed(const struct http_req *r)
{
    return r->route != NULL && (r->route->flags & ROUTE_STREAMED_BODY);
}

/* A connection being taken over (http_upgrade), waiting for the loop. */
struct upgrade {
    struct http_req *r;
    struct event *ev;
    http_upgrade_fn fn;
    void *arg;
};

/* The end of r: the access log line, then its memory. */
static void request_done(struct http_req *r, int status)
{
    int64_t us = clock_mono_us() - r->start_us;
    if (r->status != 0)
        status = r->status;
    selfstats_request(r->route, http_method_name(r), status, us);
    log_info("%s %s %d %.3fms%s%s", http_method_name(r), http_request_path(r), status,
             (double)us / 1000.0, r->exec_id[0] ? " id=" : "", r->exec_id);
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(r->params[i]);
    free(r);
}

static void upgrade_free(struct upgrade *u)
{
    u->r->upgrade = NULL;
    event_free(u->ev);
    free(u);
}

static evhtp_res on_request_fini(evhtp_request_t *ev, void *arg)
{
    struct http_req *r = arg;
    if (r->upgrade != NULL) {
        /* The connection went away before it could be taken over. */
        struct upgrade *u = r->upgrade;
        http_upgrade_fn fn = u->fn;
        void *fn_arg = u->arg;
        upgrade_free(u);
        fn(-1, NULL, fn_arg);
    }
    if (r->job != NULL)
        job_request_gone(r->job);
    if (r->holder != NULL)
        r->holder->freed(r);
    waitq_forget(r);
    bodyrelay_free(r);
    request_done(r, (int)ev->status);
    return EVHTP_RES_OK;
}

static void on_request_error(evhtp_request_t *ev EXECD_UNUSED, evhtp_error_flags flags, void *arg)
{
    struct http_req *r = arg;
    if ((flags & BEV_EVENT_TIMEOUT) && (flags & BEV_EVENT_WRITING))
        log_info("%s %s: the client read nothing for the write timeout; dropping it%s%s",
                 http_method_name(r), http_path(r), r->exec_id[0] ? " id=" : "", r->exec_id);
    else
        log_debug("%s %s: connection error 0x%x", http_method_name(r), http_path(r),
                  (unsigned)flags);
    if (r->job != NULL)
        job_client_gone(r->job);
    if (r->holder != NULL && r->holder->failed != NULL)
        r->holder->failed(r);
    http_release(r);
}

/* The request's own state, allocated once its request line is in. */
static struct http_req *req_of(evhtp_request_t *ev)
{
    if (ev->cbarg != NULL)
        return ev->cbarg;
    struct http_req *r = xcalloc(1, sizeof(*r));
    r->ev = ev;
    r->start_us = clock_mono_us();
    ev->cbarg = r;
    evhtp_request_set_hook(ev, evhtp_hook_on_request_fini, (evhtp_hook)on_request_fini, r);
    evhtp_request_set_hook(ev, evhtp_hook_on_error, (evhtp_hook)(void (*)(void))on_request_error,
                           r);
    return r;
}

static evhtp_res on_headers_start(evhtp_request_t *ev, void *arg EXECD_UNUSED)
{
    req_of(ev);
    return EVHTP_RES_OK;
}

/*
 * Each header line as the parser completes it, before anything else looks at the request:
 * past the limits the parser stops (libevhtp then frees the connection and the connection's
 * fini hook answers 431), so an unauthenticated client cannot make the master hold more.
 */
static evhtp_res on_header(evhtp_request_t *ev, evhtp_header_t *h, void *arg EXECD_UNUSED)
{
    struct http_req *r = req_of(ev);
    r->header_count++;
    r->header_bytes += h->klen + h->vlen + 4; /* ": " and CRLF */
    if (r->header_count <= http_max_headers() && r->header_bytes <= http_max_header_bytes())
        return EVHTP_RES_OK;
    r->headers_too_big = true;
    log_info("%s %s: more than %d header fields or %llu bytes of them", http_method_name(r),
             http_path(r), http_max_headers(), (unsigned long long)http_max_header_bytes());
    return EVHTP_RES_ERROR;
}

/*
 * Answers before the body is read and makes libevhtp close the connection once the answer
 * is flushed; the rest of the body is discarded as it arrives, never buffered.
 */
void http_answer_early(struct http_req *r)
{
    evhtp_kv_t *expect = evhtp_kvs_find_kv(r->ev->headers_in, "Expect");
    if (expect != NULL)
        evhtp_kv_rm_and_free(r->ev->headers_in, expect); /* no "100 Continue" after our answer */
    glue_close_after(r->ev);
}

static void reject_too_large(struct http_req *r)
{
    http_answer_early(r);
    reply_error(r, 413, ERR_BODY_TOO_LARGE, "request body larger than %llu bytes",
                (unsigned long long)http_max_body());
}

/*
 * Finds r's route. /proxy/{the daemon's own port}/rest is routed as rest (the Docker bridge
 * mode of OpenSandbox sends every request that way): the same handlers, no second
 * connection.
 */
static void route(struct http_req *r)
{
    for (;;) {
        struct strbuf allow = STRBUF_INIT;
        enum router_result res =
            router_match(http_method_name(r), http_path(r), &r->route, r->params, &allow);
        strbuf_free(&allow);
        if (res != ROUTER_FOUND) {
            r->route = NULL;
            return;
        }
        int port;
        const char *rest;
        if (!(r->route->flags & ROUTE_PROXY) ||
            proxy_target(http_path(r), &port, &rest) != PROXY_TARGET_OK ||
            port != http_listen_port())
            return;
        r->path = rest;
    }
}

static evhtp_res on_headers(evhtp_request_t *ev, evhtp_headers_t *headers, void *arg EXECD_UNUSED)
{
    struct http_req *r = req_of(ev);
    route(r);

    /* Nothing of an unauthorized request is kept: not its body, not the connection. */
    if (!http_authorized(r)) {
        http_answer_early(r);
        reply_json_text(r, 401, UNAUTHORIZED_BODY, strlen(UNAUTHORIZED_BODY));
        return EVHTP_RES_OK;
    }
    const char *cl = evhtp_kv_find(headers, "Content-Length");
    if (!streamed(r) && cl != NULL && strtoull(cl, NULL, 10) > http_max_body())
        reject_too_large(r);
    else if (streamed(r))
        r->route->fn(r); /* a streamed body's job starts now */
    return EVHTP_RES_OK;
}

static evhtp_res on_body(evhtp_request_t *ev, struct evbuffer *buf, void *arg EXECD_UNUSED)
{
    struct http_req *r = ev->cbarg;
    if (streamed(r) && r->holder != NULL && r->holder->body != NULL)
        return r->holder->body(r, buf);
    if (streamed(r))
        return bodyrelay_feed(r, buf);
    if (r->replied) {
        evbuffer_drain(buf, evbuffer_get_length(buf)); /* rejected: discard */
        return EVHTP_RES_OK;
    }
    if (evbuffer_get_length(ev->buffer_in) + evbuffer_get_length(buf) > http_max_body()) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        reject_too_large(r);
    }
    return EVHTP_RES_OK;
}

/* No route matched when the headers came: 405 with the allowed methods, or 404. */
static void reply_unrouted(struct http_req *r)
{
    struct strbuf allow = STRBUF_INIT;
    char *params[HTTP_MAX_PARAMS] = {NULL, NULL};
    const struct route *route;
    enum router_result res =
        router_match(http_method_name(r), http_path(r), &route, params, &allow);
    if (res == ROUTER_NO_METHOD) {
        reply_header(r, "Allow", allow.data);
        reply_error(r, 405, ERR_METHOD_NOT_ALLOWED, "method %s not allowed on %s (allowed: %s)",
                    http_method_name(r), http_path(r), allow.data);
    } else {
        reply_error(r, 404, ERR_NOT_FOUND, "404 page not found: %s %s", http_method_name(r),
                    http_path(r));
    }
    strbuf_free(&allow);
}

void http_lifecycle_dispatch(evhtp_request_t *ev EXECD_UNUSED, void *arg)
{
    struct http_req *r = arg;
    if (r == NULL)
        return;
    r->body_done = true;
    if (streamed(r) && r->holder != NULL && r->holder->body_end != NULL) {
        r->holder->body_end(r); /* it may have answered while the body arrived */
        return;
    }
    if (r->replied)
        return;
    if (streamed(r))
        bodyrelay_end(r);
    else if (r->route != NULL)
        r->route->fn(r);
    else
        reply_unrouted(r);
}

void http_lifecycle_attach(evhtp_connection_t *c)
{
    evhtp_connection_set_hook(c, evhtp_hook_on_headers_start, (evhtp_hook)on_headers_start, NULL);
    evhtp_connection_set_hook(c, evhtp_hook_on_header, (evhtp_hook)on_header, NULL);
    evhtp_connection_set_hook(c, evhtp_hook_on_headers, (evhtp_hook)on_headers, NULL);
    evhtp_connection_set_hook(c, evhtp_hook_on_read, (evhtp_hook)on_body, NULL);
}

/* From the loop: libevhtp is not on the stack, so its connection can be taken apart. */
static void on_take_over(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct upgrade *u = arg;
    struct http_req *r = u->r;
    http_upgrade_fn fn = u->fn;
    void *fn_arg = u->arg;
    upgrade_free(u);
    evhtp_request_t *ev = r->ev;
    http_connection_taken(evhtp_request_get_connection(ev));
    struct evbuffer *rest = evbuffer_new();
    if (rest == NULL)
        xalloc_die("a taken connection's input");
    request_done(r, 101); /* while the request (its path) is still there */
    evutil_socket_t sock = glue_take_over(ev, rest);
    if (sock < 0)
        listener_closed();
    fn(sock, sock >= 0 ? rest : NULL, fn_arg);
    evbuffer_free(rest);
}

void http_upgrade(struct http_req *r, http_upgrade_fn fn, void *arg)
{
    struct upgrade *u = xcalloc(1, sizeof(*u));
    u->r = r;
    u->fn = fn;
    u->arg = arg;
    u->ev = evtimer_new(http_base(), on_take_over, u);
    struct timeval now = {0, 0};
    if (u->ev == NULL || evtimer_add(u->ev, &now) < 0)
        xalloc_die("a connection take-over");
    r->upgrade = u;
    r->replied = true; /* the 101 is the new owner's */
    http_pause(r);
}

void http_upgraded_close(evutil_socket_t fd)
{
    if (close(fd) < 0)
        log_debug("closing an upgraded connection: %s", strerror(errno));
    listener_closed();
}
