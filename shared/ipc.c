#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"

/* Datagrams read per wake-up, so one busy channel cannot starve the loop. */
#define IPC_READ_BATCH 64

struct frame {
    struct frame *next;
    int fd; /* sent with this datagram, then closed */
    size_t len;
    unsigned char data[];
};

struct ipc_chan {
    int fd;
    struct event *rd_ev;
    struct event *wr_ev;
    struct event *drain_ev; /* runs on_drain from the loop, never inside a send */
    ipc_recv_fn on_recv;
    ipc_close_fn on_close;
    ipc_drain_fn on_drain;
    void *arg;
    size_t low_watermark;

    struct frame *head, *tail; /* send queue */
    size_t queued;

    struct strbuf partial; /* fragments of the message being reassembled */
    struct ipc_hdr partial_hdr;
    int partial_fd;
    bool in_partial;

    unsigned char *rbuf;
    bool closed;
    bool paused;
    int busy; /* > 0 while inside a callback: frees are deferred */
    bool free_pending;
};

static void chan_destroy(struct ipc_chan *ch)
{
    struct frame *f = ch->head;
    while (f != NULL) {
        struct frame *next = f->next;
        if (f->fd >= 0)
            close(f->fd);
        free(f);
        f = next;
    }
    if (ch->partial_fd >= 0)
        close(ch->partial_fd);
    event_free(ch->rd_ev);
    event_free(ch->wr_ev);
    event_free(ch->drain_ev);
    close(ch->fd);
    strbuf_free(&ch->partial);
    free(ch->rbuf);
    free(ch);
}

void ipc_chan_free(struct ipc_chan *ch)
{
    if (ch == NULL)
        return;
    if (ch->busy > 0) {
        ch->free_pending = true;
        event_del(ch->rd_ev);
        event_del(ch->wr_ev);
        event_del(ch->drain_ev);
        return;
    }
    chan_destroy(ch);
}

/* Marks the channel dead once and tells the owner. */
static void chan_fail(struct ipc_chan *ch)
{
    if (ch->closed)
        return;
    ch->closed = true;
    event_del(ch->rd_ev);
    event_del(ch->wr_ev);
    if (ch->on_close != NULL)
        ch->on_close(ch, ch->arg);
}

void ipc_attach_fd(struct msghdr *mh, union ipc_fd_cmsg *cm, int fd)
{
    memset(cm, 0, sizeof(*cm));
    mh->msg_control = cm->buf;
    mh->msg_controllen = sizeof(cm->buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
}

/* Sends one datagram: head (may be NULL) then data, gathered by the kernel, no copy here. */
static int send_frame(struct ipc_chan *ch, const struct ipc_hdr *head, const void *data, size_t len,
                      int fd)
{
    struct iovec iov[2] = {{(void *)head, head != NULL ? sizeof(*head) : 0}, {(void *)data, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    union ipc_fd_cmsg cm;

    if (fd >= 0)
        ipc_attach_fd(&mh, &cm, fd);
    for (;;) {
        ssize_t n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL);
        if (n >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        return -1;
    }
}

static void flush_queue(struct ipc_chan *ch)
{
    size_t before = ch->queued;
    while (ch->head != NULL) {
        struct frame *f = ch->head;
        if (send_frame(ch, NULL, f->data, f->len, f->fd) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                event_add(ch->wr_ev, NULL);
                if (ch->on_drain != NULL && before > ch->low_watermark &&
                    ch->queued <= ch->low_watermark)
                    event_active(ch->drain_ev, EV_TIMEOUT, 0);
                return;
            }
            log_error("ipc: send on fd %d failed: %s", ch->fd, strerror(errno));
            chan_fail(ch);
            return;
        }
        ch->head = f->next;
        if (ch->head == NULL)
            ch->tail = NULL;
        ch->queued -= f->len;
        if (f->fd >= 0)
            close(f->fd);
        free(f);
    }
    event_del(ch->wr_ev);
    /* The queue may empty here from any send, not only when the socket becomes
     * writable: producers waiting for the drain must hear of it either way. */
    if (ch->on_drain != NULL && before > ch->low_watermark && !ch->closed)
        event_active(ch->drain_ev, EV_TIMEOUT, 0);
}

static void on_writable(evutil_socket_t fd __attribute__((unused)),
                        short what __attribute__((unused)), void *arg)
{
    struct ipc_chan *ch = arg;

    ch->busy++;
    flush_queue(ch);
    ch->busy--;
    if (ch->free_pending && ch->busy == 0)
        chan_destroy(ch);
}

static void on_drained(evutil_socket_t fd __attribute__((unused)),
                       short what __attribute__((unused)), void *arg)
{
    struct ipc_chan *ch = arg;
    if (ch->closed || ch->on_drain == NULL || ch->queued > ch->low_watermark)
        return;
    ch->busy++;
    ch->on_drain(ch, ch->arg);
    ch->busy--;
    if (ch->free_pending && ch->busy == 0)
        chan_destroy(ch);
}

static void enqueue(struct ipc_chan *ch, const struct ipc_hdr *hdr, const void *data, size_t len,
                    int fd)
{
    struct frame *f = malloc(sizeof(*f) + sizeof(*hdr) + len);
    if (f == NULL)
        abort();
    f->next = NULL;
    f->fd = fd;
    f->len = sizeof(*hdr) + len;
    memcpy(f->data, hdr, sizeof(*hdr));
    if (len > 0)
        memcpy(f->data + sizeof(*hdr), data, len);
    if (ch->tail != NULL)
        ch->tail->next = f;
    else
        ch->head = f;
    ch->tail = f;
    ch->queued += f->len;
}

/* Sends or queues the frames of one message; returns 0 or -1 (channel failed). */
static int send_message(struct ipc_chan *ch, enum ipc_type type, uint32_t job,
                        const unsigned char *p, size_t len, int fd)
{
    const size_t room = IPC_FRAME_MAX - sizeof(struct ipc_hdr);
    bool direct = ch->head == NULL;

    do {
        size_t n = len > room ? room : len;
        struct ipc_hdr hdr = {(uint8_t)type, (uint8_t)(len > room ? IPC_F_MORE : 0), 0, job};
        if (direct) {
            /* Nothing queued: straight from the caller's buffer, copied only if it must wait. */
            if (send_frame(ch, &hdr, p, n, fd) == 0) {
                if (fd >= 0)
                    close(fd);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                enqueue(ch, &hdr, p, n, fd);
                direct = false;
            } else {
                log_error("ipc: send on fd %d failed: %s", ch->fd, strerror(errno));
                if (fd >= 0)
                    close(fd);
                chan_fail(ch);
                return -1;
            }
        } else {
            enqueue(ch, &hdr, p, n, fd);
        }
        fd = -1;
        p += n;
        len -= n;
    } while (len > 0);

    if (!direct)
        flush_queue(ch);
    return ch->closed ? -1 : 0;
}

int ipc_send_fd(struct ipc_chan *ch, enum ipc_type type, uint32_t job, const void *data, size_t len,
                int fd)
{
    if (ch->closed || ch->free_pending || len > IPC_MSG_MAX) {
        if (fd >= 0)
            close(fd);
        errno = ch->closed ? EPIPE : EMSGSIZE;
        return -1;
    }
    /* A failure calls the owner's close callback, which may free the channel:
     * hold it until we are done with it. */
    ch->busy++;
    int rc = send_message(ch, type, job, data, len, fd);
    ch->busy--;
    if (ch->free_pending && ch->busy == 0) {
        chan_destroy(ch);
        return -1;
    }
    return rc;
}

int ipc_send(struct ipc_chan *ch, enum ipc_type type, uint32_t job, const void *data, size_t len)
{
    return ipc_send_fd(ch, type, job, data, len, -1);
}

int ipc_send_json(struct ipc_chan *ch, uint32_t job, json_object *obj)
{
    return ipc_send_json_fd(ch, job, obj, -1);
}

int ipc_send_json_fd(struct ipc_chan *ch, uint32_t job, json_object *obj, int fd)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    return ipc_send_fd(ch, IPC_MSG, job, s, len, fd);
}

static void deliver(struct ipc_chan *ch, const struct ipc_hdr *hdr, const char *data, size_t len,
                    int fd)
{
    struct ipc_msg msg = {(enum ipc_type)hdr->type, hdr->job, data, len, fd};
    ch->on_recv(ch, &msg, ch->arg);
}

/* Handles one received datagram; returns -1 on a protocol error. */
static int take_datagram(struct ipc_chan *ch, const unsigned char *buf, size_t n, int fd)
{
    struct ipc_hdr hdr;
    if (n < sizeof(hdr)) {
        log_error("ipc: short datagram (%zu bytes) on fd %d", n, ch->fd);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memcpy(&hdr, buf, sizeof(hdr));
    const char *payload = (const char *)buf + sizeof(hdr);
    size_t plen = n - sizeof(hdr);

    if (!ch->in_partial && !(hdr.flags & IPC_F_MORE)) {
        deliver(ch, &hdr, payload, plen, fd);
        return 0;
    }
    if (!ch->in_partial) {
        ch->in_partial = true;
        ch->partial_hdr = hdr;
        ch->partial_fd = fd;
        strbuf_reset(&ch->partial);
    } else if (hdr.type != ch->partial_hdr.type || hdr.job != ch->partial_hdr.job) {
        log_error("ipc: fragment of another message on fd %d", ch->fd);
        if (fd >= 0)
            close(fd);
        return -1;
    } else if (fd >= 0) {
        close(fd); /* only the first fragment may carry a descriptor */
    }
    if (ch->partial.len + plen > IPC_MSG_MAX) {
        log_error("ipc: message over %u bytes on fd %d", IPC_MSG_MAX, ch->fd);
        return -1;
    }
    strbuf_append(&ch->partial, payload, plen);
    if (hdr.flags & IPC_F_MORE)
        return 0;

    ch->in_partial = false;
    int whole_fd = ch->partial_fd;
    ch->partial_fd = -1;
    deliver(ch, &ch->partial_hdr, ch->partial.data, ch->partial.len, whole_fd);
    if (ch->partial.cap > 16 * IPC_FRAME_MAX)
        strbuf_free(&ch->partial); /* do not pin a huge buffer after a big message */
    return 0;
}

static ssize_t recv_datagram(struct ipc_chan *ch, int *fd_out)
{
    struct iovec iov = {ch->rbuf, IPC_FRAME_MAX};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } cm;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};

    *fd_out = -1;
    ssize_t n;
    do {
        n = recvmsg(ch->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return n;
    /* Descriptors are collected even with an empty datagram (the peer's close), or they leak. */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfds; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*fd_out < 0)
                *fd_out = fd;
            else
                close(fd);
        }
    }
    if (n == 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (*fd_out >= 0)
            close(*fd_out);
        *fd_out = -1;
    }
    if (n > 0 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        log_error("ipc: truncated datagram on fd %d", ch->fd);
        errno = EMSGSIZE;
        return -1;
    }
    return n;
}

static void on_readable(evutil_socket_t fd __attribute__((unused)),
                        short what __attribute__((unused)), void *arg)
{
    struct ipc_chan *ch = arg;

    ch->busy++;
    for (int i = 0; i < IPC_READ_BATCH && !ch->closed && !ch->free_pending && !ch->paused; i++) {
        int rfd;
        ssize_t n = recv_datagram(ch, &rfd);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            if (n < 0 && errno != ECONNRESET)
                log_error("ipc: receive on fd %d failed: %s", ch->fd, strerror(errno));
            chan_fail(ch);
            break;
        }
        if (take_datagram(ch, ch->rbuf, (size_t)n, rfd) < 0) {
            chan_fail(ch);
            break;
        }
    }
    ch->busy--;
    if (ch->free_pending && ch->busy == 0)
        chan_destroy(ch);
}

struct ipc_chan *ipc_chan_new(struct event_base *base, int fd, ipc_recv_fn on_recv,
                              ipc_close_fn on_close, void *arg)
{
    struct ipc_chan *ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return NULL;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        log_error("ipc: cannot make fd %d non-blocking: %s", fd, strerror(errno));
        free(ch);
        return NULL;
    }
    ch->fd = fd;
    ch->on_recv = on_recv;
    ch->on_close = on_close;
    ch->arg = arg;
    ch->partial_fd = -1;
    strbuf_init(&ch->partial);
    ch->rbuf = malloc(IPC_FRAME_MAX);
    ch->rd_ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, ch);
    ch->wr_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_writable, ch);
    ch->drain_ev = event_new(base, -1, 0, on_drained, ch);
    if (ch->rbuf == NULL || ch->rd_ev == NULL || ch->wr_ev == NULL || ch->drain_ev == NULL ||
        event_add(ch->rd_ev, NULL) < 0) {
        log_error("ipc: cannot set up channel on fd %d", fd);
        if (ch->rd_ev)
            event_free(ch->rd_ev);
        if (ch->wr_ev)
            event_free(ch->wr_ev);
        if (ch->drain_ev)
            event_free(ch->drain_ev);
        free(ch->rbuf);
        free(ch);
        return NULL;
    }
    return ch;
}

size_t ipc_queued(const struct ipc_chan *ch)
{
    return ch->queued;
}

void ipc_set_drain_cb(struct ipc_chan *ch, ipc_drain_fn cb, size_t low_watermark)
{
    ch->on_drain = cb;
    ch->low_watermark = low_watermark;
}

void ipc_pause_recv(struct ipc_chan *ch)
{
    ch->paused = true;
    event_del(ch->rd_ev);
}

void ipc_resume_recv(struct ipc_chan *ch)
{
    if (!ch->paused || ch->closed)
        return;
    ch->paused = false;
    event_add(ch->rd_ev, NULL);
}

int ipc_chan_fd(const struct ipc_chan *ch)
{
    return ch->fd;
}
