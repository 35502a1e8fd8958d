#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common.h"
#include "config.h"
#include "http/evhtp_glue.h"
#include "http/lifecycle.h"
#include "http/listener.h"
#include "http/websocket.h"
#include "http/request.h"
#include "list.h"
#include "log.h"
#include "metrics/hostmetrics.h"
#include "metrics/selfstats.h"
#include "metrics/watch.h"
#include "relay/job.h"
#include "relay/livelimit.h"
#include "relay/waitq.h"
#include "xalloc.h"

#define AUTH_HEADER "X-EXECD-ACCESS-TOKEN"
/* Allocations up to this size come from the heap and are reused (see http_start). */
#define HEAP_BUFFER_MAX (4 * 1024 * 1024)

/* libevhtp does not keep a list of its connections; we do, to close them at exit. */
struct conn_entry {
    evhtp_connection_t *conn;
    struct list node;
};

static struct {
    struct event_base *base;
    evhtp_t *htp;
    char *token;
    uint64_t max_body;
    int max_headers;
    uint64_t max_header_bytes;
    struct timeval idle;
    struct timeval write;
    struct list conns;
    char address[INET6_ADDRSTRLEN + 128]; /* where connections are accepted */
    int port;                             /* the port of that address (0: none) */
} srv = {.conns = LIST_HEAD_INIT(srv.conns)};

struct event_base *http_base(void)
{
    return srv.base;
}

uint64_t http_max_body(void)
{
    return srv.max_body;
}

int http_max_headers(void)
{
    return srv.max_headers;
}

uint64_t http_max_header_bytes(void)
{
    return srv.max_header_bytes;
}

static const struct timeval *nonzero(const struct timeval *tv)
{
    return tv->tv_sec > 0 || tv->tv_usec > 0 ? tv : NULL;
}

const struct timeval *http_idle_timeout(void)
{
    return nonzero(&srv.idle);
}

const struct timeval *http_write_timeout(void)
{
    return nonzero(&srv.write);
}

static void set_ms(struct timeval *tv, int64_t ms)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

bool http_authorized(const struct http_req *r)
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

/*
 * libevhtp drops a connection whose request it cannot parse without a word,
 * and its parser refuses any header line, URI or chunk line over 8 KiB (as
 * does our header hook past the header limits). Tell the client why, as Go's
 * server does (431 or 400, then close), unless part of an answer was already
 * sent. The socket is still open: libevhtp runs this hook before it frees the
 * connection.
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
    evhtp_request_t *ev;
    const char *why;
    int status = glue_parse_error(conn, &ev, &why);
    struct http_req *r = ev != NULL ? ev->cbarg : NULL;
    if (status == 0 || (r != NULL && r->replied))
        return;
    if (r != NULL && r->headers_too_big)
        status = 431;
    bool big = status == 431;
    log_info("unparsable request (%s): answering %d", why, status);
    if (r != NULL) {
        r->replied = true;
        r->status = status;
    }
    if (glue_send_now(conn, big ? too_big : bad, big ? sizeof(too_big) - 1 : sizeof(bad) - 1) < 0)
        log_debug("cannot send the parse error answer: %s", strerror(errno));
}

static evhtp_res on_connection_fini(evhtp_connection_t *conn, void *arg)
{
    struct conn_entry *e = arg;
    answer_parse_error(conn);
    list_del(&e->node);
    free(e);
    listener_closed();
    return EVHTP_RES_OK;
}

static evhtp_res on_accept(evhtp_connection_t *conn, void *arg EXECD_UNUSED)
{
    if (glue_accept(conn) < 0)
        return EVHTP_RES_ERROR;
    struct conn_entry *e = xcalloc(1, sizeof(*e));
    e->conn = conn;
    list_add_head(&srv.conns, &e->node);
    listener_opened();
    evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini, (evhtp_hook)on_connection_fini,
                              e);
    http_lifecycle_attach(conn);
    return EVHTP_RES_OK;
}

void http_connection_taken(evhtp_connection_t *conn)
{
    list_each_safe(&srv.conns, it, nx)
    {
        struct conn_entry *e = list_entry(it, struct conn_entry, node);
        if (e->conn == conn) {
            list_del(&e->node);
            free(e);
            return;
        }
    }
}

void http_reconfigure(const struct config *cfg)
{
    free(srv.token);
    srv.token = xstrdup(cfg->access_token);
    srv.max_body = cfg->max_body_size;
    srv.max_headers = cfg->max_headers;
    srv.max_header_bytes = cfg->max_header_size;
    set_ms(&srv.idle, cfg->keepalive_ms);
    set_ms(&srv.write, cfg->write_timeout_ms);
    waitq_configure(cfg->worker_wait_ms);
    hostmetrics_configure(cfg->cgroup_root);
    job_configure(cfg->max_executions);
    struct strbuf err = STRBUF_INIT;
    int warm = config_parse_pool(cfg->kernel_pool, NULL, &err);
    if (warm < 0) {
        log_error("kernel-pool: %s", err.data); /* checked when the configuration was loaded */
        warm = 0;
    }
    livelimit_configure(cfg->max_kernels, cfg->max_sessions, warm);
    strbuf_free(&err);
    if (srv.htp != NULL) {
        evhtp_set_timeouts(srv.htp, http_idle_timeout(), http_write_timeout());
        listener_configure(cfg);
    }
}

/* The address a listening socket is bound to, as text, and its port (0: none). */
static int describe_socket(int fd, char *out, size_t size)
{
    struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        snprintf(out, size, "fd %d (getsockname: %s)", fd, strerror(errno));
    else if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)))
        snprintf(out, size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    else if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
        snprintf(out, size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    else if (ss.ss_family == AF_UNIX)
        snprintf(out, size, "unix:%.*s", (int)sizeof(un->sun_path), un->sun_path);
    else
        snprintf(out, size, "fd %d (address family %d)", fd, (int)ss.ss_family);
    if (ss.ss_family == AF_INET)
        return ntohs(in->sin_port);
    return ss.ss_family == AF_INET6 ? ntohs(in6->sin6_port) : 0;
}

/* Socket activation: serve on the listening socket systemd handed over. */
static int listen_inherited(int fd)
{
    int type = 0, listening = 0;
    socklen_t tlen = sizeof(type), llen = sizeof(listening);
    errno = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) < 0 || type != SOCK_STREAM ||
        !listening) {
        log_error("socket activation: fd %d is not a listening stream socket%s%s", fd,
                  errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
        return -1;
    }
    if (glue_listen_on(srv.htp, fd) < 0) {
        log_error("socket activation: cannot accept on fd %d: %s", fd, strerror(errno));
        return -1;
    }
    srv.port = describe_socket(fd, srv.address, sizeof(srv.address));
    log_info("socket activation: fd %d (%s); -listen and -port are not used", fd, srv.address);
    return 0;
}

const char *http_listen_address(void)
{
    return srv.address;
}

int http_listen_port(void)
{
    return srv.port;
}

int http_start(struct event_base *base, const struct config *cfg, int inherited_fd)
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
    selfstats_init();
    srv.htp = evhtp_new(base, NULL);
    if (srv.htp == NULL) {
        log_error("cannot create the HTTP server");
        return -1;
    }
    evhtp_enable_flag(srv.htp, EVHTP_FLAG_ENABLE_NODELAY);
    evhtp_set_gencb(srv.htp, http_lifecycle_dispatch, NULL);
    evhtp_set_post_accept_cb(srv.htp, on_accept, NULL);
    http_reconfigure(cfg);
    if (inherited_fd >= 0)
        return listen_inherited(inherited_fd) < 0 ? -1 : listener_start(base, srv.htp, cfg);

    char addr[128];
    snprintf(addr, sizeof(addr), "ipv4:%s", cfg->listen_addr);
    if (evhtp_bind_socket(srv.htp, addr, (uint16_t)cfg->port, 1024) < 0) {
        log_error("cannot listen on %s:%d: %s", cfg->listen_addr, cfg->port, strerror(errno));
        return -1;
    }
    snprintf(srv.address, sizeof(srv.address), "%s:%d", cfg->listen_addr, cfg->port);
    srv.port = cfg->port;
    return listener_start(base, srv.htp, cfg);
}

void http_serve(void)
{
    listener_ready();
    log_info("listening on %s", srv.address);
}

void http_stop_accepting(void)
{
    listener_stop();
}

void http_free(void)
{
    listener_stop();
    while (!list_empty(&srv.conns)) /* each one's fini hook unlinks it */
        evhtp_connection_free(list_first(&srv.conns, struct conn_entry, node)->conn);
    if (srv.htp != NULL) {
        evhtp_unbind_socket(srv.htp);
        evhtp_free(srv.htp);
        srv.htp = NULL;
    }
    ws_free_all();
    listener_free();
    watch_free();
    hostmetrics_free();
    selfstats_free();
    free(srv.token);
    srv.token = NULL;
}
