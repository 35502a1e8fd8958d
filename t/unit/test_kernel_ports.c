/*
 * kernel_ports.c: tcp ports for a kernel are on 127.0.0.1 and stay reserved until the
 * kernel listens: nobody else can bind them meanwhile, the kernel can (as libzmq does:
 * SO_REUSEADDR, bind, listen), and after that the port is the kernel's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jupyter/kernel_impl.h"

static int tcp_socket(bool reuse)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    if (reuse)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    return fd;
}

static int bind_to(int fd, in_addr_t addr, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(addr);
    return bind(fd, (struct sockaddr *)&a, sizeof(a));
}

static void test_reserved_on_loopback(void **state)
{
    (void)state;
    int ports[NPORTS], fds[NPORTS];
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(kports_reserve(ports, fds, &err), 0);
    for (int i = 0; i < NPORTS; i++) {
        assert_true(fds[i] >= 0);
        assert_true(ports[i] > 0 && ports[i] < 65536);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ports[i], ports[j]);
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        assert_int_equal(getsockname(fds[i], (struct sockaddr *)&a, &len), 0);
        assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
        assert_int_equal(ntohs(a.sin_port), ports[i]);
    }

    /* Another process's plain bind of a reserved port fails, on loopback or any address. */
    for (int i = 0; i < NPORTS; i++) {
        int other = tcp_socket(false);
        assert_int_equal(bind_to(other, INADDR_LOOPBACK, ports[i]), -1);
        assert_int_equal(errno, EADDRINUSE);
        close(other);
        other = tcp_socket(false);
        assert_int_equal(bind_to(other, INADDR_ANY, ports[i]), -1);
        assert_int_equal(errno, EADDRINUSE);
        close(other);
    }

    /* The kernel binds and listens as libzmq does; a client reaches it. */
    int kernel = tcp_socket(true);
    assert_int_equal(bind_to(kernel, INADDR_LOOPBACK, ports[0]), 0);
    assert_int_equal(listen(kernel, 8), 0);
    int client = tcp_socket(false);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ports[0])};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(client, (struct sockaddr *)&to, sizeof(to)), 0);
    int accepted = accept(kernel, NULL, NULL);
    assert_true(accepted >= 0);
    close(accepted);
    close(client);

    /* Released: the listening kernel keeps the port; nobody else gets it, SO_REUSEADDR or not. */
    kports_release(fds, NPORTS);
    for (int i = 0; i < NPORTS; i++)
        assert_int_equal(fds[i], -1);
    int late = tcp_socket(true);
    assert_int_equal(bind_to(late, INADDR_LOOPBACK, ports[0]), -1);
    assert_int_equal(errno, EADDRINUSE);
    close(late);
    close(kernel);
    kports_release(fds, NPORTS); /* idempotent */
    strbuf_free(&err);
}

static void test_not_handed_out(void **state)
{
    (void)state;
    /* bind(0) and outgoing connections never get a reserved port. */
    int ports[NPORTS], fds[NPORTS];
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(kports_reserve(ports, fds, &err), 0);
    for (int n = 0; n < 2000; n++) {
        int s = tcp_socket(n % 2 == 0);
        assert_int_equal(bind_to(s, INADDR_LOOPBACK, 0), 0);
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
        for (int i = 0; i < NPORTS; i++)
            assert_int_not_equal(ntohs(a.sin_port), ports[i]);
        close(s);
    }
    kports_release(fds, NPORTS);
    strbuf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserved_on_loopback),
        cmocka_unit_test(test_not_handed_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
