/*
 * The SQL executor: POST /code with context.language "sql" runs the code as one
 * statement on a MySQL/MariaDB server (the -sql-* settings), as the Go daemon does,
 * without its bugs: a failed connection is retried by the next request, every connection
 * starts in the configured database, text cells are strings, results are capped, and
 * statements can be interrupted (DELETE /code?id=<init id>) and time out. See
 * sql/sqlrun.h for one execution and docs/architecture.md for the flow.
 */
#include <json-c/json.h>
#include <mysql.h>

#include "common.h"
#include "core/out.h"
#include "executor.h"
#include "log.h"
#include "sql/sqlkill.h"
#include "sql/sqlpool.h"
#include "sql/sqlrun.h"

static int sql_init(const struct wsettings *s EXECD_UNUSED, bool adopt EXECD_UNUSED)
{
    if (mysql_library_init(0, NULL, NULL) != 0) {
        log_error("sql: the MariaDB client library failed to initialize");
        return -1;
    }
    return 0;
}

static void run_op(uint32_t job, json_object *msg)
{
    json_object *code = NULL;
    if (!json_object_object_get_ex(msg, "code", &code) ||
        !json_object_is_type(code, json_type_string)) {
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "missing code");
        return;
    }
    sqlrun_start(job, json_object_get_string(code), (size_t)json_object_get_string_len(code));
}

static void sql_interrupt(uint32_t job, const char *id, json_object *msg EXECD_UNUSED)
{
    sqlrun_interrupt(job, id);
}

static bool sql_busy(void)
{
    return sqlrun_count() > 0;
}

/* Executions and the kills that stop them: a stopping worker waits for both. */
static size_t sql_running(void)
{
    return sqlrun_count() + sqlkill_count();
}

static void sql_shutdown(int64_t grace_ms EXECD_UNUSED)
{
    sqlrun_shutdown();
}

static void sql_cleanup(void)
{
    sqlrun_free_all();
    sqlkill_free_all();
    sqlpool_free();
    mysql_library_end();
}

static const struct executor_op ops[] = {
    {"sql.run", run_op},
    {NULL, NULL},
};

const struct executor sql_executor = {
    .name = "sql",
    .ops = ops,
    .interrupt_kind = "sql",
    .init = sql_init,
    .interrupt = sql_interrupt,
    .busy = sql_busy,
    .running = sql_running,
    .shutdown = sql_shutdown,
    .cleanup = sql_cleanup,
};
