/* Path expansion: $VAR, ${VAR}, ~, undefined variables, cleaning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envmap.h"
#include "pathexp.h"

static struct envmap env;

static int setup(void **state)
{
    (void)state;
    envmap_init(&env);
    envmap_set(&env, "HOME", "/home/u");
    envmap_set(&env, "BASE_DIR", "base");
    envmap_set(&env, "MID", "middle");
    envmap_set(&env, "EMPTY", "");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    envmap_free(&env);
    return 0;
}

static void expand_ok(const char *in, const char *want)
{
    struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    if (pathexp_expand(in, envmap_lookup, &env, &out, &err) != 0)
        fail_msg("%s: unexpected error %s", in, err.data);
    assert_string_equal(out.data ? out.data : "", want);
    strbuf_free(&out);
    strbuf_free(&err);
}

static void expand_err(const char *in, const char *want_err)
{
    struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(pathexp_expand(in, envmap_lookup, &env, &out, &err), -1);
    assert_string_equal(err.data, want_err);
    assert_true(out.len == 0);
    strbuf_free(&out);
    strbuf_free(&err);
}

static void test_variables(void **state)
{
    (void)state;
    expand_ok("~/docs/$BASE_DIR", "/home/u/docs/base");
    expand_ok("", "");
    expand_ok("/a/$MID/b", "/a/middle/b");
    expand_ok("/a/${MID}x", "/a/middlex");
    expand_ok("/a/$EMPTY/b", "/a//b");
    expand_ok("/cost$", "/cost$");
    expand_ok("/a$.b", "/a$.b");
    expand_ok("~", "/home/u");
    expand_ok("~user/x", "~user/x");
    expand_ok("/x/~/y", "/x/~/y");
}

static void test_undefined(void **state)
{
    (void)state;
    expand_err("/a/$NOPE/b", "path references undefined environment variables: NOPE");
    expand_err("$ZED/${ALPHA}/$ZED", "path references undefined environment variables: ALPHA,ZED");
    expand_err("/tmp/$1", "path references undefined environment variables: 1");
}

static void test_request_overrides(void **state)
{
    (void)state;
    struct envmap over;
    envmap_init(&over);
    envmap_set(&over, "MID", "from-request");
    envmap_set(&over, "ONLY", "only");
    envmap_merge(&env, &over);
    expand_ok("$MID/$ONLY", "from-request/only");
    envmap_free(&over);
}

static void clean(const char *in, const char *want)
{
    struct strbuf out = STRBUF_INIT;
    pathexp_clean(in, &out);
    assert_string_equal(out.data, want);
    strbuf_free(&out);
}

static void test_clean(void **state)
{
    (void)state;
    clean("/a//b/./c/", "/a/b/c");
    clean("/a/b/../../..", "/");
    clean("a/../../b", "../b");
    clean("", ".");
    clean("/", "/");
    clean("./", ".");
    clean("/../x", "/x");
}

static void test_abs(void **state)
{
    (void)state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, want = STRBUF_INIT;
    assert_int_equal(pathexp_expand_abs("sub/../file", envmap_lookup, &env, &out, &err), 0);
    strbuf_printf(&want, "%s/file", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(out.data, want.data);
    strbuf_free(&out);
    strbuf_free(&err);
    strbuf_free(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables),
        cmocka_unit_test(test_undefined),
        cmocka_unit_test(test_request_overrides),
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_abs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
