/* Configuration: -v and -t, and the startup line's description of the settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config.h"

static enum config_rc load(struct config *cfg, char **argv, char **envp, struct strbuf *err)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return config_load(cfg, argc, argv, envp, err);
}

static void test_version_and_test_flags(void **state)
{
    (void)state;
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    char *no_env[] = {NULL};

    char *version[] = {"execd", "-port", "80", "-v", NULL};
    assert_int_equal(load(&cfg, version, no_env, &err), CONFIG_VERSION);
    config_free(&cfg);
    char *long_version[] = {"execd", "--version", NULL};
    assert_int_equal(load(&cfg, long_version, no_env, &err), CONFIG_VERSION);
    config_free(&cfg);

    char *test_ok[] = {"execd", "-t", "-port", "8080", NULL};
    assert_int_equal(load(&cfg, test_ok, no_env, &err), CONFIG_OK);
    assert_true(cfg.test_only);
    assert_int_equal(cfg.port, 8080);
    config_free(&cfg);

    /* -t after a bad value still marks the run as a test: the caller says "test failed". */
    char *test_bad[] = {"execd", "-t", "-port", "0", NULL};
    assert_int_equal(load(&cfg, test_bad, no_env, &err), CONFIG_ERROR);
    assert_true(cfg.test_only);
    assert_non_null(strstr(err.data, "-port"));
    config_free(&cfg);

    char *plain[] = {"execd", NULL};
    assert_int_equal(load(&cfg, plain, no_env, &err), CONFIG_OK);
    assert_false(cfg.test_only);
    config_free(&cfg);
    strbuf_free(&err);
}

static void test_child_oom_score_adj(void **state)
{
    (void)state;
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    char *plain[] = {"execd", NULL};
    char *no_env[] = {NULL};
    assert_int_equal(load(&cfg, plain, no_env, &err), CONFIG_OK);
    assert_int_equal(cfg.child_oom_score_adj, 300);
    config_free(&cfg);
    char *env[] = {"EXECD_CHILD_OOM_SCORE_ADJ=-1000", NULL};
    assert_int_equal(load(&cfg, plain, env, &err), CONFIG_OK);
    assert_int_equal(cfg.child_oom_score_adj, -1000);
    config_free(&cfg);
    char *too_big[] = {"execd", "-child-oom-score-adj", "1001", NULL};
    assert_int_equal(load(&cfg, too_big, no_env, &err), CONFIG_ERROR);
    assert_non_null(strstr(err.data, "out of range"));
    config_free(&cfg);
    strbuf_free(&err);
}

static void test_describe(void **state)
{
    (void)state;
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    char *argv[] = {"execd",
                    "-access-token",
                    "s3cret-token",
                    "-keepalive-timeout",
                    "90s",
                    "-shutdown-timeout",
                    "1500ms",
                    "-command-retention",
                    "2h",
                    "-max-line",
                    "65536",
                    "-max-body-size",
                    "1000",
                    "-envs-file",
                    "/etc/with space",
                    "-log-format",
                    "json",
                    NULL};
    char *no_env[] = {NULL};
    assert_int_equal(load(&cfg, argv, no_env, &err), CONFIG_OK);
    struct strbuf out = STRBUF_INIT;
    config_describe(&cfg, &out);
    assert_null(strstr(out.data, "s3cret"));
    assert_non_null(strstr(out.data, "-access-token=*** "));
    assert_non_null(strstr(out.data, "-port=44772 "));
    assert_non_null(strstr(out.data, "-keepalive-timeout=90s "));
    assert_non_null(strstr(out.data, "-shutdown-timeout=1500ms "));
    assert_non_null(strstr(out.data, "-command-retention=2h "));
    assert_non_null(strstr(out.data, "-max-line=64K "));
    assert_non_null(strstr(out.data, "-max-body-size=1000 "));
    assert_non_null(strstr(out.data, "-command-retention-size=1G "));
    assert_non_null(strstr(out.data, "-envs-file=\"/etc/with space\" "));
    assert_non_null(strstr(out.data, "-log-format=json "));
    assert_non_null(strstr(out.data, "-jupyter-token=\"\""));
    assert_null(strstr(out.data, "-c "));
    strbuf_free(&out);
    config_free(&cfg);

    char *no_token[] = {"execd", NULL};
    assert_int_equal(load(&cfg, no_token, no_env, &err), CONFIG_OK);
    config_describe(&cfg, &out);
    assert_non_null(strstr(out.data, "-access-token=\"\" "));
    strbuf_free(&out);
    config_free(&cfg);
    strbuf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_test_flags),
        cmocka_unit_test(test_child_oom_score_adj),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
