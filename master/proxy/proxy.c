#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "http/evhtp_glue.h"
#include "http/lifecycle.h"
#include "http/reply.h"
#include "http/server.h"
#include "log.h"
#include "metrics/selfstats.h"
#include "proxy/chunkscan.h"
#include "proxy/resphead.h"
#include "xalloc.h"

/* One read of the backend or of a tunnelled client. */
#define READ_MAX (256 * 1024)
/* Reads smaller than this are copied on, not moved: a moved buffer keeps its whole size. */
#define MOVE_MIN (READ_MAX / 4)
/* libevent writes 16 KiB per write event by default: the proxy's bulk goes in bigger ones. */
#define WRITE_MAX (1024 * 1024)
/* A backend on the loopback that has not accepted the connection by then never will. */
#define CONNECT_TIMEOUT_S 30

enum resp_state {
    R_CONNECTING,
    R_HEAD,   /* reading the answer's head */
    R_BODY,   /* passing its body on */
    R_TUNNEL, /* after a 101: raw bytes both ways */
    R_DONE,   /* the answer is complete (or the exchange failed) */
};

enum framing {
    F_NONE,          /* no body */
    F_LENGTH,        /* Content-Length */
    F_CHUNKED,       /* passed through as it is */
    F_CLOSE_RECHUNK, /* ends with the backend connection: re-chunked for the client */
    F_CLOSE_RAW,     /* the same for an HTTP/1.0 client: the client connection closes too */
};

struct proxy {
    struct http_req *r;
    int port;
    int fd; /* the backend connection, -1 once closed */
    struct event *up_rd, *up_wr;
    struct event *cl_rd;    /* a tunnel's reads of the client */
    struct evbuffer *to_up; /* for the backend: the head, then the body */
    struct evbuffer *in;    /* read from the backend, not passed on yet */
    struct evbuffer *out;   /* the client connection's output buffer */
    struct evbuffer_cb_entry *out_cb;
    struct glue_watch *gone; /* the client hanging up while the answer is awaited */
    enum resp_state state;
    enum framing framing;
    uint64_t left; /* of a sized answer */
    struct chunkscan scan;
    bool chunked_up;     /* the body goes to the backend chunked */
    bool body_done;      /* the request is read completely */
    bool upgrade;        /* the client asked for another protocol */
    bool http10;         /* the client speaks HTTP/1.0 */
    bool up_held;        /* backend reads wait for the client to catch up */
    bool cl_held;        /* client reads wait for the backend to catch up */
    bool up_eof, cl_eof; /* a tunnel's ends */
    bool close_client;   /* the client connection closes after the answer */
    bool early_502;      /* answered whole before the request was read: nothing to finish */
};

static const struct http_holder holder;

/* ---- targets ------------------------------------------------------------------------ */

enum proxy_target_rc proxy_target(const char *path, int *port, const char **rest)
{
    static const char prefix[] = "/proxy/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return PROXY_NO_PORT; /* "/proxy" alone */
    const char *p = path + sizeof(prefix) - 1, *slash = strchr(p, '/');
    size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
    *rest = slash != NULL ? slash : "/";
    if (len == 0)
        return PROXY_NO_PORT;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9' || len > 5)
            return PROXY_BAD_PORT;
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return PROXY_BAD_PORT;
    *port = (int)v;
    return PROXY_TARGET_OK;
}

/* ---- header fields ------------------------------------------------------------------ */

/* Fields that concern one connection only (RFC 9110 7.6.1), never forwarded. */
static bool hop_by_hop(const char *name, size_t len)
{
    static const char *const names[] = {"connection",          "keep-alive", "proxy-connection",
                                        "proxy-authenticate",  "te",         "trailer",
                                        "proxy-authorization", "upgrade",    "transfer-encoding"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
            return true;
    }
    return false;
}

/* A field the request's or answer's Connection field names is hop-by-hop too. */
static bool named_in(const char *connection, size_t clen, const char *name, size_t len)
{
    char token[128];
    if (connection == NULL || len >= sizeof(token))
        return false;
    memcpy(token, name, len);
    token[len] = '\0';
    return resphead_has_token(connection, clen, token);
}

static bool same(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* ---- the request ---------------------------------------------------------------------- */

struct head_ctx {
    struct evbuffer *b;
    const char *connection; /* the client's Connection field */
    const char *xff;        /* the client's X-Forwarded-For */
};

static int forward_field(evhtp_kv_t *kv, void *arg)
{
    struct head_ctx *h = arg;
    const char *conn = h->connection;
    if (hop_by_hop(kv->key, kv->klen) ||
        named_in(conn, conn != NULL ? strlen(conn) : 0, kv->key, kv->klen) ||
        same(kv->key, kv->klen, "X-Forwarded-Host") || same(kv->key, kv->klen, "X-Forwarded-For") ||
        same(kv->key, kv->klen, "X-Forwarded-Proto") || same(kv->key, kv->klen, "Expect") ||
        same(kv->key, kv->klen, "Content-Length") ||
        same(kv->key, kv->klen, "X-EXECD-ACCESS-TOKEN"))
        return 0;
    evbuffer_add(h->b, kv->key, kv->klen);
    evbuffer_add(h->b, ": ", 2);
    evbuffer_add(h->b, kv->val, kv->vlen);
    evbuffer_add(h->b, "\r\n", 2);
    return 0;
}

/* The client's address for X-Forwarded-For, or "" (a unix socket). */
static void client_address(struct http_req *r, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    out[0] = '\0';
    if (getpeername(glue_socket(r->ev), (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)size);
}

static void build_request(struct proxy *p, const char *rest)
{
    struct http_req *r = p->r;
    evhtp_request_t *ev = r->ev;
    const char *query = ev->uri != NULL ? (const char *)ev->uri->query_raw : NULL;
    const char *te = http_header(r, "Transfer-Encoding");
    const char *cl = http_header(r, "Content-Length");
    const char *upgrade = http_header(r, "Upgrade");
    struct head_ctx h = {p->to_up, http_header(r, "Connection"), http_header(r, "X-Forwarded-For")};
    char addr[INET6_ADDRSTRLEN];

    p->http10 = evhtp_request_get_proto(ev) == EVHTP_PROTO_10;
    p->chunked_up = te != NULL && strcasestr(te, "chunked") != NULL;
    p->upgrade = upgrade != NULL && h.connection != NULL &&
                 resphead_has_token(h.connection, strlen(h.connection), "upgrade");
    /* An HTTP/1.0 client gets no chunked answer: the backend is asked in HTTP/1.0 too. */
    evbuffer_add_printf(p->to_up, "%s %s%s%s HTTP/1.%d\r\n", http_method_name(r), rest,
                        query != NULL && *query ? "?" : "", query != NULL ? query : "",
                        p->http10 ? 0 : 1);
    evhtp_kvs_for_each(ev->headers_in, forward_field, &h);
    client_address(r, addr, sizeof(addr));
    if (addr[0] != '\0')
        evbuffer_add_printf(p->to_up, "X-Forwarded-For: %s%s%s\r\n", h.xff ? h.xff : "",
                            h.xff ? ", " : "", addr);
    evbuffer_add_printf(p->to_up, "X-Forwarded-Proto: http\r\n");
    if (p->upgrade)
        evbuffer_add_printf(p->to_up, "Connection: Upgrade\r\nUpgrade: %s\r\n", upgrade);
    else
        evbuffer_add_printf(p->to_up, "Connection: close\r\n");
    if (p->chunked_up)
        evbuffer_add_printf(p->to_up, "Transfer-Encoding: chunked\r\n");
    else if (cl != NULL)
        evbuffer_add_printf(p->to_up, "Content-Length: %s\r\n", cl);
    evbuffer_add(p->to_up, "\r\n", 2);
}

/* ---- the end of an exchange ----------------------------------------------------------- */

static void unhold_client(struct proxy *p);

static void close_backend(struct proxy *p)
{
    unhold_client(p);
    if (p->up_rd != NULL)
        event_free(p->up_rd);
    if (p->up_wr != NULL)
        event_free(p->up_wr);
    p->up_rd = p->up_wr = NULL;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void stop_client_reads(struct proxy *p)
{
    if (p->cl_rd != NULL)
        event_free(p->cl_rd);
    p->cl_rd = NULL;
    glue_watch_free(p->gone);
    p->gone = NULL;
}

/*
 * The answer is complete and the request read: libevhtp finishes the exchange once the
 * output is flushed, keeping the connection for the next request unless it must close.
 */
static void finish(struct proxy *p)
{
    struct http_req *r = p->r;
    p->state = R_DONE;
    close_backend(p);
    stop_client_reads(p);
    if (!p->body_done)
        return; /* finished by proxy_body_end */
    if (p->close_client)
        glue_close_after(r->ev);
    evhtp_send_reply_end(r->ev);
    http_resume(r);
}

/*
 * The exchange cannot go on: before any of the answer was sent the client gets 502 Bad
 * Gateway, else its connection closes (a short body is how HTTP tells a broken answer).
 */
static void fail(struct proxy *p, const char *why)
{
    struct http_req *r = p->r;
    log_info("%s %s: proxy to port %d: %s", http_method_name(r), http_path(r), p->port, why);
    if (!r->replied) {
        close_backend(p);
        stop_client_reads(p);
        p->state = R_DONE;
        if (!p->body_done) {
            http_answer_early(r);
            p->early_502 = true;
        }
        reply_body(r, 502, "text/plain; charset=utf-8", "Bad Gateway", 11);
        return;
    }
    p->close_client = true;
    finish(p);
}

/* ---- backpressure ------------------------------------------------------------------- */

static void hold_client(struct proxy *p)
{
    if (p->cl_held || evbuffer_get_length(p->to_up) <= PROXY_HIGH)
        return;
    p->cl_held = true;
    if (p->cl_rd != NULL)
        event_del(p->cl_rd);
    else if (glue_reads_take(p->r->ev) != 0)
        log_error("proxy: cannot stop reading the client");
}

/* Client reads go on: the backend caught up, or is gone (the rest is dropped). */
static void unhold_client(struct proxy *p)
{
    if (!p->cl_held)
        return;
    p->cl_held = false;
    if (p->cl_rd != NULL) {
        if (event_add(p->cl_rd, NULL) != 0)
            log_error("proxy: cannot read the client again");
    } else if (glue_reads_give_back(p->r->ev) != 0) {
        log_error("proxy: cannot read the client again");
    }
}

static void release_client(struct proxy *p)
{
    if (evbuffer_get_length(p->to_up) <= PROXY_LOW)
        unhold_client(p);
}

static void end_tunnel_if_drained(struct proxy *p);

/* The client's output changed: backend reads go on once it drained enough. */
static void on_out_change(struct evbuffer *buf, const struct evbuffer_cb_info *info EXECD_UNUSED,
                          void *arg)
{
    struct proxy *p = arg;
    size_t len = evbuffer_get_length(buf);
    if (p->up_held && len <= PROXY_LOW && p->up_rd != NULL) {
        p->up_held = false;
        if (event_add(p->up_rd, NULL) != 0)
            log_error("proxy: cannot read the backend again");
    }
    if (len == 0 && p->state == R_TUNNEL)
        end_tunnel_if_drained(p);
}

/* Moves n bytes from `from` to the client (or the backend): big runs by reference. */
static void hand_on(struct evbuffer *from, struct evbuffer *to, size_t n)
{
    if (n >= MOVE_MIN) {
        evbuffer_remove_buffer(from, to, n);
        return;
    }
    struct evbuffer_iovec vec[8];
    int nv = evbuffer_peek(from, (ev_ssize_t)n, NULL, vec, 8);
    size_t left = n;
    for (int i = 0; i < nv && i < 8 && left > 0; i++) {
        size_t k = vec[i].iov_len < left ? vec[i].iov_len : left;
        evbuffer_add(to, vec[i].iov_base, k);
        left -= k;
    }
    evbuffer_drain(from, n - left);
    if (left > 0)
        evbuffer_remove_buffer(from, to, left);
}

static void to_client(struct proxy *p, size_t n)
{
    hand_on(p->in, p->out, n);
    selfstats_proxied(0, n);
    if (!p->up_held && evbuffer_get_length(p->out) > PROXY_HIGH && p->up_rd != NULL) {
        p->up_held = true;
        event_del(p->up_rd);
    }
}

/* ---- the answer --------------------------------------------------------------------- */

static bool no_body(const struct proxy *p, int status)
{
    return p->r->ev->method == htp_method_HEAD || status == 204 || status == 304 ||
           (status >= 100 && status < 200);
}

static void choose_framing(struct proxy *p, const struct resphead *h, struct evbuffer *head)
{
    size_t te_len, cl_len;
    const char *te = resphead_get(h, "Transfer-Encoding", &te_len);
    const char *cl = resphead_get(h, "Content-Length", &cl_len);
    if (h->status == 101) {
        p->framing = F_NONE;
    } else if (no_body(p, h->status)) {
        p->framing = F_NONE;
        if (cl != NULL) /* a HEAD or 304 answer tells the length of what it omits */
            evbuffer_add_printf(head, "Content-Length: %.*s\r\n", (int)cl_len, cl);
    } else if (te != NULL && resphead_has_token(te, te_len, "chunked")) {
        p->framing = F_CHUNKED;
        chunkscan_init(&p->scan);
        /* The body passes unchanged, so do its codings (a "gzip, chunked" stays gzip). */
        evbuffer_add_printf(head, "Transfer-Encoding: %.*s\r\n", (int)te_len, te);
    } else if (cl != NULL && cl_len > 0 && cl_len < 20 && strspn(cl, "0123456789") >= cl_len) {
        p->framing = F_LENGTH;
        p->left = strtoull(cl, NULL, 10);
        evbuffer_add_printf(head, "Content-Length: %.*s\r\n", (int)cl_len, cl);
    } else if (!p->http10) {
        p->framing = F_CLOSE_RECHUNK;
        evbuffer_add_printf(head, "Transfer-Encoding: chunked\r\n");
    } else {
        p->framing = F_CLOSE_RAW;
        p->close_client = true;
    }
}

/* Writes the answer's head for the client (the body's framing is ours to choose). */
static void send_head(struct proxy *p, const struct resphead *h)
{
    struct http_req *r = p->r;
    struct evbuffer *head = evbuffer_new();
    if (head == NULL)
        xalloc_die("a proxied answer's head");
    size_t conn_len;
    const char *conn = resphead_get(h, "Connection", &conn_len);
    bool tunnel = h->status == 101 && p->upgrade;

    evbuffer_add_printf(head, "HTTP/1.%d %d %.*s\r\n", p->http10 ? 0 : 1, h->status,
                        (int)h->reason_len, h->reason);
    for (int i = 0; i < h->n_fields; i++) {
        const struct resphead_field *f = &h->fields[i];
        if (hop_by_hop(f->name, f->name_len) || named_in(conn, conn_len, f->name, f->name_len) ||
            same(f->name, f->name_len, "Content-Length"))
            continue;
        evbuffer_add_printf(head, "%.*s: %.*s\r\n", (int)f->name_len, f->name, (int)f->value_len,
                            f->value);
    }
    choose_framing(p, h, head);
    if (tunnel) {
        size_t up_len;
        const char *up = resphead_get(h, "Upgrade", &up_len);
        evbuffer_add_printf(head, "Connection: Upgrade\r\nUpgrade: %.*s\r\n", (int)up_len,
                            up != NULL ? up : "");
    } else if (p->close_client || !glue_keepalive(r->ev)) {
        p->close_client = true;
        evbuffer_add_printf(head, "Connection: close\r\n");
    } else if (p->http10) {
        evbuffer_add_printf(head, "Connection: keep-alive\r\n");
    }
    evbuffer_add(head, "\r\n", 2);
    evbuffer_add_buffer(p->out, head);
    evbuffer_free(head);
    r->replied = true;
    r->status = h->status;
}

static void start_tunnel(struct proxy *p);

/* The head is in p->in: parses it, writes it for the client. Returns false to wait for more. */
static bool take_head(struct proxy *p)
{
    for (;;) {
        size_t len = evbuffer_get_length(p->in);
        const char *buf = (const char *)evbuffer_pullup(p->in, (ev_ssize_t)len);
        long hl = resphead_length(buf, len);
        if (hl == 0)
            return false;
        struct resphead h;
        if (hl < 0 || resphead_parse(buf, (size_t)hl, &h) < 0) {
            fail(p, hl < 0 ? "the answer's head is too long" : "the answer's head is malformed");
            return false;
        }
        if (h.status >= 100 && h.status < 200 && h.status != 101) {
            evbuffer_drain(p->in, (size_t)hl); /* an interim answer (100 Continue, 103) */
            continue;
        }
        if (h.status == 101 && p->upgrade && !p->body_done) {
            /* The request's body still arrives through libevhtp: no tunnel under it. */
            fail(p, "a 101 answer before the end of the request");
            return false;
        }
        send_head(p, &h);
        evbuffer_drain(p->in, (size_t)hl);
        if (h.status == 101 && p->upgrade)
            start_tunnel(p);
        else
            p->state = p->framing == F_NONE ? R_DONE : R_BODY;
        if (p->state == R_DONE)
            finish(p);
        return p->state != R_DONE;
    }
}

/* Passes what p->in holds of the body on to the client. */
static void pass_body(struct proxy *p)
{
    size_t len = evbuffer_get_length(p->in);
    if (len == 0)
        return;
    switch (p->framing) {
    case F_LENGTH: {
        size_t take = p->left < len ? (size_t)p->left : len;
        to_client(p, take);
        p->left -= take;
        if (p->left == 0)
            finish(p);
        break;
    }
    case F_CHUNKED: {
        struct evbuffer_iovec vec[16];
        int nv = evbuffer_peek(p->in, -1, NULL, vec, 16);
        size_t take = 0;
        for (int i = 0; i < nv && i < 16 && p->scan.state != CS_DONE; i++) {
            size_t k = chunkscan_feed(&p->scan, vec[i].iov_base, vec[i].iov_len);
            take += k;
            if (p->scan.state == CS_ERROR) {
                fail(p, "the answer's chunked body is malformed");
                return;
            }
        }
        to_client(p, take);
        if (p->scan.state == CS_DONE)
            finish(p);
        break;
    }
    case F_CLOSE_RECHUNK:
        evbuffer_add_printf(p->out, "%zx\r\n", len);
        to_client(p, len);
        evbuffer_add(p->out, "\r\n", 2);
        break;
    default: /* F_CLOSE_RAW */
        to_client(p, len);
        break;
    }
}

/* The backend closed its side. */
static void backend_ended(struct proxy *p)
{
    switch (p->state) {
    case R_BODY:
        if (p->framing == F_CLOSE_RECHUNK)
            evbuffer_add(p->out, "0\r\n\r\n", 5);
        if (p->framing == F_CLOSE_RECHUNK || p->framing == F_CLOSE_RAW)
            finish(p);
        else
            fail(p, "the backend closed the connection in the middle of the answer");
        break;
    case R_TUNNEL:
        p->up_eof = true;
        if (p->up_rd != NULL)
            event_del(p->up_rd);
        end_tunnel_if_drained(p);
        break;
    default:
        fail(p, "the backend closed the connection without an answer");
        break;
    }
}

/* One read() of up to READ_MAX bytes of fd onto the end of buf: read()'s result and errno. */
static ssize_t read_into(struct evbuffer *buf, int fd)
{
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(buf, READ_MAX, &vec, 1) != 1)
        xalloc_die("a proxy read buffer");
    ssize_t n = read(fd, vec.iov_base, READ_MAX);
    int err = errno;
    vec.iov_len = n > 0 ? (size_t)n : 0;
    evbuffer_commit_space(buf, &vec, 1);
    errno = err;
    return n;
}

static void on_up_read(evutil_socket_t fd, short what EXECD_UNUSED, void *arg)
{
    struct proxy *p = arg;
    ssize_t n = read_into(p->in, fd);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        fail(p, strerror(errno));
        return;
    }
    if (n == 0) {
        backend_ended(p);
        return;
    }
    if (p->state == R_HEAD && !take_head(p))
        return;
    if (p->state == R_BODY)
        pass_body(p);
    else if (p->state == R_TUNNEL)
        to_client(p, evbuffer_get_length(p->in));
    else if (p->state == R_DONE)
        evbuffer_drain(p->in, evbuffer_get_length(p->in)); /* past the answer: ignored */
}

/* ---- the backend connection ------------------------------------------------------------- */

/* The backend accepted the connection: its answer is awaited. Returns 0 or -1 (failed). */
static int connected(struct proxy *p)
{
    p->state = R_HEAD;
    if (event_add(p->up_rd, NULL) != 0) {
        fail(p, "cannot watch the backend connection");
        return -1;
    }
    return 0;
}

/* Writes what is queued for the backend; stops watching for writability once it is all out. */
static void write_backend(struct proxy *p)
{
    size_t before = evbuffer_get_length(p->to_up);
    int n = evbuffer_write(p->to_up, p->fd);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        /* The backend stopped reading (it may have answered already): drop the rest. */
        log_debug("proxy to port %d: %s", p->port, strerror(errno));
        evbuffer_drain(p->to_up, before);
    }
    release_client(p);
    if (evbuffer_get_length(p->to_up) == 0) {
        event_del(p->up_wr);
        end_tunnel_if_drained(p);
    }
}

static void on_up_write(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *p = arg;
    if (p->state == R_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (what & EV_TIMEOUT)
            err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            fail(p, strerror(err));
            return;
        }
        if (connected(p) < 0)
            return;
    }
    write_backend(p);
}

static void want_write(struct proxy *p)
{
    if (p->up_wr != NULL && p->state != R_CONNECTING && event_add(p->up_wr, NULL) != 0)
        fail(p, "cannot write to the backend");
}

static int connect_backend(struct proxy *p)
{
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS)
        return -1;
    int one = 1;
    if (setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        log_debug("proxy: TCP_NODELAY: %s", strerror(errno));
    p->up_rd = event_new(http_base(), p->fd, EV_READ | EV_PERSIST, on_up_read, p);
    p->up_wr = event_new(http_base(), p->fd, EV_WRITE | EV_PERSIST, on_up_write, p);
    if (p->up_rd == NULL || p->up_wr == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /*
     * On the loopback the handshake is usually over when connect() returns: the head goes
     * out at once, a loop turn earlier. A connection still on its way refuses the write
     * with EAGAIN and is waited for.
     */
    ssize_t n = evbuffer_write(p->to_up, p->fd);
    if (n < 0 && errno != EAGAIN)
        return -1;
    struct timeval limit = {CONNECT_TIMEOUT_S, 0};
    if (n > 0) {
        if (connected(p) < 0)
            return 0; /* answered */
        if (evbuffer_get_length(p->to_up) > 0 && event_add(p->up_wr, NULL) != 0)
            return -1;
    } else if (event_add(p->up_wr, &limit) != 0) {
        return -1;
    }
    return 0;
}

/* ---- tunnels -------------------------------------------------------------------------- */

/*
 * A tunnel ends once one side has closed and what it sent has reached the other: the
 * client connection then closes too (WebSocket ends with its own close handshake).
 */
static void end_tunnel_if_drained(struct proxy *p)
{
    if (p->state != R_TUNNEL)
        return;
    if (!(p->up_eof && evbuffer_get_length(p->out) == 0) &&
        !(p->cl_eof && evbuffer_get_length(p->to_up) == 0))
        return;
    p->close_client = true;
    finish(p);
}

static void on_client_read(evutil_socket_t fd, short what EXECD_UNUSED, void *arg)
{
    struct proxy *p = arg;
    ssize_t n = read_into(p->to_up, fd);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        p->cl_eof = true;
        event_del(p->cl_rd);
        end_tunnel_if_drained(p);
        return;
    }
    selfstats_proxied((size_t)n, 0);
    want_write(p);
    hold_client(p);
}

static void start_tunnel(struct proxy *p)
{
    struct http_req *r = p->r;
    p->state = R_TUNNEL;
    glue_watch_free(p->gone); /* the tunnel reads the client itself */
    p->gone = NULL;
    /* What the client sent right behind its request belongs to the new protocol. */
    struct evbuffer *early = glue_input(r->ev);
    size_t n = evbuffer_get_length(early);
    if (n > 0) {
        evbuffer_remove_buffer(early, p->to_up, n);
        want_write(p);
    }
    /* Long quiet spells are normal in a tunnel: no idle timeout, the write timeout still. */
    glue_set_timeouts(r->ev, NULL, http_write_timeout());
    p->cl_rd = glue_socket_event(r->ev, EV_READ | EV_PERSIST, on_client_read, p);
    if (p->cl_rd == NULL || event_add(p->cl_rd, NULL) != 0)
        fail(p, "cannot read the client");
    if (evbuffer_get_length(p->in) > 0)
        to_client(p, evbuffer_get_length(p->in));
}

/* ---- the request's body ----------------------------------------------------------------- */

static evhtp_res on_body(struct http_req *r, struct evbuffer *buf)
{
    struct proxy *p = r->held;
    size_t len = evbuffer_get_length(buf);
    if (p->fd < 0 || p->state == R_DONE || len == 0) {
        evbuffer_drain(buf, len); /* no one to send it to */
        return EVHTP_RES_OK;
    }
    if (p->chunked_up)
        evbuffer_add_printf(p->to_up, "%zx\r\n", len);
    evbuffer_add_buffer(p->to_up, buf);
    if (p->chunked_up)
        evbuffer_add(p->to_up, "\r\n", 2);
    selfstats_proxied(len, 0);
    want_write(p);
    hold_client(p);
    return EVHTP_RES_OK;
}

static void on_client_gone(void *arg);

static void on_body_end(struct http_req *r)
{
    struct proxy *p = r->held;
    p->body_done = true;
    /*
     * A whole answer sent while the request was read ends the exchange by itself once it
     * is flushed: pausing here would hold the connection (and its descriptor) for good.
     */
    if (p->early_502)
        return;
    http_pause(r); /* the next request on the connection waits for this answer */
    if (p->chunked_up && p->fd >= 0 && p->state != R_DONE) {
        evbuffer_add(p->to_up, "0\r\n\r\n", 5);
        want_write(p);
    }
    if (p->state == R_DONE) {
        if (r->replied)
            finish(p);
        return;
    }
    if (p->state != R_TUNNEL && p->gone == NULL)
        p->gone = glue_watch_disconnect(r->ev, on_client_gone, p);
}

/* ---- the request going away ----------------------------------------------------------- */

static void release(struct proxy *p)
{
    close_backend(p);
    stop_client_reads(p);
    if (p->out_cb != NULL)
        evbuffer_remove_cb_entry(p->out, p->out_cb);
    p->out_cb = NULL;
}

static void on_failed(struct http_req *r)
{
    struct proxy *p = r->held;
    log_debug("%s %s: the client connection failed", http_method_name(r), http_path(r));
    release(p);
    p->state = R_DONE;
}

static void on_freed(struct http_req *r)
{
    struct proxy *p = r->held;
    release(p);
    evbuffer_free(p->to_up);
    evbuffer_free(p->in);
    selfstats_proxy_closed();
    free(p);
    r->held = NULL;
    r->holder = NULL;
}

static void on_client_gone(void *arg)
{
    struct proxy *p = arg;
    struct http_req *r = p->r;
    log_debug("%s %s: the client hung up", http_method_name(r), http_path(r));
    on_failed(r);
    http_release(r);
}

static const struct http_holder holder = {
    .failed = on_failed, .freed = on_freed, .body = on_body, .body_end = on_body_end};

void proxy_start(struct http_req *r, int port, const char *rest)
{
    struct proxy *p = xcalloc(1, sizeof(*p));
    p->r = r;
    p->port = port;
    p->fd = -1;
    p->to_up = evbuffer_new();
    p->in = evbuffer_new();
    if (p->to_up == NULL || p->in == NULL)
        xalloc_die("proxy buffers");
    r->holder = &holder;
    r->held = p;
    selfstats_proxy_opened();
    build_request(p, rest);
    p->out = glue_output(r->ev);
    p->out_cb = evbuffer_add_cb(p->out, on_out_change, p);
    if (glue_set_write_max(r->ev, WRITE_MAX) != 0)
        log_debug("proxy: cannot raise the write size");
    if (connect_backend(p) < 0)
        fail(p, strerror(errno));
}
