/* Request bodies as JSON: the first value counts, and a body over 2 GiB is read whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "jsonreq.h"

static void test_first_value(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse("  {\"a\":1} trailing", 18, &err);
    assert_non_null(obj);
    int64_t a = 0;
    assert_int_equal(jsonreq_int64(obj, "a", &a), JSONREQ_OK);
    assert_int_equal(a, 1);
    json_object_put(obj);
    assert_null(jsonreq_parse("{\"a\":", 5, &err));
    assert_string_equal(err.data, "unexpected end of JSON input");
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
        cmocka_unit_test(test_first_value),
        cmocka_unit_test(test_over_2gib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
