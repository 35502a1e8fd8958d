/*
 * A kernel's ZeroMQ sockets (shell, control, iopub, heartbeat) on the worker's event
 * loop: connecting, draining on wake-ups, sending signed messages.
 */
#include "jupyter/kernel_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "common.h"
#include "core/evt.h"
#include "log.h"

/* Messages handled per socket wake-up before yielding to the loop (fairness). */
#define DRAIN_BATCH 64
/* Frames kept per message: identities + 6 + buffers; extra buffers are dropped. */
#define MAX_FRAMES 32
/*
 * Until a starting kernel binds, connecting fails and ZeroMQ retries with backoff: capped
 * near the kernel_info interval, so a kernel that takes seconds to start (tslab, a JVM)
 * is reached at most this late after it listens. Retries are on this machine only.
 */
#define ZMQ_RECONNECT_MS 100
#define ZMQ_RECONNECT_MAX_MS 300

static void *zctx;

static void *zmq_context(void)
{
    /* Created on first use, i.e. in the worker after the fork, never inherited. */
    if (zctx == NULL) {
        zctx = zmq_ctx_new();
        if (zctx == NULL) {
            log_error("zmq_ctx_new: %s", zmq_strerror(errno));
            return NULL;
        }
        /* Closing the context must not wait for unsent messages. */
        zmq_ctx_set(zctx, ZMQ_BLOCKY, 0);
    }
    return zctx;
}

void ksock_term(void)
{
    if (zctx != NULL) {
        zmq_ctx_term(zctx);
        zctx = NULL;
    }
}

static void sock_close(struct ksock *ks)
{
    evt_free(&ks->ev);
    if (ks->zs != NULL) {
        zmq_close(ks->zs);
        ks->zs = NULL;
    }
}

void ksock_close_all(struct kernel *k)
{
    sock_close(&k->shell);
    sock_close(&k->control);
    sock_close(&k->iopub);
    sock_close(&k->hb);
}

/*
 * ZMQ_FD is edge-triggered: it only signals a change, so after a wake-up (and
 * after any send, which can consume the signal) the socket must be drained
 * while ZMQ_EVENTS says POLLIN. A send schedules this through event_active.
 */
void ksock_kick(struct ksock *ks)
{
    if (ks->ev != NULL)
        event_active(ks->ev, EV_READ, 0);
}

/* Receives one multipart message. Returns its frame count, 0 when none, -1 on error. */
static int recv_multipart(struct ksock *ks, zmq_msg_t *parts, size_t *nparts)
{
    size_t n = 0;
    bool more = true;
    *nparts = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, ks->zs, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            if (e == EAGAIN && n == 0)
                return 0;
            if (e == EINTR)
                continue;
            log_warn("kernel %s: %s recv: %s", ks->k->name, ks->name, zmq_strerror(e));
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (n < MAX_FRAMES)
            parts[n++] = m;
        else
            zmq_msg_close(&m);
    }
    *nparts = n;
    return (int)n;
}

void ksock_drain(struct ksock *ks)
{
    struct kernel *k = ks->k;
    for (int handled = 0; ks->zs != NULL && !k->doomed; handled++) {
        if (handled == DRAIN_BATCH) {
            ksock_kick(ks); /* more next loop iteration */
            return;
        }
        int events = 0;
        size_t sz = sizeof(events);
        if (zmq_getsockopt(ks->zs, ZMQ_EVENTS, &events, &sz) < 0) {
            log_warn("kernel %s: %s ZMQ_EVENTS: %s", k->name, ks->name, zmq_strerror(errno));
            return;
        }
        if (!(events & ZMQ_POLLIN))
            return;
        zmq_msg_t parts[MAX_FRAMES];
        size_t n;
        if (recv_multipart(ks, parts, &n) <= 0)
            return;
        struct jmsg_frame f[MAX_FRAMES];
        for (size_t i = 0; i < n; i++) {
            f[i].data = zmq_msg_data(&parts[i]);
            f[i].len = zmq_msg_size(&parts[i]);
        }
        klife_on_message(k, ks, f, n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}

static void on_sock(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ksock *ks = arg;
    struct kernel *k = ks->k;
    kernel_enter(k);
    ksock_drain(ks);
    kernel_leave(k);
}

static void endpoint(const struct kernel *k, int port, struct strbuf *out)
{
    if (strcmp(k->transport, "ipc") == 0)
        strbuf_printf(out, "ipc://%s-%d", k->ip, port);
    else
        strbuf_printf(out, "tcp://%s:%d", k->ip, port);
}

static int sock_open(struct kernel *k, struct ksock *ks, int type, int port, const char *name,
                     enum kernel_chan chan, struct strbuf *err)
{
    ks->k = k;
    ks->name = name;
    ks->chan = chan;
    ks->hb = type == ZMQ_REQ;
    void *ctx = zmq_context();
    if (ctx == NULL) {
        strbuf_printf(err, "no ZeroMQ context: %s", zmq_strerror(errno));
        return -1;
    }
    ks->zs = zmq_socket(ctx, type);
    if (ks->zs == NULL) {
        strbuf_printf(err, "%s socket: %s", name, zmq_strerror(errno));
        return -1;
    }
    int zero = 0, one = 1, ivl = ZMQ_RECONNECT_MS, ivl_max = ZMQ_RECONNECT_MAX_MS;
    zmq_setsockopt(ks->zs, ZMQ_LINGER, &zero, sizeof(zero));
    /* Unbounded receive queues: we always read, and a full queue makes the
     * kernel's PUB socket drop messages (an idle among them would be lost). */
    zmq_setsockopt(ks->zs, ZMQ_RCVHWM, &zero, sizeof(zero));
    zmq_setsockopt(ks->zs, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
    zmq_setsockopt(ks->zs, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
    if (type == ZMQ_SUB)
        zmq_setsockopt(ks->zs, ZMQ_SUBSCRIBE, "", 0);
    if (type == ZMQ_REQ) {
        /* A lost ping must not wedge the REQ state machine: allow a new request. */
        zmq_setsockopt(ks->zs, ZMQ_REQ_RELAXED, &one, sizeof(one));
        zmq_setsockopt(ks->zs, ZMQ_REQ_CORRELATE, &one, sizeof(one));
    }
    struct strbuf url = STRBUF_INIT;
    endpoint(k, port, &url);
    if (zmq_connect(ks->zs, url.data) < 0) {
        strbuf_printf(err, "connect %s: %s", url.data, zmq_strerror(errno));
        strbuf_free(&url);
        return -1;
    }
    strbuf_free(&url);
    int fd;
    size_t sz = sizeof(fd);
    if (zmq_getsockopt(ks->zs, ZMQ_FD, &fd, &sz) < 0) {
        strbuf_printf(err, "%s ZMQ_FD: %s", name, zmq_strerror(errno));
        return -1;
    }
    ks->ev = event_new(k->base, fd, EV_READ | EV_PERSIST, on_sock, ks);
    if (ks->ev == NULL || event_add(ks->ev, NULL) < 0) {
        strbuf_printf(err, "cannot watch the %s socket", name);
        return -1;
    }
    return 0;
}

int ksock_open_all(struct kernel *k, struct strbuf *err)
{
    if (sock_open(k, &k->shell, ZMQ_DEALER, k->ports[P_SHELL], "shell", KERNEL_CHAN_SHELL, err) <
            0 ||
        sock_open(k, &k->control, ZMQ_DEALER, k->ports[P_CONTROL], "control", KERNEL_CHAN_CONTROL,
                  err) < 0 ||
        sock_open(k, &k->iopub, ZMQ_SUB, k->ports[P_IOPUB], "iopub", KERNEL_CHAN_IOPUB, err) < 0 ||
        sock_open(k, &k->hb, ZMQ_REQ, k->ports[P_HB], "hb", KERNEL_CHAN_CONTROL, err) < 0)
        return -1;
    return 0;
}

/* Sends a signed message; msg_id (80 bytes) receives its id. Returns 0 or -1 (err). */
int ksock_send(struct kernel *k, struct ksock *ks, const char *msg_type, json_object *content,
               char *msg_id, struct strbuf *err)
{
    char id[80];
    snprintf(id, sizeof(id), "%s_%llu", k->session, (unsigned long long)++k->seq);
    if (msg_id != NULL)
        memcpy(msg_id, id, sizeof(id));
    if (ks->zs == NULL) {
        strbuf_printf(err, "%s socket closed", ks->name);
        return -1;
    }
    struct jmsg_out out;
    if (jmsg_build(&out, k->auth, k->session, id, msg_type, content, NULL, err) < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < JMSG_OUT_FRAMES; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < JMSG_OUT_FRAMES ? ZMQ_SNDMORE : 0);
        /* Frames after the first are queued atomically; only the first can block. */
        if (zmq_send(ks->zs, out.frames[i].data, out.frames[i].len, flags) < 0) {
            strbuf_printf(err, "send %s on %s: %s", msg_type, ks->name, zmq_strerror(errno));
            rc = -1;
            break;
        }
    }
    jmsg_out_free(&out);
    ksock_kick(ks);
    return rc;
}

bool ksock_has_input(struct ksock *ks)
{
    int events = 0;
    size_t sz = sizeof(events);
    return ks->zs != NULL && zmq_getsockopt(ks->zs, ZMQ_EVENTS, &events, &sz) == 0 &&
           (events & ZMQ_POLLIN);
}
