/* Content-Disposition of downloads: the Go unit test's exact strings, plus unsafe names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "files/disposition.h"

static void expect_name(const char *name, const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    disposition_format(&sb, name, strlen(name));
    assert_string_equal(sb.data, want);
    strbuf_free(&sb);
}

static void expect_path(const char *path, const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    disposition_for_path(&sb, path);
    assert_string_equal(sb.data, want);
    strbuf_free(&sb);
}

/* TestFormatContentDisposition of the Go daemon, verbatim. */
static void test_go_cases(void **state)
{
    (void)state;
    expect_name("test.txt", "attachment; filename=\"test.txt\"");
    expect_name("测试文件.txt",
                "attachment; filename=\"%E6%B5%8B%E8%AF%95%E6%96%87%E4%BB%B6.txt\"; "
                "filename*=UTF-8''%E6%B5%8B%E8%AF%95%E6%96%87%E4%BB%B6.txt");
    expect_name("テスト.txt", "attachment; filename=\"%E3%83%86%E3%82%B9%E3%83%88.txt\"; "
                              "filename*=UTF-8''%E3%83%86%E3%82%B9%E3%83%88.txt");
    expect_name("file with spaces.txt", "attachment; filename=\"file with spaces.txt\"");
    expect_name("report-报告.pdf", "attachment; filename=\"report-%E6%8A%A5%E5%91%8A.pdf\"; "
                                   "filename*=UTF-8''report-%E6%8A%A5%E5%91%8A.pdf");
    expect_name("测试.txt", "attachment; filename=\"%E6%B5%8B%E8%AF%95.txt\"; "
                            "filename*=UTF-8''%E6%B5%8B%E8%AF%95.txt");
}

static void test_non_ascii_escaping(void **state)
{
    (void)state;
    /* spaces and reserved characters are escaped once the name needs encoding */
    expect_name("my 文件.txt", "attachment; filename=\"my%20%E6%96%87%E4%BB%B6.txt\"; "
                               "filename*=UTF-8''my%20%E6%96%87%E4%BB%B6.txt");
    expect_name("é;,?/#%.txt", "attachment; filename=\"%C3%A9%3B%2C%3F%2F%23%25.txt\"; "
                               "filename*=UTF-8''%C3%A9%3B%2C%3F%2F%23%25.txt");
    /* RFC 5987 forbids ':', '=', '@' raw in filename* (Go keeps them) */
    expect_name("é:=@$&+~_-.x", "attachment; filename=\"%C3%A9%3A%3D%40$&+~_-.x\"; "
                                "filename*=UTF-8''%C3%A9%3A%3D%40$&+~_-.x");
    /* invalid UTF-8 still yields a valid header */
    expect_name("a\xff.bin", "attachment; filename=\"a%FF.bin\"; filename*=UTF-8''a%FF.bin");
    /* a long name: the buffer grows while the encoded text is copied */
    char name[600];
    for (size_t i = 0; i + 2 < sizeof(name); i += 2) {
        name[i] = '\xc3';
        name[i + 1] = '\xa9';
    }
    name[sizeof(name) - 2] = 'x';
    name[sizeof(name) - 1] = '\0';
    struct strbuf sb = STRBUF_INIT;
    disposition_format(&sb, name, strlen(name));
    const char *star = strstr(sb.data, "filename*=UTF-8''");
    assert_non_null(star);
    const char *enc = star + strlen("filename*=UTF-8''");
    assert_int_equal(strlen(enc), 299 * 6 + 1);
    assert_memory_equal(sb.data + strlen("attachment; filename=\""), enc, strlen(enc));
    strbuf_free(&sb);
}

/* ASCII names Go would emit broken: quotes, backslashes, control characters. */
static void test_unsafe_ascii(void **state)
{
    (void)state;
    expect_name("say \"hi\".txt", "attachment; filename=\"say%20%22hi%22.txt\"; "
                                  "filename*=UTF-8''say%20%22hi%22.txt");
    expect_name("back\\slash", "attachment; filename=\"back%5Cslash\"; "
                               "filename*=UTF-8''back%5Cslash");
    expect_name("evil\r\nSet-Cookie: x", "attachment; filename=\"evil%0D%0ASet-Cookie%3A%20x\"; "
                                         "filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20x");
    expect_name("tab\there", "attachment; filename=\"tab%09here\"; filename*=UTF-8''tab%09here");
    expect_name("del\x7f", "attachment; filename=\"del%7F\"; filename*=UTF-8''del%7F");
    /* other ASCII punctuation is fine inside the quotes, as in Go */
    expect_name("a;b,c=d'e(f)%g!.txt", "attachment; filename=\"a;b,c=d'e(f)%g!.txt\"");
    /* an embedded NUL (explicit length) is encoded, never truncates */
    struct strbuf sb = STRBUF_INIT;
    disposition_format(&sb, "a\0b", 3);
    assert_string_equal(sb.data, "attachment; filename=\"a%00b\"; filename*=UTF-8''a%00b");
    strbuf_free(&sb);
}

static void test_base_name(void **state)
{
    (void)state;
    expect_path("/workspace/dir/report.pdf", "attachment; filename=\"report.pdf\"");
    expect_path("/workspace/dir/", "attachment; filename=\"dir\"");
    expect_path("relative.txt", "attachment; filename=\"relative.txt\"");
    expect_path("/", "attachment; filename=\"/\"");
    expect_path("///", "attachment; filename=\"/\"");
    expect_path("", "attachment; filename=\".\"");
    expect_path("/data/测试.txt", "attachment; filename=\"%E6%B5%8B%E8%AF%95.txt\"; "
                                  "filename*=UTF-8''%E6%B5%8B%E8%AF%95.txt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_cases),
        cmocka_unit_test(test_non_ascii_escaping),
        cmocka_unit_test(test_unsafe_ascii),
        cmocka_unit_test(test_base_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
