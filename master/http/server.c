#include "http/http.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/bodyrelay.h"
#include "clock.h"
#include "common.h"
#include "config.h"
#include "relay/job.h"
#include "log.h"
#include "http/reply.h"
#include "http/router.h"

#define AUTH_HEADER "X-EXECD-ACCESS-TOKEN"
/* Allocations up to this size come from the heap and are reused (see http_start). */
#define HEAP_BUFFER_MAX (4 * 1024 * 1024)
#define UNAUTHORIZED_BODY                                                                          \
    "{\"error\":\"Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN\"}"

/* libevhtp does not keep a list of its connections; we do, to close them at exit. */
struct conn_entry {
    evhtp_connection_t *conn;
    struct conn_entry *prev, *next;
};

static struct {
    struct event_base *base;
    evhtp_t *htp;
    char *token;
    uint64_t max_body;
    struct timeval idle;
    struct conn_entry *conns;
} srv;

uint64_t http_max_body(void)
{
    return srv.max_body;
}

const struct timeval *http_idle_timeout(void)
{
    return srv.idle.tv_sec > 0 || srv.idle.tv_usec > 0 ? &srv.idle : NULL;
}

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

/*
 * Resumes a paused request whose answer has just been queued. libevhtp's own
 * resume works through a deferred event: when the socket's write event runs
 * first in the same loop turn, the exchange completes (the request is freed
 * for keep-alive) before that callback, which then re-arms writing on an idle
 * connection, and libevhtp's next write callback, finding no request, closes
 * the connection (and marks the answered request 200). With output queued,
 * resuming is exactly what that callback would do: let the output drain, after
 * which libevhtp re-enables reading and handles keep-alive.
 */
void http_resume(struct http_req *r)
{
    if (!r->paused)
        return;
    r->paused = false;
    evhtp_connection_t *c = evhtp_request_get_connection(r->ev);
    struct bufferevent *bev = evhtp_connection_get_bev(c);
    if ((c->flags & EVHTP_CONN_FLAG_FREE_CONN) ||
        evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        evhtp_request_resume(r->ev); /* a failed connection is freed on this path */
        return;
    }
    c->flags &= (uint16_t)~EVHTP_CONN_FLAG_PAUSED;
    c->flags |= EVHTP_CONN_FLAG_WAITING;
    if (bufferevent_enable(bev, EV_WRITE) != 0) {
        log_error("%s %s: cannot resume the connection", http_method_name(r), http_path(r));
        evhtp_request_resume(r->ev);
    }
}

static bool authorized(const struct http_req *r)
{
    if (srv.token == NULL || srv.token[0] == '\0')
        return true;
    const char *given = http_header(r, AUTH_HEADER);
    if (given == NULL)
        return false;
    size_t want_len = strlen(srv.token), given_len = strlen(given);
    /* Compare in constant time; a length mismatch still does a full compare. */
    int diff = CRYPTO_memcmp(given_len == want_len ? given : srv.token, srv.token, want_len);
    return diff == 0 && given_len == want_len;
}

static evhtp_res on_request_fini(evhtp_request_t *ev, void *arg)
{
    struct http_req *r = arg;
    int64_t us = clock_mono_us() - r->start_us;

    if (r->job != NULL)
        job_request_gone(r->job);
    bodyrelay_free(r);
    log_info("%s %s %d %.3fms%s%s", http_method_name(r), http_path(r),
             r->status != 0 ? r->status : (int)ev->status, (double)us / 1000.0,
             r->exec_id[0] ? " id=" : "", r->exec_id);
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(r->params[i]);
    free(r);
    return EVHTP_RES_OK;
}

static void on_request_error(evhtp_request_t *ev EXECD_UNUSED, evhtp_error_flags flags, void *arg)
{
    struct http_req *r = arg;
    log_debug("%s %s: connection error 0x%x", http_method_name(r), http_path(r), (unsigned)flags);
    if (r->job != NULL)
        job_client_gone(r->job);
    if (r->paused) {
        /* libevhtp frees a paused connection only once it is resumed. */
        r->paused = false;
        evhtp_request_resume(r->ev);
    }
}

/*
 * Answers before the body is read (body too large) and makes libevhtp close
 * the connection once the answer is flushed; the rest of the body is
 * discarded as it arrives.
 */
static void reject_early(struct http_req *r, evhtp_headers_t *headers_in)
{
    evhtp_kv_t *expect = evhtp_kvs_find_kv(headers_in, "Expect");
    if (expect != NULL)
        evhtp_kv_rm_and_free(headers_in, expect); /* no "100 Continue" after our answer */
    r->ev->flags &= (uint16_t)~EVHTP_REQ_FLAG_KEEPALIVE;
    reply_error(r, 413, ERR_BODY_TOO_LARGE, "request body larger than %llu bytes",
                (unsigned long long)srv.max_body);
}

static evhtp_res on_headers(evhtp_request_t *ev, evhtp_headers_t *headers, void *arg EXECD_UNUSED)
{
    struct http_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return EVHTP_RES_FATAL;
    r->ev = ev;
    r->start_us = clock_mono_us();
    ev->cbarg = r;
    evhtp_request_set_hook(ev, evhtp_hook_on_request_fini, (evhtp_hook)on_request_fini, r);
    evhtp_request_set_hook(ev, evhtp_hook_on_error, (evhtp_hook)(void (*)(void))on_request_error,
                           r);

    struct strbuf allow = STRBUF_INIT;
    if (router_match(http_method_name(r), http_path(r), &r->route, r->params, &allow) !=
        ROUTER_FOUND)
        r->route = NULL;
    strbuf_free(&allow);

    bool streamed = r->route != NULL && (r->route->flags & ROUTE_STREAMED_BODY);
    const char *cl = evhtp_kv_find(headers, "Content-Length");
    if (!streamed && cl != NULL && strtoull(cl, NULL, 10) > srv.max_body)
        reject_early(r, headers);
    /* A streamed body's job starts now; an unauthorized one is discarded and
     * answered 401 once complete. */
    if (streamed && authorized(r))
        r->route->fn(r);
    return EVHTP_RES_OK;
}

static evhtp_res on_body(evhtp_request_t *ev, struct evbuffer *buf, void *arg EXECD_UNUSED)
{
    struct http_req *r = ev->cbarg;
    if (r->route != NULL && (r->route->flags & ROUTE_STREAMED_BODY))
        return bodyrelay_feed(r, buf);
    if (r->replied) {
        evbuffer_drain(buf, evbuffer_get_length(buf)); /* rejected: discard */
        return EVHTP_RES_OK;
    }
    if (evbuffer_get_length(ev->buffer_in) + evbuffer_get_length(buf) > srv.max_body) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        reject_early(r, ev->headers_in);
    }
    return EVHTP_RES_OK;
}

static void dispatch(evhtp_request_t *ev EXECD_UNUSED, void *arg)
{
    struct http_req *r = arg;
    if (r != NULL)
        r->body_done = true;
    if (r == NULL || r->replied)
        return;
    if (!authorized(r)) {
        reply_json_text(r, 401, UNAUTHORIZED_BODY, strlen(UNAUTHORIZED_BODY));
        return;
    }
    if (r->route != NULL && (r->route->flags & ROUTE_STREAMED_BODY)) {
        bodyrelay_end(r);
        return;
    }
    if (r->route != NULL) {
        r->route->fn(r);
        return;
    }
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

/*
 * libevhtp drops a connection whose request it cannot parse without a word,
 * and its parser refuses any header line, URI or chunk line over 8 KiB. Tell
 * the client why, as Go's server does (431 or 400, then close), unless part
 * of an answer was already sent. The socket is still open: libevhtp runs
 * this hook before it frees the connection.
 */
static void answer_parse_error(evhtp_connection_t *conn)
{
    static const char too_big[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                  "Content-Type: text/plain; charset=utf-8\r\n"
                                  "Content-Length: 35\r\nConnection: close\r\n\r\n"
                                  "431 Request Header Fields Too Large";
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\n"
                              "Content-Length: 15\r\nConnection: close\r\n\r\n"
                              "400 Bad Request";
    if (conn->parser == NULL)
        return;
    htpparse_error err = htparser_get_error(conn->parser);
    if (err == htparse_error_none)
        return;
    struct http_req *r = conn->request != NULL ? conn->request->cbarg : NULL;
    if ((r != NULL && r->replied) || evbuffer_get_length(bufferevent_get_output(conn->bev)) != 0)
        return;
    bool big = err == htparse_error_too_big;
    const char *msg = big ? too_big : bad;
    size_t len = big ? sizeof(too_big) - 1 : sizeof(bad) - 1;
    log_info("unparsable request (%s): answering %d", htparser_get_strerror(conn->parser),
             big ? 431 : 400);
    if (r != NULL) {
        r->replied = true;
        r->status = big ? 431 : 400;
    }
    if (send(conn->sock, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len)
        log_debug("cannot send the parse error answer: %s", strerror(errno));
}

static evhtp_res on_connection_fini(evhtp_connection_t *conn, void *arg)
{
    struct conn_entry *e = arg;
    answer_parse_error(conn);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        srv.conns = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    free(e);
    return EVHTP_RES_OK;
}

/* libevhtp's write callback, wrapped by on_writable (the same for every connection). */
static bufferevent_data_cb evhtp_writecb;

/*
 * libevent calls a bufferevent's write callback whenever writing is enabled
 * and the output is empty, also when nothing was written: libevhtp's resume
 * re-enables writing on connections that may already be idle between two
 * keep-alive requests, and libevhtp closes a connection whose write callback
 * finds no request. On an idle connection with nothing to write there is
 * nothing to do.
 */
static void on_writable(struct bufferevent *bev, void *arg)
{
    evhtp_connection_t *c = arg;
    if (c->request == NULL && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        return;
    evhtp_writecb(bev, arg);
}

static evhtp_res on_accept(evhtp_connection_t *conn, void *arg EXECD_UNUSED)
{
    int flags = fcntl(conn->sock, F_GETFD);
    if (flags < 0 || fcntl(conn->sock, F_SETFD, flags | FD_CLOEXEC) < 0) {
        log_error("cannot set FD_CLOEXEC on client socket: %s", strerror(errno));
        return EVHTP_RES_ERROR;
    }
    struct conn_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return EVHTP_RES_ERROR;
    e->conn = conn;
    e->next = srv.conns;
    if (srv.conns != NULL)
        srv.conns->prev = e;
    srv.conns = e;
    evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini, (evhtp_hook)on_connection_fini,
                              e);
    evhtp_connection_set_hook(conn, evhtp_hook_on_headers, (evhtp_hook)on_headers, NULL);
    evhtp_connection_set_hook(conn, evhtp_hook_on_read, (evhtp_hook)on_body, NULL);

    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *cbarg;
    bufferevent_getcb(conn->bev, &readcb, &writecb, &eventcb, &cbarg);
    evhtp_writecb = writecb;
    bufferevent_setcb(conn->bev, readcb, on_writable, eventcb, cbarg);
    return EVHTP_RES_OK;
}

void http_reconfigure(const struct config *cfg)
{
    free(srv.token);
    srv.token = strdup(cfg->access_token);
    srv.max_body = cfg->max_body_size;
    srv.idle.tv_sec = cfg->keepalive_ms / 1000;
    srv.idle.tv_usec = (cfg->keepalive_ms % 1000) * 1000;
    if (srv.htp != NULL)
        evhtp_set_timeouts(srv.htp, cfg->keepalive_ms > 0 ? &srv.idle : NULL, NULL);
}

int http_start(struct event_base *base, const struct config *cfg)
{
    /*
     * An upload passes through buffers of up to a megabyte that are freed as
     * soon as they are relayed. glibc would map and unmap each of them, and
     * the page faults of touching fresh pages cost more than the copying (8x
     * the CPU of a 1 GiB upload on a VM): keep such buffers in the heap.
     */
    if (mallopt(M_MMAP_THRESHOLD, HEAP_BUFFER_MAX) != 1 ||
        mallopt(M_TRIM_THRESHOLD, 4 * HEAP_BUFFER_MAX) != 1)
        log_warn("cannot tune the allocator for big request bodies");
    srv.base = base;
    srv.htp = evhtp_new(base, NULL);
    if (srv.htp == NULL) {
        log_error("cannot create the HTTP server");
        return -1;
    }
    evhtp_enable_flag(srv.htp, EVHTP_FLAG_ENABLE_NODELAY);
    evhtp_set_gencb(srv.htp, dispatch, NULL);
    evhtp_set_post_accept_cb(srv.htp, on_accept, NULL);
    http_reconfigure(cfg);

    char addr[128];
    snprintf(addr, sizeof(addr), "ipv4:%s", cfg->listen_addr);
    if (evhtp_bind_socket(srv.htp, addr, (uint16_t)cfg->port, 1024) < 0) {
        log_error("cannot listen on %s:%d: %s", cfg->listen_addr, cfg->port, strerror(errno));
        return -1;
    }
    log_info("listening on %s:%d", cfg->listen_addr, cfg->port);
    return 0;
}

void http_stop_accepting(void)
{
    if (srv.htp != NULL && srv.htp->server != NULL)
        evconnlistener_disable(srv.htp->server);
}

void http_free(void)
{
    while (srv.conns != NULL)
        evhtp_connection_free(srv.conns->conn); /* its fini hook unlinks it */
    if (srv.htp != NULL) {
        evhtp_unbind_socket(srv.htp);
        evhtp_free(srv.htp);
        srv.htp = NULL;
    }
    free(srv.token);
    srv.token = NULL;
}
