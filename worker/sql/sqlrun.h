/*
 * One SQL execution (POST /code with language sql) as a stream: `init` with the
 * execution's id (registered, so DELETE /code?id= reaches it), then `execution_count` 1,
 * `result` (sql/sqlresult.h) and `execution_complete`, or one `error` event (DBInitError
 * when no connection could be had, else DBQueryError or DBExecError, no traceback).
 *
 * The statement runs on a connection of the worker's pool (sql/sqlpool.h), reads its
 * rows as they arrive (mysql_use_result) and stops at the caps. A statement running
 * longer than sql-statement-timeout, interrupted, or running when the worker stops is
 * killed on the server (sql/sqlkill.h); if that fails or does not end it within
 * SQLRUN_KILL_GRACE_MS, its connection is cut.
 */
#ifndef EXECD_SQLRUN_H
#define EXECD_SQLRUN_H

#include <stddef.h>
#include <stdint.h>

#define SQLRUN_KILL_GRACE_MS 2000

/* Runs sql for job. */
void sqlrun_start(uint32_t job, const char *sql, size_t len);
/* interrupt {id}: stops execution id; the reply (200) comes once it has ended. */
void sqlrun_interrupt(uint32_t job, const char *id);
/* The worker stops: every execution's statement is stopped. */
void sqlrun_shutdown(void);
size_t sqlrun_count(void);
void sqlrun_free_all(void);

#endif
