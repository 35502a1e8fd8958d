#include "relay/waitq.h"

#include <stdarg.h>
#include <stdlib.h>

#include "clock.h"
#include "common.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "http/server.h"
#include "list.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

struct waiter {
    struct http_req *r;
    const struct waitq_ops *ops; /* NULL: the route's handler again, or a 503 */
    char *why;                   /* the 503's message, should the wait end without a worker */
    struct event *deadline;
    struct list node;
};

static struct {
    int64_t wait_ms;
    struct list waiting;
} wq = {.waiting = LIST_HEAD_INIT(wq.waiting)};

void waitq_configure(int64_t wait_ms)
{
    wq.wait_ms = wait_ms;
}

static void waiter_free(struct waiter *w)
{
    list_del(&w->node);
    w->r->waiter = NULL;
    if (w->deadline != NULL)
        event_free(w->deadline);
    free(w->why);
    free(w);
}

static void give_up(struct http_req *r, const struct waitq_ops *ops, const char *why)
{
    if (ops != NULL)
        ops->give_up(r, why);
    else
        reply_unavailable(r, ERR_UNAVAILABLE, "%s", why);
}

static void on_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct waiter *w = arg;
    struct http_req *r = w->r;
    const struct waitq_ops *ops = w->ops;
    char *why = w->why;
    w->why = NULL;
    waiter_free(w);
    log_info("%s %s: no worker became ready within %lld ms", http_method_name(r), http_path(r),
             (long long)wq.wait_ms);
    give_up(r, ops, why);
    free(why);
}

/* Queues r until its deadline (set on its first wait). Returns false when that has passed. */
static bool enqueue(struct http_req *r, const struct waitq_ops *ops, const char *why)
{
    int64_t now = clock_mono_us();
    if (r->wait_until_us == 0)
        r->wait_until_us = now + wq.wait_ms * 1000;
    int64_t left_us = r->wait_until_us - now;
    if (left_us <= 0 || r->waiter != NULL || (ops == NULL && r->route == NULL))
        return false;
    struct waiter *w = xcalloc(1, sizeof(*w));
    w->r = r;
    w->ops = ops;
    w->why = xstrdup(why);
    w->deadline = evtimer_new(http_base(), on_deadline, w);
    struct timeval tv = {left_us / 1000000, left_us % 1000000};
    list_add_tail(&wq.waiting, &w->node);
    r->waiter = w;
    if (w->deadline == NULL || evtimer_add(w->deadline, &tv) < 0) {
        log_error("%s %s: cannot arm the wait for a worker", http_method_name(r), http_path(r));
        waiter_free(w);
        return false;
    }
    return true;
}

void waitq_unavailable(struct http_req *r, const char *fmt, ...)
{
    struct strbuf why = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&why, fmt, ap);
    va_end(ap);
    if (enqueue(r, NULL, why.data))
        http_pause(r);
    else
        give_up(r, NULL, why.data);
    strbuf_free(&why);
}

void waitq_wait(struct http_req *r, const struct waitq_ops *ops, const char *why)
{
    if (!enqueue(r, ops, why))
        give_up(r, ops, why);
}

void waitq_retry(void)
{
    /* Requests that wait again go to the list anew: take the current ones out first. */
    struct list now = LIST_HEAD_INIT(now);
    list_splice_tail(&now, &wq.waiting);
    struct waiter *w;
    while ((w = list_first(&now, struct waiter, node)) != NULL) {
        struct http_req *r = w->r;
        const struct waitq_ops *ops = w->ops;
        waiter_free(w);
        if (ops != NULL)
            ops->retry(r);
        else
            r->route->fn(r);
    }
}

void waitq_forget(struct http_req *r)
{
    if (r->waiter != NULL)
        waiter_free(r->waiter);
}
