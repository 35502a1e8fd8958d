/* The PTY replay ring (worker/pty/ring.c): the Go daemon's replay buffer cases, plus what a
 * worker taking the ring over after a crash sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#include "pty/ring.h"

static struct ring ring_of(size_t capacity)
{
    struct ring r;
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(ring_create(&r, capacity, &err), 0);
    strbuf_free(&err);
    return r;
}

/* Reads from offset; checks the offset of the first byte and the bytes. */
static void expect(const struct ring *r, uint64_t from, uint64_t want_off, const char *want)
{
    struct strbuf out = STRBUF_INIT;
    uint64_t off = ring_read(r, from, &out);
    assert_int_equal(off, want_off);
    assert_int_equal(out.len, strlen(want));
    if (out.len > 0)
        assert_memory_equal(out.data, want, out.len);
    strbuf_free(&out);
}

static void test_basic(void **state)
{
    (void)state;
    struct ring r = ring_of(1024);
    ring_append(&r, "hello world", 11);
    assert_int_equal(ring_total(&r), 11);
    expect(&r, 0, 0, "hello world");
    expect(&r, 6, 6, "world"); /* from the middle */
    expect(&r, 11, 11, "");    /* at total: nothing, offset total */
    expect(&r, 500, 11, "");   /* beyond total too */
    ring_close(&r);
}

static void test_eviction(void **state)
{
    (void)state;
    struct ring r = ring_of(8);
    ring_append(&r, "abcdef", 6);
    ring_append(&r, "ghij", 4);
    assert_int_equal(ring_total(&r), 10);
    assert_int_equal(ring_oldest(&r), 2);
    expect(&r, 0, 2, "cdefghij"); /* clamped to the oldest */
    expect(&r, 5, 5, "fghij");
    ring_close(&r);
}

static void test_large_write(void **state)
{
    (void)state;
    struct ring r = ring_of(4);
    ring_append(&r, "ABCDEF", 6);
    assert_int_equal(ring_total(&r), 6);
    expect(&r, 0, 2, "CDEF");
    expect(&r, 1, 2, "CDEF");
    ring_close(&r);
}

static void test_exactly_full_and_wrap(void **state)
{
    (void)state;
    struct ring r = ring_of(4);
    ring_append(&r, "ABCD", 4);
    expect(&r, 0, 0, "ABCD");
    ring_append(&r, "EF", 2);
    expect(&r, 0, 2, "CDEF");
    ring_close(&r);
}

/* Go's test: 16 writers x 64 writes x 1 KiB (here in turn: one loop). */
static void test_many_writes(void **state)
{
    (void)state;
    struct ring r = ring_of(64 * 1024);
    char chunk[1024];
    for (int w = 0; w < 16; w++) {
        memset(chunk, 'a' + w, sizeof(chunk));
        for (int i = 0; i < 64; i++)
            ring_append(&r, chunk, sizeof(chunk));
    }
    assert_int_equal(ring_total(&r), 1048576);
    struct strbuf out = STRBUF_INIT;
    assert_int_equal(ring_read(&r, 0, &out), 1048576 - 64 * 1024);
    assert_int_equal(out.len, 64 * 1024);
    assert_int_equal(out.data[0], 'p');
    strbuf_free(&out);
    ring_close(&r);
}

/* Another worker maps the same memfd: the bytes and the offsets carry over. */
static void test_attach(void **state)
{
    (void)state;
    struct ring r = ring_of(8);
    ring_append(&r, "abcdefghij", 10);
    int fd = fcntl(r.fd, F_DUPFD_CLOEXEC, 0);
    ring_close(&r);
    struct ring again;
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(ring_attach(&again, fd, &err), 0);
    expect(&again, 0, 2, "cdefghij");
    ring_append(&again, "k", 1);
    expect(&again, 9, 9, "jk");
    ring_close(&again);

    int other = memfd_create("not-a-ring", MFD_CLOEXEC);
    assert_true(other >= 0);
    assert_int_equal(ftruncate(other, 4096), 0);
    assert_int_equal(ring_attach(&again, other, &err), -1);
    assert_non_null(strstr(err.data, "not a replay buffer"));
    strbuf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),       cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_large_write), cmocka_unit_test(test_exactly_full_and_wrap),
        cmocka_unit_test(test_many_writes), cmocka_unit_test(test_attach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
