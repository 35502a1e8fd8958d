/* HTTP dates of Last-Modified and the conditional headers of GET /files/download. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "files/httpdate.h"

/* 1994-11-06 08:49:37 UTC, RFC 9110's example. */
#define EXAMPLE ((time_t)784111777)

static void test_format(void **state)
{
    (void)state;
    char buf[HTTPDATE_LEN];
    httpdate_format(EXAMPLE, buf);
    assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    httpdate_format(0, buf);
    assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    httpdate_format((time_t)4102444799, buf);
    assert_string_equal(buf, "Thu, 31 Dec 2099 23:59:59 GMT");
}

static void test_parse_three_forms(void **state)
{
    (void)state;
    time_t t = 0;
    assert_int_equal(httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    assert_int_equal(t, EXAMPLE);
    t = 0;
    assert_int_equal(httpdate_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    assert_int_equal(t, EXAMPLE);
    t = 0;
    assert_int_equal(httpdate_parse("Sun Nov  6 08:49:37 1994", &t), 0);
    assert_int_equal(t, EXAMPLE);
    /* Two-digit years below 69 are in the 2000s, as Go reads them. */
    assert_int_equal(httpdate_parse("Thursday, 01-Jan-26 00:00:00 GMT", &t), 0);
    assert_int_equal(t, (time_t)1767225600);
}

static void test_round_trip(void **state)
{
    (void)state;
    char buf[HTTPDATE_LEN];
    for (time_t t = 0; t < (time_t)4000000000; t += 86399 * 97) {
        time_t back = -1;
        httpdate_format(t, buf);
        assert_int_equal(httpdate_parse(buf, &back), 0);
        assert_int_equal(back, t);
    }
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t = 12345;
        if (httpdate_parse(bad[i], &t) != -1 || t != 12345)
            fprintf(stderr, "# accepted: '%s'\n", bad[i]);
        assert_int_equal(httpdate_parse(bad[i], &t), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_three_forms),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
