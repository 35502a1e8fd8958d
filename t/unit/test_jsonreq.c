/* Lenient JSON request reading (as Go's decoder) and typed field access, errors included;
 * a body over 2 GiB is read whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "jsonreq.h"

/* Parses text; returns the value's JSON, or "ERR: <reason>". */
static char *parse(const char *data, size_t len)
{
    struct strbuf err = STRBUF_INIT;
    json_object *o = jsonreq_parse(data, len, &err);
    char *out;
    if (o == NULL) {
        size_t n = err.len + 6;
        out = malloc(n);
        snprintf(out, n, "ERR: %s", err.data);
    } else {
        out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        assert_int_equal(err.len, 0);
    }
    json_object_put(o);
    strbuf_free(&err);
    return out;
}

static void expect_parse(const char *text, const char *want)
{
    char *got = parse(text, strlen(text));
    if (strncmp(want, "ERR: ", 5) == 0 ? strncmp(got, want, strlen(want)) != 0
                                       : strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", text, got, want);
    free(got);
}

static void test_parse(void **state)
{
    (void)state;
    expect_parse("{\"a\":1}", "{\"a\":1}");
    expect_parse("  \r\n\t{\"a\":1}", "{\"a\":1}");
    /* only the first value counts */
    expect_parse("{\"a\":1} trailing garbage", "{\"a\":1}");
    expect_parse("{\"a\":1}{\"b\":2}", "{\"a\":1}");
    expect_parse("[1,2]", "[1,2]");
    expect_parse("null", "ERR: the JSON value is null");
    expect_parse(" null x", "ERR: the JSON value is null");
    /* a bare number at the end needs no delimiter */
    expect_parse("123", "123");
    expect_parse("12 3", "12");
    expect_parse("\"s\"", "\"s\"");
    expect_parse("", "ERR: request body is empty");
    expect_parse(" \n\t\r ", "ERR: request body is empty");
    expect_parse("{", "ERR: unexpected end of JSON input");
    expect_parse("{\"a\":", "ERR: unexpected end of JSON input");
    expect_parse("{not json", "ERR: invalid JSON at offset 1");
    expect_parse("  {\"a\":}", "ERR: invalid JSON at offset 7");
    expect_parse("tru", "ERR: ");
    /* deep nesting is refused, not a stack overflow */
    char deep[4001];
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    deep[4000] = '\0';
    expect_parse(deep, "ERR: invalid JSON");
    /* a NUL byte ends the whitespace and is no JSON */
    char *got = parse("\0{}", 3);
    assert_int_equal(strncmp(got, "ERR: ", 5), 0);
    free(got);
    /* the length counts, not the terminator */
    got = parse("{\"a\":1}xyz", 7);
    assert_string_equal(got, "{\"a\":1}");
    free(got);
}

static json_object *obj(const char *text)
{
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

static void test_fields(void **state)
{
    (void)state;
    json_object *o = obj("{\"s\":\"str\",\"i\":-7,\"big\":4294967296,\"u\":4294967295,\"f\":1.5,"
                         "\"b\":true,\"o\":{\"x\":1},\"n\":null,\"a\":[1]}");
    const char *s = "untouched";
    int64_t i = 42;
    uint32_t u = 42;
    bool b = false;
    json_object *sub = NULL;

    assert_int_equal(jsonreq_string(o, "s", &s), JSONREQ_OK);
    assert_string_equal(s, "str");
    assert_int_equal(jsonreq_int64(o, "i", &i), JSONREQ_OK);
    assert_int_equal(i, -7);
    assert_int_equal(jsonreq_uint32(o, "u", &u), JSONREQ_OK);
    assert_int_equal(u, UINT32_MAX);
    assert_int_equal(jsonreq_bool(o, "b", &b), JSONREQ_OK);
    assert_true(b);
    assert_int_equal(jsonreq_object(o, "o", &sub), JSONREQ_OK);
    assert_non_null(sub);

    /* missing and null are absent, and leave the output alone */
    s = "untouched";
    assert_int_equal(jsonreq_string(o, "missing", &s), JSONREQ_ABSENT);
    assert_int_equal(jsonreq_string(o, "n", &s), JSONREQ_ABSENT);
    assert_string_equal(s, "untouched");
    i = 42;
    assert_int_equal(jsonreq_int64(o, "n", &i), JSONREQ_ABSENT);
    assert_int_equal(i, 42);

    /* wrong types: no coercion */
    assert_int_equal(jsonreq_string(o, "i", &s), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_int64(o, "s", &i), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_int64(o, "f", &i), JSONREQ_BADTYPE); /* no fractions */
    assert_int_equal(jsonreq_int64(o, "b", &i), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_bool(o, "i", &b), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_bool(o, "s", &b), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_object(o, "a", &sub), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_object(o, "s", &sub), JSONREQ_BADTYPE);
    /* uint32: integers in [0, 2^32-1] only */
    u = 42;
    assert_int_equal(jsonreq_uint32(o, "i", &u), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_uint32(o, "big", &u), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_uint32(o, "f", &u), JSONREQ_BADTYPE);
    assert_int_equal(jsonreq_uint32(o, "n", &u), JSONREQ_ABSENT);
    assert_int_equal(u, 42);
    json_object_put(o);

    /* not an object at all: every field is absent */
    json_object *arr = obj("[1,2]");
    assert_int_equal(jsonreq_string(arr, "s", &s), JSONREQ_ABSENT);
    assert_int_equal(jsonreq_int64(NULL, "i", &i), JSONREQ_ABSENT);
    json_object_put(arr);
}

static void test_type_error(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    jsonreq_type_error(&err, "timeout", "a non-negative integer");
    assert_string_equal(err.data, "field 'timeout' must be a non-negative integer");
    strbuf_free(&err);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/jsonreq-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct strbuf err = STRBUF_INIT;

    write_file(path, "{\"id\":\"x\"}\n");
    json_object *o = jsonreq_read_file(path, &err);
    assert_non_null(o);
    assert_int_equal(err.len, 0);
    json_object_put(o);

    write_file(path, "[1,2]");
    assert_null(jsonreq_read_file(path, &err));
    assert_non_null(strstr(err.data, "is not a JSON object"));
    assert_non_null(strstr(err.data, path));

    strbuf_reset(&err);
    write_file(path, "{\"half\":");
    assert_null(jsonreq_read_file(path, &err));
    assert_non_null(strstr(err.data, path));
    assert_true(err.data[err.len - 1] != '\n'); /* one line for the log */

    strbuf_reset(&err);
    unlink(path);
    assert_null(jsonreq_read_file(path, &err));
    assert_non_null(strstr(err.data, "cannot read"));
    strbuf_free(&err);
}

#define PIECE (1u << 20)

/*
 * "[" + 2 GiB of spaces + "1]" without 2 GiB of memory: one 1 MiB page-cache piece of
 * spaces mapped again and again between a private first and last piece.
 */
static char *huge_body(size_t *len, size_t *mapped)
{
    size_t pieces = ((size_t)2 << 30) / PIECE + 2;
    *mapped = pieces * PIECE;
    char *base = mmap(NULL, *mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(base != MAP_FAILED);
    int fd = memfd_create("spaces", 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, PIECE), 0);
    char *spaces = mmap(NULL, PIECE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(spaces != MAP_FAILED);
    memset(spaces, ' ', PIECE);
    munmap(spaces, PIECE);
    for (size_t i = 0; i < pieces; i++) {
        bool own = i == 0 || i == pieces - 1;
        void *at =
            mmap(base + i * PIECE, PIECE, PROT_READ | PROT_WRITE,
                 MAP_FIXED | (own ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED), own ? -1 : fd, 0);
        assert_true(at == base + i * PIECE);
        if (own)
            memset(at, ' ', PIECE);
    }
    close(fd);
    base[0] = '[';
    memcpy(base + *mapped - 2, "1]", 2);
    *len = *mapped;
    return base;
}

static void test_over_2gib(void **state)
{
    (void)state;
    size_t len, mapped;
    char *body = huge_body(&len, &mapped);
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse(body, len, &err);
    assert_non_null(obj);
    assert_true(json_object_is_type(obj, json_type_array));
    assert_int_equal(json_object_array_length(obj), 1);
    assert_int_equal(json_object_get_int(json_object_array_get_idx(obj, 0)), 1);
    json_object_put(obj);
    strbuf_free(&err);
    munmap(body, mapped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_type_error),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_over_2gib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
