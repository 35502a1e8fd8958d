/* strbuf's NUL-termination promise, and the query/path unescaping built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"
#include "strbuf.h"

/* Leaves a dirty chunk of the size a new buffer gets, for malloc to hand out again. */
static void dirty_heap(void)
{
    char *junk = malloc(64);
    assert_non_null(junk);
    memset(junk, 'X', 64);
    free(junk);
}

static void test_reserve_terminates(void **state)
{
    (void)state;
    dirty_heap();
    struct strbuf sb = STRBUF_INIT;
    strbuf_reserve(&sb, 10);
    assert_non_null(sb.data);
    assert_string_equal(sb.data, "");
    strbuf_append_str(&sb, "abc");
    strbuf_reserve(&sb, 4096); /* growing keeps the text and its end */
    assert_string_equal(sb.data, "abc");
    assert_int_equal(sb.len, 3);
    strbuf_free(&sb);
}

static void test_unescape(void **state)
{
    (void)state;
    dirty_heap();
    struct strbuf out = STRBUF_INIT;
    /* An empty value must read as "", not as whatever the new buffer held. */
    assert_int_equal(router_unescape("", 0, true, &out), 0);
    assert_non_null(out.data);
    assert_string_equal(out.data, "");
    assert_int_equal(router_unescape("a%20b+c%2F", 10, true, &out), 0);
    assert_string_equal(out.data, "a b c/");
    assert_int_equal(router_unescape("a+b", 3, false, &out), 0);
    assert_string_equal(out.data, "a+b");
    assert_int_equal(router_unescape("%E6%B5%8B", 9, true, &out), 0);
    assert_string_equal(out.data, "\xe6\xb5\x8b");
    assert_int_equal(router_unescape("%zz", 3, true, &out), -1);
    assert_int_equal(router_unescape("ab%4", 4, true, &out), -1);
    assert_int_equal(router_unescape("%", 1, true, &out), -1);
    strbuf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_terminates),
        cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
