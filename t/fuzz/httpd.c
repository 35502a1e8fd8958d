#include "httpd.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "http/server.h"
#include "log.h"

#define ANSWER_MAX (1024 * 1024)
#define STALL_MS 5000

static void on_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                    void *arg EXECD_UNUSED)
{
}

static struct {
    struct event_base *base;
    struct event *tick;
    struct config cfg;
    struct sockaddr_un addr;
    socklen_t addr_len;
} hd;

static void start(void)
{
    /* Quiet unless asked: HTTPD_LOG_LEVEL=7 shows the master's debug lines. */
    const char *level = getenv("HTTPD_LOG_LEVEL");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
        log_setup(NULL, level != NULL ? atoi(level) : LOG_LEVEL_FATAL, LOG_FORMAT_TEXT, "master") <
            0)
        abort();
    /*
     * The port proxy (/proxy/{port}/...) connects to this machine's loopback: in a network
     * namespace of its own, where no interface is up, every such connection fails at once
     * and no fuzzed request reaches a real service.
     */
    if (unshare(CLONE_NEWNET) < 0)
        fprintf(stderr,
                "httpd: no network namespace of its own (%s): /proxy requests reach "
                "the loopback\n",
                strerror(errno));
    char *argv[] = {"execd",     "-access-token",
                    HTTPD_TOKEN, "-worker-wait",
                    "0",         "-keepalive-timeout",
                    "2s",        "-write-timeout",
                    "2s",        NULL};
    char *envp[] = {NULL};
    struct strbuf err = STRBUF_INIT;
    if (config_load(&hd.cfg, 9, argv, envp, &err) != CONFIG_OK) {
        fprintf(stderr, "httpd: %s\n", err.data);
        abort();
    }
    strbuf_free(&err);

    hd.addr.sun_family = AF_UNIX;
    int n = snprintf(hd.addr.sun_path + 1, sizeof(hd.addr.sun_path) - 1, "execd-fuzz-%d",
                     (int)getpid());
    hd.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&hd.addr, hd.addr_len) < 0 || listen(fd, 64) < 0)
        abort();
    hd.base = event_base_new();
    if (hd.base == NULL || (hd.tick = evtimer_new(hd.base, on_tick, NULL)) == NULL ||
        http_start(hd.base, &hd.cfg, fd) < 0)
        abort();
    http_serve();
}

/* Reads what the server sent; returns false once it has closed the connection. */
static bool read_answer(int c, struct strbuf *answer)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return false;
        if (n < 0)
            return true; /* EAGAIN: nothing more for now */
        if (answer->len < ANSWER_MAX)
            strbuf_append(answer, buf, (size_t)n);
    }
}

void httpd_exchange(const void *req, size_t len, struct strbuf *answer)
{
    if (hd.base == NULL)
        start();
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&hd.addr, hd.addr_len) < 0)
        abort();
    size_t sent = 0;
    bool open = true, shut = false;
    struct timeval tick = {0, 10000};
    int idle_ticks = 0;
    while (open) {
        if (sent < len) {
            ssize_t n = send(c, (const char *)req + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = len; /* the server closed: it will not read the rest */
        } else if (!shut) {
            shutdown(c, SHUT_WR);
            shut = true;
        }
        size_t before = answer->len;
        /*
         * Runs what is ready, or waits for the server's next event, 10 ms at most. The
         * client's errno must not reach the server: libevhtp reads errno after an EOF (an
         * EAGAIN there makes it read again), which in the daemon is its own.
         */
        errno = 0;
        evtimer_add(hd.tick, &tick);
        event_base_loop(hd.base, EVLOOP_ONCE);
        evtimer_del(hd.tick);
        open = read_answer(c, answer);
        idle_ticks = answer->len == before && sent == len ? idle_ticks + 1 : 0;
        if (idle_ticks * 10 > STALL_MS) {
            fprintf(stderr,
                    "httpd: the connection stays open without an answer (%zu bytes: %.*s)\n",
                    answer->len, (int)answer->len, answer->data);
            abort();
        }
    }
    close(c);
    event_base_loop(hd.base, EVLOOP_NONBLOCK);
}

/* Length of the response head at s (up to and with its empty line), 0 if incomplete. */
static size_t head_len(const char *s, size_t len)
{
    const char *end = memmem(s, len, "\r\n\r\n", 4);
    return end != NULL ? (size_t)(end - s) + 4 : 0;
}

void httpd_check_answer(const struct strbuf *answer)
{
    const char *p = answer->data;
    size_t left = answer->len;
    while (left > 0 && answer->len < ANSWER_MAX) {
        size_t head = head_len(p, left);
        /*
         * libevhtp answers in the request's version, whatever it was: "HTTP/2.1", even
         * "HTTP/:.1" for HTTP/10.1 (docs/fuzzing.md). The status must be there.
         */
        if (left < 12 || memcmp(p, "HTTP/", 5) != 0 || p[8] != ' ' ||
            !isdigit((unsigned char)p[9]) || head == 0) {
            fprintf(stderr, "httpd: not an HTTP response: %.*s\n", (int)(left < 200 ? left : 200),
                    p);
            abort();
        }
        /* Said for gcc: UBSan's recoverable null check of p[8] leaves it a null path. */
        if (p == NULL)
            abort();
        const char *cl = memmem(p, head, "\r\nContent-Length: ", 18);
        size_t body = cl != NULL ? strtoul(cl + 18, NULL, 10) : 0;
        bool chunked = memmem(p, head, "\r\nTransfer-Encoding: chunked", 28) != NULL;
        if (chunked || head + body > left)
            return; /* a stream, or the rest of a body the client was not sent whole */
        p += head + body;
        left -= head + body;
    }
}
