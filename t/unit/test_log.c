/* Deferred logging: lines gathered until the flush, in order, whole; errors at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"

static int scheduled;

static void count_schedule(void *arg)
{
    (void)arg;
    scheduled++;
}

/* The log file's text, each line's time and level prefix removed ("[t] msg" lines). */
static void read_log(const char *path, struct strbuf *out)
{
    strbuf_reset(out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *msg = strstr(line, "[t] ");
        assert_non_null(msg);
        strbuf_append_str(out, msg + 4);
    }
    fclose(f);
}

static void test_deferred_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/execd-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(log_setup(path, LOG_LEVEL_INFO, LOG_FORMAT_TEXT, "t"), 0);
    struct strbuf text = STRBUF_INIT;

    log_defer(count_schedule, NULL);
    log_info("one %d", 1);
    log_info("two");
    read_log(path, &text);
    assert_int_equal(text.len, 0);
    assert_int_equal(scheduled, 1); /* once per batch */

    log_flush();
    read_log(path, &text);
    assert_string_equal(text.data, "one 1\ntwo\n");

    /* An error goes out at once, behind what was pending. */
    log_info("three");
    assert_int_equal(scheduled, 2);
    log_error("four");
    read_log(path, &text);
    assert_string_equal(text.data, "one 1\ntwo\nthree\nfour\n");

    /* Back to one write per line, nothing left behind. */
    log_info("five");
    log_defer(NULL, NULL);
    log_info("six");
    read_log(path, &text);
    assert_string_equal(text.data, "one 1\ntwo\nthree\nfour\nfive\nsix\n");
    assert_int_equal(scheduled, 3);

    log_close();
    strbuf_free(&text);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
