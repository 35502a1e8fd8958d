/* Line splitting of command and session output: the Go daemon's tail rules, and random
 * output in random reads against byte-at-a-time references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/linesplit.h"

struct lines {
    char *v[64];
    size_t n;
};

static void collect(void *arg, const char *text, size_t len)
{
    struct lines *l = arg;
    assert_true(l->n < 64);
    l->v[l->n] = strndup(text, len);
    l->n++;
}

static void clear(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static void feed_all(const char *const *chunks, size_t n, bool finish, struct lines *out)
{
    struct linesplit ls;
    linesplit_init(&ls, 1 << 20);
    for (size_t i = 0; i < n; i++)
        linesplit_feed(&ls, chunks[i], strlen(chunks[i]), collect, out);
    if (finish)
        linesplit_finish(&ls, collect, out);
    linesplit_free(&ls);
}

static void expect(const struct lines *l, const char *const *want, size_t n)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->v[i], want[i]);
}

static void test_blank_lines_are_newline_events(void **state)
{
    (void)state;
    const char *in[] = {"a\n\nb\n\n\nc\n"};
    const char *want[] = {"a", "\n", "b", "\n", "\n", "c"};
    struct lines l = {0};
    feed_all(in, 1, true, &l);
    expect(&l, want, 6);
    clear(&l);
}

static void test_cr_and_crlf(void **state)
{
    (void)state;
    const char *in[] = {"line1\nprog 10%\rprog 20%\rprog 30%\nlast\n"};
    const char *want[] = {"line1", "prog 10%", "prog 20%", "prog 30%", "last"};
    struct lines l = {0};
    feed_all(in, 1, true, &l);
    expect(&l, want, 5);
    clear(&l);

    const char *in2[] = {"a\n\nb\n\n\nc\n\r\nd\n"};
    const char *want2[] = {"a", "\n", "b", "\n", "\n", "c", "\n", "d"};
    feed_all(in2, 1, true, &l);
    expect(&l, want2, 8);
    clear(&l);
}

static void test_crlf_split_across_reads(void **state)
{
    (void)state;
    const char *in[] = {"a\r", "\nb\n"};
    const char *want[] = {"a", "b"};
    struct lines l = {0};
    feed_all(in, 2, true, &l);
    expect(&l, want, 2);
    clear(&l);

    const char *in2[] = {"\r", "\n"};
    const char *want2[] = {"\n"};
    feed_all(in2, 2, true, &l);
    expect(&l, want2, 1);
    clear(&l);
}

static void test_partial_tail_held_until_finish(void **state)
{
    (void)state;
    struct linesplit ls;
    struct lines l = {0};
    linesplit_init(&ls, 1 << 20);
    const char *in = "line1\nlastline-without-newline";
    linesplit_feed(&ls, in, strlen(in), collect, &l);
    const char *running[] = {"line1"};
    expect(&l, running, 1);
    linesplit_feed(&ls, "", 0, collect, &l);
    expect(&l, running, 1);
    linesplit_finish(&ls, collect, &l);
    const char *done[] = {"line1", "lastline-without-newline"};
    expect(&l, done, 2);
    linesplit_free(&ls);
    clear(&l);
}

static void test_incremental_reads(void **state)
{
    (void)state;
    const char *in[] = {"tai", "l1\r\n tail2\n"};
    const char *want[] = {"tail1", " tail2"};
    struct lines l = {0};
    feed_all(in, 2, false, &l);
    expect(&l, want, 2);
    clear(&l);
}

static void test_long_line_kept_whole_below_cap(void **state)
{
    (void)state;
    size_t n = 256 * 1024;
    char *big = malloc(n + 2);
    memset(big, 'x', n);
    big[n] = '\n';
    big[n + 1] = '\0';
    const char *in[] = {big};
    struct lines l = {0};
    feed_all(in, 1, true, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(strlen(l.v[0]), n);
    clear(&l);
    free(big);
}

static void test_cap_splits_on_utf8_boundary(void **state)
{
    (void)state;
    struct linesplit ls;
    struct lines l = {0};
    linesplit_init(&ls, 4);
    /* "ab" then a 3-byte character: the cut must not tear it. */
    const char *in = "ab\xe2\x82\xac"
                     "cd";
    linesplit_feed(&ls, in, strlen(in), collect, &l);
    linesplit_finish(&ls, collect, &l);
    const char *want[] = {"ab",
                          "\xe2\x82\xac"
                          "c",
                          "d"};
    expect(&l, want, 3);
    linesplit_free(&ls);
    clear(&l);
}

/* A line longer than the cap that arrives whole, terminator included, is split too. */
static void test_cap_splits_whole_lines(void **state)
{
    (void)state;
    struct linesplit ls;
    struct lines l = {0};
    linesplit_init(&ls, 4);
    const char *in = "abcdefghij\n"
                     "\xe2\x82\xac\xe2\x82\xac\n"
                     "xy";
    linesplit_feed(&ls, in, strlen(in), collect, &l);
    /* the held tail plus a terminated rest */
    linesplit_feed(&ls, "zzzz\r", 5, collect, &l);
    const char *want[] = {"abcd", "efgh", "ij", "\xe2\x82\xac", "\xe2\x82\xac", "xyzz", "zz"};
    expect(&l, want, 7);
    linesplit_free(&ls);
    clear(&l);
}

static void feed_session(const char *const *chunks, size_t n, struct lines *out)
{
    struct linesplit ls;
    linesplit_init_session(&ls, 1 << 20);
    for (size_t i = 0; i < n; i++)
        linesplit_feed(&ls, chunks[i], strlen(chunks[i]), collect, out);
    linesplit_finish(&ls, collect, out);
    linesplit_free(&ls);
}

static void test_session_rules(void **state)
{
    (void)state;
    /* Only "\n" ends a line, its "\r" goes, empty lines are dropped. */
    const char *in[] = {"a\n\nb\r\n\r\nprog 10%\rprog 20%\n", "\n\ntail\r"};
    const char *want[] = {"a", "b", "prog 10%\rprog 20%", "tail"};
    struct lines l = {0};
    feed_session(in, 2, &l);
    expect(&l, want, 4);
    clear(&l);

    /* A line split across reads, and output without a final newline. */
    const char *in2[] = {"{\"fo", "o\":1}\nx", "y"};
    const char *want2[] = {"{\"foo\":1}", "xy"};
    feed_session(in2, 3, &l);
    expect(&l, want2, 2);
    clear(&l);

    const char *in3[] = {"\n\n", "\r\n"};
    feed_session(in3, 2, &l);
    assert_int_equal(l.n, 0);
}

/* Emitted lines as one string: each line, then a 0 byte. */
static void record(void *arg, const char *text, size_t len)
{
    struct strbuf *sb = arg;
    strbuf_append(sb, text, len);
    strbuf_append(sb, "", 1);
}

/* The rules of linesplit.h without a cap, one byte at a time over the whole output. */
static void reference_split(const char *s, size_t len, struct strbuf *out)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\n' && s[i] != '\r')
            continue;
        if (i == start)
            record(out, "\n", 1);
        else
            record(out, s + start, i - start);
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    if (start < len)
        record(out, s + start, len - start);
}

/* The session rules (linesplit.h) one byte at a time: only '\n' ends a line. */
static void reference_split_session(const char *s, size_t len, struct strbuf *out)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '\n')
            continue;
        size_t n = i - start;
        if (n > 0 && s[start + n - 1] == '\r')
            n--;
        if (n > 0)
            record(out, s + start, n);
        start = i + 1;
    }
}

/* Random output fed in random pieces (pairs and lines torn anywhere) against the reference. */
static void test_random_output_in_random_reads(void **state)
{
    (void)state;
    unsigned seed = 0x2545f491u; /* fixed: the same inputs on every run */
    static const char *const pieces[] = {
        "a",           "bc",   "0123456789abcdefghijklmnopqrstuvwxyz",
        "\n",          "\r",   "\r\n",
        "\n\r",        "\n\n", "\r\r",
        "\xe2\x82\xac"};
    const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    char buf[2048];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0, count = rand_r(&seed) % 40;
        for (size_t i = 0; i < count; i++) {
            const char *p = pieces[rand_r(&seed) % npieces];
            size_t n = strlen(p);
            if (len + n > sizeof(buf))
                break;
            memcpy(buf + len, p, n);
            len += n;
        }
        struct strbuf got = STRBUF_INIT, want = STRBUF_INIT;
        struct linesplit ls;
        bool session = round % 4 >= 2;
        if (session)
            linesplit_init_session(&ls, 1 << 20);
        else
            linesplit_init(&ls, 1 << 20);
        for (size_t off = 0; off < len;) {
            size_t n = 1 + rand_r(&seed) % (round % 2 ? 4 : 64);
            if (n > len - off)
                n = len - off;
            linesplit_feed(&ls, buf + off, n, record, &got);
            off += n;
        }
        linesplit_finish(&ls, record, &got);
        linesplit_free(&ls);
        if (session)
            reference_split_session(buf, len, &want);
        else
            reference_split(buf, len, &want);
        assert_int_equal(got.len, want.len);
        if (want.len > 0)
            assert_memory_equal(got.data, want.data, want.len);
        strbuf_free(&got);
        strbuf_free(&want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blank_lines_are_newline_events),
        cmocka_unit_test(test_cr_and_crlf),
        cmocka_unit_test(test_crlf_split_across_reads),
        cmocka_unit_test(test_partial_tail_held_until_finish),
        cmocka_unit_test(test_incremental_reads),
        cmocka_unit_test(test_long_line_kept_whole_below_cap),
        cmocka_unit_test(test_cap_splits_on_utf8_boundary),
        cmocka_unit_test(test_cap_splits_whole_lines),
        cmocka_unit_test(test_session_rules),
        cmocka_unit_test(test_random_output_in_random_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
