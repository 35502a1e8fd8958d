/* The port proxy's parsers: a backend's response head, the end of a chunked body, targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxy/chunkscan.h"
#include "proxy/proxy.h"
#include "proxy/resphead.h"

static void test_head(void **state)
{
    (void)state;
    const char *text = "HTTP/1.1 403 Forbidden\r\nContent-Length: 8\r\nX-A:  v w \r\n"
                       "Connection: close, X-Hop\r\n\r\nno entry";
    long len = resphead_length(text, strlen(text));
    assert_int_equal(len, (long)(strlen(text) - 8));
    struct resphead h;
    assert_int_equal(resphead_parse(text, (size_t)len, &h), 0);
    assert_int_equal(h.status, 403);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.reason_len, 9);
    assert_int_equal(h.n_fields, 3);
    size_t vlen;
    const char *v = resphead_get(&h, "x-a", &vlen);
    assert_int_equal(vlen, 3);
    assert_memory_equal(v, "v w", 3);
    v = resphead_get(&h, "connection", &vlen);
    assert_true(resphead_has_token(v, vlen, "x-hop"));
    assert_true(resphead_has_token(v, vlen, "Close"));
    assert_false(resphead_has_token(v, vlen, "keep-alive"));
    assert_null(resphead_get(&h, "missing", &vlen));

    assert_int_equal(resphead_length("HTTP/1.0 200\n\n", 14), 14); /* bare LFs, no reason */
    assert_int_equal(resphead_parse("HTTP/1.0 200\n\n", 14, &h), 0);
    assert_int_equal(h.reason_len, 0);
    assert_int_equal(resphead_length("HTTP/1.1 200 OK\r\nA: b\r\n", 23), 0); /* not complete */
}

static void test_bad_heads(void **state)
{
    (void)state;
    struct resphead h;
    const char *bad[] = {"HTTP/2 200 OK\r\n\r\n",
                         "HTTP/1.1 20 OK\r\n\r\n",
                         "ICY 200 OK\r\n\r\n",
                         "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
                         "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
                         "HTTP/1.1 200 OK\r\nBad name: x\r\n\r\n",
                         "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(resphead_parse(bad[i], strlen(bad[i]), &h), -1);
    static char big[RESPHEAD_MAX_BYTES + 10];
    memset(big, 'a', sizeof(big));
    assert_int_equal(resphead_length(big, sizeof(big)), -1);
}

/* fuzz_proxy: a reason is passed on to the client as it is, as values are. */
static void test_reason_refused(void **state)
{
    (void)state;
    struct resphead h;
    const char cr[] = "HTTP/1.1 502 Bad\rGateway\r\nServer: x\r\n\r\n";
    const char nul[] = "HTTP/1.1 200 O\0K\r\n\r\n";
    assert_int_equal(resphead_parse(cr, sizeof(cr) - 1, &h), -1);
    assert_int_equal(resphead_parse(nul, sizeof(nul) - 1, &h), -1);
}

/*
 * fuzz_proxy: a head ending just past the limit was refused when the limit's worth of
 * bytes had arrived, and taken when one more had.
 */
static void test_head_at_limit(void **state)
{
    (void)state;
    static char buf[RESPHEAD_MAX_BYTES + 8];
    memset(buf, 'x', sizeof(buf));
    memcpy(buf + RESPHEAD_MAX_BYTES - 3, "\r\n\r\n", 4); /* ends at the limit + 1 */
    assert_int_equal(resphead_length(buf, RESPHEAD_MAX_BYTES), -1);
    assert_int_equal(resphead_length(buf, RESPHEAD_MAX_BYTES + 1), -1);
    assert_int_equal(resphead_length(buf, sizeof(buf)), -1);
    memset(buf, 'x', sizeof(buf));
    memcpy(buf + RESPHEAD_MAX_BYTES - 4, "\r\n\r\n", 4); /* ends at the limit */
    assert_int_equal(resphead_length(buf, RESPHEAD_MAX_BYTES - 1), 0);
    assert_int_equal(resphead_length(buf, RESPHEAD_MAX_BYTES), RESPHEAD_MAX_BYTES);
    assert_int_equal(resphead_length(buf, sizeof(buf)), RESPHEAD_MAX_BYTES);
}

static size_t scan_all(const char *body, size_t step, enum chunkscan_state *end)
{
    struct chunkscan s;
    chunkscan_init(&s);
    size_t used = 0, len = strlen(body);
    while (used < len && s.state != CS_DONE && s.state != CS_ERROR) {
        size_t n = len - used < step ? len - used : step;
        used += chunkscan_feed(&s, body + used, n);
    }
    *end = s.state;
    return used;
}

static void test_chunks(void **state)
{
    (void)state;
    const char *body = "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
                       "Trailer: x\r\n\r\nNEXT";
    for (size_t step = 1; step < 12; step++) {
        enum chunkscan_state end;
        size_t used = scan_all(body, step, &end);
        assert_int_equal(end, CS_DONE);
        assert_int_equal(used, strlen(body) - 4); /* stops before what follows */
    }
    enum chunkscan_state end;
    assert_int_equal(scan_all("0\n\n", 1, &end), 3);
    assert_int_equal(end, CS_DONE);
    scan_all("zz\r\n", 2, &end);
    assert_int_equal(end, CS_ERROR);
    scan_all("3\r\nabcX\r\n", 3, &end);
    assert_int_equal(end, CS_ERROR);
    scan_all("\r\n", 2, &end);
    assert_int_equal(end, CS_ERROR);
    scan_all("5\r\nab", 4, &end);
    assert_int_equal(end, CS_DATA);
}

static void test_targets(void **state)
{
    (void)state;
    int port = 0;
    const char *rest = NULL;
    assert_int_equal(proxy_target("/proxy/8080/a/b", &port, &rest), PROXY_TARGET_OK);
    assert_int_equal(port, 8080);
    assert_string_equal(rest, "/a/b");
    assert_int_equal(proxy_target("/proxy/44772", &port, &rest), PROXY_TARGET_OK);
    assert_string_equal(rest, "/");
    assert_int_equal(proxy_target("/proxy/", &port, &rest), PROXY_NO_PORT);
    assert_int_equal(proxy_target("/proxy//x", &port, &rest), PROXY_NO_PORT);
    assert_int_equal(proxy_target("/proxy", &port, &rest), PROXY_NO_PORT);
    assert_int_equal(proxy_target("/proxy/abc/x", &port, &rest), PROXY_BAD_PORT);
    assert_int_equal(proxy_target("/proxy/0/x", &port, &rest), PROXY_BAD_PORT);
    assert_int_equal(proxy_target("/proxy/65536/x", &port, &rest), PROXY_BAD_PORT);
    assert_int_equal(proxy_target("/proxy/123456/x", &port, &rest), PROXY_BAD_PORT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head),           cmocka_unit_test(test_bad_heads),
        cmocka_unit_test(test_reason_refused), cmocka_unit_test(test_head_at_limit),
        cmocka_unit_test(test_chunks),         cmocka_unit_test(test_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
