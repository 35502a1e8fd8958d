/* The EXECD_ENVS file format and environment merging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envfile.h"

static const char *lookup(const char *name, void *arg)
{
    (void)arg;
    return strcmp(name, "BASE_DIR") == 0 ? "/opt/base" : NULL;
}

static void test_parse(void **state)
{
    (void)state;
    struct envmap env;
    envmap_init(&env);
    const char *text = "# a comment\n"
                       "FOO=bar\n"
                       "MALFORMED\n"
                       "   \n"
                       "EMPTY=\n"
                       "  SPACED =  padded value  \r\n"
                       "PATHISH=$BASE_DIR/bin:${UNDEFINED}x\n"
                       "=novalue\n"
                       "EQ=a=b\n"
                       "QUOTED=\"kept\"";
    int skipped = envfile_parse(text, lookup, NULL, &env);
    assert_int_equal(skipped, 2);
    assert_int_equal(env.len, 6);
    assert_string_equal(envmap_get(&env, "FOO"), "bar");
    assert_string_equal(envmap_get(&env, "EMPTY"), "");
    assert_string_equal(envmap_get(&env, "SPACED"), "padded value");
    assert_string_equal(envmap_get(&env, "PATHISH"), "/opt/base/bin:x");
    assert_string_equal(envmap_get(&env, "EQ"), "a=b");
    assert_string_equal(envmap_get(&env, "QUOTED"), "\"kept\"");
    assert_null(envmap_get(&env, "MALFORMED"));
    envmap_free(&env);
}

static void test_load(void **state)
{
    (void)state;
    struct envmap env;
    struct strbuf err = STRBUF_INIT;
    envmap_init(&env);
    assert_int_equal(envfile_load(NULL, &env, &err), -1);
    assert_int_equal(err.len, 0);
    assert_int_equal(envfile_load("", &env, &err), -1);
    assert_int_equal(envfile_load("/no/such/envfile", &env, &err), -1);
    assert_non_null(strstr(err.data, "/no/such/envfile"));

    char path[] = "/tmp/execd-envfile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "A=1\nB=2\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(envfile_load(path, &env, &err), 0);
    assert_string_equal(envmap_get(&env, "B"), "2");
    unlink(path);
    envmap_free(&env);
    strbuf_free(&err);
}

static void test_merge_order(void **state)
{
    (void)state;
    struct envmap base, file, req;
    envmap_init(&base);
    envmap_init(&file);
    envmap_init(&req);
    char *environ_[] = {"KEEP=base", "OVER=base", "BOTH=base", "=bad", "NOEQ", NULL};
    envmap_from_environ(&base, environ_);
    assert_int_equal(base.len, 3);
    envmap_set(&file, "OVER", "file");
    envmap_set(&file, "BOTH", "file");
    envmap_set(&req, "BOTH", "request");
    envmap_set(&req, "NEW", "request");
    envmap_merge(&base, &file);
    envmap_merge(&base, &req);
    assert_string_equal(envmap_get(&base, "KEEP"), "base");
    assert_string_equal(envmap_get(&base, "OVER"), "file");
    assert_string_equal(envmap_get(&base, "BOTH"), "request");
    assert_string_equal(envmap_get(&base, "NEW"), "request");
    assert_null(base.entries[base.len]);
    envmap_free(&base);
    envmap_free(&file);
    envmap_free(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_merge_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
