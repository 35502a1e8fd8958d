#include "sql/sqlconn.h"

#include <errno.h>
#include <errmsg.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

/* Connecting (TCP connect and handshake) gives up after this. */
#define CONNECT_TIMEOUT_S 10u

static void on_ready(evutil_socket_t fd EXECD_UNUSED, short what, void *arg);

/* Waits for what status asks (socket readiness and/or the library's timeout). */
static void arm(struct sqlconn *c, int status)
{
    short flags = 0;
    if (status & MYSQL_WAIT_READ)
        flags |= EV_READ;
    if (status & MYSQL_WAIT_WRITE)
        flags |= EV_WRITE;
    evutil_socket_t fd = flags != 0 ? (evutil_socket_t)mysql_get_socket(c->my) : -1;
    struct timeval tv, *tvp = NULL;
    if (status & MYSQL_WAIT_TIMEOUT) {
        unsigned ms = mysql_get_timeout_value_ms(c->my);
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
        tvp = &tv;
    }
    if (event_assign(c->ev, worker_base(), fd, flags, on_ready, c) < 0 || event_add(c->ev, tvp) < 0)
        log_error("sql: cannot wait for the server's socket %d", (int)fd);
}

static void on_ready(evutil_socket_t fd EXECD_UNUSED, short what, void *arg)
{
    struct sqlconn *c = arg;
    int ready = 0;
    if (what & EV_READ)
        ready |= MYSQL_WAIT_READ;
    if (what & EV_WRITE)
        ready |= MYSQL_WAIT_WRITE;
    if (what & EV_TIMEOUT)
        ready |= MYSQL_WAIT_TIMEOUT;
    int status = c->cont(c, ready);
    if (status != 0)
        arm(c, status);
    else
        c->done(c->arg);
}

/* The operation started with status: true when it is over, else waits and returns false. */
static bool started(struct sqlconn *c, int status, int (*cont)(struct sqlconn *, int))
{
    if (status == 0)
        return true;
    c->cont = cont;
    arm(c, status);
    return false;
}

struct sqlconn *sqlconn_new(void (*done)(void *arg), void *arg)
{
    MYSQL *my = mysql_init(NULL);
    if (my == NULL) {
        log_error("sql: mysql_init failed");
        return NULL;
    }
    unsigned timeout = CONNECT_TIMEOUT_S, local_infile = 0;
    /* LOAD DATA LOCAL would let the server read the worker's (root's) files. */
    if (mysql_options(my, MYSQL_OPT_NONBLOCK, 0) != 0 ||
        mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4") != 0 ||
        mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout) != 0 ||
        mysql_options(my, MYSQL_OPT_LOCAL_INFILE, &local_infile) != 0) {
        log_error("sql: cannot set the connection's options: %s", mysql_error(my));
        mysql_close(my);
        return NULL;
    }
    struct event *ev = event_new(worker_base(), -1, 0, on_ready, NULL);
    if (ev == NULL) {
        log_error("sql: cannot create the connection's event");
        mysql_close(my);
        return NULL;
    }
    struct sqlconn *c = xcalloc(1, sizeof(*c));
    c->my = my;
    c->ev = ev;
    c->done = done;
    c->arg = arg;
    strbuf_init(&c->password);
    list_init(&c->node);
    return c;
}

void sqlconn_set_owner(struct sqlconn *c, void (*done)(void *arg), void *arg)
{
    c->done = done;
    c->arg = arg;
}

/* ---- operations --------------------------------------------------------------------- */

static void forget_password(struct sqlconn *c)
{
    if (c->password.data != NULL)
        explicit_bzero(c->password.data, c->password.len);
    strbuf_free(&c->password);
}

/*
 * A step of connecting. The library's socket is not close-on-exec: it is made so as soon
 * as it exists (spawned commands close everything anyway; this is the daemon's rule).
 * Connecting is over when status is 0: the library has its own copy of the password.
 */
static int connecting(struct sqlconn *c, int status, MYSQL *ret)
{
    int fd = (int)mysql_get_socket(c->my);
    if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        log_warn("sql: cannot make the server's socket %d close-on-exec: %s", fd, strerror(errno));
    if (status == 0) {
        c->rc = ret != NULL ? 0 : -1;
        forget_password(c);
    }
    return status;
}

static int cont_connect(struct sqlconn *c, int ready)
{
    MYSQL *ret = NULL;
    int status = mysql_real_connect_cont(&ret, c->my, ready);
    return connecting(c, status, ret);
}

bool sqlconn_connect(struct sqlconn *c, const struct wsettings *s)
{
    MYSQL *ret = NULL;
    bool unix_socket = s->sql_socket != NULL && s->sql_socket[0] != '\0';
    /* Every string must outlive the connect: the settings do, the password is c's. */
    int status = mysql_real_connect_start(
        &ret, c->my, unix_socket ? "localhost" : s->sql_host, s->sql_user,
        c->password.data != NULL ? c->password.data : "", NULL,
        unix_socket ? 0 : (unsigned)s->sql_port, unix_socket ? s->sql_socket : NULL, 0);
    return started(c, connecting(c, status, ret), cont_connect);
}

static int cont_int(struct sqlconn *c, int ready, int (*fn)(int *, MYSQL *, int))
{
    return fn(&c->rc, c->my, ready);
}

static int cont_select_db(struct sqlconn *c, int ready)
{
    return cont_int(c, ready, mysql_select_db_cont);
}

bool sqlconn_select_db(struct sqlconn *c, const char *db)
{
    return started(c, mysql_select_db_start(&c->rc, c->my, db), cont_select_db);
}

static int cont_query(struct sqlconn *c, int ready)
{
    return cont_int(c, ready, mysql_real_query_cont);
}

bool sqlconn_query(struct sqlconn *c, const char *sql, size_t len)
{
    return started(c, mysql_real_query_start(&c->rc, c->my, sql, (unsigned long)len), cont_query);
}

static int cont_next(struct sqlconn *c, int ready)
{
    return cont_int(c, ready, mysql_next_result_cont);
}

bool sqlconn_next_result(struct sqlconn *c)
{
    return started(c, mysql_next_result_start(&c->rc, c->my), cont_next);
}

static int cont_fetch(struct sqlconn *c, int ready)
{
    return mysql_fetch_row_cont(&c->row, c->res, ready);
}

bool sqlconn_fetch(struct sqlconn *c)
{
    return started(c, mysql_fetch_row_start(&c->row, c->res), cont_fetch);
}

/* ---- state ---------------------------------------------------------------------------- */

void sqlconn_error(struct sqlconn *c, struct strbuf *out)
{
    strbuf_printf(out, "Error %u (%s): %s", mysql_errno(c->my), mysql_sqlstate(c->my),
                  mysql_error(c->my));
}

unsigned sqlconn_errno(struct sqlconn *c)
{
    return mysql_errno(c->my);
}

bool sqlconn_broken(struct sqlconn *c)
{
    unsigned e = mysql_errno(c->my);
    return e >= CR_MIN_ERROR && e <= CR_MAX_ERROR;
}

const char *sqlconn_schema(struct sqlconn *c)
{
    const char *db = NULL;
    if (mariadb_get_infov(c->my, MARIADB_CONNECTION_SCHEMA, &db) != 0 || db == NULL)
        return "";
    return db;
}

unsigned long sqlconn_thread(struct sqlconn *c)
{
    return mysql_thread_id(c->my);
}

bool sqlconn_idle_alive(struct sqlconn *c)
{
    struct pollfd p = {.fd = (int)mysql_get_socket(c->my), .events = POLLIN | POLLRDHUP};
    return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

void sqlconn_abort(struct sqlconn *c)
{
    int fd = (int)mysql_get_socket(c->my);
    if (fd >= 0 && shutdown(fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
        log_warn("sql: shutdown of the server's socket %d: %s", fd, strerror(errno));
}

void sqlconn_close(struct sqlconn *c, bool polite)
{
    if (c == NULL)
        return;
    event_free(c->ev);
    /* Aborted first, COM_QUIT cannot block on a connection the server still writes to. */
    if (!polite)
        sqlconn_abort(c);
    if (c->res != NULL)
        mysql_free_result(c->res);
    mysql_close(c->my);
    forget_password(c);
    free(c);
}

int sqlconn_password(struct sqlconn *c, const struct wsettings *s, struct strbuf *err)
{
    forget_password(c);
    const char *path = s->sql_password_file;
    if (path == NULL || path[0] == '\0')
        return 0;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        strbuf_printf(err, "cannot read the password file %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    int rc = 0;
    if (n < 0 && ferror(f)) {
        strbuf_printf(err, "cannot read the password file %s: %s", path, strerror(errno));
        rc = -1;
    } else if (n > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        strbuf_append(&c->password, line, (size_t)n);
    }
    if (line != NULL)
        explicit_bzero(line, cap);
    free(line);
    fclose(f);
    return rc;
}
