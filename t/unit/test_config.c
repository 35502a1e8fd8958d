/* Configuration: defaults, ini file, environment, flags, precedence and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static enum config_rc load(struct config *cfg, char **argv, char **envp, struct strbuf *err)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return config_load(cfg, argc, argv, envp, err);
}

static char *write_ini(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/execd-test-conf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    char *argv[] = {"execd", NULL};
    char *envp[] = {NULL};
    assert_int_equal(load(&cfg, argv, envp, &err), CONFIG_OK);
    assert_int_equal(cfg.port, 44772);
    assert_string_equal(cfg.listen_addr, "0.0.0.0");
    assert_string_equal(cfg.access_token, "");
    assert_int_equal(cfg.grace_ms, 1000);
    assert_int_equal(cfg.jupyter_poll_ms, 100);
    assert_int_equal(cfg.log_level, 6);
    assert_string_equal(cfg.kernel_transport, "auto");
    assert_true(cfg.max_body_size == 16u << 20);
    assert_true(cfg.runtime_dir[0] == '/');
    assert_true(config_worker_count(&cfg) >= 2);
    config_free(&cfg);
    strbuf_free(&err);
}

static void test_precedence(void **state)
{
    (void)state;
    char *path = write_ini("[server]\nport = 1001\naccess_token = file\n[log]\nlevel = 3\n");
    struct config cfg;
    struct strbuf err = STRBUF_INIT;

    char *only_file[] = {"execd", "-c", path, NULL};
    char *no_env[] = {NULL};
    assert_int_equal(load(&cfg, only_file, no_env, &err), CONFIG_OK);
    assert_int_equal(cfg.port, 1001);
    assert_string_equal(cfg.access_token, "file");
    assert_int_equal(cfg.log_level, 3);
    config_free(&cfg);

    char *env[] = {"EXECD_PORT=1002", "EXECD_ACCESS_TOKEN=env", NULL};
    assert_int_equal(load(&cfg, only_file, env, &err), CONFIG_OK);
    assert_int_equal(cfg.port, 1002);
    assert_string_equal(cfg.access_token, "env");
    assert_int_equal(cfg.log_level, 3);
    config_free(&cfg);

    char *flags[] = {"execd", "--port=1003", "-c", path, "-access-token", "flag", NULL};
    assert_int_equal(load(&cfg, flags, env, &err), CONFIG_OK);
    assert_int_equal(cfg.port, 1003);
    assert_string_equal(cfg.access_token, "flag");
    config_free(&cfg);

    char *later_wins[] = {"execd", "-port", "1004", "-port=1005", NULL};
    assert_int_equal(load(&cfg, later_wins, no_env, &err), CONFIG_OK);
    assert_int_equal(cfg.port, 1005);
    config_free(&cfg);
    unlink(path);
    strbuf_free(&err);
}

static void expect_error(char **argv, char **envp, const char *needle)
{
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(load(&cfg, argv, envp, &err), CONFIG_ERROR);
    if (strstr(err.data, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err.data, needle);
    config_free(&cfg);
    strbuf_free(&err);
}

static void test_errors(void **state)
{
    (void)state;
    char *no_env[] = {NULL};
    char *a1[] = {"execd", "-bogus", NULL};
    expect_error(a1, no_env, "-bogus");
    char *a2[] = {"execd", "-port", "x", NULL};
    expect_error(a2, no_env, "-port");
    char *a3[] = {"execd", "-workers", "65", NULL};
    expect_error(a3, no_env, "out of range");
    char *a4[] = {"execd", "-log-level", NULL};
    expect_error(a4, no_env, "needs an argument");
    char *env[] = {"EXECD_API_GRACE_SHUTDOWN=1", NULL};
    char *a5[] = {"execd", NULL};
    expect_error(a5, env, "EXECD_API_GRACE_SHUTDOWN");
    char *path = write_ini("[log]\nlevel = high\n");
    char *a6[] = {"execd", "-c", path, NULL};
    expect_error(a6, no_env, "[log] level");
    unlink(path);
    path = write_ini("[log]\nlevle = 3\n");
    char *a7[] = {"execd", "-c", path, NULL};
    expect_error(a7, no_env, "unknown setting [log] levle");
    unlink(path);
    char *a8[] = {"execd", "extra", NULL};
    expect_error(a8, no_env, "unexpected argument");
    char *a9[] = {"execd", "-kernel-transport", "udp", NULL};
    expect_error(a9, no_env, "kernel-transport: must be auto, ipc or tcp");
    char *tcp_env[] = {"EXECD_KERNEL_TRANSPORT=tcp", NULL};
    char *a10[] = {"execd", NULL};
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(load(&cfg, a10, tcp_env, &err), CONFIG_OK);
    assert_string_equal(cfg.kernel_transport, "tcp");
    config_free(&cfg);
    strbuf_free(&err);
}

static void test_help_and_quirks(void **state)
{
    (void)state;
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    char *no_env[] = {NULL};
    char *help[] = {"execd", "--help", NULL};
    assert_int_equal(load(&cfg, help, no_env, &err), CONFIG_HELP);
    config_free(&cfg);

    /* The Go daemon resets a non-positive idle poll interval to 100 ms. */
    char *poll[] = {"execd", "-jupyter-idle-poll-interval", "0", NULL};
    assert_int_equal(load(&cfg, poll, no_env, &err), CONFIG_OK);
    assert_int_equal(cfg.jupyter_poll_ms, 100);
    config_free(&cfg);
    char *env[] = {"EXECD_JUPYTER_IDLE_POLL_INTERVAL=-5s", "JUPYTER_HOST=http://x", NULL};
    char *plain[] = {"execd", NULL};
    assert_int_equal(load(&cfg, plain, env, &err), CONFIG_OK);
    assert_int_equal(cfg.jupyter_poll_ms, 100);
    assert_non_null(strstr(cfg.warnings.data, "-jupyter-host is ignored"));
    config_free(&cfg);
    strbuf_free(&err);
}

static void test_parsers(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(config_parse_duration_ms("1s", &ms), 0);
    assert_int_equal(ms, 1000);
    assert_int_equal(config_parse_duration_ms("1m30s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(config_parse_duration_ms("1.5h", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(config_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(config_parse_duration_ms("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(config_parse_duration_ms("-2s", &ms), 0);
    assert_int_equal(ms, -2000);
    assert_int_equal(config_parse_duration_ms("10", &ms), -1);
    assert_int_equal(config_parse_duration_ms("1x", &ms), -1);
    assert_int_equal(config_parse_duration_ms("", &ms), -1);

    uint64_t size;
    assert_int_equal(config_parse_size("16M", &size), 0);
    assert_true(size == 16u << 20);
    assert_int_equal(config_parse_size("1GiB", &size), 0);
    assert_true(size == 1u << 30);
    assert_int_equal(config_parse_size("512", &size), 0);
    assert_true(size == 512);
    assert_int_equal(config_parse_size("1Q", &size), -1);
    assert_int_equal(config_parse_size("-1", &size), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_help_and_quirks),
        cmocka_unit_test(test_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
