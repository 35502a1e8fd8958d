#include "http/evhtp_glue.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "xalloc.h"

static evhtp_connection_t *conn_of(evhtp_request_t *req)
{
    return evhtp_request_get_connection(req);
}

static struct bufferevent *bev_of(evhtp_request_t *req)
{
    return evhtp_connection_get_bev(conn_of(req));
}

/* ---- connections ------------------------------------------------------------------- */

/* libevhtp's write callback, wrapped by on_writable (the same for every connection). */
static bufferevent_data_cb evhtp_writecb;

/*
 * libevhtp's resume re-enables writing on connections that may already be idle between two
 * keep-alive requests, and its write callback frees a connection it finds without a
 * request. On an idle connection with nothing to write there is nothing to do.
 */
static void on_writable(struct bufferevent *bev, void *arg)
{
    evhtp_connection_t *c = arg;
    if (c->request == NULL && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        return;
    evhtp_writecb(bev, arg);
}

int glue_accept(evhtp_connection_t *c)
{
    int flags = fcntl(c->sock, F_GETFD);
    if (flags < 0 || fcntl(c->sock, F_SETFD, flags | FD_CLOEXEC) < 0) {
        log_error("cannot set FD_CLOEXEC on client socket: %s", strerror(errno));
        return -1;
    }
    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *cbarg;
    bufferevent_getcb(c->bev, &readcb, &writecb, &eventcb, &cbarg);
    evhtp_writecb = writecb;
    bufferevent_setcb(c->bev, readcb, on_writable, eventcb, cbarg);
    return 0;
}

int glue_listen(evhtp_t *htp, bool on)
{
    if (htp->server == NULL)
        return -1;
    return on ? evconnlistener_enable(htp->server) : evconnlistener_disable(htp->server);
}

/* The listener's error callback gets the listener's own argument (libevhtp's): ours is here. */
static struct {
    glue_accept_error_fn fn;
    void *arg;
} accept_error;

static void on_accept_error(struct evconnlistener *lev EXECD_UNUSED, void *arg EXECD_UNUSED)
{
    int err = EVUTIL_SOCKET_ERROR();
    accept_error.fn(err, accept_error.arg);
}

void glue_on_accept_error(evhtp_t *htp, glue_accept_error_fn fn, void *arg)
{
    accept_error.fn = fn;
    accept_error.arg = arg;
    if (htp->server != NULL)
        evconnlistener_set_error_cb(htp->server, on_accept_error);
}

int glue_listen_on(evhtp_t *htp, int fd)
{
    if (evutil_make_socket_nonblocking(fd) < 0)
        return -1;
    return evhtp_accept_socket(htp, fd, 0);
}

/* ---- answers ----------------------------------------------------------------------- */

/*
 * With output queued, resuming is exactly what libevhtp's deferred resume would do: let
 * the output drain, after which its write callback re-enables reading and handles
 * keep-alive. Its own resume would race the write event (see the header, 1).
 */
int glue_resume(evhtp_request_t *req)
{
    evhtp_connection_t *c = conn_of(req);
    struct bufferevent *bev = c->bev;
    if ((c->flags & EVHTP_CONN_FLAG_FREE_CONN) ||
        evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        evhtp_request_resume(req); /* a failed connection is freed on this path */
        return 0;
    }
    c->flags &= (uint16_t)~EVHTP_CONN_FLAG_PAUSED;
    c->flags |= EVHTP_CONN_FLAG_WAITING;
    if (bufferevent_enable(bev, EV_WRITE) != 0) {
        evhtp_request_resume(req);
        return -1;
    }
    return 0;
}

void glue_release(evhtp_request_t *req)
{
    evhtp_request_resume(req);
}

void glue_close_after(evhtp_request_t *req)
{
    req->flags &= (uint16_t)~EVHTP_REQ_FLAG_KEEPALIVE;
}

bool glue_keepalive(const evhtp_request_t *req)
{
    return (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) != 0;
}

/* The header line libevhtp adds to every answer that has no Content-Type. */
static const char default_ctype[] = "\r\nContent-Type: text/plain\r\n";

/*
 * Cuts the default Content-Type line out of the serialized head while it still waits in
 * the socket's output buffer. That buffer's start is frozen (only the socket's writer
 * drains it) and is thawed for the rewrite. The stripped copy is added before the original
 * is drained, so a failure leaves libevhtp's answer intact.
 */
static void strip_default_ctype(struct evbuffer *out)
{
    char head[2048];
    size_t len = evbuffer_get_length(out);
    struct evbuffer_ptr at = evbuffer_search(out, default_ctype, sizeof(default_ctype) - 1, NULL);
    if (at.pos < 0 || len > sizeof(head))
        return;
    if (evbuffer_unfreeze(out, 1) < 0) {
        log_error("cannot thaw the output buffer: an empty answer keeps libevhtp's Content-Type");
        return;
    }
    size_t cut = (size_t)at.pos + 2, cut_len = sizeof(default_ctype) - 3;
    if (evbuffer_copyout(out, head, len) != (ev_ssize_t)len) {
        log_error("cannot read an empty answer's head back");
    } else {
        memmove(head + cut, head + cut + cut_len, len - cut - cut_len);
        if (evbuffer_add(out, head, len - cut_len) < 0)
            log_error("out of memory: an empty answer keeps libevhtp's Content-Type");
        else if (evbuffer_drain(out, len) < 0)
            log_error("cannot drain an empty answer's original head");
    }
    if (evbuffer_freeze(out, 1) < 0)
        log_error("cannot freeze the output buffer's start again");
}

void glue_send_bare(evhtp_request_t *req, evhtp_res status)
{
    struct evbuffer *out = bufferevent_get_output(bev_of(req));
    bool alone = evbuffer_get_length(out) == 0; /* else pipelined: left as is */
    evhtp_send_reply(req, status);
    if (alone)
        strip_default_ctype(out);
}

int glue_send_file(evhtp_request_t *req, evhtp_res status, struct evbuffer_file_segment *seg,
                   int64_t length)
{
    int rc = 0;
    evhtp_send_reply_start(req, status);
    /* Behind the head the start wrote into the same buffer. */
    if (seg != NULL &&
        evbuffer_add_file_segment(bufferevent_get_output(bev_of(req)), seg, 0, length) < 0) {
        glue_close_after(req);
        rc = -1;
    }
    evhtp_send_reply_end(req);
    return rc;
}

/* ---- streams ----------------------------------------------------------------------- */

void glue_set_timeouts(evhtp_request_t *req, const struct timeval *rd, const struct timeval *wr)
{
    bufferevent_set_timeouts(bev_of(req), rd, wr);
}

struct evbuffer *glue_output(evhtp_request_t *req)
{
    return bufferevent_get_output(bev_of(req));
}

struct glue_watch {
    struct event *ev;
    glue_gone_fn fn;
    void *arg;
};

/* EOF means the client is gone; data means a pipelined request, left alone (unwatched). */
static void on_watch(evutil_socket_t fd, short what EXECD_UNUSED, void *arg)
{
    struct glue_watch *w = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        event_del(w->ev);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    event_del(w->ev);
    w->fn(w->arg); /* may free w */
}

struct glue_watch *glue_watch_disconnect(evhtp_request_t *req, glue_gone_fn fn, void *arg)
{
    struct glue_watch *w = xcalloc(1, sizeof(*w));
    w->fn = fn;
    w->arg = arg;
    w->ev = glue_socket_event(req, EV_READ | EV_PERSIST, on_watch, w);
    if (w->ev == NULL || event_add(w->ev, NULL) < 0) {
        glue_watch_free(w);
        return NULL;
    }
    return w;
}

void glue_watch_free(struct glue_watch *w)
{
    if (w == NULL)
        return;
    if (w->ev != NULL)
        event_free(w->ev);
    free(w);
}

/* ---- the socket itself ------------------------------------------------------------- */

evutil_socket_t glue_socket(evhtp_request_t *req)
{
    return conn_of(req)->sock;
}

struct event *glue_socket_event(evhtp_request_t *req, short what, event_callback_fn fn, void *arg)
{
    evhtp_connection_t *c = conn_of(req);
    return event_new(c->evbase, c->sock, what, fn, arg);
}

int glue_reads_take(evhtp_request_t *req)
{
    return bufferevent_disable(bev_of(req), EV_READ);
}

int glue_reads_give_back(evhtp_request_t *req)
{
    evhtp_connection_t *c = conn_of(req);
    if (c->flags & EVHTP_CONN_FLAG_PAUSED)
        return 0;
    return bufferevent_enable(c->bev, EV_READ);
}

ssize_t glue_read_input(evhtp_request_t *req, size_t max)
{
    evhtp_connection_t *c = conn_of(req);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec vec;
    evbuffer_unfreeze(in, 0);
    if (evbuffer_reserve_space(in, (ev_ssize_t)max, &vec, 1) != 1)
        xalloc_die("a client read buffer");
    ssize_t n = read(c->sock, vec.iov_base, max);
    int err = errno;
    if (n > 0)
        vec.iov_len = (size_t)n;
    evbuffer_commit_space(in, &vec, n > 0 ? 1 : 0);
    evbuffer_freeze(in, 0);
    errno = err;
    return n;
}

void glue_parse_input(evhtp_request_t *req)
{
    struct bufferevent *bev = bev_of(req);
    bufferevent_data_cb parse;
    void *parse_arg;
    bufferevent_getcb(bev, &parse, NULL, NULL, &parse_arg);
    parse(bev, parse_arg);
}

/* ---- answers written by hand (the port proxy) -------------------------------------- */

struct evbuffer *glue_input(evhtp_request_t *req)
{
    return bufferevent_get_input(bev_of(req));
}

int glue_set_write_max(evhtp_request_t *req, size_t max)
{
    return bufferevent_set_max_single_write(bev_of(req), max);
}

/* ---- taking a connection over ------------------------------------------------------ */

evutil_socket_t glue_take_over(evhtp_request_t *req, struct evbuffer *rest)
{
    evhtp_connection_t *c = conn_of(req);
    struct bufferevent *bev = evhtp_connection_take_ownership(c);
    evutil_socket_t fd = bufferevent_getfd(bev);
    int moved = evbuffer_add_buffer(rest, bufferevent_get_input(bev));
    /* The socket outlives the bufferevent and libevhtp's connection: it is ours now. */
    if (bufferevent_disable(bev, EV_READ | EV_WRITE) < 0 || bufferevent_setfd(bev, -1) < 0) {
        log_error("cannot detach a taken connection's socket from its buffer; closing it");
        fd = -1; /* the bufferevent closes it */
    }
    bufferevent_free(bev);
    evhtp_connection_free(c);
    if (fd >= 0 && moved < 0) {
        log_error("out of memory taking a connection over; closing it");
        close(fd);
        fd = -1;
    }
    return fd;
}

/* ---- unparsable requests ------------------------------------------------------------ */

int glue_parse_error(evhtp_connection_t *c, evhtp_request_t **req, const char **why)
{
    *req = c->request;
    *why = "";
    if (c->parser == NULL)
        return 0;
    htpparse_error err = htparser_get_error(c->parser);
    if (err == htparse_error_none || evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
        return 0;
    *why = htparser_get_strerror(c->parser);
    return err == htparse_error_too_big ? 431 : 400;
}

int glue_send_now(evhtp_connection_t *c, const char *data, size_t len)
{
    ssize_t n = send(c->sock, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)len)
        return 0;
    if (n >= 0)
        errno = EAGAIN;
    return -1;
}
