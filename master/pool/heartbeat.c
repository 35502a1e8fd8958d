#include "pool/heartbeat.h"

#include "clock.h"
#include "jsonreq.h"
#include "log.h"
#include "pool/children.h"
#include "pool/worker.h"
#include "xalloc.h"

static uint64_t last_seq;

static bool answered(const struct worker *w)
{
    return w->pong_seq == w->ping_seq;
}

static void ping(struct worker *w)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("ping"));
    json_object_object_add(msg, "seq", xjson_int64((int64_t)++last_seq));
    if (worker_send_json(w, 0, msg) == 0) {
        w->ping_seq = last_seq;
        w->ping_ms = clock_mono_ms();
    }
    json_object_put(msg);
}

bool heartbeat_tick(void)
{
    bool all = true;
    list_each_safe(children_live(), it, nx)
    {
        struct worker *w = list_entry(it, struct worker, node);
        /* A worker without a channel is on its way out: its exit is the supervisor's. */
        if (!worker_connected(w))
            continue;
        if (answered(w)) {
            ping(w);
            continue;
        }
        all = false;
        log_warn("worker %d (pid %d) has not answered the heartbeat for %lld ms", w->slot,
                 (int)w->pid, (long long)(clock_mono_ms() - w->ping_ms));
    }
    return all;
}

void heartbeat_pong(struct worker *w, json_object *msg)
{
    int64_t seq = 0;
    if (jsonreq_int64(msg, "seq", &seq) != JSONREQ_OK || seq <= 0) {
        log_warn("worker %d: pong without a valid seq", w->slot);
        return;
    }
    /* Pings are answered in order: the last one answered is the newest seen. */
    if ((uint64_t)seq > w->pong_seq)
        w->pong_seq = (uint64_t)seq;
}
