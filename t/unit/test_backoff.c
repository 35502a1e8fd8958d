/* Respawn backoff and the crash-loop breaker of a worker slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pool/backoff.h"

#define T0 5000000 /* ms, monotonic */

static void test_doubling_and_cap(void **state)
{
    (void)state;
    struct backoff b = {0};
    bool tripped;
    /* crashes a minute and more apart never trip the breaker: the doubling alone */
    int64_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int64_t now = T0 + (int64_t)i * (BACKOFF_BREAKER_WINDOW_MS + 1);
        assert_int_equal(backoff_next(&b, now, 10, 0, &tripped), want[i]);
        assert_false(tripped);
    }
}

static void test_jitter_bounds(void **state)
{
    (void)state;
    struct backoff b = {0};
    bool tripped;
    /* up to half the delay on top; rnd beyond the range wraps */
    assert_int_equal(backoff_next(&b, T0, 0, 50, &tripped), 150);
    b = (struct backoff){0};
    assert_int_equal(backoff_next(&b, T0, 0, 51, &tripped), 100);
    b = (struct backoff){0};
    assert_int_equal(backoff_next(&b, T0, 0, UINT32_MAX, &tripped), 100 + UINT32_MAX % 51);
    for (uint32_t r = 0; r < 1000; r += 7) {
        struct backoff c = {.crashes = 3};
        int64_t d = backoff_next(&c, T0, 0, r, &tripped);
        assert_true(d >= 800 && d <= 1200);
    }
}

static void test_healthy_resets(void **state)
{
    (void)state;
    struct backoff b = {0};
    bool tripped;
    int64_t now = T0;
    assert_int_equal(backoff_next(&b, now, 10, 0, &tripped), 100);
    now += BACKOFF_BREAKER_WINDOW_MS + 1;
    assert_int_equal(backoff_next(&b, now, 10, 0, &tripped), 200);
    now += BACKOFF_BREAKER_WINDOW_MS + 1;
    /* a worker that lived a minute was healthy: back to the first delay */
    assert_int_equal(backoff_next(&b, now, BACKOFF_HEALTHY_MS, 0, &tripped), 100);
    now += BACKOFF_BREAKER_WINDOW_MS + 1;
    assert_int_equal(backoff_next(&b, now, BACKOFF_HEALTHY_MS - 1, 0, &tripped), 200);
}

static void test_breaker(void **state)
{
    (void)state;
    struct backoff b = {0};
    bool tripped;
    int64_t now = T0;
    for (int i = 0; i < BACKOFF_BREAKER_CRASHES - 1; i++) {
        assert_int_equal(backoff_next(&b, now, 10, 0, &tripped), 100 << i);
        assert_false(tripped);
        now += 1000;
    }
    /* the fifth crash within a minute */
    assert_int_equal(backoff_next(&b, now, 10, 0, &tripped), BACKOFF_BREAKER_MS);
    assert_true(tripped);
    assert_int_equal(b.window_crashes, BACKOFF_BREAKER_CRASHES);
    /* it stays tripped while crashes keep coming within the window, jitter up to a quarter */
    now += 1000;
    int64_t d = backoff_next(&b, now, 10, BACKOFF_BREAKER_MS, &tripped);
    assert_true(tripped);
    assert_int_equal(d, BACKOFF_BREAKER_MS);
    d = backoff_next(&b, now, 10, BACKOFF_BREAKER_MS / 4 - 1, &tripped);
    assert_int_equal(d, BACKOFF_BREAKER_MS + BACKOFF_BREAKER_MS / 4 - 1);
    /* a crash after the window: a new window, the doubling goes on */
    now += BACKOFF_BREAKER_WINDOW_MS + 1;
    d = backoff_next(&b, now, 10, 0, &tripped);
    assert_false(tripped);
    assert_int_equal(d, 100 << 7);
    assert_int_equal(b.window_crashes, 1);
}

static void test_window_starts_at_the_first_crash(void **state)
{
    (void)state;
    /* a clock still below the window (a freshly booted machine) changes nothing */
    struct backoff b = {0};
    bool tripped;
    for (int i = 0; i < BACKOFF_BREAKER_CRASHES - 1; i++)
        backoff_next(&b, 10 + i, 10, 0, &tripped);
    assert_false(tripped);
    assert_int_equal(b.window_start, 10);
    /* four crashes, then a fifth just past a minute after the first: no trip */
    backoff_next(&b, 10 + BACKOFF_BREAKER_WINDOW_MS + 1, 10, 0, &tripped);
    assert_false(tripped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubling_and_cap),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_healthy_resets),
        cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_window_starts_at_the_first_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
