#include "jupyter/pool.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/out.h"
#include "jupyter/context.h"
#include "list.h"
#include "worker.h"
#include "xalloc.h"

/* Pool kernels that fail to start are retried after 1 s, doubling up to this. */
#define POOL_BACKOFF_MAX_MS 60000

/* The warm pool of one language in this worker. */
struct pool {
    char *language;
    int share;           /* kernels this worker keeps warm */
    int failures;        /* consecutive failures, for the backoff */
    int64_t next_try_ms; /* monotonic: no launch before this */
    struct event *retry_ev;
    int reported; /* ready count last sent to the master, -1: never */
    struct list node;
};

static struct {
    struct list pools;
    bool stopping;
} ps = {.pools = LIST_HEAD_INIT(ps.pools)};

static struct pool *pool_get(const char *language, bool create)
{
    list_each_safe(&ps.pools, it, nx)
    {
        struct pool *p = list_entry(it, struct pool, node);
        if (strcmp(p->language, language) == 0)
            return p;
    }
    if (!create)
        return NULL;
    struct pool *p = xcalloc(1, sizeof(*p));
    p->language = xstrdup(language);
    p->reported = -1;
    list_add_head(&ps.pools, &p->node);
    return p;
}

void pool_configure(json_object *counts)
{
    if (counts == NULL || !json_object_is_type(counts, json_type_object))
        return;
    int workers = worker_settings()->workers > 0 ? worker_settings()->workers : 1;
    json_object_object_foreach(counts, language, count)
    {
        int n = json_object_get_int(count);
        struct pool *p = pool_get(language, true);
        p->share = n / workers + (worker_slot() < n % workers ? 1 : 0);
    }
}

void pool_adopted(const char *language)
{
    pool_get(language, true);
}

/* Pool kernels of language not being stopped; only the ready ones when ready_only. */
static int pool_count(const char *language, bool ready_only)
{
    size_t n;
    struct context **v = context_snapshot(&n);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        struct context *c = v[i];
        if (c->pooled && c->state != CONTEXT_STOPPING && strcmp(c->language, language) == 0 &&
            (!ready_only || c->state == CONTEXT_READY))
            count++;
    }
    free(v);
    return count;
}

void pool_report(const char *language)
{
    struct pool *p = pool_get(language, false);
    if (p == NULL || ps.stopping)
        return;
    int ready = pool_count(language, true);
    if (ready == p->reported)
        return;
    p->reported = ready;
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("pool"));
    json_object_object_add(msg, "language", xjson_string(language));
    json_object_object_add(msg, "ready", xjson_int64(ready));
    out_msg(0, msg);
}

void pool_ready(const char *language)
{
    struct pool *p = pool_get(language, false);
    if (p != NULL)
        p->failures = 0;
    pool_report(language);
}

void pool_failed(const char *language)
{
    struct pool *p = pool_get(language, false);
    if (p == NULL)
        return;
    int shift = p->failures > 6 ? 6 : p->failures;
    int64_t delay = (int64_t)1000 << shift;
    p->failures++;
    p->next_try_ms = clock_mono_ms() + (delay < POOL_BACKOFF_MAX_MS ? delay : POOL_BACKOFF_MAX_MS);
}

static void on_retry(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                     void *arg EXECD_UNUSED)
{
    pool_fill();
}

/* Stops the pool kernels of p beyond have - share. */
static void shrink(struct pool *p, int have)
{
    size_t n;
    struct context **v = context_snapshot(&n);
    for (size_t i = 0; i < n && have > p->share; i++) {
        struct context *c = v[i];
        if (c->pooled && c->state != CONTEXT_STOPPING && strcmp(c->language, p->language) == 0) {
            context_stop_pooled(c);
            have--;
        }
    }
    free(v);
}

static void fill_one(struct pool *p, int64_t now)
{
    int have = pool_count(p->language, false);
    if (have < p->share && now < p->next_try_ms) {
        if (p->retry_ev == NULL)
            p->retry_ev = evtimer_new(worker_base(), on_retry, NULL);
        if (p->retry_ev != NULL && !evtimer_pending(p->retry_ev, NULL))
            evt_arm_ms(p->retry_ev, p->next_try_ms - now);
        return;
    }
    for (; have < p->share; have++)
        context_start_pooled(p->language);
    shrink(p, have);
    pool_report(p->language);
}

void pool_fill(void)
{
    if (!context_adopted() || ps.stopping || worker_draining())
        return;
    int64_t now = clock_mono_ms();
    list_each_safe(&ps.pools, it, nx) fill_one(list_entry(it, struct pool, node), now);
}

struct context *pool_take(const char *language)
{
    size_t n;
    struct context **v = context_snapshot(&n);
    struct context *best = NULL;
    for (size_t i = 0; i < n; i++) {
        struct context *c = v[i];
        if (!c->pooled || strcmp(c->language, language) != 0 || c->state == CONTEXT_STOPPING)
            continue;
        if (best == NULL || (c->state == CONTEXT_READY && best->state != CONTEXT_READY))
            best = c;
    }
    free(v);
    if (best != NULL)
        best->pooled = false;
    return best;
}

void pool_shutdown(void)
{
    ps.stopping = true;
    list_each_safe(&ps.pools, it, nx)
    {
        struct pool *p = list_entry(it, struct pool, node);
        if (p->retry_ev != NULL)
            event_del(p->retry_ev);
    }
}

void pool_cleanup(void)
{
    list_each_safe(&ps.pools, it, nx)
    {
        struct pool *p = list_entry(it, struct pool, node);
        list_del(it);
        evt_free(&p->retry_ev);
        free(p->language);
        free(p);
    }
}
