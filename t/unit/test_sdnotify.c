/* systemd notification datagrams, watchdog and socket activation variables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

/* A datagram socket bound to name ("@..." abstract, else a path). */
static int listen_dgram(const char *name)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    assert_true(len < sizeof(addr.sun_path));
    memcpy(addr.sun_path, name, len);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    else
        alen++;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, alen), 0);
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_inert_without_socket(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    struct sdnotify n;
    assert_int_equal(sdnotify_open(&n), 0);
    assert_false(sdnotify_enabled(&n));
    assert_int_equal(sdnotify_send(&n, "READY=1"), 0);
    assert_int_equal(sdnotify_sendf(&n, "STATUS=%d workers", 2), 0);
    sdnotify_close(&n);
}

static void test_path_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/execd-sdnotify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/notify", dir);
    int srv = listen_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);

    struct sdnotify n;
    assert_int_equal(sdnotify_open(&n), 0);
    assert_true(sdnotify_enabled(&n));
    assert_null(getenv("NOTIFY_SOCKET"));
    assert_int_equal(sdnotify_send(&n, "READY=1\nSTATUS=serving"), 0);
    expect_datagram(srv, "READY=1\nSTATUS=serving");
    assert_int_equal(sdnotify_sendf(&n, "STATUS=%d workers, %d running", 4, 1), 0);
    expect_datagram(srv, "STATUS=4 workers, 1 running");

    assert_int_equal(sdnotify_reloading(&n), 0);
    char buf[128];
    ssize_t got = recv(srv, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(got > 0);
    buf[got] = '\0';
    unsigned long long usec;
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
    assert_true(usec > 0);

    sdnotify_close(&n);
    assert_int_equal(close(srv), 0);
    assert_int_equal(unlink(path), 0);
    /* Nobody listens any more: the send fails and says so. */
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_open(&n), 0);
    assert_int_equal(sdnotify_send(&n, "STOPPING=1"), -1);
    sdnotify_close(&n);
    assert_int_equal(rmdir(dir), 0);
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@execd-sdnotify-test-%d", (int)getpid());
    int srv = listen_dgram(name);
    setenv("NOTIFY_SOCKET", name, 1);
    struct sdnotify n;
    assert_int_equal(sdnotify_open(&n), 0);
    assert_int_equal(sdnotify_send(&n, "WATCHDOG=1"), 0);
    expect_datagram(srv, "WATCHDOG=1");
    sdnotify_close(&n);
    assert_int_equal(close(srv), 0);
}

static void test_bad_socket_names(void **state)
{
    (void)state;
    struct sdnotify n;
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(sdnotify_open(&n), -1);
    assert_false(sdnotify_enabled(&n));
    assert_null(getenv("NOTIFY_SOCKET"));
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    assert_int_equal(sdnotify_open(&n), -1);
    assert_int_equal(sdnotify_send(&n, "READY=1"), 0);
}

static void test_watchdog(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());

    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(sdnotify_watchdog_usec(), 0);

    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 30000000);
    assert_null(getenv("WATCHDOG_USEC"));

    setenv("WATCHDOG_USEC", "2000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sdnotify_watchdog_usec(), 2000000);
    assert_null(getenv("WATCHDOG_PID"));

    setenv("WATCHDOG_USEC", "2000000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 0);

    const char *bad[] = {"", "-5", "12s", " 7", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        assert_int_equal(sdnotify_watchdog_usec(), 0);
    }
    setenv("WATCHDOG_USEC", "1000", 1);
    setenv("WATCHDOG_PID", "x", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
}

static void test_listen_fds(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());

    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    assert_int_equal(sdnotify_listen_fds(), 0);

    /* Another process's descriptors, or no LISTEN_PID at all: not ours. */
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", "1", 1);
    assert_int_equal(sdnotify_listen_fds(), 0);
    assert_null(getenv("LISTEN_FDS"));
    setenv("LISTEN_FDS", "1", 1);
    assert_int_equal(sdnotify_listen_fds(), 0);

    /* An inherited listener on fd 3 becomes close-on-exec. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int saved3 = fcntl(SDNOTIFY_LISTEN_FDS_START, F_DUPFD_CLOEXEC, 10);
    assert_int_equal(dup2(sv[0], SDNOTIFY_LISTEN_FDS_START), SDNOTIFY_LISTEN_FDS_START);
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDNAMES", "http", 1);
    assert_int_equal(sdnotify_listen_fds(), 1);
    assert_true(fcntl(SDNOTIFY_LISTEN_FDS_START, F_GETFD) & FD_CLOEXEC);
    assert_null(getenv("LISTEN_FDNAMES"));
    assert_null(getenv("LISTEN_PID"));

    setenv("LISTEN_FDS", "two", 1);
    setenv("LISTEN_PID", pid, 1);
    assert_int_equal(sdnotify_listen_fds(), -1);

    /* A count naming descriptors that are not open is refused. */
    setenv("LISTEN_FDS", "50", 1);
    setenv("LISTEN_PID", pid, 1);
    assert_int_equal(sdnotify_listen_fds(), -1);

    if (saved3 >= 0) {
        assert_int_equal(dup2(saved3, SDNOTIFY_LISTEN_FDS_START), SDNOTIFY_LISTEN_FDS_START);
        assert_int_equal(close(saved3), 0);
    } else {
        assert_int_equal(close(SDNOTIFY_LISTEN_FDS_START), 0);
    }
    assert_int_equal(close(sv[0]), 0);
    assert_int_equal(close(sv[1]), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inert_without_socket),
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_bad_socket_names),
        cmocka_unit_test(test_watchdog),
        cmocka_unit_test(test_listen_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
