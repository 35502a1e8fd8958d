/* The PTY protocol's text frames (worker/pty/ptyframe.c): server frames in the Go daemon's
 * key order, client frames read as the Go daemon reads them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "pty/ptyframe.h"

static void expect_render(const struct ptyframe *f, const char *want)
{
    struct strbuf out = STRBUF_INIT;
    ptyframe_render(&out, f);
    assert_string_equal(out.data, want);
    strbuf_free(&out);
}

static void test_render(void **state)
{
    (void)state;
    struct ptyframe connected = {.type = "connected", .session_id = "s-1", .mode = "pty"};
    expect_render(&connected, "{\"type\":\"connected\",\"session_id\":\"s-1\",\"mode\":\"pty\"}");
    struct ptyframe pong = {.type = "pong"};
    expect_render(&pong, "{\"type\":\"pong\"}");
    struct ptyframe exit0 = {.type = "exit", .has_exit_code = true, .exit_code = 0};
    expect_render(&exit0, "{\"type\":\"exit\",\"exit_code\":0}");
    struct ptyframe err = {.type = "error", .error = "unknown frame type \"<x>\"", .code = "E"};
    expect_render(&err, "{\"type\":\"error\",\"error\":\"unknown frame type "
                        "\\\"\\u003cx\\u003e\\\"\",\"code\":\"E\"}");
}

static enum ptyframe_kind parse(const char *text, struct ptyframe_in *in)
{
    return ptyframe_parse(text, strlen(text), in);
}

static void test_parse(void **state)
{
    (void)state;
    struct ptyframe_in in;
    assert_int_equal(parse("{\"type\":\"stdin\",\"data\":\"ls\\n\"}", &in), PTYFRAME_STDIN);
    assert_int_equal(in.len, 3);
    assert_memory_equal(in.data, "ls\n", 3);
    ptyframe_in_free(&in);

    assert_int_equal(parse("{\"type\":\"resize\",\"cols\":120,\"rows\":40}", &in), PTYFRAME_RESIZE);
    assert_int_equal(in.cols, 120);
    assert_int_equal(in.rows, 40);
    ptyframe_in_free(&in);

    assert_int_equal(parse("{\"type\":\"signal\",\"signal\":\"SIGINT\"}", &in), PTYFRAME_SIGNAL);
    assert_int_equal(in.signo, SIGINT);
    ptyframe_in_free(&in);
    const char *names[] = {"SIGTERM", "SIGKILL", "SIGQUIT", "SIGHUP"};
    const int signos[] = {SIGTERM, SIGKILL, SIGQUIT, SIGHUP};
    for (int i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof(text), "{\"type\":\"signal\",\"signal\":\"%s\"}", names[i]);
        assert_int_equal(parse(text, &in), PTYFRAME_SIGNAL);
        assert_int_equal(in.signo, signos[i]);
        ptyframe_in_free(&in);
    }
    assert_int_equal(parse("{\"type\":\"signal\",\"signal\":\"SIGUSR1\"}", &in), PTYFRAME_SIGNAL);
    assert_int_equal(in.signo, 0); /* not allowed: ignored */
    ptyframe_in_free(&in);

    assert_int_equal(parse("{\"type\":\"ping\"}", &in), PTYFRAME_PING);
    ptyframe_in_free(&in);
    assert_int_equal(parse("{\"type\":\"x\"}", &in), PTYFRAME_UNKNOWN);
    assert_string_equal(in.type, "x");
    ptyframe_in_free(&in);
    assert_int_equal(parse("{}", &in), PTYFRAME_UNKNOWN); /* type "" */
    assert_string_equal(in.type, "");
    ptyframe_in_free(&in);
}

/* What Go's json.Unmarshal refuses is ignored without an answer. */
static void test_ignored(void **state)
{
    (void)state;
    const char *bad[] = {
        "{not json",
        "[1,2]",
        "\"stdin\"",
        "{\"type\":7}",
        "{\"type\":\"stdin\",\"data\":5}",
        "{\"type\":\"resize\",\"cols\":\"80\",\"rows\":24}",
        "{\"type\":\"resize\",\"cols\":-1,\"rows\":24}",
        "{\"type\":\"resize\",\"cols\":70000,\"rows\":24}",
        "{\"type\":\"signal\",\"signal\":9}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ptyframe_in in;
        assert_int_equal(parse(bad[i], &in), PTYFRAME_IGNORED);
        ptyframe_in_free(&in);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
