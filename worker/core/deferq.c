#include "core/deferq.h"

#include <stdlib.h>

#include "xalloc.h"

struct deferred {
    uint32_t job;
    deferq_fn fn;
    json_object *msg;
    struct list node;
};

void deferq_add(struct deferq *q, uint32_t job, deferq_fn fn, json_object *msg)
{
    struct deferred *d = xmalloc(sizeof(*d));
    d->job = job;
    d->fn = fn;
    d->msg = json_object_get(msg);
    list_add_tail(&q->items, &d->node);
}

void deferq_replay(struct deferq *q)
{
    struct list todo = LIST_HEAD_INIT(todo);
    list_splice_tail(&todo, &q->items);
    list_each_safe(&todo, it, nx)
    {
        struct deferred *d = list_entry(it, struct deferred, node);
        list_del(it);
        d->fn(d->job, d->msg);
        json_object_put(d->msg);
        free(d);
    }
}

bool deferq_empty(const struct deferq *q)
{
    return list_empty(&q->items);
}

void deferq_clear(struct deferq *q)
{
    list_each_safe(&q->items, it, nx)
    {
        struct deferred *d = list_entry(it, struct deferred, node);
        list_del(it);
        json_object_put(d->msg);
        free(d);
    }
}
