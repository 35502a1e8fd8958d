/* A WebSocket connection (master/http/websocket.c) over a socketpair, with short deadlines:
 * the handshake checks and the 101, messages, ping answers, the closing handshake both
 * ways, violations, the ping timer, the read and write deadlines, watermarks, held input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/websocket.h"

struct seen {
    struct strbuf log; /* "T:<text>|", "B:<n>|", "closed:<code>|", "congested:<0|1>|" */
};

static void on_message(void *arg, int opcode, const char *data, size_t len)
{
    struct seen *s = arg;
    if (opcode == WS_OP_TEXT)
        strbuf_printf(&s->log, "T:%.*s|", (int)len, data);
    else
        strbuf_printf(&s->log, "B:%zu|", len);
}

static void on_congested(void *arg, bool above)
{
    struct seen *s = arg;
    strbuf_printf(&s->log, "congested:%d|", above);
}

static void on_closed(void *arg, int code)
{
    struct seen *s = arg;
    strbuf_printf(&s->log, "closed:%d|", code);
}

static const struct ws_ops ops = {on_message, on_congested, on_closed};

struct fixture {
    struct event_base *base;
    int peer; /* the client's end (blocking) */
    struct ws *ws;
    struct seen seen;
};

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static struct fixture *open_ws(const struct ws_config *cfg)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    fx->base = event_base_new();
    fx->peer = sv[1];
    fx->ws = ws_open(fx->base, sv[0], NULL, KEY, cfg, &ops, &fx->seen);
    assert_non_null(fx->ws);
    return fx;
}

static void close_fixture(struct fixture *fx)
{
    ws_free_all();
    close(fx->peer);
    event_base_free(fx->base);
    strbuf_free(&fx->seen.log);
    free(fx);
}

static void run_ms(struct fixture *fx, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(fx->base, &tv);
    event_base_dispatch(fx->base);
}

static const char *seen(struct fixture *fx)
{
    return fx->seen.log.data ? fx->seen.log.data : "";
}

/* Reads exactly n bytes from the peer (the loop runs meanwhile). */
static void peer_read(struct fixture *fx, void *buf, size_t n)
{
    size_t got = 0;
    for (int tries = 0; got < n && tries < 200; tries++) {
        run_ms(fx, 5);
        struct pollfd p = {fx->peer, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0)
            continue;
        ssize_t r = read(fx->peer, (char *)buf + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_int_equal(got, n);
}

static void read_head(struct fixture *fx)
{
    static const char want[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    char got[sizeof(want)];
    peer_read(fx, got, sizeof(want) - 1);
    got[sizeof(want) - 1] = '\0';
    assert_string_equal(got, want);
}

/* A server frame (short payloads only): its opcode, payload into buf. */
static int read_frame(struct fixture *fx, char *buf, size_t *len)
{
    unsigned char h[2];
    peer_read(fx, h, 2);
    assert_int_equal(h[1] & 0x80, 0);
    *len = h[1] & 0x7f;
    assert_true(*len < 126);
    peer_read(fx, buf, *len);
    return h[0] & 0x0f;
}

static void send_frame(struct fixture *fx, int first, bool mask, const void *data, size_t len)
{
    unsigned char f[256];
    const unsigned char key[4] = {1, 2, 3, 4};
    size_t n = 0;
    f[n++] = (unsigned char)first;
    f[n++] = (unsigned char)((mask ? 0x80 : 0) | len);
    if (mask) {
        memcpy(f + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        f[n + i] = ((const unsigned char *)data)[i] ^ (mask ? key[i % 4] : 0);
    assert_int_equal(write(fx->peer, f, n + len), (ssize_t)(n + len));
}

/* Whether the server ended the connection (EOF at the peer) within ms. */
static bool peer_eof(struct fixture *fx, int ms)
{
    for (int t = 0; t < ms; t += 5) {
        run_ms(fx, 5);
        char c[4096];
        ssize_t r = recv(fx->peer, c, sizeof(c), MSG_DONTWAIT);
        if (r == 0)
            return true;
    }
    return false;
}

static const struct ws_config slow = {.max_message = 1000, .close_ms = 500};

static void test_handshake_checks(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_true(ws_handshake_ok("keep-alive, Upgrade", "websocket", "13", KEY, &why));
    assert_false(ws_handshake_ok("keep-alive", "websocket", "13", KEY, &why));
    assert_non_null(strstr(why, "Connection"));
    assert_false(ws_handshake_ok("upgrade", "h2c", "13", KEY, &why));
    assert_false(ws_handshake_ok("upgrade", "websocket", "8", KEY, &why));
    assert_false(ws_handshake_ok("upgrade", "websocket", NULL, KEY, &why));
    assert_false(ws_handshake_ok("upgrade", "websocket", "13", "c2hvcnQ=", &why));
    assert_false(ws_handshake_ok("upgrade", "websocket", "13", NULL, &why));
    assert_true(ws_is_upgrade("Upgrade", "WebSocket"));
    assert_false(ws_is_upgrade(NULL, "websocket"));
    assert_false(ws_is_upgrade("upgraded", "websocket"));
}

static void test_messages_and_ping(void **state)
{
    (void)state;
    struct fixture *fx = open_ws(&slow);
    read_head(fx);
    send_frame(fx, 0x80 | WS_OP_TEXT, true, "hi", 2);
    send_frame(fx, 0x80 | WS_OP_PING, true, "pp", 2);
    char buf[128];
    size_t len;
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_PONG);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "pp", 2);
    assert_string_equal(seen(fx), "T:hi|");
    ws_send(fx->ws, WS_OP_BINARY, "\x01xyz", 4);
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_BINARY);
    assert_memory_equal(buf, "\x01xyz", 4);
    close_fixture(fx);
}

/* The client closes: the code is echoed, the owner told, the connection ends. */
static void test_client_close(void **state)
{
    (void)state;
    struct fixture *fx = open_ws(&slow);
    read_head(fx);
    send_frame(fx, 0x80 | WS_OP_CLOSE, true,
               "\x0f\xa0"
               "bye",
               5);
    char buf[128];
    size_t len;
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_CLOSE);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "\x0f\xa0", 2);
    assert_string_equal(seen(fx), "closed:4000|");
    assert_true(peer_eof(fx, 500)); /* our side is shut down at once */
    close_fixture(fx);
}

/* The owner closes: the close frame follows the output; nothing is called back. */
static void test_owner_close(void **state)
{
    (void)state;
    struct fixture *fx = open_ws(&slow);
    read_head(fx);
    ws_send(fx->ws, WS_OP_TEXT, "last", 4);
    ws_close(fx->ws, 1000, "process exited");
    char buf[128];
    size_t len;
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_TEXT);
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_CLOSE);
    assert_int_equal(len, 16);
    assert_memory_equal(buf, "\x03\xe8process exited", 16);
    send_frame(fx, 0x80 | WS_OP_TEXT, true, "late", 4); /* dropped while closing */
    send_frame(fx, 0x80 | WS_OP_CLOSE, true, "\x03\xe8", 2);
    assert_true(peer_eof(fx, 500));
    assert_string_equal(seen(fx), "");
    close_fixture(fx);
}

/* A client that never answers our close: the socket goes after close_ms. */
static void test_close_deadline(void **state)
{
    (void)state;
    struct fixture *fx = open_ws(&slow);
    read_head(fx);
    ws_close(fx->ws, 1001, "going away");
    char buf[128];
    size_t len;
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_CLOSE);
    assert_false(peer_eof(fx, 200));
    assert_true(peer_eof(fx, 800));
    close_fixture(fx);
}

static void test_violation(void **state)
{
    (void)state;
    struct fixture *fx = open_ws(&slow);
    read_head(fx);
    send_frame(fx, 0x80 | WS_OP_TEXT, false, "x", 1); /* unmasked */
    char buf[128];
    size_t len;
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_CLOSE);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "\x03\xea", 2); /* 1002 */
    assert_string_equal(seen(fx), "closed:1002|");
    assert_true(peer_eof(fx, 500));
    close_fixture(fx);
}

static void test_ping_timer(void **state)
{
    (void)state;
    struct ws_config cfg = slow;
    cfg.ping_ms = 50;
    struct fixture *fx = open_ws(&cfg);
    read_head(fx);
    char buf[128];
    size_t len;
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_PING);
    assert_int_equal(read_frame(fx, buf, &len), WS_OP_PING); /* again */
    assert_string_equal(seen(fx), "");
    close_fixture(fx);
}

/* Nothing from the client for read_ms: dropped. Anything it sends starts the wait again. */
static void test_read_deadline(void **state)
{
    (void)state;
    struct ws_config cfg = slow;
    cfg.read_ms = 150;
    struct fixture *fx = open_ws(&cfg);
    read_head(fx);
    for (int i = 0; i < 4; i++) {
        run_ms(fx, 80);
        send_frame(fx, 0x80 | WS_OP_PONG, true, "", 0);
    }
    assert_string_equal(seen(fx), "");
    run_ms(fx, 250);
    assert_string_equal(seen(fx), "closed:1006|");
    assert_true(peer_eof(fx, 100));
    close_fixture(fx);
}

/* A client that takes no output: the owner is told at the high watermark, and the connection
 * is dropped after write_ms without progress. */
static void test_write_deadline(void **state)
{
    (void)state;
    struct ws_config cfg = slow;
    cfg.write_ms = 200;
    struct fixture *fx = open_ws(&cfg);
    char *chunk = calloc(1, 32 * 1024);
    for (int i = 0; i < 64; i++)
        ws_send(fx->ws, WS_OP_BINARY, chunk, 32 * 1024);
    free(chunk);
    assert_true(ws_pending(fx->ws) > WS_OUT_HIGH);
    assert_string_equal(seen(fx), "congested:1|");
    run_ms(fx, 400);
    assert_string_equal(seen(fx), "congested:1|closed:1006|");
    close_fixture(fx);
}

/* The queue drains: the owner hears it at the low watermark. */
static void test_drained(void **state)
{
    (void)state;
    struct fixture *fx = open_ws(&slow);
    char *chunk = calloc(1, 32 * 1024);
    for (int i = 0; i < 16; i++)
        ws_send(fx->ws, WS_OP_BINARY, chunk, 32 * 1024);
    assert_string_equal(seen(fx), "congested:1|");
    size_t total = 0;
    for (int tries = 0; tries < 400 && strstr(seen(fx), "congested:0") == NULL; tries++) {
        run_ms(fx, 2);
        ssize_t r = recv(fx->peer, chunk, 32 * 1024, MSG_DONTWAIT);
        if (r > 0)
            total += (size_t)r;
    }
    free(chunk);
    assert_string_equal(seen(fx), "congested:1|congested:0|");
    assert_true(total > 0);
    close_fixture(fx);
}

/* Held input is not read; released, what waited is delivered. */
static void test_hold_input(void **state)
{
    (void)state;
    struct fixture *fx = open_ws(&slow);
    read_head(fx);
    ws_hold_input(fx->ws, true);
    send_frame(fx, 0x80 | WS_OP_TEXT, true, "one", 3);
    send_frame(fx, 0x80 | WS_OP_TEXT, true, "two", 3);
    run_ms(fx, 50);
    assert_string_equal(seen(fx), "");
    ws_hold_input(fx->ws, false);
    run_ms(fx, 50);
    assert_string_equal(seen(fx), "T:one|T:two|");
    close_fixture(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_checks), cmocka_unit_test(test_messages_and_ping),
        cmocka_unit_test(test_client_close),     cmocka_unit_test(test_owner_close),
        cmocka_unit_test(test_close_deadline),   cmocka_unit_test(test_violation),
        cmocka_unit_test(test_ping_timer),       cmocka_unit_test(test_read_deadline),
        cmocka_unit_test(test_write_deadline),   cmocka_unit_test(test_drained),
        cmocka_unit_test(test_hold_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
