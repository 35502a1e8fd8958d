/* IPC framing over SOCK_SEQPACKET: small and fragmented messages, descriptors, protocol errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"

struct got {
    int count;
    enum ipc_type type;
    uint32_t job;
    char *data;
    size_t len;
    int fd;
    int closed;
};

static void on_recv(struct ipc_chan *ch, const struct ipc_msg *msg, void *arg)
{
    (void)ch;
    struct got *g = arg;
    g->count++;
    g->type = msg->type;
    g->job = msg->job;
    free(g->data);
    g->data = malloc(msg->len + 1);
    memcpy(g->data, msg->data, msg->len);
    g->len = msg->len;
    if (g->fd >= 0)
        close(g->fd);
    g->fd = msg->fd;
}

static void on_close(struct ipc_chan *ch, void *arg)
{
    (void)ch;
    struct got *g = arg;
    g->closed++;
}

struct pair {
    struct event_base *base;
    struct ipc_chan *a, *b;
    struct got ga, gb;
};

static int setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    p->base = event_base_new();
    p->ga.fd = p->gb.fd = -1;
    p->a = ipc_chan_new(p->base, sv[0], on_recv, on_close, &p->ga);
    p->b = ipc_chan_new(p->base, sv[1], on_recv, on_close, &p->gb);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct pair *p = *state;
    ipc_chan_free(p->a);
    if (p->b != NULL)
        ipc_chan_free(p->b);
    event_base_free(p->base);
    free(p->ga.data);
    free(p->gb.data);
    if (p->gb.fd >= 0)
        close(p->gb.fd);
    free(p);
    return 0;
}

static void pump(struct pair *p, int want)
{
    for (int i = 0; i < 1000 && p->gb.count < want; i++)
        event_base_loop(p->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void test_small_message(void **state)
{
    struct pair *p = *state;
    assert_int_equal(ipc_send(p->a, IPC_MSG, 7, "{\"op\":\"x\"}", 10), 0);
    pump(p, 1);
    assert_int_equal(p->gb.count, 1);
    assert_int_equal(p->gb.type, IPC_MSG);
    assert_int_equal(p->gb.job, 7);
    assert_int_equal(p->gb.len, 10);
    assert_memory_equal(p->gb.data, "{\"op\":\"x\"}", 10);
    assert_int_equal(p->gb.fd, -1);
}

static void test_fragmented_message(void **state)
{
    struct pair *p = *state;
    size_t n = 5 * IPC_FRAME_MAX + 123;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    /* Larger than the socket buffer: part of it is queued and sent as the peer reads. */
    assert_int_equal(ipc_send(p->a, IPC_EVENTS, 9, big, n), 0);
    assert_int_equal(ipc_send(p->a, IPC_MSG, 10, "after", 5), 0);
    pump(p, 2);
    assert_int_equal(p->gb.count, 2);
    assert_int_equal(p->gb.job, 10);
    assert_int_equal(p->gb.len, 5);
    free(big);
}

static void test_fragment_contents(void **state)
{
    struct pair *p = *state;
    size_t n = 3 * IPC_FRAME_MAX;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i % 251);
    assert_int_equal(ipc_send(p->a, IPC_DATA, 3, big, n), 0);
    pump(p, 1);
    assert_int_equal(p->gb.count, 1);
    assert_int_equal(p->gb.type, IPC_DATA);
    assert_int_equal(p->gb.len, n);
    assert_memory_equal(p->gb.data, big, n);
    free(big);
}

static void test_descriptor_passing(void **state)
{
    struct pair *p = *state;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ipc_send_fd(p->a, IPC_MSG, 4, "{}", 2, fd), 0);
    pump(p, 1);
    assert_int_equal(p->gb.count, 1);
    assert_true(p->gb.fd >= 0);
    assert_true(fcntl(p->gb.fd, F_GETFD) & FD_CLOEXEC);
}

static int drained;

static void on_drain(struct ipc_chan *ch, void *arg)
{
    (void)ch;
    (void)arg;
    drained++;
}

/*
 * The queue may empty inside a later send (the socket became writable in the
 * meantime) rather than in the write callback: the drain must be reported
 * all the same, or a producer waiting for it would wait forever.
 */
static void test_drain_reported_after_send_path_flush(void **state)
{
    struct pair *p = *state;
    size_t n = 8 * IPC_FRAME_MAX;
    char *big = calloc(1, n);
    drained = 0;
    ipc_set_drain_cb(p->a, on_drain, 0);
    assert_int_equal(ipc_send(p->a, IPC_DATA, 1, big, n), 0);
    assert_true(ipc_queued(p->a) > 0);
    /* The peer reads behind the channel's back, so no write event is seen ... */
    char buf[IPC_FRAME_MAX];
    int fd = ipc_chan_fd(p->b);
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
    /* ... and the next send flushes the whole queue itself. */
    assert_int_equal(ipc_send(p->a, IPC_MSG, 2, "x", 1), 0);
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
    assert_int_equal(ipc_send(p->a, IPC_MSG, 3, "y", 1), 0);
    assert_int_equal(ipc_queued(p->a), 0);
    for (int i = 0; i < 10 && drained == 0; i++)
        event_base_loop(p->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(drained, 1);
    free(big);
}

static void test_peer_close(void **state)
{
    struct pair *p = *state;
    ipc_chan_free(p->b);
    p->b = NULL;
    for (int i = 0; i < 100 && p->ga.closed == 0; i++)
        event_base_loop(p->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(p->ga.closed, 1);
    assert_int_equal(ipc_send(p->a, IPC_MSG, 1, "x", 1), -1);
}

static void test_garbage_datagram_closes(void **state)
{
    struct pair *p = *state;
    /* A datagram shorter than the header is a protocol error. */
    int fd = ipc_chan_fd(p->a);
    assert_int_equal(send(fd, "abc", 3, 0), 3);
    for (int i = 0; i < 100 && p->gb.closed == 0; i++)
        event_base_loop(p->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(p->gb.closed, 1);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* Sends data[0..len) with a descriptor of /dev/null on the channel's socket. */
static void send_with_descriptor(int sock, const char *data, size_t len)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    union ipc_fd_cmsg cm;
    struct iovec iov = {(void *)data, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ipc_attach_fd(&mh, &cm, fd);
    assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
    close(fd);
}

/*
 * Datagrams that close the channel while carrying a descriptor (found by
 * t/fuzz/fuzz_ipc.c): an empty one (read as the peer's close) and one shorter than the
 * header. The descriptor received is not kept open.
 */
static void check_closes_without_leak(struct pair *p, const char *data, size_t len)
{
    int before = count_fds();
    send_with_descriptor(ipc_chan_fd(p->a), data, len);
    for (int i = 0; i < 100 && p->gb.closed == 0; i++)
        event_base_loop(p->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(p->gb.closed, 1);
    assert_int_equal(p->gb.count, 0);
    assert_int_equal(count_fds(), before);
}

static void test_empty_datagram_with_descriptor(void **state)
{
    check_closes_without_leak(*state, "", 0);
}

static void test_short_datagram_with_descriptor(void **state)
{
    check_closes_without_leak(*state, "abc", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragmented_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragment_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_descriptor_passing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_reported_after_send_path_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_datagram_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_datagram_with_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_datagram_with_descriptor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
