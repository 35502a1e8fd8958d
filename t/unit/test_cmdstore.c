/*
 * Command records: retention by age, by total log size and by count (oldest first, running
 * records never), the files that go with a dropped record, reloading from disk in start
 * order, and records on disk that cannot be used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command/cmdstore.h"
#include "core/out.h"

#define NOW 1800000000000LL /* ms */

static char dir[64];

static void id_of(int n, char *out)
{
    snprintf(out, IDS_HEX_LEN + 1, "%032x", n);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void record_file(int n, const char *suffix, char *out, size_t size)
{
    char id[IDS_HEX_LEN + 1];
    id_of(n, id);
    snprintf(out, size, "%s/commands/%s%s", dir, id, suffix);
}

/* A record n started at started_ms; finished at finished_ms unless that is 0 (running). */
static struct command *add(int n, bool background, int64_t started_ms, int64_t finished_ms,
                           size_t output_bytes, bool save)
{
    char id[IDS_HEX_LEN + 1];
    id_of(n, id);
    struct command *c = command_new(id);
    c->content = strdup("true");
    c->background = background;
    c->started_at.tv_sec = started_ms / 1000;
    c->started_at.tv_nsec = (started_ms % 1000) * 1000000;
    c->running = finished_ms == 0;
    c->finished_at.tv_sec = finished_ms / 1000;
    c->finished_at.tv_nsec = (finished_ms % 1000) * 1000000;
    cmdstore_add(c);
    if (save)
        assert_int_equal(cmdstore_save(c), 0);
    if (output_bytes > 0) {
        struct strbuf p = STRBUF_INIT;
        cmdstore_output_path(id, &p);
        FILE *f = fopen(p.data, "w");
        assert_non_null(f);
        for (size_t i = 0; i < output_bytes; i++)
            fputc('x', f);
        fclose(f);
        strbuf_free(&p);
    }
    return c;
}

static bool known(int n)
{
    char id[IDS_HEX_LEN + 1];
    id_of(n, id);
    return cmdstore_get(id) != NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/cmdstore.XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_age(void **state)
{
    (void)state;
    assert_int_equal(cmdstore_init(dir, 60000, 1 << 30), 0);
    add(1, true, NOW - 200000, NOW - 61000, 10, true); /* finished 61 s ago */
    add(2, false, NOW - 200000, NOW - 61000, 0, true);
    add(3, true, NOW - 200000, 0, 10, true);           /* running, however old */
    add(4, true, NOW - 200000, NOW - 59000, 10, true); /* finished 59 s ago */
    assert_int_equal(cmdstore_sweep(NOW), 2);
    assert_false(known(1));
    assert_false(known(2));
    assert_true(known(3));
    assert_true(known(4));
    char path[256];
    record_file(1, ".json", path, sizeof(path));
    assert_false(exists(path));
    record_file(1, ".output", path, sizeof(path));
    assert_false(exists(path));
    record_file(4, ".json", path, sizeof(path));
    assert_true(exists(path));
    record_file(4, ".output", path, sizeof(path));
    assert_true(exists(path));
    /* nothing more to drop until they age */
    assert_int_equal(cmdstore_sweep(NOW), 0);
    assert_int_equal(cmdstore_sweep(NOW + 1001), 1);
    assert_false(known(4));
    cmdstore_free();
}

static void test_size(void **state)
{
    (void)state;
    assert_int_equal(cmdstore_init(dir, 3600000, 1000), 0);
    add(1, true, NOW - 5000, NOW - 1000, 400, true);
    add(2, false, NOW - 4500, NOW - 1000, 0, true); /* foreground: no log, kept */
    add(3, true, NOW - 4000, 0, 400, true);         /* running: never dropped */
    add(4, true, NOW - 3000, NOW - 1000, 400, true);
    add(5, true, NOW - 2000, NOW - 1000, 400, true);
    add(6, true, NOW - 1500, NOW - 1000, 400, true);
    /* 1600 bytes of finished logs > 1000: the oldest go until the rest fits */
    assert_int_equal(cmdstore_sweep(NOW), 2);
    assert_false(known(1));
    assert_true(known(2));
    assert_true(known(3));
    assert_false(known(4));
    assert_true(known(5));
    assert_true(known(6));
    char path[256];
    record_file(4, ".output", path, sizeof(path));
    assert_false(exists(path));
    assert_int_equal(cmdstore_sweep(NOW), 0);
    cmdstore_free();
}

static void test_count(void **state)
{
    (void)state;
    assert_int_equal(cmdstore_init(dir, 3600000, 1 << 30), 0);
    for (int i = 0; i < CMDSTORE_MAX_FINISHED + 2; i++)
        add(i + 1, false, NOW - 100000 + i, NOW - 1000, 0, false);
    add(CMDSTORE_MAX_FINISHED + 3, false, NOW - 200000, 0, 0, false); /* running */
    assert_int_equal(cmdstore_sweep(NOW), 2);
    assert_false(known(1));
    assert_false(known(2));
    assert_true(known(3));
    assert_true(known(CMDSTORE_MAX_FINISHED + 2));
    assert_true(known(CMDSTORE_MAX_FINISHED + 3));
    assert_int_equal(cmdstore_sweep(NOW), 0);
    cmdstore_free();
}

static int loaded;
static void on_load(struct command *c)
{
    (void)c;
    loaded++;
}

static void collect(struct command *c, void *arg)
{
    strbuf_printf(arg, "%s,", c->id + IDS_HEX_LEN - 2);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_reload_order_and_bad_records(void **state)
{
    (void)state;
    assert_int_equal(cmdstore_init(dir, 3600000, 1000), 0);
    /* saved in an order unrelated to their start times */
    add(0x13, true, NOW - 1000, NOW - 500, 400, true);
    add(0x11, true, NOW - 3000, NOW - 500, 400, true);
    add(0x14, false, NOW - 500, NOW - 400, 0, true);
    add(0x12, true, NOW - 2000, NOW - 500, 400, true);
    cmdstore_free();

    char path[256];
    record_file(0x20, ".json", path, sizeof(path));
    write_file(path, "{not json");
    record_file(0x21, ".json", path, sizeof(path));
    write_file(path, "[1, 2]");
    snprintf(path, sizeof(path), "%s/commands/short.json", dir);
    write_file(path, "{\"id\":\"short\"}");
    record_file(0x22, ".json", path, sizeof(path));
    write_file(path, "{\"id\":\"not-the-right-length\"}");

    assert_int_equal(cmdstore_init(dir, 3600000, 1000), 0);
    loaded = 0;
    cmdstore_load(on_load);
    assert_int_equal(loaded, 4); /* the unusable ones are skipped */
    struct strbuf order = STRBUF_INIT;
    cmdstore_each(collect, &order);
    assert_string_equal(order.data, "11,12,13,14,");
    strbuf_free(&order);
    /* retention drops the oldest logs first, as before the reload */
    assert_int_equal(cmdstore_sweep(NOW), 1);
    assert_false(known(0x11));
    assert_true(known(0x12));
    cmdstore_free();
}

static void test_init_error(void **state)
{
    (void)state;
    char file[128];
    snprintf(file, sizeof(file), "%s/a-file", dir);
    write_file(file, "");
    assert_int_equal(cmdstore_init(file, 1, 1), -1);
}

int main(void)
{
    out_init(NULL); /* no master: what the store tells it is dropped */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_order_and_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
