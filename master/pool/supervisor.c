#include "pool/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "config.h"
#include "ipc.h"
#include "jsonreq.h"
#include "log.h"
#include "relay/coderoute.h"
#include "relay/job.h"
#include "relay/registry.h"
#include "strbuf.h"

/* The worker reads its channel from this descriptor. */
#define WORKER_IPC_FD 3
/* A worker that lived this long is healthy: its crash history is forgotten. */
#define HEALTHY_MS 60000
/* Crash-loop breaker: this many crashes of one slot within the window ... */
#define BREAKER_CRASHES 5
#define BREAKER_WINDOW_MS 60000
/* ... and retries slow down to this. */
#define BREAKER_DELAY_MS 30000
#define MAX_BACKOFF_MS 30000
/* Workers that ignore a shutdown request are killed after grace + this. */
#define SHUTDOWN_SLACK_MS 3000

struct slot {
    struct worker *cur;
    int crashes;
    int64_t window_start;
    int window_crashes;
    struct event *respawn_ev;
};

static struct {
    struct event_base *base;
    struct slot *slots;
    int n_slots;
    struct worker *all; /* every worker process still alive */
    json_object *wcfg;  /* settings sent to workers */
    int reload_slot;    /* slot being replaced, -1 when no reload runs */
    bool stopping;
    void (*on_stopped)(void);
    struct event *kill_ev;
} sup = {.reload_slot = -1};

static void spawn(int slot);

int worker_send_json(struct worker *w, uint32_t job, json_object *msg)
{
    if (w->ch == NULL)
        return -1;
    return ipc_send_json(w->ch, job, msg);
}

void worker_job_link(struct worker *w, struct job *j)
{
    j->prev_in_worker = NULL;
    j->next_in_worker = w->jobs;
    if (w->jobs != NULL)
        w->jobs->prev_in_worker = j;
    w->jobs = j;
    w->load++;
}

void worker_job_unlink(struct worker *w, struct job *j)
{
    if (j->prev_in_worker != NULL)
        j->prev_in_worker->next_in_worker = j->next_in_worker;
    else
        w->jobs = j->next_in_worker;
    if (j->next_in_worker != NULL)
        j->next_in_worker->prev_in_worker = j->prev_in_worker;
    j->next_in_worker = j->prev_in_worker = NULL;
    w->load--;
}

struct job *worker_first_job(struct worker *w)
{
    return w->jobs;
}

static json_object *build_worker_config(const struct config *cfg)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "op", json_object_new_string("config"));
    json_object_object_add(o, "runtime_dir", json_object_new_string(cfg->runtime_dir));
    json_object_object_add(o, "log_level", json_object_new_int(cfg->log_level));
    json_object_object_add(o, "log_file", json_object_new_string(cfg->log_file));
    json_object_object_add(
        o, "log_format",
        json_object_new_string(cfg->log_format == LOG_FORMAT_JSON ? "json" : "text"));
    json_object_object_add(o, "grace_ms", json_object_new_int64(cfg->grace_ms));
    json_object_object_add(o, "envs_file", json_object_new_string(cfg->envs_file));
    json_object_object_add(o, "retention_ms", json_object_new_int64(cfg->cmd_retention_ms));
    json_object_object_add(o, "retention_bytes",
                           json_object_new_int64((int64_t)cfg->cmd_retention_bytes));
    json_object_object_add(o, "max_line", json_object_new_int64((int64_t)cfg->max_line));
    json_object_object_add(o, "jupyter_poll_ms", json_object_new_int64(cfg->jupyter_poll_ms));
    json_object_object_add(o, "workers", json_object_new_int(config_worker_count(cfg)));
    json_object *pool = json_object_new_object();
    struct strbuf err = STRBUF_INIT;
    if (config_parse_pool(cfg->kernel_pool, pool, &err) < 0)
        log_error("kernel-pool: %s", err.data); /* checked when the configuration was loaded */
    strbuf_free(&err);
    json_object_object_add(o, "kernel_pool", pool);
    json_object_object_add(o, "kernel_startup_ms", json_object_new_int64(cfg->kernel_startup_ms));
    json_object_object_add(o, "kernelspec_wait_ms", json_object_new_int64(cfg->kernelspec_wait_ms));
    json_object_object_add(o, "code_output_limit",
                           json_object_new_int64((int64_t)cfg->code_output_limit));
    return o;
}

static void send_op(struct worker *w, const char *op)
{
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string(op));
    if (worker_send_json(w, 0, msg) < 0)
        log_warn("worker %d (pid %d): cannot send %s", w->slot, (int)w->pid, op);
    json_object_put(msg);
}

static void replace_slot(int slot);

static void on_ready(struct worker *w)
{
    if (w->state != WORKER_STARTING)
        return;
    w->state = WORKER_READY;
    log_info("worker %d (pid %d) ready", w->slot, (int)w->pid);
    /* During a reload the previous worker of this slot may now drain. */
    for (struct worker *o = sup.all; o != NULL; o = o->next) {
        if (o != w && o->slot == w->slot && o->state == WORKER_DRAINING)
            send_op(o, "drain");
    }
}

static void on_control(struct worker *w, const struct ipc_msg *msg)
{
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse(msg->data, msg->len, &err);
    const char *op = NULL, *id = NULL, *kind = NULL;

    if (msg->fd >= 0)
        close(msg->fd);
    if (obj == NULL || jsonreq_string(obj, "op", &op) != JSONREQ_OK) {
        log_error("worker %d: malformed control message: %s", w->slot, err.data ? err.data : "");
    } else if (strcmp(op, "ready") == 0) {
        on_ready(w);
    } else if (strcmp(op, "register") == 0) {
        const char *language = NULL;
        bool dflt = false;
        jsonreq_string(obj, "language", &language);
        jsonreq_bool(obj, "default", &dflt);
        if (jsonreq_string(obj, "id", &id) == JSONREQ_OK &&
            jsonreq_string(obj, "kind", &kind) == JSONREQ_OK) {
            registry_put_attr(id, kind, language, w);
            if (language != NULL && strcmp(kind, "context") == 0)
                coderoute_registered(id, language, dflt);
        }
    } else if (strcmp(op, "unregister") == 0) {
        if (jsonreq_string(obj, "id", &id) == JSONREQ_OK) {
            coderoute_unregistered(id);
            registry_del(id);
        }
    } else if (strcmp(op, "pool") == 0) {
        const char *language = NULL;
        int64_t ready = 0;
        if (jsonreq_string(obj, "language", &language) == JSONREQ_OK &&
            jsonreq_int64(obj, "ready", &ready) == JSONREQ_OK)
            coderoute_pool(w, language, (int)ready);
    } else {
        log_warn("worker %d: unknown control op '%s'", w->slot, op);
    }
    json_object_put(obj);
    strbuf_free(&err);
}

static void on_message(struct ipc_chan *ch EXECD_UNUSED, const struct ipc_msg *msg, void *arg)
{
    struct worker *w = arg;
    if (msg->job != 0)
        job_on_message(w, msg);
    else if (msg->type == IPC_MSG)
        on_control(w, msg);
    else if (msg->fd >= 0)
        close(msg->fd);
}

static void drop_channel(struct worker *w, const char *why)
{
    if (w->ch == NULL)
        return;
    job_worker_lost(w, why);
    ipc_chan_free(w->ch);
    w->ch = NULL;
}

static void on_channel_closed(struct ipc_chan *ch EXECD_UNUSED, void *arg)
{
    struct worker *w = arg;
    if (w->state != WORKER_DRAINING && w->state != WORKER_STOPPING)
        log_error("worker %d (pid %d): channel closed", w->slot, (int)w->pid);
    drop_channel(w, "the worker process handling this request exited");
}

static void on_respawn(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    int slot = (int)(intptr_t)arg;
    if (!sup.stopping && slot < sup.n_slots && sup.slots[slot].cur == NULL)
        spawn(slot);
}

static int64_t jitter(int64_t max)
{
    uint32_t r;
    if (max <= 0 || getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        return 0;
    return (int64_t)(r % (uint32_t)max);
}

static void schedule_respawn(int slot, int64_t lived_ms)
{
    struct slot *s = &sup.slots[slot];
    int64_t now = clock_mono_ms();

    if (lived_ms >= HEALTHY_MS)
        s->crashes = 0;
    s->crashes++;
    if (now - s->window_start > BREAKER_WINDOW_MS) {
        s->window_start = now;
        s->window_crashes = 0;
    }
    s->window_crashes++;

    int shift = s->crashes - 1 > 9 ? 9 : s->crashes - 1;
    int64_t delay = (int64_t)100 << shift;
    if (delay > MAX_BACKOFF_MS)
        delay = MAX_BACKOFF_MS;
    delay += jitter(delay / 2 + 1);
    if (s->window_crashes >= BREAKER_CRASHES) {
        delay = BREAKER_DELAY_MS + jitter(BREAKER_DELAY_MS / 4);
        log_error("CRASH LOOP: worker slot %d died %d times within %d s; "
                  "next attempt in %lld ms. Check the log above for the cause.",
                  slot, s->window_crashes, BREAKER_WINDOW_MS / 1000, (long long)delay);
    } else {
        log_warn("respawning worker slot %d in %lld ms", slot, (long long)delay);
    }
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(s->respawn_ev, &tv);
}

static void describe_status(int status, struct strbuf *out)
{
    if (WIFEXITED(status))
        strbuf_printf(out, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        strbuf_printf(out, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        strbuf_printf(out, "status 0x%x", status);
}

static void unlink_worker(struct worker *w)
{
    for (struct worker **pp = &sup.all; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            return;
        }
    }
}

static void worker_exited(struct worker *w, int status)
{
    struct strbuf how = STRBUF_INIT;
    describe_status(status, &how);
    drop_channel(w, "the worker process handling this request exited");
    unlink_worker(w);

    struct slot *s = &sup.slots[w->slot];
    bool current = s->cur == w;
    if (current)
        s->cur = NULL;

    if (w->state == WORKER_STOPPING) {
        log_info("worker %d (pid %d) stopped: %s", w->slot, (int)w->pid, how.data);
    } else if (w->state == WORKER_DRAINING) {
        log_info("worker %d (pid %d) drained and exited: %s", w->slot, (int)w->pid, how.data);
        if (s->cur != NULL)
            send_op(s->cur, "adopt");
        if (sup.reload_slot == w->slot)
            replace_slot(w->slot + 1);
    } else {
        log_error("worker %d (pid %d) died: %s", w->slot, (int)w->pid, how.data);
        if (current && !sup.stopping)
            schedule_respawn(w->slot, clock_mono_ms() - w->spawned_ms);
    }
    strbuf_free(&how);
    free(w);

    if (sup.stopping && sup.all == NULL && sup.on_stopped != NULL) {
        void (*done)(void) = sup.on_stopped;
        sup.on_stopped = NULL;
        done();
    }
}

static void orphan_reaped(pid_t pid, int status)
{
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string("reaped"));
    json_object_object_add(msg, "pid", json_object_new_int(pid));
    json_object_object_add(msg, "status", json_object_new_int(status));
    supervisor_broadcast(msg);
    json_object_put(msg);
}

void supervisor_reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct worker *w = sup.all;
        while (w != NULL && w->pid != pid)
            w = w->next;
        if (w != NULL)
            worker_exited(w, status);
        else
            orphan_reaped(pid, status);
    }
}

/* In the child: make the channel fd 3, close everything else, exec worker mode. */
static void exec_worker(int fd, int slot)
{
    if (fd == WORKER_IPC_FD) {
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
            _exit(127);
    } else if (dup2(fd, WORKER_IPC_FD) < 0) {
        _exit(127);
    }
    if (close_range(WORKER_IPC_FD + 1, ~0U, 0) < 0)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    char arg[16];
    snprintf(arg, sizeof(arg), "%d", slot);
    execl("/proc/self/exe", "execd-worker", "--worker", arg, (char *)NULL);
    _exit(127);
}

static void spawn(int slot)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("worker %d: socketpair failed: %s", slot, strerror(errno));
        schedule_respawn(slot, 0);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("worker %d: fork failed: %s", slot, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        schedule_respawn(slot, 0);
        return;
    }
    if (pid == 0)
        exec_worker(sv[1], slot);
    close(sv[1]);

    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->slot = slot;
    w->pid = pid;
    w->state = WORKER_STARTING;
    w->spawned_ms = clock_mono_ms();
    w->next = sup.all;
    sup.all = w;
    sup.slots[slot].cur = w;
    w->ch = ipc_chan_new(sup.base, sv[0], on_message, on_channel_closed, w);
    if (w->ch == NULL) {
        close(sv[0]);
        kill(pid, SIGKILL); /* reaped through SIGCHLD, which respawns */
        return;
    }
    json_object_object_add(sup.wcfg, "slot", json_object_new_int(slot));
    /* A worker replacing a live one (reload) adopts the slot's commands only
     * once its predecessor is gone ("adopt" op); after a crash, at once. */
    bool predecessor = false;
    for (struct worker *o = w->next; o != NULL; o = o->next)
        predecessor = predecessor || o->slot == slot;
    json_object_object_add(sup.wcfg, "adopt", json_object_new_boolean(!predecessor));
    if (worker_send_json(w, 0, sup.wcfg) < 0)
        log_error("worker %d: cannot send its configuration", slot);
    log_info("worker %d started (pid %d)", slot, (int)pid);
}

int supervisor_start(struct event_base *base, const struct config *cfg)
{
    sup.base = base;
    sup.n_slots = config_worker_count(cfg);
    sup.slots = calloc((size_t)sup.n_slots, sizeof(*sup.slots));
    sup.wcfg = build_worker_config(cfg);
    sup.kill_ev = NULL;
    if (sup.slots == NULL)
        return -1;
    for (int i = 0; i < sup.n_slots; i++) {
        sup.slots[i].respawn_ev = evtimer_new(base, on_respawn, (void *)(intptr_t)i);
        if (sup.slots[i].respawn_ev == NULL)
            return -1;
    }
    for (int i = 0; i < sup.n_slots; i++)
        spawn(i);
    return 0;
}

struct worker *supervisor_pick(void)
{
    struct worker *best = NULL;
    for (int i = 0; i < sup.n_slots; i++) {
        struct worker *w = sup.slots[i].cur;
        if (w == NULL || w->state != WORKER_READY || w->ch == NULL)
            continue;
        if (best == NULL || w->load < best->load)
            best = w;
    }
    return best;
}

struct worker *supervisor_resolve(int slot, pid_t pid)
{
    for (struct worker *w = sup.all; w != NULL; w = w->next) {
        if (w->pid == pid && w->ch != NULL)
            return w;
    }
    if (slot < 0 || slot >= sup.n_slots)
        return NULL;
    struct worker *cur = sup.slots[slot].cur;
    return cur != NULL && cur->ch != NULL ? cur : NULL;
}

void supervisor_broadcast(json_object *msg)
{
    for (struct worker *w = sup.all; w != NULL; w = w->next)
        worker_send_json(w, 0, msg);
}

static void replace_slot(int slot)
{
    while (slot < sup.n_slots && !sup.stopping) {
        struct worker *old = sup.slots[slot].cur;
        if (old == NULL) {
            slot++; /* a respawn is pending and will use the new settings */
            continue;
        }
        sup.reload_slot = slot;
        old->state = WORKER_DRAINING;
        spawn(slot);
        return;
    }
    sup.reload_slot = -1;
    log_info("reload: all workers replaced");
}

void supervisor_reload(const struct config *cfg)
{
    if (config_worker_count(cfg) != sup.n_slots)
        log_warn("reload: the worker count changes only at restart (keeping %d)", sup.n_slots);
    json_object_put(sup.wcfg);
    sup.wcfg = build_worker_config(cfg);
    if (sup.reload_slot >= 0) {
        log_warn("reload: a reload is already running; new workers get the new settings");
        return;
    }
    replace_slot(0);
}

static void on_kill_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                             void *arg EXECD_UNUSED)
{
    for (struct worker *w = sup.all; w != NULL; w = w->next) {
        log_error("worker %d (pid %d) did not stop in time: killing it", w->slot, (int)w->pid);
        kill(w->pid, SIGKILL);
    }
}

void supervisor_shutdown(int64_t grace_ms, void (*done)(void))
{
    sup.stopping = true;
    sup.on_stopped = done;
    for (int i = 0; i < sup.n_slots; i++)
        evtimer_del(sup.slots[i].respawn_ev);

    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string("shutdown"));
    json_object_object_add(msg, "grace_ms", json_object_new_int64(grace_ms));
    for (struct worker *w = sup.all; w != NULL; w = w->next) {
        w->state = WORKER_STOPPING;
        if (worker_send_json(w, 0, msg) < 0)
            kill(w->pid, SIGKILL);
    }
    json_object_put(msg);

    if (sup.all == NULL) {
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
    int n = 0;
    for (struct worker *w = sup.all; w != NULL; w = w->next)
        n++;
    return n;
}

int supervisor_slot_count(void)
{
    return sup.n_slots;
}

void supervisor_free(void)
{
    while (sup.all != NULL) {
        struct worker *w = sup.all;
        sup.all = w->next;
        if (w->ch != NULL)
            ipc_chan_free(w->ch);
        free(w);
    }
    for (int i = 0; i < sup.n_slots; i++)
        event_free(sup.slots[i].respawn_ev);
    free(sup.slots);
    sup.slots = NULL;
    if (sup.kill_ev != NULL)
        event_free(sup.kill_ev);
    json_object_put(sup.wcfg);
    sup.wcfg = NULL;
    coderoute_free();
}
