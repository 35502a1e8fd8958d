/* Environments as ordered KEY=VALUE lists: set, replace, get, merge, import, growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "envmap.h"

static void test_set_get_replace(void **state)
{
    (void)state;
    struct envmap env;
    envmap_init(&env);
    assert_null(envmap_get(&env, "A"));
    envmap_set(&env, "A", "1");
    envmap_set(&env, "AB", "2");
    envmap_set(&env, "B", "");
    assert_string_equal(envmap_get(&env, "A"), "1");
    assert_string_equal(envmap_get(&env, "AB"), "2");
    assert_string_equal(envmap_get(&env, "B"), "");
    /* a prefix of a name is another name */
    assert_null(envmap_get(&env, "ABC"));
    envmap_set(&env, "A", "one=with=equals");
    assert_int_equal(env.len, 3);
    assert_string_equal(env.entries[0], "A=one=with=equals"); /* replaced in place */
    assert_string_equal(envmap_get(&env, "A"), "one=with=equals");
    assert_null(env.entries[env.len]); /* ready for execve */
    envmap_set_n(&env, "KEYxx", 3, "valuexx", 5);
    assert_string_equal(envmap_get(&env, "KEY"), "value");
    assert_string_equal(envmap_lookup("AB", &env), "2");
    assert_null(envmap_lookup("nope", &env));
    envmap_free(&env);
    assert_int_equal(env.len, 0);
    assert_null(env.entries);
    envmap_free(&env); /* twice is fine */
}

static void test_growth(void **state)
{
    (void)state;
    struct envmap env;
    envmap_init(&env);
    char key[16], value[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "K%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        envmap_set(&env, key, value);
        assert_null(env.entries[env.len]);
    }
    assert_int_equal(env.len, 1000);
    assert_string_equal(env.entries[999], "K999=v999"); /* insertion order kept */
    assert_string_equal(envmap_get(&env, "K500"), "v500");
    envmap_free(&env);
}

static void test_from_environ_and_merge(void **state)
{
    (void)state;
    char *const environ_[] = {"PATH=/bin", "NOEQUALS", "=novalue", "EMPTY=", "X=1", "X=2", NULL};
    struct envmap env, over;
    envmap_init(&env);
    envmap_from_environ(&env, environ_);
    assert_int_equal(env.len, 3); /* malformed entries skipped, a duplicate replaces */
    assert_string_equal(envmap_get(&env, "PATH"), "/bin");
    assert_string_equal(envmap_get(&env, "EMPTY"), "");
    assert_string_equal(envmap_get(&env, "X"), "2");
    envmap_from_environ(&env, NULL);
    assert_int_equal(env.len, 3);

    envmap_init(&over);
    envmap_set(&over, "X", "request");
    envmap_set(&over, "NEW", "n");
    envmap_merge(&env, &over);
    assert_int_equal(env.len, 4);
    assert_string_equal(envmap_get(&env, "X"), "request");
    assert_string_equal(envmap_get(&env, "NEW"), "n");
    assert_string_equal(envmap_get(&env, "PATH"), "/bin");
    envmap_merge(&env, &over); /* merging again changes nothing */
    assert_int_equal(env.len, 4);
    struct envmap empty;
    envmap_init(&empty);
    envmap_merge(&env, &empty);
    assert_int_equal(env.len, 4);
    envmap_free(&over);
    envmap_free(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get_replace),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_from_environ_and_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
