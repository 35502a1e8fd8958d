#include "sql/sqlrun.h"

#include <mysqld_error.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/out.h"
#include "core/wjob.h"
#include "event.h"
#include "ids.h"
#include "jsonesc.h"
#include "list.h"
#include "log.h"
#include "sql/sqlconn.h"
#include "sql/sqlkill.h"
#include "sql/sqlpool.h"
#include "sql/sqlresult.h"
#include "sql/sqlstmt.h"
#include "worker.h"
#include "xalloc.h"

/* Rows read in one go before the loop's other events get their turn. */
#define TURN_ROWS 1024

/* Where the execution is; each phase waits for one operation of its connection. */
enum phase {
    P_CONNECT, /* connecting */
    P_USE,     /* selecting the default database */
    P_CREATE,  /* creating it: it did not exist */
    P_QUERY,   /* the statement was sent: from here on it may run on the server */
    P_FETCH,   /* reading a result set */
    P_NEXT,    /* asking for the statement's next result */
};

enum stop { STOP_NONE, STOP_INTERRUPT, STOP_TIMEOUT, STOP_SHUTDOWN };

struct sqlrun {
    uint32_t job;
    char id[IDS_DASHED_LEN + 1];
    char *sql;
    size_t len;
    enum phase phase;
    struct sqlconn *conn;
    bool created;     /* CREATE DATABASE was sent */
    bool have_result; /* the first result (a set or a count) is taken; later ones are read
                         and dropped */
    bool rendering;   /* the set being read is the first: its rows are kept */
    unsigned rows_in_turn;
    struct sqlresult result;
    int64_t start_ms;
    enum stop stop;
    bool kill_sent;
    bool detached; /* the client went away: events are dropped, the statement goes on */
    struct event *turn_ev;
    struct event *timeout_ev;
    struct event *grace_ev;
    uint32_t *waiters; /* interrupt jobs, answered when the execution ends */
    size_t n_waiters;
    struct strbuf batch;
    struct list node;
};

static struct list runs = LIST_HEAD_INIT(runs);

static void advance(struct sqlrun *r);

static struct sqlrun *find(const char *id)
{
    list_each_safe(&runs, it, nx)
    {
        struct sqlrun *r = list_entry(it, struct sqlrun, node);
        if (strcmp(r->id, id) == 0)
            return r;
    }
    return NULL;
}

static void emit(struct sqlrun *r)
{
    if (r->detached)
        strbuf_reset(&r->batch);
    else
        out_events(r->job, &r->batch);
}

static void run_free(struct sqlrun *r)
{
    list_del(&r->node);
    evt_free(&r->turn_ev);
    evt_free(&r->timeout_ev);
    evt_free(&r->grace_ev);
    sqlresult_free(&r->result);
    strbuf_free(&r->batch);
    free(r->waiters);
    free(r->sql);
    free(r);
}

/*
 * The stream ends. reusable: the connection is idle and in a known state (the statement
 * ended normally or with a server error), so the pool keeps it.
 */
static void run_end(struct sqlrun *r, bool reusable)
{
    if (reusable && !r->kill_sent)
        sqlpool_put(r->conn);
    else
        sqlconn_close(r->conn, false);
    r->conn = NULL;
    out_unregister(r->id);
    for (size_t i = 0; i < r->n_waiters; i++)
        out_reply_empty(r->waiters[i], 200);
    out_end(r->job);
    wjob_remove(r->job);
    run_free(r);
    worker_changed();
}

static void run_fail(struct sqlrun *r, const char *ename, const char *evalue, bool reusable)
{
    log_debug("sql %s: %s: %s", r->id, ename, evalue);
    event_error(&r->batch, ename, evalue, NULL, 0, clock_wall_ms());
    emit(r);
    run_end(r, reusable);
}

static void stop_text(struct sqlrun *r, struct strbuf *out)
{
    switch (r->stop) {
    case STOP_INTERRUPT:
        strbuf_append_str(out, r->phase < P_QUERY ? "interrupted while connecting to the server"
                                                  : "Query execution was interrupted");
        break;
    case STOP_TIMEOUT:
        strbuf_printf(out,
                      "the statement ran longer than %lld ms (sql-statement-timeout) "
                      "and was stopped",
                      (long long)worker_settings()->sql_timeout_ms);
        break;
    case STOP_SHUTDOWN:
    case STOP_NONE:
        strbuf_append_str(out, "the statement was stopped: the daemon is shutting down");
        break;
    }
}

/* No connection to run the statement on: DBInitError. */
static bool fail_init(struct sqlrun *r)
{
    struct strbuf msg = STRBUF_INIT;
    sqlconn_error(r->conn, &msg);
    log_warn("sql: no connection to the server: %s", msg.data);
    run_fail(r, "DBInitError", msg.data, false);
    strbuf_free(&msg);
    return false;
}

/* The statement failed: DBQueryError or DBExecError, by what it reads like. */
static bool fail_statement(struct sqlrun *r)
{
    struct sqlconn *c = r->conn;
    struct strbuf msg = STRBUF_INIT;
    /* Stopped by us: the server says "interrupted", or the cut connection "lost". */
    if (r->stop != STOP_NONE && (sqlconn_errno(c) == ER_QUERY_INTERRUPTED || sqlconn_broken(c)))
        stop_text(r, &msg);
    else
        sqlconn_error(c, &msg);
    /* A statement the server refused leaves the connection ready for the next one. */
    bool reusable = r->phase == P_QUERY && !sqlconn_broken(c) && r->stop == STOP_NONE;
    run_fail(r, sqlstmt_is_query(r->sql, r->len) ? "DBQueryError" : "DBExecError", msg.data,
             reusable);
    strbuf_free(&msg);
    return false;
}

static void cut_marker(struct sqlrun *r, int64_t now)
{
    struct strbuf msg = STRBUF_INIT;
    const struct wsettings *s = worker_settings();
    if (r->result.cut == SQLRESULT_ROWS)
        strbuf_printf(&msg,
                      "[execd] result truncated: only its first %llu rows are shown "
                      "(sql-max-rows); the statement was stopped\n",
                      (unsigned long long)s->sql_max_rows);
    else
        strbuf_printf(&msg,
                      "[execd] result truncated after %llu rows: the next row would pass "
                      "%llu bytes (sql-max-result-size); the statement was stopped\n",
                      (unsigned long long)r->result.rows, (unsigned long long)s->sql_max_bytes);
    event_text(&r->batch, "stderr", msg.data, msg.len, now);
    log_info("sql %s: %.*s", r->id, (int)msg.len - 1, msg.data);
    strbuf_free(&msg);
}

/* The statement is done (or its result cut): execution_count, result, complete. */
static void finish(struct sqlrun *r)
{
    if (!r->have_result)
        sqlresult_affected(&r->result, 0);
    struct strbuf bundle = STRBUF_INIT;
    strbuf_append_str(&bundle, "{\"text\":");
    jsonesc_append(&bundle, r->result.json.data, r->result.json.len);
    strbuf_append_char(&bundle, '}');
    enum sqlresult_cut cut = r->result.cut;
    sqlresult_free(&r->result); /* the text is in the bundle now: not twice in memory */
    int64_t now = clock_wall_ms();
    event_count(&r->batch, 1, now);
    event_result(&r->batch, bundle.data, now);
    strbuf_free(&bundle);
    if (cut != SQLRESULT_WHOLE)
        cut_marker(r, now);
    event_complete(&r->batch, clock_mono_ms() - r->start_ms, now);
    emit(r);
    /* A cut result has rows left on the wire: closing the connection stops the statement. */
    run_end(r, cut == SQLRESULT_WHOLE);
}

/* ---- the steps: each starts one operation and returns true when it finished at once ---- */

static bool send_statement(struct sqlrun *r)
{
    r->phase = P_QUERY;
    int64_t timeout = worker_settings()->sql_timeout_ms;
    if (timeout > 0)
        evt_arm_ms(r->timeout_ev, timeout);
    return sqlconn_query(r->conn, r->sql, r->len);
}

/* Every connection starts in the configured database, whatever an earlier USE chose. */
static bool use_database(struct sqlrun *r)
{
    const char *db = worker_settings()->sql_database;
    if (db[0] == '\0' || strcmp(sqlconn_schema(r->conn), db) == 0)
        return send_statement(r);
    r->phase = P_USE;
    return sqlconn_select_db(r->conn, db);
}

static bool create_database(struct sqlrun *r)
{
    struct strbuf sql = STRBUF_INIT;
    strbuf_append_str(&sql, "CREATE DATABASE IF NOT EXISTS `");
    for (const char *p = worker_settings()->sql_database; *p != '\0'; p++) {
        if (*p == '`')
            strbuf_append_char(&sql, '`');
        strbuf_append_char(&sql, *p);
    }
    strbuf_append_char(&sql, '`');
    r->created = true;
    r->phase = P_CREATE;
    bool now = sqlconn_query(r->conn, sql.data, sql.len);
    strbuf_free(&sql);
    return now;
}

static bool next_or_finish(struct sqlrun *r)
{
    if (mysql_more_results(r->conn->my)) {
        r->phase = P_NEXT;
        return sqlconn_next_result(r->conn);
    }
    finish(r);
    return false;
}

/* The statement (or its next result) answered: a result set to read, or a count. */
static bool got_result(struct sqlrun *r)
{
    struct sqlconn *c = r->conn;
    if (mysql_field_count(c->my) == 0) {
        if (!r->have_result)
            sqlresult_affected(&r->result, mysql_affected_rows(c->my));
        r->have_result = true;
        return next_or_finish(r);
    }
    c->res = mysql_use_result(c->my);
    if (c->res == NULL)
        return fail_statement(r);
    r->rendering = !r->have_result;
    if (r->rendering)
        sqlresult_columns(&r->result, mysql_fetch_fields(c->res), mysql_num_fields(c->res));
    r->have_result = true;
    r->phase = P_FETCH;
    return sqlconn_fetch(c);
}

static bool got_row(struct sqlrun *r)
{
    struct sqlconn *c = r->conn;
    if (c->row == NULL) {
        if (sqlconn_errno(c) != 0)
            return fail_statement(r);
        mysql_free_result(c->res);
        c->res = NULL;
        if (r->rendering)
            sqlresult_finish(&r->result);
        r->rendering = false;
        return next_or_finish(r);
    }
    if (r->rendering && !sqlresult_row(&r->result, c->row, mysql_fetch_lengths(c->res))) {
        sqlresult_finish(&r->result);
        finish(r);
        return false;
    }
    if (++r->rows_in_turn == TURN_ROWS) {
        r->rows_in_turn = 0;
        event_active(r->turn_ev, EV_TIMEOUT, 0);
        return false;
    }
    return sqlconn_fetch(c);
}

/* The operation of r's phase finished: takes its outcome and starts the next one. */
static bool step(struct sqlrun *r)
{
    struct sqlconn *c = r->conn;
    switch (r->phase) {
    case P_CONNECT:
        return c->rc == 0 ? use_database(r) : fail_init(r);
    case P_USE:
        if (c->rc == 0)
            return send_statement(r);
        if (sqlconn_errno(c) == ER_BAD_DB_ERROR && !r->created)
            return create_database(r);
        return fail_init(r);
    case P_CREATE:
        if (c->rc != 0)
            return fail_init(r);
        r->phase = P_USE;
        return sqlconn_select_db(c, worker_settings()->sql_database);
    case P_QUERY:
        return c->rc == 0 ? got_result(r) : fail_statement(r);
    case P_NEXT:
        if (c->rc > 0)
            return fail_statement(r);
        if (c->rc < 0) {
            finish(r);
            return false;
        }
        return got_result(r);
    case P_FETCH:
        return got_row(r);
    }
    return false;
}

static void advance(struct sqlrun *r)
{
    while (step(r))
        ;
}

static void on_conn_done(void *arg)
{
    advance(arg);
}

static void on_turn(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct sqlrun *r = arg;
    if (sqlconn_fetch(r->conn))
        advance(r);
}

/* ---- stopping ----------------------------------------------------------------------- */

static void on_killed(const char *id, bool ok)
{
    struct sqlrun *r = find(id);
    if (r != NULL && !ok)
        sqlconn_abort(r->conn);
}

/* The kill was sent SQLRUN_KILL_GRACE_MS ago and the statement still runs. */
static void on_grace(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct sqlrun *r = arg;
    log_warn("sql %s: the statement did not stop %d ms after KILL QUERY: closing its connection",
             r->id, SQLRUN_KILL_GRACE_MS);
    sqlconn_abort(r->conn);
}

static void stop(struct sqlrun *r, enum stop why)
{
    if (r->stop == STOP_NONE)
        r->stop = why;
    if (r->phase < P_QUERY) {
        /* Nothing of the user's runs yet: dropping the connection is all it takes. */
        struct strbuf msg = STRBUF_INIT;
        stop_text(r, &msg);
        run_fail(r, "DBInitError", msg.data, false);
        strbuf_free(&msg);
        return;
    }
    if (r->kill_sent)
        return;
    r->kill_sent = true;
    evt_arm_ms(r->grace_ev, SQLRUN_KILL_GRACE_MS);
    sqlkill_start(sqlconn_thread(r->conn), r->id, on_killed);
}

static void on_timeout(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    stop(arg, STOP_TIMEOUT);
}

void sqlrun_interrupt(uint32_t job, const char *id)
{
    struct sqlrun *r = find(id);
    if (r == NULL) {
        /* Left in the master's registry by a worker that died with it running. */
        out_unregister(id);
        out_reply_error(job, 500, "RUNTIME_ERROR",
                        "error interruptting code context. sql execution %s is not running", id);
        return;
    }
    r->waiters = xrealloc(r->waiters, (r->n_waiters + 1) * sizeof(*r->waiters));
    r->waiters[r->n_waiters++] = job;
    stop(r, STOP_INTERRUPT);
}

void sqlrun_shutdown(void)
{
    list_each_safe(&runs, it, nx)
    {
        stop(list_entry(it, struct sqlrun, node), STOP_SHUTDOWN);
    }
}

/* ---- starting ------------------------------------------------------------------------- */

static void on_cancel(void *obj)
{
    struct sqlrun *r = obj;
    /* As for kernels: the client leaving does not stop the statement (it may be writing). */
    r->detached = true;
    strbuf_reset(&r->batch);
}

static const struct wjob_ops run_ops = {.cancel = on_cancel};

/* A pooled connection, or a new one. */
static void open_connection(struct sqlrun *r)
{
    const struct wsettings *s = worker_settings();
    r->conn = sqlpool_take();
    if (r->conn != NULL) {
        sqlconn_set_owner(r->conn, on_conn_done, r);
        if (use_database(r))
            advance(r);
        return;
    }
    struct strbuf err = STRBUF_INIT;
    r->conn = sqlconn_new(on_conn_done, r);
    if (r->conn == NULL) {
        run_fail(r, "DBInitError", "cannot create a connection (see the worker's log)", false);
    } else if (sqlconn_password(r->conn, s, &err) < 0) {
        log_warn("sql: %s", err.data);
        run_fail(r, "DBInitError", err.data, false);
    } else {
        r->phase = P_CONNECT;
        if (sqlconn_connect(r->conn, s))
            advance(r);
    }
    strbuf_free(&err);
}

void sqlrun_start(uint32_t job, const char *sql, size_t len)
{
    const struct wsettings *s = worker_settings();
    struct sqlrun *r = xcalloc(1, sizeof(*r));
    r->job = job;
    ids_uuid_dashed(r->id);
    r->sql = xstrndup(sql, len);
    r->len = len;
    r->start_ms = clock_mono_ms();
    sqlresult_init(&r->result, s->sql_max_rows, s->sql_max_bytes);
    strbuf_init(&r->batch);
    r->turn_ev = event_new(worker_base(), -1, 0, on_turn, r);
    r->timeout_ev = evtimer_new(worker_base(), on_timeout, r);
    r->grace_ev = evtimer_new(worker_base(), on_grace, r);
    list_add_tail(&runs, &r->node);
    wjob_add(job, &run_ops, r);
    /* Registered before init: an interrupt right after init finds it. */
    out_register(job, "sql", r->id);
    event_text(&r->batch, "init", r->id, strlen(r->id), clock_wall_ms());
    emit(r);
    if (r->turn_ev == NULL || r->timeout_ev == NULL || r->grace_ev == NULL) {
        log_error("sql %s: cannot create the execution's events", r->id);
        run_fail(r, "DBInitError", "cannot create the execution's events", false);
        return;
    }
    open_connection(r);
}

size_t sqlrun_count(void)
{
    return list_count(&runs);
}

void sqlrun_free_all(void)
{
    struct sqlrun *r;
    while ((r = list_first(&runs, struct sqlrun, node)) != NULL) {
        sqlconn_close(r->conn, false);
        wjob_remove(r->job);
        run_free(r);
    }
}
