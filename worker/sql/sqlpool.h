/*
 * This worker's idle connections: an execution takes one (or opens its own) and gives
 * it back when it ends in a known state, so a run of statements costs no connect. Each
 * execution has its connection to itself while it runs; concurrent executions open
 * more, and at most SQLPOOL_IDLE_MAX stay open afterwards.
 */
#ifndef EXECD_SQLPOOL_H
#define EXECD_SQLPOOL_H

#include "sql/sqlconn.h"

#define SQLPOOL_IDLE_MAX 2

/* An idle connection still open on the server's side, or NULL; dead ones are closed. */
struct sqlconn *sqlpool_take(void);
/* c is idle and healthy: kept for the next execution, or closed when enough are. */
void sqlpool_put(struct sqlconn *c);
void sqlpool_free(void);

#endif
