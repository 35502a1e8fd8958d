/* Range header parsing of GET /files/download (api-contract §7.8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>

#include "files/httprange.h"

struct rcase {
    const char *header;
    int64_t size;
    enum httprange_kind want;
    int64_t start, length;
};

static void check(const struct rcase *c, size_t n)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        struct httprange r = {-1, -1};
        enum httprange_kind k = httprange_parse(c[i].header, c[i].size, &r);
        bool ok = k == c[i].want;
        if (ok && k == HTTPRANGE_OK)
            ok = r.start == c[i].start && r.length == c[i].length;
        if (!ok) {
            failures++;
            fprintf(stderr, "# '%s' size %lld: got kind %d (%lld,%lld), want %d (%lld,%lld)\n",
                    c[i].header ? c[i].header : "(null)", (long long)c[i].size, (int)k,
                    (long long)r.start, (long long)r.length, (int)c[i].want, (long long)c[i].start,
                    (long long)c[i].length);
        }
    }
    assert_int_equal(failures, 0);
}

/* The cases of the Go unit test (runtime-behavior.md §13). */
static void test_contract_cases(void **state)
{
    (void)state;
    static const struct rcase cases[] = {
        {"bytes=0-9", 20, HTTPRANGE_OK, 0, 10},
        {"bytes=-5", 10, HTTPRANGE_OK, 5, 5},
        {"bytes=foo", 10, HTTPRANGE_MALFORMED, 0, 0},
    };
    check(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_forms(void **state)
{
    (void)state;
    static const struct rcase cases[] = {
        {NULL, 10, HTTPRANGE_NONE, 0, 0},
        {"", 10, HTTPRANGE_NONE, 0, 0},
        {"bytes=5-", 10, HTTPRANGE_OK, 5, 5},
        {"bytes=0-0", 10, HTTPRANGE_OK, 0, 1},
        {"bytes=9-9", 10, HTTPRANGE_OK, 9, 1},
        {"bytes=0-100", 10, HTTPRANGE_OK, 0, 10},
        {"bytes=3-100", 10, HTTPRANGE_OK, 3, 7},
        {"bytes=-100", 10, HTTPRANGE_OK, 0, 10},
        {"bytes=-10", 10, HTTPRANGE_OK, 0, 10},
        {"bytes=-1", 10, HTTPRANGE_OK, 9, 1},
        {"bytes= 1 - 2 ", 10, HTTPRANGE_OK, 1, 2},
        {"bytes=\t1-2", 10, HTTPRANGE_OK, 1, 2},
        {"bytes=0-9223372036854775807", 10, HTTPRANGE_OK, 0, 10},
        {"bytes=0-", 9223372036854775807LL, HTTPRANGE_OK, 0, 9223372036854775807LL},
    };
    check(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Several ranges: the first satisfiable one wins, but every item must parse. */
static void test_lists(void **state)
{
    (void)state;
    static const struct rcase cases[] = {
        {"bytes=0-1,5-6", 10, HTTPRANGE_OK, 0, 2},
        {"bytes=20-30,2-3", 10, HTTPRANGE_OK, 2, 2},
        {"bytes=10-,-0,4-", 10, HTTPRANGE_OK, 4, 6},
        {"bytes=,,1-1,", 10, HTTPRANGE_OK, 1, 1},
        {"bytes=0-1,foo", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=0-1,3-2", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=", 10, HTTPRANGE_NONE, 0, 0},
        {"bytes=,, ,", 10, HTTPRANGE_NONE, 0, 0},
    };
    check(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct rcase cases[] = {
        {"Bytes=0-1", 10, HTTPRANGE_MALFORMED, 0, 0},
        {" bytes=0-1", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"items=0-1", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=5", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=-", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=5-3", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=a-3", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=1-b", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=1-2-3", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=+1-2", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=--5", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=1 2-3", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=0-99999999999999999999", 10, HTTPRANGE_MALFORMED, 0, 0},
        {"bytes=-99999999999999999999", 10, HTTPRANGE_MALFORMED, 0, 0},
        /* malformed wins even in an empty file */
        {"bytes=x", 0, HTTPRANGE_MALFORMED, 0, 0},
    };
    check(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_unsatisfiable(void **state)
{
    (void)state;
    static const struct rcase cases[] = {
        {"bytes=10-", 10, HTTPRANGE_UNSATISFIABLE, 0, 0},
        {"bytes=20-30", 10, HTTPRANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-0", 10, HTTPRANGE_UNSATISFIABLE, 0, 0},
        {"bytes=10-,20-", 10, HTTPRANGE_UNSATISFIABLE, 0, 0},
        {"bytes=9223372036854775807-", 10, HTTPRANGE_UNSATISFIABLE, 0, 0},
        /* a 0-byte file: Go's ServeContent answers 200 with the (empty) body */
        {"bytes=0-9", 0, HTTPRANGE_NONE, 0, 0},
        {"bytes=-5", 0, HTTPRANGE_NONE, 0, 0},
        {"bytes=0-", 0, HTTPRANGE_NONE, 0, 0},
    };
    check(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_headers(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    struct httprange r;

    assert_int_equal(httprange_parse("bytes=0-9", 20, &r), HTTPRANGE_OK);
    httprange_content_range(&sb, &r, 20);
    assert_string_equal(sb.data, "bytes 0-9/20");
    strbuf_reset(&sb);
    assert_int_equal(httprange_parse("bytes=-5", 10, &r), HTTPRANGE_OK);
    httprange_content_range(&sb, &r, 10);
    assert_string_equal(sb.data, "bytes 5-9/10");
    strbuf_reset(&sb);
    httprange_unsatisfied(&sb, 10);
    assert_string_equal(sb.data, "bytes */10");
    strbuf_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_cases), cmocka_unit_test(test_forms),
        cmocka_unit_test(test_lists),          cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_unsatisfiable),  cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
