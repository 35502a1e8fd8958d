/*
 * One connection to the MySQL/MariaDB server, driven by the worker's event loop through
 * MariaDB Connector/C's non-blocking API: each operation starts with mysql_*_start and
 * is continued with mysql_*_cont whenever the socket (or the library's timer) is ready,
 * so a slow server never blocks the worker's other streams and kernels.
 *
 * Every operation returns true when it finished at once and false when it waits: the
 * owner's done(arg) is then called when it has finished. Either way its outcome is in
 * rc (0: success) and, for a fetch, row. One operation at a time.
 */
#ifndef EXECD_SQLCONN_H
#define EXECD_SQLCONN_H

#include <event2/event.h>
#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>

#include "list.h"
#include "strbuf.h"
#include "wsettings.h"

struct sqlconn {
    MYSQL *my;
    struct event *ev; /* what the library waits for; re-assigned for each wait */
    int (*cont)(struct sqlconn *c, int ready);
    void (*done)(void *arg);
    void *arg;
    int rc;                 /* outcome of the last operation: 0 success */
    MYSQL_RES *res;         /* the result set being fetched */
    MYSQL_ROW row;          /* fetched row; NULL at the end of the set or on an error */
    struct strbuf password; /* until connected: the library reads it late */
    struct list node;       /* in the idle pool (sqlpool.c) */
};

/* A new, unconnected connection reporting to done(arg); NULL (logged) on failure. */
struct sqlconn *sqlconn_new(void (*done)(void *arg), void *arg);
void sqlconn_set_owner(struct sqlconn *c, void (*done)(void *arg), void *arg);

/*
 * The password for the next connect: the first line of the settings' password file, read
 * now (so a changed file applies to the next connection), or none without one. Returns
 * 0, or -1 with err.
 */
int sqlconn_password(struct sqlconn *c, const struct wsettings *s, struct strbuf *err);
/* Connects to the server the settings name (no default database). */
bool sqlconn_connect(struct sqlconn *c, const struct wsettings *s);
bool sqlconn_select_db(struct sqlconn *c, const char *db);
bool sqlconn_query(struct sqlconn *c, const char *sql, size_t len);
/* The next result of a statement that has more (mysql_next_result: rc -1 when none). */
bool sqlconn_next_result(struct sqlconn *c);
/* The next row of c->res (from mysql_use_result). */
bool sqlconn_fetch(struct sqlconn *c);

/* The last error as the Go driver writes it: "Error 1064 (42000): You have ...". */
void sqlconn_error(struct sqlconn *c, struct strbuf *out);
unsigned sqlconn_errno(struct sqlconn *c);
/* The last error was the client's (CR_*: lost, refused, out of sync): do not reuse c. */
bool sqlconn_broken(struct sqlconn *c);
/* The connection's current database, or "" . */
const char *sqlconn_schema(struct sqlconn *c);
unsigned long sqlconn_thread(struct sqlconn *c);
/* An idle connection the server has not closed (no EOF or stray bytes waiting). */
bool sqlconn_idle_alive(struct sqlconn *c);
/* Shuts the socket down: a waiting operation fails at once (its done follows). */
void sqlconn_abort(struct sqlconn *c);
/* Closes c: politely (COM_QUIT) when it is idle and healthy, else by aborting it. */
void sqlconn_close(struct sqlconn *c, bool polite);

#endif
