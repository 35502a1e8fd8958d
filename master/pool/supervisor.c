#include "pool/supervisor.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "common.h"
#include "config.h"
#include "log.h"
#include "pool/children.h"
#include "pool/control.h"
#include "pool/fdstore.h"
#include "pool/orphans.h"
#include "xalloc.h"

/* Workers that ignore a shutdown request are killed after grace + this. */
#define SHUTDOWN_SLACK_MS 3000
/* The daemon serves once every worker is ready, or after this with those that are. */
#define STARTUP_WAIT_MS 5000

static struct {
    struct event_base *base;
    const struct pool_hooks *hooks;
    int reload_slot; /* slot being replaced, -1 when no reload runs */
    bool stopping;
    void (*on_stopped)(void);
    struct event *kill_ev;
    void (*on_settled)(void);
    bool settle_pending;        /* started or reloading: on_settled is due once all are ready */
    void (*on_all_ready)(void); /* until it ran */
    struct event *startup_ev;
} sup = {.reload_slot = -1};

static void check_settled(void)
{
    if (!sup.settle_pending || sup.stopping || sup.reload_slot >= 0 ||
        supervisor_ready_count() < children_slot_count())
        return;
    sup.settle_pending = false;
    if (sup.on_settled != NULL)
        sup.on_settled();
}

static void all_ready(void)
{
    void (*fn)(void) = sup.on_all_ready;
    sup.on_all_ready = NULL;
    if (sup.startup_ev != NULL)
        evtimer_del(sup.startup_ev);
    if (fn != NULL)
        fn();
}

static void on_startup_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                                void *arg EXECD_UNUSED)
{
    log_warn("not every worker is ready after %d ms: serving with those that are", STARTUP_WAIT_MS);
    all_ready();
}

/* At startup: once every slot's worker is ready, the daemon may serve. */
static void check_all_ready(void)
{
    if (sup.on_all_ready == NULL)
        return;
    for (int i = 0; i < children_slot_count(); i++) {
        struct worker *w = children_current(i);
        if (w == NULL || w->state != WORKER_READY)
            return;
    }
    all_ready();
}

static void on_ready(struct worker *w)
{
    if (w->state != WORKER_STARTING)
        return;
    w->state = WORKER_READY;
    log_info("worker %d (pid %d) ready", w->slot, (int)w->pid);
    check_all_ready();
    sup.hooks->worker_ready(w);
    /* During a reload the previous worker of this slot may now drain. */
    list_each_safe(children_live(), it, nx)
    {
        struct worker *o = list_entry(it, struct worker, node);
        if (o != w && o->slot == w->slot && o->state == WORKER_DRAINING)
            worker_send_op(o, "drain");
    }
    check_settled();
}

static void on_control(struct worker *w, const struct ipc_msg *msg)
{
    if (control_handle(w, msg, sup.hooks) == CONTROL_READY)
        on_ready(w);
}

int supervisor_start(struct event_base *base, const struct config *cfg,
                     const struct pool_hooks *hooks, void (*on_all_ready)(void))
{
    sup.base = base;
    sup.hooks = hooks;
    sup.on_all_ready = on_all_ready;
    struct timeval tv = {STARTUP_WAIT_MS / 1000, (STARTUP_WAIT_MS % 1000) * 1000};
    sup.startup_ev = evtimer_new(base, on_startup_deadline, NULL);
    if (sup.startup_ev == NULL || evtimer_add(sup.startup_ev, &tv) < 0) {
        log_error("cannot arm the startup timer");
        return -1;
    }
    worker_init(hooks, on_control);
    sup.settle_pending = true;
    int n = config_worker_count(cfg);
    if (children_start(base, n, cfg) < 0)
        return -1;
    for (int i = 0; i < n; i++)
        children_spawn(i);
    return 0;
}

int supervisor_executions(const struct worker *w)
{
    return w->executions + w->background;
}

int supervisor_executions_total(void)
{
    int n = 0;
    list_each_safe(children_live(), it, nx)
    {
        n += supervisor_executions(list_entry(it, struct worker, node));
    }
    return n;
}

int supervisor_background_total(void)
{
    int n = 0;
    list_each_safe(children_live(), it, nx)
    {
        n += list_entry(it, struct worker, node)->background;
    }
    return n;
}

uint64_t supervisor_respawns(void)
{
    return children_respawns();
}

struct worker *supervisor_pick(int max_executions)
{
    struct worker *best = NULL;
    for (int i = 0; i < children_slot_count(); i++) {
        struct worker *w = children_current(i);
        if (w == NULL || w->state != WORKER_READY || !worker_connected(w))
            continue;
        if (max_executions > 0 && supervisor_executions(w) >= max_executions)
            continue;
        if (best == NULL || w->load < best->load)
            best = w;
    }
    return best;
}

struct worker *supervisor_resolve(int slot, pid_t pid)
{
    list_each_safe(children_live(), it, nx)
    {
        struct worker *w = list_entry(it, struct worker, node);
        if (w->pid == pid && worker_connected(w))
            return w;
    }
    struct worker *cur = children_current(slot);
    return cur != NULL && worker_connected(cur) ? cur : NULL;
}

void supervisor_broadcast(json_object *msg)
{
    list_each_safe(children_live(), it, nx)
    {
        worker_send_json(list_entry(it, struct worker, node), 0, msg);
    }
}

/* Replaces the workers from slot on, one at a time: the next once this one has drained. */
static void replace_slot(int slot)
{
    while (slot < children_slot_count() && !sup.stopping) {
        struct worker *old = children_current(slot);
        if (old == NULL) {
            slot++; /* a respawn is pending and will use the new settings */
            continue;
        }
        sup.reload_slot = slot;
        old->state = WORKER_DRAINING;
        children_spawn(slot);
        return;
    }
    sup.reload_slot = -1;
    log_info("reload: all workers replaced");
    check_settled();
}

void supervisor_reload(const struct config *cfg)
{
    if (config_worker_count(cfg) != children_slot_count())
        log_warn("reload: the worker count changes only at restart (keeping %d)",
                 children_slot_count());
    children_configure(cfg);
    sup.settle_pending = true;
    if (sup.reload_slot >= 0) {
        log_warn("reload: a reload is already running; new workers get the new settings");
        return;
    }
    replace_slot(0);
}

/* A worker process exited (children.c has logged it and scheduled any respawn). */
static void after_exit(struct worker *w)
{
    if (w->state == WORKER_DRAINING) {
        struct worker *cur = children_current(w->slot);
        if (cur != NULL) {
            worker_send_op(cur, "adopt");
            orphans_send(cur);
            fdstore_send(cur);
        }
        if (sup.reload_slot == w->slot)
            replace_slot(w->slot + 1);
    }
    if (sup.stopping && list_empty(children_live()) && sup.on_stopped != NULL) {
        void (*done)(void) = sup.on_stopped;
        sup.on_stopped = NULL;
        done();
    }
}

void supervisor_reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct worker *w = children_exited(pid, status);
        if (w == NULL) {
            orphans_reaped(pid, status);
            continue;
        }
        after_exit(w);
        worker_free(w);
    }
}

static void on_kill_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                             void *arg EXECD_UNUSED)
{
    list_each_safe(children_live(), it, nx)
    {
        struct worker *w = list_entry(it, struct worker, node);
        log_error("worker %d (pid %d) did not stop in time: killing it", w->slot, (int)w->pid);
        kill(w->pid, SIGKILL);
    }
}

void supervisor_shutdown(int64_t grace_ms, void (*done)(void))
{
    sup.stopping = true;
    sup.on_stopped = done;
    children_stop();

    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("shutdown"));
    json_object_object_add(msg, "grace_ms", xjson_int64(grace_ms));
    list_each_safe(children_live(), it, nx)
    {
        struct worker *w = list_entry(it, struct worker, node);
        w->state = WORKER_STOPPING;
        if (worker_send_json(w, 0, msg) < 0)
            kill(w->pid, SIGKILL);
    }
    json_object_put(msg);

    if (list_empty(children_live())) {
        sup.on_stopped = NULL;
        done();
        return;
    }
    int64_t deadline = grace_ms + SHUTDOWN_SLACK_MS;
    struct timeval tv = {deadline / 1000, (deadline % 1000) * 1000};
    sup.kill_ev = evtimer_new(sup.base, on_kill_deadline, NULL);
    if (sup.kill_ev == NULL || evtimer_add(sup.kill_ev, &tv) < 0)
        log_error("cannot arm the worker kill deadline");
}

int supervisor_worker_count(void)
{
    return (int)list_count(children_live());
}

int supervisor_ready_count(void)
{
    int n = 0;
    for (int i = 0; i < children_slot_count(); i++) {
        struct worker *w = children_current(i);
        n += w != NULL && w->state == WORKER_READY;
    }
    return n;
}

void supervisor_on_settled(void (*fn)(void))
{
    sup.on_settled = fn;
}

int supervisor_slot_count(void)
{
    return children_slot_count();
}

void supervisor_free(void)
{
    children_free();
    orphans_free();
    fdstore_free();
    if (sup.kill_ev != NULL)
        event_free(sup.kill_ev);
    sup.kill_ev = NULL;
    if (sup.startup_ev != NULL)
        event_free(sup.startup_ev);
    sup.startup_ev = NULL;
}
