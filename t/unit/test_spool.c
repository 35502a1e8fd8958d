/* The output spool: FIFO order across memory and file, whole events only, bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/spool.h"

static char dir[64];

/* Appends event number i ("{"n":i,...pad...}\n\n") to out; pad makes sizes vary. */
static void event(struct strbuf *out, int i, size_t pad)
{
    strbuf_printf(out, "{\"n\":%d,\"p\":\"", i);
    for (size_t k = 0; k < pad; k++)
        strbuf_append_char(out, (char)('a' + (i + (int)k) % 26));
    strbuf_append_str(out, "\"}\n\n");
}

/* Checks that data holds whole events numbered from *next on, advancing *next. */
static void check_events(const char *data, size_t len, int *next)
{
    assert_true(len >= 2);
    assert_true(data[len - 1] == '\n' && data[len - 2] == '\n');
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *e = memmem(p, (size_t)(end - p), "\n\n", 2);
        assert_non_null(e);
        int n = -1;
        assert_int_equal(sscanf(p, "{\"n\":%d,", &n), 1);
        assert_int_equal(n, *next);
        (*next)++;
        p = e + 2;
    }
}

static int spool_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        n += strncmp(e->d_name, ".spool-", 7) == 0;
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_memory_only(void **state)
{
    (void)state;
    struct spool s;
    struct strbuf err = STRBUF_INIT, out = STRBUF_INIT, in = STRBUF_INIT;
    spool_init(&s, dir, 4096);
    assert_true(spool_empty(&s));
    assert_int_equal(spool_pop(&s, &out, 100, &err), 0);
    for (int i = 0; i < 10; i++) {
        strbuf_reset(&in);
        event(&in, i, 10);
        assert_int_equal(spool_push(&s, in.data, in.len, &err), 0);
    }
    assert_false(spool_empty(&s));
    assert_int_equal(s.fd, -1); /* fits in memory: no file */
    int next = 0;
    /* A small max still yields one whole event per pop. */
    while (!spool_empty(&s)) {
        strbuf_reset(&out);
        long n = spool_pop(&s, &out, 5, &err);
        assert_true(n > 0);
        assert_int_equal((size_t)n, out.len);
        int before = next;
        check_events(out.data, out.len, &next);
        assert_int_equal(next, before + 1);
    }
    assert_int_equal(next, 10);
    assert_int_equal(spool_len(&s), 0);
    spool_free(&s);
    strbuf_free(&err);
    strbuf_free(&out);
    strbuf_free(&in);
}

static void test_overflow_keeps_order(void **state)
{
    (void)state;
    struct spool s;
    struct strbuf err = STRBUF_INIT, out = STRBUF_INIT, in = STRBUF_INIT;
    spool_init(&s, dir, 1000);
    int pushed = 0, next = 0;
    uint64_t total = 0;
    /* Interleave pushes and pops so events move through memory, file, memory again. */
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 20; k++) {
            strbuf_reset(&in);
            event(&in, pushed++, (size_t)(round * 7 + k * 13) % 300);
            total += in.len;
            assert_int_equal(spool_push(&s, in.data, in.len, &err), 0);
        }
        assert_true(s.mem.len - s.mem_off <= 1000); /* memory stays bounded */
        for (int k = 0; k < 7; k++) {
            strbuf_reset(&out);
            long n = spool_pop(&s, &out, 700, &err);
            if (n == 0)
                break;
            assert_true(n > 0);
            check_events(out.data, out.len, &next);
            total -= (uint64_t)n;
        }
        assert_int_equal(spool_len(&s), total);
    }
    assert_true(s.fd >= 0);             /* it did overflow */
    assert_int_equal(spool_files(), 0); /* unlinked at once */
    while (!spool_empty(&s)) {
        strbuf_reset(&out);
        assert_true(spool_pop(&s, &out, 4096, &err) > 0);
        check_events(out.data, out.len, &next);
    }
    assert_int_equal(next, pushed);
    /* Drained: the file is reset, new events go to memory again. */
    assert_int_equal(s.rd, 0);
    assert_int_equal(s.wr, 0);
    strbuf_reset(&in);
    event(&in, pushed, 3);
    assert_int_equal(spool_push(&s, in.data, in.len, &err), 0);
    assert_int_equal(s.wr, 0);
    spool_free(&s);
    strbuf_free(&err);
    strbuf_free(&out);
    strbuf_free(&in);
}

static void test_big_event_in_file(void **state)
{
    (void)state;
    struct spool s;
    struct strbuf err = STRBUF_INIT, out = STRBUF_INIT, in = STRBUF_INIT;
    spool_init(&s, dir, 100);
    for (int i = 0; i < 3; i++) {
        strbuf_reset(&in);
        event(&in, i, i == 1 ? 3 * 1024 * 1024 : 5); /* one event far above mem and max */
        assert_int_equal(spool_push(&s, in.data, in.len, &err), 0);
    }
    int next = 0;
    strbuf_reset(&out);
    assert_true(spool_pop(&s, &out, 64, &err) > 0);
    check_events(out.data, out.len, &next);
    strbuf_reset(&out);
    long n = spool_pop(&s, &out, 64, &err);
    assert_true(n > 3 * 1024 * 1024); /* whole, though bigger than max */
    check_events(out.data, out.len, &next);
    assert_int_equal(next, 2);
    strbuf_reset(&out);
    assert_true(spool_pop(&s, &out, 64, &err) > 0);
    check_events(out.data, out.len, &next);
    assert_true(spool_empty(&s));
    spool_free(&s);
    strbuf_free(&err);
    strbuf_free(&out);
    strbuf_free(&in);
}

static void test_clear_and_errors(void **state)
{
    (void)state;
    struct spool s;
    struct strbuf err = STRBUF_INIT, in = STRBUF_INIT, out = STRBUF_INIT;
    spool_init(&s, dir, 10);
    for (int i = 0; i < 5; i++) {
        strbuf_reset(&in);
        event(&in, i, 50);
        assert_int_equal(spool_push(&s, in.data, in.len, &err), 0);
    }
    assert_true(spool_len(&s) > 0);
    spool_clear(&s);
    assert_true(spool_empty(&s));
    assert_int_equal(spool_pop(&s, &out, 100, &err), 0);
    spool_free(&s);

    /* No place for the overflow file: the push fails with a reason, nothing is queued. */
    spool_init(&s, "/nonexistent/dir", 10);
    strbuf_reset(&in);
    event(&in, 0, 50);
    assert_int_equal(spool_push(&s, in.data, in.len, &err), -1);
    assert_non_null(strstr(err.data, "/nonexistent/dir"));
    assert_true(spool_empty(&s));
    spool_free(&s);
    strbuf_free(&err);
    strbuf_free(&in);
    strbuf_free(&out);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/spool.XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_only),
        cmocka_unit_test(test_overflow_keeps_order),
        cmocka_unit_test(test_big_event_in_file),
        cmocka_unit_test(test_clear_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
