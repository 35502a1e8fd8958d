#include "sql/sqlpool.h"

#include "log.h"

static struct list idle = LIST_HEAD_INIT(idle);
static size_t n_idle;

struct sqlconn *sqlpool_take(void)
{
    struct sqlconn *c;
    while ((c = list_first(&idle, struct sqlconn, node)) != NULL) {
        list_del(&c->node);
        n_idle--;
        /* The server closes connections when it restarts or after wait_timeout. */
        if (sqlconn_idle_alive(c))
            return c;
        log_info("sql: an idle connection was closed by the server; opening a new one");
        sqlconn_close(c, false);
    }
    return NULL;
}

void sqlpool_put(struct sqlconn *c)
{
    if (n_idle >= SQLPOOL_IDLE_MAX) {
        sqlconn_close(c, true);
        return;
    }
    list_add_head(&idle, &c->node);
    n_idle++;
}

void sqlpool_free(void)
{
    struct sqlconn *c;
    while ((c = list_first(&idle, struct sqlconn, node)) != NULL) {
        list_del(&c->node);
        sqlconn_close(c, true);
    }
    n_idle = 0;
}
