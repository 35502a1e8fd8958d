/* Route matching against the real route table: found, 404, 405 with Allow, {param} decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"

struct match {
    enum router_result rc;
    const struct route *route;
    char *params[HTTP_MAX_PARAMS];
    struct strbuf allow;
};

static void match(const char *method, const char *path, struct match *m)
{
    memset(m, 0, sizeof(*m));
    strbuf_init(&m->allow);
    strbuf_append_str(&m->allow, "");
    m->rc = router_match(method, path, &m->route, m->params, &m->allow);
}

static void match_free(struct match *m)
{
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(m->params[i]);
    strbuf_free(&m->allow);
}

static void expect_found(const char *method, const char *path, const char *pattern,
                         const char *param0)
{
    struct match m;
    match(method, path, &m);
    if (m.rc != ROUTER_FOUND)
        fail_msg("%s %s: not found (%d)", method, path, m.rc);
    assert_string_equal(m.route->method, method);
    assert_string_equal(m.route->pattern, pattern);
    if (param0 == NULL)
        assert_null(m.params[0]);
    else
        assert_string_equal(m.params[0], param0);
    match_free(&m);
}

static void expect_rc(const char *method, const char *path, enum router_result rc,
                      const char *allow)
{
    struct match m;
    match(method, path, &m);
    if (m.rc != rc)
        fail_msg("%s %s: %d, want %d", method, path, m.rc, rc);
    assert_string_equal(m.allow.data, allow);
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        assert_null(m.params[i]);
    match_free(&m);
}

/* Every route of the table is reached by its own method and path. */
static void test_every_route(void **state)
{
    (void)state;
    for (size_t i = 0; i < routes_count; i++) {
        struct strbuf path = STRBUF_INIT;
        const char *p = routes[i].pattern;
        bool param = strchr(p, '{') != NULL;
        while (*p) {
            if (*p == '{') {
                strbuf_append_str(&path, "some-id");
                p = strchr(p, '}') + 1;
            } else {
                strbuf_append_char(&path, *p++);
            }
        }
        expect_found(routes[i].method, path.data, routes[i].pattern, param ? "some-id" : NULL);
        strbuf_free(&path);
    }
}

static void test_found(void **state)
{
    (void)state;
    expect_found("GET", "/ping", "/ping", NULL);
    expect_found("GET", "/ping/", "/ping", NULL); /* one trailing slash is tolerated */
    expect_found("POST", "/command", "/command", NULL);
    expect_found("DELETE", "/command", "/command", NULL);
    expect_found("GET", "/command/status/abc", "/command/status/{id}", "abc");
    expect_found("GET", "/command/abc/logs", "/command/{id}/logs", "abc");
    /* the first route that fits wins: "logs" is a status id here */
    expect_found("GET", "/command/status/logs", "/command/status/{id}", "logs");
    expect_found("GET", "/code/contexts", "/code/contexts", NULL);
    expect_found("GET", "/code/contexts/", "/code/contexts", NULL);
    expect_found("DELETE", "/code/contexts/x", "/code/contexts/{id}", "x");
    /* {param} values are percent-decoded; '+' stays; a malformed escape is kept raw */
    expect_found("GET", "/code/contexts/a%20b%2Fc", "/code/contexts/{id}", "a b/c");
    expect_found("GET", "/code/contexts/a+b", "/code/contexts/{id}", "a+b");
    expect_found("GET", "/code/contexts/%zz", "/code/contexts/{id}", "%zz");
    expect_found("GET", "/code/contexts/50%", "/code/contexts/{id}", "50%");

    struct match m;
    match("POST", "/files/upload", &m);
    assert_int_equal(m.rc, ROUTER_FOUND);
    assert_true(m.route->flags & ROUTE_STREAMED_BODY);
    match_free(&m);
    match("POST", "/files/mv", &m);
    assert_false(m.route->flags & ROUTE_STREAMED_BODY);
    match_free(&m);
}

static void test_not_found(void **state)
{
    (void)state;
    expect_rc("GET", "/", ROUTER_NO_PATH, "");
    expect_rc("GET", "", ROUTER_NO_PATH, "");
    expect_rc("GET", "/pingx", ROUTER_NO_PATH, "");
    expect_rc("GET", "/ping//", ROUTER_NO_PATH, "");
    expect_rc("GET", "//ping", ROUTER_NO_PATH, "");
    expect_rc("GET", "/ping/extra", ROUTER_NO_PATH, "");
    expect_rc("GET", "/PING", ROUTER_NO_PATH, "");
    expect_rc("GET", "/command/status", ROUTER_NO_PATH, "");
    expect_rc("GET", "/command/status/", ROUTER_NO_PATH, "");  /* {id} is never empty */
    expect_rc("GET", "/command//logs", ROUTER_NO_PATH, "");    /* nor here */
    expect_rc("GET", "/command/a/b/logs", ROUTER_NO_PATH, ""); /* one segment only */
    expect_rc("GET", "/code/contexts/a/b", ROUTER_NO_PATH, "");
    expect_rc("BREW", "/nope", ROUTER_NO_PATH, "");
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    expect_rc("PUT", "/ping", ROUTER_NO_METHOD, "GET");
    expect_rc("POST", "/ping/", ROUTER_NO_METHOD, "GET");
    expect_rc("GET", "/command", ROUTER_NO_METHOD, "POST, DELETE");
    expect_rc("PATCH", "/code/contexts", ROUTER_NO_METHOD, "GET, DELETE");
    expect_rc("POST", "/code/contexts/x", ROUTER_NO_METHOD, "GET, DELETE");
    expect_rc("DELETE", "/command/status/x", ROUTER_NO_METHOD, "GET");
    expect_rc("GET", "/files/upload", ROUTER_NO_METHOD, "POST");
    expect_rc("get", "/ping", ROUTER_NO_METHOD, "GET"); /* methods are case-sensitive */
}

static void expect_unescape(const char *in, bool plus, int rc, const char *out, size_t out_len)
{
    struct strbuf b = STRBUF_INIT;
    assert_int_equal(router_unescape(in, strlen(in), plus, &b), rc);
    if (rc == 0) {
        assert_int_equal(b.len, out_len);
        assert_memory_equal(b.data, out, out_len);
    }
    strbuf_free(&b);
}

static void test_unescape(void **state)
{
    (void)state;
    expect_unescape("", false, 0, "", 0);
    expect_unescape("plain", false, 0, "plain", 5);
    expect_unescape("%41%4a%4A", false, 0, "AJJ", 3);
    expect_unescape("a+b", true, 0, "a b", 3);
    expect_unescape("a+b", false, 0, "a+b", 3);
    expect_unescape("%2B", true, 0, "+", 1);
    expect_unescape("x%00y", false, 0, "x\0y", 3);
    expect_unescape("%e2%82%ac", false, 0, "\xe2\x82\xac", 3);
    expect_unescape("%", false, -1, NULL, 0);
    expect_unescape("%4", false, -1, NULL, 0);
    expect_unescape("ab%4", false, -1, NULL, 0);
    expect_unescape("%g1", false, -1, NULL, 0);
    expect_unescape("%1g", false, -1, NULL, 0);
    /* the buffer is reset first */
    struct strbuf b = STRBUF_INIT;
    strbuf_append_str(&b, "old");
    assert_int_equal(router_unescape("new", 3, false, &b), 0);
    assert_string_equal(b.data, "new");
    strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route), cmocka_unit_test(test_found),
        cmocka_unit_test(test_not_found),   cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
