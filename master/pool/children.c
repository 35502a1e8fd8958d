#include "pool/children.h"

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
#include "fdlimit.h"
#include "log.h"
#include "pool/backoff.h"
#include "pool/fdstore.h"
#include "pool/orphans.h"
#include "pool/worker.h"
#include "strbuf.h"
#include "wsettings.h"
#include "xalloc.h"

/* The worker reads its channel from this descriptor. */
#define WORKER_IPC_FD 3

struct slot {
    struct worker *cur;
    struct backoff backoff;
    struct event *respawn_ev;
};

static struct {
    struct event_base *base;
    struct slot *slots;
    int n_slots;
    uint64_t respawns;   /* workers started again after one died */
    struct list live;    /* every worker process still alive */
    struct wsettings ws; /* sent to each new worker */
    char **env;          /* the environment workers start with */
    bool stopping;
} children = {.live = LIST_HEAD_INIT(children.live)};

static void settings_from(struct wsettings *ws, const struct config *cfg)
{
    wsettings_free(ws);
    ws->runtime_dir = xstrdup(cfg->runtime_dir);
    ws->log_level = cfg->log_level;
    ws->log_file = xstrdup(cfg->log_file);
    ws->log_format = cfg->log_format;
    ws->grace_ms = cfg->grace_ms;
    ws->envs_file = xstrdup(cfg->envs_file);
    ws->retention_ms = cfg->cmd_retention_ms;
    ws->retention_bytes = cfg->cmd_retention_bytes;
    ws->max_line = cfg->max_line;
    ws->jupyter_poll_ms = cfg->jupyter_poll_ms;
    ws->workers = config_worker_count(cfg);
    ws->kernel_pool = xjson_object();
    struct strbuf err = STRBUF_INIT;
    if (config_parse_pool(cfg->kernel_pool, ws->kernel_pool, &err) < 0)
        log_error("kernel-pool: %s", err.data); /* checked when the configuration was loaded */
    strbuf_free(&err);
    ws->kernel_startup_ms = cfg->kernel_startup_ms;
    ws->kernelspec_wait_ms = cfg->kernelspec_wait_ms;
    ws->kernel_transport = xstrdup(cfg->kernel_transport);
    ws->code_output_limit = cfg->code_output_limit;
    ws->child_oom_score_adj = cfg->child_oom_score_adj;
    ws->pty_idle_ms = cfg->pty_idle_ms;
    ws->sql_host = xstrdup(cfg->sql_host);
    ws->sql_port = cfg->sql_port;
    ws->sql_socket = xstrdup(cfg->sql_socket);
    ws->sql_user = xstrdup(cfg->sql_user);
    ws->sql_password_file = xstrdup(cfg->sql_password_file);
    ws->sql_database = xstrdup(cfg->sql_database);
    ws->sql_timeout_ms = cfg->sql_timeout_ms;
    ws->sql_max_rows = (uint64_t)cfg->sql_max_rows;
    ws->sql_max_bytes = cfg->sql_max_bytes;
}

void children_configure(const struct config *cfg)
{
    settings_from(&children.ws, cfg);
}

/* ---- backoff and the breaker -------------------------------------------------------- */

/* The delay before slot s respawns after a worker that lived lived_ms. */
static int64_t respawn_delay(struct slot *s, int slot, int64_t lived_ms)
{
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
        rnd = 0; /* no jitter: the delays stay right */
    bool tripped;
    int64_t delay = backoff_next(&s->backoff, clock_mono_ms(), lived_ms, rnd, &tripped);
    if (!tripped) {
        log_warn("respawning worker slot %d in %lld ms", slot, (long long)delay);
        return delay;
    }
    log_error("CRASH LOOP: worker slot %d died %d times within %d s; "
              "next attempt in %lld ms. Check the log above for the cause.",
              slot, s->backoff.window_crashes, BACKOFF_BREAKER_WINDOW_MS / 1000, (long long)delay);
    return delay;
}

static void schedule_respawn(int slot, int64_t lived_ms)
{
    struct slot *s = &children.slots[slot];
    int64_t delay = respawn_delay(s, slot, lived_ms);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    if (evtimer_add(s->respawn_ev, &tv) < 0)
        log_error("worker slot %d: cannot arm the respawn timer", slot);
}

static void on_respawn(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    int slot = (int)(intptr_t)arg;
    if (!children.stopping && slot < children.n_slots && children.slots[slot].cur == NULL) {
        children.respawns++;
        children_spawn(slot);
    }
}

/* ---- spawning ----------------------------------------------------------------------- */

extern char **environ;

/*
 * The environment of workers, and so of every command and kernel: the daemon's without its
 * own settings and secrets (EXECD_ACCESS_TOKEN above all, which would let any user of the
 * sandbox talk to the daemon as root). The master keeps its own for reloads; workers get
 * what they need of the settings in their config message.
 */
static char **worker_environment(void)
{
    size_t n = 0;
    for (char **e = environ; *e != NULL; e++)
        n++;
    char **env = xcalloc(n + 1, sizeof(*env));
    size_t kept = 0;
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "EXECD_", 6) != 0 && strncmp(*e, "JUPYTER_TOKEN=", 14) != 0)
            env[kept++] = *e;
    }
    return env;
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
    fdlimit_restore();
    char arg[16], title[32];
    snprintf(arg, sizeof(arg), "%d", slot);
    /* The worker's process title from the start; it then rewrites its command line to it. */
    snprintf(title, sizeof(title), "execd: worker %d", slot);
    execle("/proc/self/exe", title, "--worker", arg, (char *)NULL, children.env);
    _exit(127);
}

/* Forks a worker for slot. Returns its pid with the master's end of the channel in *fd, or -1. */
static pid_t fork_worker(int slot, int *fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("worker %d: socketpair failed: %s", slot, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("worker %d: fork failed: %s", slot, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0)
        exec_worker(sv[1], slot);
    close(sv[1]);
    *fd = sv[0];
    return pid;
}

/* The config message: settings, slot, and whether to adopt the slot's state at once. */
static void send_config(struct worker *w)
{
    /* A worker replacing a live one (reload) adopts the slot's commands only
     * once its predecessor is gone ("adopt" op); after a crash, at once. */
    bool predecessor = false;
    list_each_safe(&children.live, it, nx)
    {
        struct worker *o = list_entry(it, struct worker, node);
        predecessor = predecessor || (o != w && o->slot == w->slot);
    }
    children.ws.adopt = !predecessor;
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("config"));
    wsettings_to_json(&children.ws, msg);
    json_object_object_add(msg, "slot", xjson_int64(w->slot));
    if (worker_send_json(w, 0, msg) < 0)
        log_error("worker %d: cannot send its configuration", w->slot);
    json_object_put(msg);
    orphans_send(w);
    if (children.ws.adopt)
        fdstore_send(w);
}

void children_spawn(int slot)
{
    int fd;
    pid_t pid = fork_worker(slot, &fd);
    if (pid < 0) {
        schedule_respawn(slot, 0);
        return;
    }
    struct worker *w = worker_new(slot, pid);
    w->spawned_ms = clock_mono_ms();
    list_add_head(&children.live, &w->node);
    children.slots[slot].cur = w;
    if (worker_open_channel(w, children.base, fd) < 0) {
        kill(pid, SIGKILL); /* reaped through SIGCHLD, which respawns */
        return;
    }
    send_config(w);
    log_info("worker %d started (pid %d)", slot, (int)pid);
}

/* ---- exits -------------------------------------------------------------------------- */

static void describe_status(int status, struct strbuf *out)
{
    if (WIFEXITED(status))
        strbuf_printf(out, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        strbuf_printf(out, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        strbuf_printf(out, "status 0x%x", status);
}

static struct worker *find(pid_t pid)
{
    list_each_safe(&children.live, it, nx)
    {
        struct worker *w = list_entry(it, struct worker, node);
        if (w->pid == pid)
            return w;
    }
    return NULL;
}

struct worker *children_exited(pid_t pid, int status)
{
    struct worker *w = find(pid);
    if (w == NULL)
        return NULL;
    struct strbuf how = STRBUF_INIT;
    describe_status(status, &how);
    worker_close_channel(w, "the worker process handling this request exited");
    list_del(&w->node);
    struct slot *s = &children.slots[w->slot];
    bool current = s->cur == w;
    if (current)
        s->cur = NULL;

    if (w->state == WORKER_STOPPING) {
        log_info("worker %d (pid %d) stopped: %s", w->slot, (int)w->pid, how.data);
    } else if (w->state == WORKER_DRAINING) {
        log_info("worker %d (pid %d) drained and exited: %s", w->slot, (int)w->pid, how.data);
    } else {
        log_error("worker %d (pid %d) died: %s", w->slot, (int)w->pid, how.data);
        if (current && !children.stopping)
            schedule_respawn(w->slot, clock_mono_ms() - w->spawned_ms);
    }
    strbuf_free(&how);
    return w;
}

/* ---- the pool as a whole ------------------------------------------------------------ */

uint64_t children_respawns(void)
{
    return children.respawns;
}

int children_start(struct event_base *base, int n, const struct config *cfg)
{
    children.base = base;
    children.n_slots = n;
    children.slots = xcalloc((size_t)n, sizeof(*children.slots));
    settings_from(&children.ws, cfg);
    children.env = worker_environment();
    for (int i = 0; i < n; i++) {
        children.slots[i].respawn_ev = evtimer_new(base, on_respawn, (void *)(intptr_t)i);
        if (children.slots[i].respawn_ev == NULL)
            return -1;
    }
    return 0;
}

void children_stop(void)
{
    children.stopping = true;
    for (int i = 0; i < children.n_slots; i++)
        evtimer_del(children.slots[i].respawn_ev);
}

int children_slot_count(void)
{
    return children.n_slots;
}

struct worker *children_current(int slot)
{
    return slot >= 0 && slot < children.n_slots ? children.slots[slot].cur : NULL;
}

const struct list *children_live(void)
{
    return &children.live;
}

void children_free(void)
{
    while (!list_empty(&children.live)) {
        struct worker *w = list_first(&children.live, struct worker, node);
        list_del(&w->node);
        worker_free(w);
    }
    for (int i = 0; i < children.n_slots; i++) {
        if (children.slots[i].respawn_ev != NULL)
            event_free(children.slots[i].respawn_ev);
    }
    free(children.slots);
    children.slots = NULL;
    free(children.env);
    children.env = NULL;
    children.n_slots = 0;
    wsettings_free(&children.ws);
}
