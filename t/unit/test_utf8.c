/* UTF-8 validation (complete, shortest-form, no surrogates, at most U+10FFFF) and safe cuts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.h"

static size_t seq(const char *s, size_t avail)
{
    return utf8_valid_seq((const unsigned char *)s, avail);
}

static void test_valid(void **state)
{
    (void)state;
    assert_int_equal(seq("a", 1), 1);
    assert_int_equal(seq("\x7f", 1), 1);
    assert_int_equal(seq("\xc2\x80", 2), 2);         /* U+0080 */
    assert_int_equal(seq("\xdf\xbf", 2), 2);         /* U+07FF */
    assert_int_equal(seq("\xe0\xa0\x80", 3), 3);     /* U+0800 */
    assert_int_equal(seq("\xe2\x82\xac", 3), 3);     /* U+20AC */
    assert_int_equal(seq("\xed\x9f\xbf", 3), 3);     /* U+D7FF, below the surrogates */
    assert_int_equal(seq("\xee\x80\x80", 3), 3);     /* U+E000, above them */
    assert_int_equal(seq("\xef\xbf\xbf", 3), 3);     /* U+FFFF */
    assert_int_equal(seq("\xf0\x90\x80\x80", 4), 4); /* U+10000 */
    assert_int_equal(seq("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
    assert_int_equal(seq("\xe2\x82\xac"
                         "rest",
                         7),
                     3);
}

static void test_invalid(void **state)
{
    (void)state;
    assert_int_equal(seq("\x80", 1), 0); /* a lone continuation */
    assert_int_equal(seq("\xbf", 1), 0);
    assert_int_equal(seq("\xc0\x80", 2), 0);         /* overlong NUL */
    assert_int_equal(seq("\xc1\xbf", 2), 0);         /* overlong */
    assert_int_equal(seq("\xe0\x9f\xbf", 3), 0);     /* overlong 3-byte */
    assert_int_equal(seq("\xf0\x8f\xbf\xbf", 4), 0); /* overlong 4-byte */
    assert_int_equal(seq("\xed\xa0\x80", 3), 0);     /* U+D800, a surrogate */
    assert_int_equal(seq("\xed\xbf\xbf", 3), 0);     /* U+DFFF */
    assert_int_equal(seq("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    assert_int_equal(seq("\xf5\x80\x80\x80", 4), 0);
    assert_int_equal(seq("\xff", 1), 0);
    assert_int_equal(seq("\xfe", 1), 0);
    assert_int_equal(seq("\xc2\x41", 2), 0); /* not a continuation */
    assert_int_equal(seq("\xe2\x82\x41", 3), 0);
    assert_int_equal(seq("\xf0\x90\x80\xc0", 4), 0);
    /* incomplete: the bytes are not there (yet) */
    assert_int_equal(seq("\xc2", 1), 0);
    assert_int_equal(seq("\xe2\x82", 2), 0);
    assert_int_equal(seq("\xf0\x90\x80", 3), 0);
}

static size_t cut(const char *s)
{
    return utf8_cut(s, strlen(s));
}

static void test_whole_string(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    assert_false(utf8_valid("ok\xff", 3));
    assert_false(utf8_valid("\xe2\x82", 2));     /* cut short */
    assert_false(utf8_valid("\xed\xa0\x80", 3)); /* a surrogate */
    assert_true(utf8_valid("a\0b", 3));          /* NUL is valid UTF-8 */
}

static void test_cut(void **state)
{
    (void)state;
    assert_int_equal(utf8_cut("", 0), 0);
    assert_int_equal(cut("abc"), 3);
    assert_int_equal(cut("ab\xe2\x82\xac"), 5); /* ends on a whole character */
    assert_int_equal(cut("ab\xe2\x82"), 2);     /* torn 3-byte: cut before it */
    assert_int_equal(cut("ab\xe2"), 2);
    assert_int_equal(cut("a\xf0\x90\x80"), 1); /* torn 4-byte */
    assert_int_equal(cut("a\xf0\x90\x80\x80"), 5);
    assert_int_equal(cut("a\xc2"), 1);
    assert_int_equal(cut("a\xc2\x80"), 3);
    /* stray continuation bytes are not a character being torn: nothing to protect */
    assert_int_equal(cut("a\x80\x80\x80"), 4);
    assert_int_equal(cut("\x80\x80"), 2);
    /* a cut of a longer buffer looks only at the cut point */
    assert_int_equal(utf8_cut("x\xe2\x82\xacy", 3), 1);
    assert_int_equal(utf8_cut("x\xe2\x82\xacy", 4), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_whole_string),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
