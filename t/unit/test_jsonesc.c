/* The UTF-8 repair of json-c's output (jsonesc_append itself is tested in test_event.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "jsonesc.h"
#include "strbuf.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
