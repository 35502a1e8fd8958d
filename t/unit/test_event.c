/* Event rendering and Go-compatible JSON string escaping. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "event.h"
#include "jsonesc.h"
#include "utf8.h"

static void render_is(void (*fn)(struct strbuf *), const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    fn(&sb);
    assert_string_equal(sb.data, want);
    strbuf_free(&sb);
}

static void r_text(struct strbuf *sb)
{
    event_text(sb, "stdout", "hi", 2, 1767603600123);
}
static void r_empty(struct strbuf *sb)
{
    event_text(sb, "ping", "", 0, 5);
}
static void r_complete(struct strbuf *sb)
{
    event_complete(sb, 46, 7);
}
static void r_complete0(struct strbuf *sb)
{
    event_complete(sb, 0, 7);
}
static void r_error(struct strbuf *sb)
{
    const char *tb[] = {"exit status 2"};
    event_error(sb, "CommandExecError", "2", tb, 1, 9);
}
static void r_error_null(struct strbuf *sb)
{
    event_error(sb, "DBQueryError", "boom", NULL, 0, 9);
}
static void r_result(struct strbuf *sb)
{
    event_result(sb, "{\"text\":\"4\"}", 3);
}
static void r_count(struct strbuf *sb)
{
    event_count(sb, 3, 1);
}

static void test_shapes(void **state)
{
    (void)state;
    render_is(r_text, "{\"type\":\"stdout\",\"text\":\"hi\",\"timestamp\":1767603600123}\n\n");
    render_is(r_empty, "{\"type\":\"ping\",\"timestamp\":5}\n\n");
    render_is(r_complete,
              "{\"type\":\"execution_complete\",\"execution_time\":46,\"timestamp\":7}\n\n");
    render_is(r_complete0, "{\"type\":\"execution_complete\",\"timestamp\":7}\n\n");
    render_is(r_error,
              "{\"type\":\"error\",\"timestamp\":9,\"error\":{\"ename\":\"CommandExecError\","
              "\"evalue\":\"2\",\"traceback\":[\"exit status 2\"]}}\n\n");
    render_is(r_error_null,
              "{\"type\":\"error\",\"timestamp\":9,\"error\":{\"ename\":\"DBQueryError\","
              "\"evalue\":\"boom\",\"traceback\":null}}\n\n");
    render_is(r_result, "{\"type\":\"result\",\"timestamp\":3,\"results\":{\"text\":\"4\"}}\n\n");
    render_is(r_count, "{\"type\":\"execution_count\",\"execution_count\":3,\"timestamp\":1}\n\n");
}

static void esc_is(const char *in, size_t len, const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    jsonesc_append(&sb, in, len);
    assert_string_equal(sb.data, want);
    strbuf_free(&sb);
}

static void test_escaping(void **state)
{
    (void)state;
    esc_is("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    esc_is("\n\r\t\x01\x1f", 5, "\"\\n\\r\\t\\u0001\\u001f\"");
    esc_is("<a>&", 4, "\"\\u003ca\\u003e\\u0026\"");
    esc_is("\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\"");
    esc_is("\xe2\x82\xac ok", 6, "\"\xe2\x82\xac ok\"");
    esc_is("\xff", 1, "\"\\ufffd\"");
    esc_is("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");
    esc_is("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
    esc_is("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");
    esc_is("a\0b", 3, "\"a\\u0000b\"");
    esc_is("/", 1, "\"/\"");
}

/* A stamp rendered once serves many events; each is what event_text renders on its own. */
static void test_stamped(void **state)
{
    (void)state;
    static const int64_t stamps[] = {0, 7, 1767603600123, -1, INT64_MAX, INT64_MIN};
    static const char *const texts[] = {"", "hi", "a\"<b>\n", "\xff\xe2\x80\xa8", "\n"};
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        struct event_stamp st;
        event_stamp_set(&st, stamps[i]);
        struct strbuf got = STRBUF_INIT, want = STRBUF_INIT;
        for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
            size_t len = strlen(texts[t]);
            event_text_stamped(&got, t % 2 ? "stderr" : "stdout", texts[t], len, &st);
            strbuf_printf(&want, "{\"type\":\"%s\"", t % 2 ? "stderr" : "stdout");
            if (len > 0) {
                strbuf_append_str(&want, ",\"text\":");
                jsonesc_append(&want, texts[t], len);
            }
            strbuf_printf(&want, ",\"timestamp\":%" PRId64 "}\n\n", stamps[i]);
        }
        assert_int_equal(got.len, want.len);
        assert_string_equal(got.data, want.data);
        strbuf_reset(&got);
        event_text(&got, "stdout", "hi", 2, stamps[i]);
        strbuf_reset(&want);
        event_text_stamped(&want, "stdout", "hi", 2, &st);
        assert_string_equal(got.data, want.data);
        strbuf_free(&got);
        strbuf_free(&want);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(utf8_valid_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(utf8_valid_seq((const unsigned char *)"\xf0\x9f\x98", 3), 0);
    assert_int_equal(utf8_valid_seq((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(utf8_cut("ab\xe2\x82", 4), 2);
    assert_int_equal(utf8_cut("ab\xe2\x82\xac", 5), 5);
    assert_int_equal(utf8_cut("abc", 3), 3);
    assert_int_equal(utf8_cut("\xf0\x9f\x98", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_stamped),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
