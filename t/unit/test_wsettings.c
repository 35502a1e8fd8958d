/* The worker settings survive the trip master -> JSON -> worker, and a missing key is named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "wsettings.h"
#include "xalloc.h"

static void fill(struct wsettings *s)
{
    memset(s, 0, sizeof(*s));
    s->runtime_dir = xstrdup("/run/x");
    s->log_level = 7;
    s->log_file = xstrdup("/var/log/execd.log");
    s->log_format = LOG_FORMAT_JSON;
    s->grace_ms = 1500;
    s->envs_file = xstrdup("/etc/envs");
    s->retention_ms = 86400000;
    s->retention_bytes = (uint64_t)5 << 32;
    s->max_line = 1 << 20;
    s->jupyter_poll_ms = 100;
    s->workers = 3;
    s->kernel_pool = xjson_object();
    json_object_object_add(s->kernel_pool, "python", xjson_int64(2));
    s->kernel_startup_ms = 30000;
    s->kernelspec_wait_ms = 2000;
    s->kernel_transport = xstrdup("tcp");
    s->code_output_limit = 256u << 20;
    s->child_oom_score_adj = -17;
    s->pty_idle_ms = 90000;
    s->sql_host = xstrdup("db.local");
    s->sql_port = 3307;
    s->sql_socket = xstrdup("/run/mysqld/mysqld.sock");
    s->sql_user = xstrdup("app");
    s->sql_password_file = xstrdup("/etc/execd/sql.pw");
    s->sql_database = xstrdup("sandbox");
    s->sql_timeout_ms = 30000;
    s->sql_max_rows = 1000;
    s->sql_max_bytes = 16u << 20;
    s->adopt = true;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct wsettings in, out;
    fill(&in);
    memset(&out, 0, sizeof(out));
    json_object *msg = xjson_object();
    wsettings_to_json(&in, msg);
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(wsettings_from_json(&out, msg, &err), 0);
    assert_string_equal(out.runtime_dir, "/run/x");
    assert_int_equal(out.log_level, 7);
    assert_string_equal(out.log_file, "/var/log/execd.log");
    assert_int_equal(out.log_format, LOG_FORMAT_JSON);
    assert_int_equal(out.grace_ms, 1500);
    assert_string_equal(out.envs_file, "/etc/envs");
    assert_int_equal(out.retention_ms, 86400000);
    assert_true(out.retention_bytes == (uint64_t)5 << 32);
    assert_int_equal(out.max_line, 1 << 20);
    assert_int_equal(out.workers, 3);
    assert_int_equal(out.kernel_startup_ms, 30000);
    assert_int_equal(out.kernelspec_wait_ms, 2000);
    assert_string_equal(out.kernel_transport, "tcp");
    assert_int_equal(out.code_output_limit, 256u << 20);
    assert_int_equal(out.child_oom_score_adj, -17);
    assert_int_equal(out.pty_idle_ms, 90000);
    assert_string_equal(out.sql_host, "db.local");
    assert_int_equal(out.sql_port, 3307);
    assert_string_equal(out.sql_socket, "/run/mysqld/mysqld.sock");
    assert_string_equal(out.sql_user, "app");
    assert_string_equal(out.sql_password_file, "/etc/execd/sql.pw");
    assert_string_equal(out.sql_database, "sandbox");
    assert_int_equal(out.sql_timeout_ms, 30000);
    assert_int_equal(out.sql_max_rows, 1000);
    assert_int_equal(out.sql_max_bytes, 16u << 20);
    assert_true(out.adopt);
    json_object *n = NULL;
    assert_true(json_object_object_get_ex(out.kernel_pool, "python", &n));
    assert_int_equal(json_object_get_int64(n), 2);
    /* Reading again replaces the strings instead of leaking them (LeakSanitizer checks). */
    assert_int_equal(wsettings_from_json(&out, msg, &err), 0);
    json_object_put(msg);
    wsettings_free(&in);
    wsettings_free(&out);
    strbuf_free(&err);
}

static void test_missing_key_named(void **state)
{
    (void)state;
    struct wsettings in, out;
    fill(&in);
    memset(&out, 0, sizeof(out));
    json_object *msg = xjson_object();
    wsettings_to_json(&in, msg);
    json_object_object_del(msg, "max_line");
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(wsettings_from_json(&out, msg, &err), -1);
    assert_non_null(strstr(err.data, "'max_line'"));
    /* A wrong type is refused too. */
    strbuf_reset(&err);
    json_object_object_add(msg, "max_line", xjson_string("big"));
    assert_int_equal(wsettings_from_json(&out, msg, &err), -1);
    assert_non_null(strstr(err.data, "'max_line'"));
    json_object_put(msg);
    wsettings_free(&in);
    wsettings_free(&out);
    strbuf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_missing_key_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
