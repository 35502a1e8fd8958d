/* WebSocket messages from frames (master/http/wsframe.c): what RFC 6455 asks of a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/wsframe.h"
#include "strbuf.h"

#define MAX_MESSAGE 1000

/* What the parser reported, in order: "T:<text>", "B:<n>", "ping:<data>", "close:<code>:<r>". */
struct seen {
    struct strbuf log;
    int stop_after; /* > 0: the nth callback returns false */
    int calls;
};

static bool keep_going(struct seen *s)
{
    s->calls++;
    return s->stop_after == 0 || s->calls != s->stop_after;
}

static bool on_message(void *arg, int opcode, const char *data, size_t len)
{
    struct seen *s = arg;
    if (opcode == WS_OP_TEXT)
        strbuf_printf(&s->log, "T:%.*s|", (int)len, data);
    else
        strbuf_printf(&s->log, "B:%zu|", len);
    return keep_going(s);
}

static bool on_control(void *arg, int opcode, int code, const char *data, size_t len)
{
    struct seen *s = arg;
    if (opcode == WS_OP_CLOSE)
        strbuf_printf(&s->log, "close:%d:%.*s|", code, (int)len, data);
    else
        strbuf_printf(&s->log, "%s:%.*s|", opcode == WS_OP_PING ? "ping" : "pong", (int)len, data);
    return keep_going(s);
}

static const struct wsframe_ops ops = {on_message, on_control};

/* Appends a client frame: header bits as given, masked with a fixed key unless mask is 0. */
static void frame(struct evbuffer *b, int first, bool mask, const void *data, uint64_t len)
{
    unsigned char h[14];
    size_t n = 0;
    const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    h[n++] = (unsigned char)first;
    unsigned char m = mask ? 0x80 : 0;
    if (len < 126) {
        h[n++] = m | (unsigned char)len;
    } else if (len < 65536) {
        h[n++] = m | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (unsigned char)(len >> (8 * i));
    }
    if (mask) {
        memcpy(h + n, key, 4);
        n += 4;
    }
    evbuffer_add(b, h, n);
    if (data == NULL)
        return;
    unsigned char *p = malloc(len + 1);
    memcpy(p, data, len);
    for (uint64_t i = 0; mask && i < len; i++)
        p[i] ^= key[i % 4];
    evbuffer_add(b, p, len);
    free(p);
}

#define FIN 0x80

struct fixture {
    struct wsframe *f;
    struct evbuffer *in;
    struct seen seen;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fx->f = wsframe_new(MAX_MESSAGE, &ops, &fx->seen);
    fx->in = evbuffer_new();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    wsframe_free(fx->f);
    evbuffer_free(fx->in);
    strbuf_free(&fx->seen.log);
    free(fx);
    return 0;
}

static const char *seen(struct fixture *fx)
{
    return fx->seen.log.data ? fx->seen.log.data : "";
}

static void test_text_and_binary(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_TEXT, true, "hello", 5);
    frame(fx->in, FIN | WS_OP_BINARY, true, "\0\1\2", 3);
    frame(fx->in, FIN | WS_OP_TEXT, true, "", 0);
    assert_int_equal(wsframe_parse(fx->f, fx->in), 0);
    assert_string_equal(seen(fx), "T:hello|B:3|T:|");
    assert_int_equal(evbuffer_get_length(fx->in), 0);
}

/* Fragments with control frames between them; a split UTF-8 character is fine. */
static void test_fragments_and_control_between(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, WS_OP_TEXT, true, "caf\xc3", 4);
    frame(fx->in, FIN | WS_OP_PING, true, "p1", 2);
    frame(fx->in, WS_OP_CONT, true, "\xa9 ", 2);
    frame(fx->in, FIN | WS_OP_PONG, true, "", 0);
    frame(fx->in, FIN | WS_OP_CONT, true, "ok", 2);
    assert_int_equal(wsframe_parse(fx->f, fx->in), 0);
    assert_string_equal(seen(fx), "ping:p1|pong:|T:caf\xc3\xa9 ok|");
}

/* Byte by byte: a frame is whole only once its last byte is in. */
static void test_byte_by_byte(void **state)
{
    struct fixture *fx = *state;
    struct evbuffer *all = evbuffer_new();
    char big[300];
    memset(big, 'x', sizeof(big));
    frame(all, FIN | WS_OP_BINARY, true, big, sizeof(big));
    frame(all, FIN | WS_OP_CLOSE, true,
          "\x03\xe8"
          "bye",
          5);
    while (evbuffer_get_length(all) > 0) {
        evbuffer_remove_buffer(all, fx->in, 1);
        assert_int_equal(wsframe_parse(fx->f, fx->in), 0);
    }
    assert_string_equal(seen(fx), "B:300|close:1000:bye|");
    evbuffer_free(all);
}

static void expect_failure(struct fixture *fx, int code)
{
    assert_int_equal(wsframe_parse(fx->f, fx->in), code);
    /* A failed parser stays failed. */
    frame(fx->in, FIN | WS_OP_TEXT, true, "later", 5);
    assert_int_equal(wsframe_parse(fx->f, fx->in), code);
    assert_string_equal(seen(fx), "");
}

static void test_unmasked(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_TEXT, false, "hi", 2);
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_reserved_bits(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | 0x40 | WS_OP_TEXT, true, "hi", 2);
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_unknown_opcode(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | 0x3, true, "hi", 2);
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_continuation_without_start(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_CONT, true, "hi", 2);
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_new_message_inside_fragments(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, WS_OP_TEXT, true, "a", 1);
    frame(fx->in, FIN | WS_OP_BINARY, true, "b", 1);
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_fragmented_control(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, WS_OP_PING, true, "a", 1);
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_long_control(void **state)
{
    struct fixture *fx = *state;
    char p[126];
    memset(p, 'p', sizeof(p));
    frame(fx->in, FIN | WS_OP_PING, true, p, sizeof(p));
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

/* A 16-bit length field carrying a length that fits in 7 bits. */
static void test_non_minimal_length(void **state)
{
    struct fixture *fx = *state;
    const unsigned char h[] = {
        FIN | WS_OP_TEXT, 0x80 | 126, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
    evbuffer_add(fx->in, h, sizeof(h));
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_invalid_utf8(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_TEXT, true, "bad \xc0\xaf", 6); /* overlong '/' */
    expect_failure(fx, WS_CLOSE_BAD_DATA);
}

static void test_truncated_utf8_at_message_end(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, WS_OP_TEXT, true, "ok", 2);
    frame(fx->in, FIN | WS_OP_CONT, true, "\xe2\x82", 2);
    expect_failure(fx, WS_CLOSE_BAD_DATA);
}

static void test_close_codes(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_CLOSE, true, "\x0f\xa1", 2); /* 4001 is an application code */
    frame(fx->in, FIN | WS_OP_CLOSE, true, NULL, 0);
    assert_int_equal(wsframe_parse(fx->f, fx->in), 0);
    assert_string_equal(seen(fx), "close:4001:|close:1005:|");
    assert_true(wsframe_valid_close_code(1000));
    assert_true(wsframe_valid_close_code(1014));
    assert_true(wsframe_valid_close_code(4999));
    assert_false(wsframe_valid_close_code(999));
    assert_false(wsframe_valid_close_code(1004));
    assert_false(wsframe_valid_close_code(1005));
    assert_false(wsframe_valid_close_code(1006));
    assert_false(wsframe_valid_close_code(1015));
    assert_false(wsframe_valid_close_code(2999));
    assert_false(wsframe_valid_close_code(5000));
}

static void test_close_bad_code(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_CLOSE, true, "\x03\xed", 2); /* 1005 must never be sent */
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_close_one_byte(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_CLOSE, true, "\x03", 1);
    expect_failure(fx, WS_CLOSE_PROTOCOL);
}

static void test_close_bad_reason(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_CLOSE, true, "\x03\xe8\xff", 3);
    expect_failure(fx, WS_CLOSE_BAD_DATA);
}

/* A frame announcing more than the limit fails at its header, before any payload. */
static void test_oversized_frame(void **state)
{
    struct fixture *fx = *state;
    frame(fx->in, FIN | WS_OP_BINARY, true, NULL, (uint64_t)1 << 40);
    evbuffer_add(fx->in, "x", 1);
    expect_failure(fx, WS_CLOSE_TOO_BIG);
}

static void test_oversized_message(void **state)
{
    struct fixture *fx = *state;
    char part[600];
    memset(part, 'y', sizeof(part));
    frame(fx->in, WS_OP_BINARY, true, part, sizeof(part));
    frame(fx->in, FIN | WS_OP_CONT, true, part, sizeof(part));
    expect_failure(fx, WS_CLOSE_TOO_BIG);
}

static void test_exactly_the_limit(void **state)
{
    struct fixture *fx = *state;
    char part[MAX_MESSAGE];
    memset(part, 'z', sizeof(part));
    frame(fx->in, WS_OP_BINARY, true, part, 400);
    frame(fx->in, FIN | WS_OP_CONT, true, part, MAX_MESSAGE - 400);
    assert_int_equal(wsframe_parse(fx->f, fx->in), 0);
    assert_string_equal(seen(fx), "B:1000|");
}

/* A callback that returns false stops the parse; the next call goes on where it stopped. */
static void test_stop_and_go_on(void **state)
{
    struct fixture *fx = *state;
    fx->seen.stop_after = 1;
    frame(fx->in, FIN | WS_OP_TEXT, true, "one", 3);
    frame(fx->in, FIN | WS_OP_TEXT, true, "two", 3);
    assert_int_equal(wsframe_parse(fx->f, fx->in), 0);
    assert_string_equal(seen(fx), "T:one|");
    assert_int_equal(wsframe_parse(fx->f, fx->in), 0);
    assert_string_equal(seen(fx), "T:one|T:two|");
}

/* Server frames: unmasked, FIN, the three length forms. */
static void test_write(void **state)
{
    struct fixture *fx = *state;
    struct evbuffer *out = evbuffer_new();
    size_t sizes[] = {0, 125, 126, 65535, 65536};
    size_t heads[] = {2, 2, 4, 4, 10};
    char *data = calloc(1, 65536);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(wsframe_write(fx->f, out, WS_OP_BINARY, data, sizes[i]), 0);
        assert_int_equal(evbuffer_get_length(out), heads[i] + sizes[i]);
        unsigned char h[2];
        evbuffer_copyout(out, h, 2);
        assert_int_equal(h[0], FIN | WS_OP_BINARY);
        assert_int_equal(h[1] & 0x80, 0);
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    free(data);
    evbuffer_free(out);
}

/* A close reason longer than a control frame allows is cut, never inside a character. */
static void test_write_close(void **state)
{
    struct fixture *fx = *state;
    struct evbuffer *out = evbuffer_new();
    struct strbuf reason = STRBUF_INIT;
    for (int i = 0; i < 100; i++)
        strbuf_append_str(&reason, "\xc3\xa9"); /* 200 bytes */
    assert_int_equal(wsframe_write_close(fx->f, out, 4001, reason.data), 0);
    unsigned char h[4];
    evbuffer_copyout(out, h, 4);
    assert_int_equal(h[0], FIN | WS_OP_CLOSE);
    assert_int_equal(h[1], 2 + 122);
    assert_int_equal((h[2] << 8) | h[3], 4001);
    strbuf_free(&reason);
    evbuffer_free(out);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_text_and_binary),
        T(test_fragments_and_control_between),
        T(test_byte_by_byte),
        T(test_unmasked),
        T(test_reserved_bits),
        T(test_unknown_opcode),
        T(test_continuation_without_start),
        T(test_new_message_inside_fragments),
        T(test_fragmented_control),
        T(test_long_control),
        T(test_non_minimal_length),
        T(test_invalid_utf8),
        T(test_truncated_utf8_at_message_end),
        T(test_close_codes),
        T(test_close_bad_code),
        T(test_close_one_byte),
        T(test_close_bad_reason),
        T(test_oversized_frame),
        T(test_oversized_message),
        T(test_exactly_the_limit),
        T(test_stop_and_go_on),
        T(test_write),
        T(test_write_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
