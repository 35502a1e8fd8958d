#include "pool/orphans.h"

#include <stdlib.h>

#include "clock.h"
#include "list.h"
#include "pool/supervisor.h"
#include "pool/worker.h"
#include "xalloc.h"

/* At most this many statuses are kept (the oldest go first) ... */
#define KEEP_MAX 1024
/* ... each at most this long: a respawn, even throttled by the crash-loop breaker, and an
 * adoption take much less. */
#define KEEP_MS (10 * 60 * 1000)

struct orphan {
    pid_t pid;
    int status;
    int64_t reaped_ms;
    struct list node;
};

static struct {
    struct list kept; /* oldest first */
    size_t n;
} orph = {.kept = LIST_HEAD_INIT(orph.kept)};

static void drop(struct orphan *o)
{
    list_del(&o->node);
    orph.n--;
    free(o);
}

static void expire(void)
{
    int64_t now = clock_mono_ms();
    struct orphan *o;
    while ((o = list_first(&orph.kept, struct orphan, node)) != NULL &&
           (orph.n > KEEP_MAX || now - o->reaped_ms > KEEP_MS))
        drop(o);
}

static json_object *message(const struct orphan *o)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("reaped"));
    json_object_object_add(msg, "pid", xjson_int64(o->pid));
    json_object_object_add(msg, "status", xjson_int64(o->status));
    return msg;
}

void orphans_reaped(pid_t pid, int status)
{
    struct orphan *o = xcalloc(1, sizeof(*o));
    o->pid = pid;
    o->status = status;
    o->reaped_ms = clock_mono_ms();
    list_add_tail(&orph.kept, &o->node);
    orph.n++;
    expire();

    json_object *msg = message(o);
    supervisor_broadcast(msg);
    json_object_put(msg);
}

void orphans_send(struct worker *w)
{
    expire();
    list_each_safe(&orph.kept, it, nx)
    {
        json_object *msg = message(list_entry(it, struct orphan, node));
        int rc = worker_send_json(w, 0, msg);
        json_object_put(msg);
        if (rc < 0)
            return; /* the channel is gone */
    }
}

void orphans_free(void)
{
    struct orphan *o;
    while ((o = list_first(&orph.kept, struct orphan, node)) != NULL)
        drop(o);
}
