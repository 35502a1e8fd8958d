#include "sql/sqlkill.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>

#include "list.h"
#include "log.h"
#include "sql/sqlconn.h"
#include "worker.h"
#include "xalloc.h"

struct sqlkill {
    struct sqlconn *c;
    bool sent;    /* connected, KILL QUERY sent */
    char sql[48]; /* the library may write it out after sqlconn_query returns */
    unsigned long thread;
    char *owner;
    void (*done)(const char *owner, bool ok);
    struct list node;
};

static struct list kills = LIST_HEAD_INIT(kills);

static void finish(struct sqlkill *k, bool ok)
{
    list_del(&k->node);
    sqlconn_close(k->c, k->sent && !sqlconn_broken(k->c));
    k->done(k->owner, ok);
    free(k->owner);
    free(k);
    worker_changed();
}

/* The operation under way finished: connected, or the kill answered. */
static void advance(struct sqlkill *k)
{
    struct strbuf why = STRBUF_INIT;
    if (!k->sent && k->c->rc == 0) {
        int n = snprintf(k->sql, sizeof(k->sql), "KILL QUERY %lu", k->thread);
        k->sent = true;
        if (!sqlconn_query(k->c, k->sql, (size_t)n))
            return;
    }
    bool ok = k->c->rc == 0 || sqlconn_errno(k->c) == ER_NO_SUCH_THREAD;
    if (!ok) {
        sqlconn_error(k->c, &why);
        log_warn("sql: cannot stop the statement of thread %lu: %s", k->thread, why.data);
    }
    strbuf_free(&why);
    finish(k, ok);
}

static void on_done(void *arg)
{
    advance(arg);
}

void sqlkill_start(unsigned long thread, const char *owner,
                   void (*done)(const char *owner, bool ok))
{
    struct strbuf err = STRBUF_INIT;
    const struct wsettings *s = worker_settings();
    struct sqlkill *k = xcalloc(1, sizeof(*k));
    k->thread = thread;
    k->owner = xstrdup(owner);
    k->done = done;
    list_add_head(&kills, &k->node);
    k->c = sqlconn_new(on_done, k);
    if (k->c == NULL || sqlconn_password(k->c, s, &err) < 0) {
        if (err.len > 0)
            log_warn("sql: cannot stop the statement of thread %lu: %s", thread, err.data);
        finish(k, false);
    } else if (sqlconn_connect(k->c, s)) {
        advance(k);
    }
    strbuf_free(&err);
}

size_t sqlkill_count(void)
{
    return list_count(&kills);
}

void sqlkill_free_all(void)
{
    struct sqlkill *k;
    while ((k = list_first(&kills, struct sqlkill, node)) != NULL) {
        list_del(&k->node);
        sqlconn_close(k->c, false);
        free(k->owner);
        free(k);
    }
}
