#include "pool/worker.h"

#include <stdlib.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "xalloc.h"

static const struct pool_hooks *hooks;
static worker_control_fn control;

void worker_init(const struct pool_hooks *h, worker_control_fn on_control)
{
    hooks = h;
    control = on_control;
}

struct worker *worker_new(int slot, pid_t pid)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    w->slot = slot;
    w->pid = pid;
    w->state = WORKER_STARTING;
    list_init(&w->jobs);
    list_init(&w->node);
    return w;
}

static void on_message(struct ipc_chan *ch EXECD_UNUSED, const struct ipc_msg *msg, void *arg)
{
    struct worker *w = arg;
    if (msg->job != 0)
        hooks->job_message(w, msg);
    else if (msg->type == IPC_MSG)
        control(w, msg);
    else if (msg->fd >= 0)
        close(msg->fd);
}

static void on_closed(struct ipc_chan *ch EXECD_UNUSED, void *arg)
{
    struct worker *w = arg;
    if (w->state != WORKER_DRAINING && w->state != WORKER_STOPPING)
        log_error("worker %d (pid %d): channel closed", w->slot, (int)w->pid);
    worker_close_channel(w, "the worker process handling this request exited");
}

int worker_open_channel(struct worker *w, struct event_base *base, int fd)
{
    w->ch = ipc_chan_new(base, fd, on_message, on_closed, w);
    if (w->ch != NULL)
        return 0;
    close(fd);
    return -1;
}

void worker_close_channel(struct worker *w, const char *why)
{
    if (w->ch == NULL)
        return;
    hooks->worker_lost(w, why);
    ipc_chan_free(w->ch);
    w->ch = NULL;
}

void worker_free(struct worker *w)
{
    if (w->ch != NULL)
        ipc_chan_free(w->ch);
    free(w);
}

bool worker_connected(const struct worker *w)
{
    return w->ch != NULL;
}

int worker_send_json(struct worker *w, uint32_t job, json_object *msg)
{
    if (w->ch == NULL)
        return -1;
    return ipc_send_json(w->ch, job, msg);
}

int worker_send_json_fd(struct worker *w, uint32_t job, json_object *msg, int fd)
{
    if (w->ch == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return ipc_send_json_fd(w->ch, job, msg, fd);
}

int worker_send_data(struct worker *w, uint32_t job, const void *data, size_t len)
{
    if (w->ch == NULL)
        return -1;
    return ipc_send(w->ch, IPC_DATA, job, data, len);
}

void worker_send_op(struct worker *w, const char *op)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string(op));
    if (worker_send_json(w, 0, msg) < 0)
        log_warn("worker %d (pid %d): cannot send %s", w->slot, (int)w->pid, op);
    json_object_put(msg);
}

size_t worker_queued(const struct worker *w)
{
    return w->ch != NULL ? ipc_queued(w->ch) : 0;
}

static void on_drain(struct ipc_chan *ch EXECD_UNUSED, void *arg)
{
    struct worker *w = arg;
    if (w->on_drain != NULL)
        w->on_drain(w);
}

void worker_on_drain(struct worker *w, worker_fn fn, size_t low)
{
    if (w->ch == NULL)
        return;
    w->on_drain = fn;
    ipc_set_drain_cb(w->ch, on_drain, low);
}

void worker_job_link(struct worker *w, struct list *node)
{
    list_add_head(&w->jobs, node);
    w->load++;
}

void worker_job_unlink(struct worker *w, struct list *node)
{
    list_del(node);
    w->load--;
}
