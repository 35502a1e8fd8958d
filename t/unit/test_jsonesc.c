/*
 * The UTF-8 repair of json-c's output, and jsonesc_append (its fixed cases are in
 * test_event.c) against a byte-at-a-time reference on every byte at every alignment and on
 * random mixes of what needs escaping and what does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonesc.h"
#include "strbuf.h"
#include "utf8.h"

static void check_repair(const char *in, const char *want)
{
    struct strbuf out = STRBUF_INIT;
    bool repaired = jsonesc_repair_utf8(in, strlen(in), &out);
    if (want == NULL) {
        assert_false(repaired);
        assert_null(out.data);
    } else {
        assert_true(repaired);
        assert_string_equal(out.data, want);
    }
    strbuf_free(&out);
}

static void test_repair(void **state)
{
    (void)state;
    check_repair("{\"a\":\"b\"}", NULL);
    check_repair("{\"p\":\"\xe6\xb5\x8b\xf0\x9f\x99\x82\"}", NULL);
    check_repair("{\"p\":\"/x\xff\"}", "{\"p\":\"/x\\ufffd\"}");
    check_repair("{\"p\":\"\xff\xfe\"}", "{\"p\":\"\\ufffd\\ufffd\"}");
    /* A torn sequence: its lead byte is replaced, the ASCII after it kept. */
    check_repair("[\"\xe6\xb5\",\"ok\"]", "[\"\\ufffd\\ufffd\",\"ok\"]");
    /* Surrogates and overlong forms are not UTF-8 either. */
    check_repair("\"\xed\xa0\x80\"", "\"\\ufffd\\ufffd\\ufffd\"");
    check_repair("\"\xc0\xaf\"", "\"\\ufffd\\ufffd\"");
}

/* Go's encoding/json rules, one byte (or one UTF-8 sequence) at a time. */
static void reference_escape(struct strbuf *out, const unsigned char *s, size_t len)
{
    strbuf_append_char(out, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = utf8_valid_seq(s + i, len - i);
        if (n == 0) {
            strbuf_append_str(out, "\\ufffd");
            i++;
        } else if (n == 3 && c == 0xe2 && s[i + 1] == 0x80 && s[i + 2] == 0xa8) {
            strbuf_append_str(out, "\\u2028");
            i += 3;
        } else if (n == 3 && c == 0xe2 && s[i + 1] == 0x80 && s[i + 2] == 0xa9) {
            strbuf_append_str(out, "\\u2029");
            i += 3;
        } else if (n > 1) {
            strbuf_append(out, s + i, n);
            i += n;
        } else {
            if (c == '"' || c == '\\')
                strbuf_printf(out, "\\%c", c);
            else if (c == '\n')
                strbuf_append_str(out, "\\n");
            else if (c == '\r')
                strbuf_append_str(out, "\\r");
            else if (c == '\t')
                strbuf_append_str(out, "\\t");
            else if (c < 0x20 || c == '<' || c == '>' || c == '&')
                strbuf_printf(out, "\\u%04x", c);
            else
                strbuf_append_char(out, (char)c);
            i++;
        }
    }
    strbuf_append_char(out, '"');
}

/* Escapes s both ways after some text already in the buffer, and compares. */
static void check_escape(const unsigned char *s, size_t len)
{
    struct strbuf got = STRBUF_INIT, want = STRBUF_INIT;
    strbuf_append_str(&got, "x:");
    strbuf_append_str(&want, "x:");
    jsonesc_append(&got, (const char *)s, len);
    reference_escape(&want, s, len);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len + 1);
    strbuf_free(&got);
    strbuf_free(&want);
}

static void test_every_byte_everywhere(void **state)
{
    (void)state;
    unsigned char buf[48]; /* the longest input, 40 bytes, also read from buf + 1 */
    for (int b = 0; b < 256; b++) {
        for (size_t at = 0; at < 24; at++) {
            for (size_t len = at + 1; len <= at + 17; len += 8) {
                memset(buf, 'a', sizeof(buf));
                buf[at] = (unsigned char)b;
                check_escape(buf, len);
                check_escape(buf + 1, len); /* another alignment */
            }
        }
    }
}

static void test_random_mixes(void **state)
{
    (void)state;
    unsigned seed = 0x9e3779b9u; /* fixed: the same inputs on every run */
    static const char *const pieces[] = {"A",
                                         "abcdefghijklmnop",
                                         "0123456789+/=",
                                         "\"",
                                         "\\",
                                         "<",
                                         ">",
                                         "&",
                                         "\n",
                                         "\r",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe6\xb5\x8b",
                                         "\xf0\x9f\x99\x82",
                                         "\xe2\x80\xa8",
                                         "\xe2\x80\xa9",
                                         "\xe2\x80\xaa",
                                         "\x80",
                                         "\xff",
                                         "\xc0\xaf",
                                         "\xe6\xb5",
                                         "\xed\xa0\x80",
                                         "\xf4\x90\x80\x80",
                                         "\xf0\x9f\x99"};
    const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    unsigned char buf[512];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0, off = rand_r(&seed) % 8;
        size_t count = rand_r(&seed) % 24;
        for (size_t i = 0; i < count; i++) {
            const char *p = pieces[rand_r(&seed) % npieces];
            size_t n = strlen(p);
            if (off + len + n > sizeof(buf))
                break;
            memcpy(buf + off + len, p, n);
            len += n;
        }
        check_escape(buf + off, len);
    }
    check_escape((const unsigned char *)"\0\0\0\0\0\0\0\0\0", 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repair),
        cmocka_unit_test(test_every_byte_everywhere),
        cmocka_unit_test(test_random_mixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
