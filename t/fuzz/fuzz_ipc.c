/*
 * The master <-> worker channel (shared/ipc.c): any datagrams, with or without a
 * descriptor, received and reassembled on a real SOCK_SEQPACKET pair, the messages read
 * as the receivers read them. Nothing may leak: after the channel is freed the process
 * has the descriptors it had before.
 *
 * Input: datagrams, each FLAGS (1 byte) LENGTH (2 bytes) BYTES (header included).
 *   FLAGS & 1: a descriptor rides along; FLAGS & 2: the bytes are repeated to 64x.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "fuzz.h"
#include "ipc.h"
#include "jsonreq.h"

#define BIG_MAX (3 * IPC_FRAME_MAX)

static struct event_base *base;

struct state {
    struct ipc_chan *ch;
    bool closed;
};

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        abort();
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void on_recv(struct ipc_chan *ch EXECD_UNUSED, const struct ipc_msg *msg,
                    void *arg EXECD_UNUSED)
{
    if (msg->fd >= 0)
        close(msg->fd);
    if (msg->type == IPC_MSG) {
        struct strbuf err = STRBUF_INIT;
        json_object_put(jsonreq_parse(msg->data, msg->len, &err));
        strbuf_free(&err);
    }
}

static void on_close(struct ipc_chan *ch EXECD_UNUSED, void *arg)
{
    struct state *s = arg;
    s->closed = true;
}

/* Sends one datagram, with a descriptor when fd >= 0; runs the loop while the socket is full. */
static void send_datagram(int sock, const void *buf, size_t len, int fd, struct state *s)
{
    struct iovec iov = {(void *)buf, len};
    union ipc_fd_cmsg cm;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0)
        ipc_attach_fd(&mh, &cm, fd);
    for (;;) {
        if (sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 || s->closed)
            return;
        if (errno != EAGAIN)
            return; /* too big for the socket, or the channel closed it */
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (base == NULL && (base = event_base_new()) == NULL)
        abort();
    int fds_before = count_fds();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    struct state s = {NULL, false};
    s.ch = ipc_chan_new(base, sv[0], on_recv, on_close, &s);
    if (s.ch == NULL)
        abort();

    struct fuzz_in in = {data, size};
    unsigned char *big = NULL;
    while (in.n > 0 && !s.closed) {
        uint8_t flags = fuzz_byte(&in);
        size_t len = fuzz_u16(&in);
        if (len > in.n)
            len = in.n;
        const uint8_t *bytes = in.p;
        in.p += len;
        in.n -= len;
        const void *buf = bytes;
        if ((flags & 2) && len > 0) {
            size_t total = len * 64 < BIG_MAX ? len * 64 : BIG_MAX;
            big = xrealloc(big, total);
            for (size_t at = 0; at < total; at += len)
                memcpy(big + at, bytes, total - at < len ? total - at : len);
            buf = big;
            len = total;
        }
        int fd = (flags & 1) ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
        send_datagram(sv[1], buf, len, fd, &s);
        if (fd >= 0)
            close(fd);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    close(sv[1]);
    while (!s.closed)
        event_base_loop(base, EVLOOP_ONCE);
    ipc_chan_free(s.ch);
    free(big);
    if (count_fds() != fds_before)
        abort();
    return 0;
}
