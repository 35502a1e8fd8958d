/* The -kernel-pool setting: "language:count" pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config.h"

/* Parses s; returns the pairs rendered as JSON ("" on error, with the reason in err). */
static const char *parse(const char *s, json_object **hold, struct strbuf *err)
{
    strbuf_reset(err);
    json_object_put(*hold);
    *hold = json_object_new_object();
    if (config_parse_pool(s, *hold, err) < 0)
        return "";
    return json_object_to_json_string_ext(*hold, JSON_C_TO_STRING_PLAIN);
}

static void test_valid(void **state)
{
    (void)state;
    json_object *o = NULL;
    struct strbuf err = STRBUF_INIT;
    assert_string_equal(parse("python:1", &o, &err), "{\"python\":1}");
    assert_string_equal(parse("", &o, &err), "{}");
    assert_string_equal(parse(" python : 2 , bash:0,", &o, &err), "{\"python\":2,\"bash\":0}");
    assert_string_equal(parse("python:64", &o, &err), "{\"python\":64}");
    assert_string_equal(parse(",,", &o, &err), "{}");
    assert_int_equal(config_parse_pool("python:3,r:1", NULL, &err), 4);
    assert_int_equal(config_parse_pool("", NULL, &err), 0);
    json_object_put(o);
    strbuf_free(&err);
}

static void test_invalid(void **state)
{
    (void)state;
    json_object *o = NULL;
    struct strbuf err = STRBUF_INIT;
    static const struct {
        const char *in, *why;
    } cases[] = {
        {"python", "is not language:count"},
        {":1", "is not language:count"},
        {"python:", "integer from 0 to 64"},
        {"python:x", "integer from 0 to 64"},
        {"python:-1", "integer from 0 to 64"},
        {"python:65", "integer from 0 to 64"},
        {"python:99999999999999999999", "integer from 0 to 64"},
        {"python:1,python:2", "listed twice"},
        {"python:1 2", "integer from 0 to 64"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(parse(cases[i].in, &o, &err), "");
        if (strstr(err.data, cases[i].why) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].in, err.data, cases[i].why);
    }
    json_object_put(o);
    strbuf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
