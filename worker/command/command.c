#include "command/command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "command/cmdstore.h"
#include "common.h"
#include "core/evt.h"
#include "core/spawn.h"
#include "core/wjob.h"
#include "event.h"
#include "executor.h"
#include "jsonreq.h"
#include "log.h"
#include "pathexp.h"
#include "procstat.h"
#include "worker.h"
#include "xalloc.h"

#define READ_CHUNK (64 * 1024)
/* Reads per wake-up and pipe, so one chatty command cannot starve the others. */
#define READS_PER_WAKEUP 4
/* Events are handed to the master once this much is batched. */
#define BATCH_FLUSH (256 * 1024)
/* After the leader exits, the pipes are read until EOF, or until no data came
 * for DRAIN_IDLE_MS (a background child may keep them open), at most DRAIN_MAX_MS. */
#define DRAIN_IDLE_MS 100
#define DRAIN_MAX_MS 2000
/* Interrupt: TERM, probe every 50 ms for 3 s, KILL, probe a few more times. */
#define INTERRUPT_PROBE_MS 50
#define INTERRUPT_KILL_TICKS 60
#define INTERRUPT_GIVE_UP_TICKS 64
/* An adopted leader that exited: wait this long for the master's wait status. */
#define UNKNOWN_STATUS_MS 1000
#define SWEEP_EVERY_S 60

static struct {
    struct event *sweep_ev;
    struct event *kill_ev;
    size_t running;
} cmds;

static void finish(struct command *c);
static void schedule_drain(struct command *c);

struct command *command_new(const char *id)
{
    struct command *c = xcalloc(1, sizeof(*c));
    if (id != NULL)
        snprintf(c->id, sizeof(c->id), "%s", id);
    else
        ids_uuid_hex(c->id);
    list_init(&c->int_waiters);
    list_init(&c->node);
    c->pidfd = -1;
    c->out.fd = c->err.fd = -1;
    c->out.cmd = c->err.cmd = c;
    c->out.type = "stdout";
    c->err.type = "stderr";
    strbuf_init(&c->batch);
    return c;
}

static void close_pipe(struct pipe_src *p)
{
    evt_free(&p->ev);
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

void command_free(struct command *c)
{
    close_pipe(&c->out);
    close_pipe(&c->err);
    linesplit_free(&c->out.ls);
    linesplit_free(&c->err.ls);
    evt_free(&c->exit_ev);
    evt_free(&c->timeout_ev);
    evt_free(&c->unknown_ev);
    evt_free(&c->drain_ev);
    evt_free(&c->int_ev);
    if (c->pidfd >= 0)
        close(c->pidfd);
    out_cancel_wait(&c->waiter);
    list_each_safe(&c->int_waiters, it, nx)
    {
        list_del(it);
        free(list_entry(it, struct interrupt_waiter, node));
    }
    strbuf_free(&c->batch);
    free(c->content);
    free(c->error);
    free(c);
}

/* ---- output ---------------------------------------------------------- */

static void flush(struct command *c)
{
    if (c->job == 0 || c->detached)
        strbuf_reset(&c->batch);
    else
        out_events(c->job, &c->batch);
}

static void emit_line(void *arg, const char *text, size_t len)
{
    struct pipe_src *p = arg;
    struct command *c = p->cmd;
    if (c->detached)
        return;
    event_text(&c->batch, p->type, text, len, clock_wall_ms());
    if (c->batch.len >= BATCH_FLUSH)
        flush(c);
}

static bool reading_allowed(const struct command *c)
{
    return c->detached || (!c->paused && !c->waiter.waiting);
}

static void sources_update(struct command *c)
{
    struct pipe_src *ps[2] = {&c->out, &c->err};
    bool on = reading_allowed(c);
    for (int i = 0; i < 2; i++) {
        if (ps[i]->ev == NULL)
            continue;
        if (on)
            event_add(ps[i]->ev, NULL);
        else
            event_del(ps[i]->ev);
    }
    if (c->exited && (c->out.fd >= 0 || c->err.fd >= 0)) {
        if (!on && c->drain_ev != NULL) {
            event_del(c->drain_ev);
        } else if (on) {
            /* Time spent paused by a slow client does not count against the drain. */
            c->drain_started_ms = clock_mono_ms();
            schedule_drain(c);
        }
    }
}

static void on_out_drained(void *arg)
{
    sources_update(arg);
}

/* Reads what is available; returns false once the pipe is closed. */
static bool read_pipe(struct pipe_src *p, int max_reads)
{
    char buf[READ_CHUNK];
    for (int i = 0; i < max_reads && p->fd >= 0; i++) {
        ssize_t n = read(p->fd, buf, sizeof(buf));
        if (n > 0) {
            linesplit_feed(&p->ls, buf, (size_t)n, emit_line, p);
            if ((size_t)n < sizeof(buf))
                break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0)
            log_warn("command %s: reading %s failed: %s", p->cmd->id, p->type, strerror(errno));
        close_pipe(p);
    }
    return p->fd >= 0;
}

static void on_pipe(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pipe_src *p = arg;
    struct command *c = p->cmd;

    read_pipe(p, READS_PER_WAKEUP);
    flush(c);
    if (!c->detached && out_congested()) {
        out_wait(&c->waiter);
        sources_update(c);
    }
    if (c->exited) {
        if (c->out.fd < 0 && c->err.fd < 0)
            finish(c);
        else if (reading_allowed(c))
            schedule_drain(c);
    }
}

/* ---- process exit ---------------------------------------------------- */

static void on_drain_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    /* A last non-blocking read, then whoever still holds the pipes is ignored. */
    read_pipe(&c->out, 16);
    read_pipe(&c->err, 16);
    close_pipe(&c->out);
    close_pipe(&c->err);
    finish(c);
}

static void schedule_drain(struct command *c)
{
    if (c->drain_ev == NULL) {
        c->drain_ev = evtimer_new(worker_base(), on_drain_deadline, c);
        c->drain_started_ms = clock_mono_ms();
        if (c->drain_ev == NULL) {
            log_error("command %s: cannot arm the drain timer", c->id);
            return;
        }
    }
    int64_t left = DRAIN_MAX_MS - (clock_mono_ms() - c->drain_started_ms);
    evt_arm_ms(c->drain_ev, left < DRAIN_IDLE_MS ? (left > 0 ? left : 0) : DRAIN_IDLE_MS);
}

static void exited(struct command *c, int status)
{
    c->exited = true;
    c->status = status;
    c->pid = 0; /* reaped: from now on the leader is never signalled */
    evt_free(&c->exit_ev);
    evt_free(&c->timeout_ev);
    evt_free(&c->unknown_ev);
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }
    if (c->out.fd < 0 && c->err.fd < 0)
        finish(c);
    else if (reading_allowed(c))
        schedule_drain(c);
    /* else: sources_update() starts the drain when reading resumes */
}

static void on_unknown_status(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    log_warn("command %s: exit status unknown (started by a previous worker)", c->id);
    exited(c, W_EXITCODE(255, 0));
}

static void on_exit_ready(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    if (!c->child) {
        /* Adopted: the master reaps it and tells us the status. */
        evt_free(&c->exit_ev);
        c->unknown_ev = evtimer_new(worker_base(), on_unknown_status, c);
        evt_arm_ms(c->unknown_ev, UNKNOWN_STATUS_MS);
        return;
    }
    int status;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == 0)
        return;
    if (r < 0) {
        log_error("command %s: waitpid(%d) failed: %s", c->id, (int)c->pid, strerror(errno));
        status = W_EXITCODE(255, 0);
    }
    exited(c, status);
}

static void reply_interrupts(struct command *c)
{
    list_each_safe(&c->int_waiters, it, nx)
    {
        struct interrupt_waiter *w = list_entry(it, struct interrupt_waiter, node);
        list_del(it);
        out_reply_empty(w->job, 200);
        free(w);
    }
    evt_free(&c->int_ev);
}

static void finish(struct command *c)
{
    if (!c->running)
        return;
    linesplit_finish(&c->out.ls, emit_line, &c->out);
    linesplit_finish(&c->err.ls, emit_line, &c->err);
    close_pipe(&c->out);
    close_pipe(&c->err);
    evt_free(&c->drain_ev);
    out_cancel_wait(&c->waiter);

    struct strbuf how = STRBUF_INIT;
    spawn_describe_status(c->status, &how);
    bool ok = WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
    c->exit_code = spawn_exit_code(c->status);
    if (c->job != 0 && !c->detached) {
        int64_t now = clock_wall_ms();
        if (ok) {
            event_complete(&c->batch, clock_mono_ms() - c->start_ms, now);
        } else {
            char code[16];
            snprintf(code, sizeof(code), "%d", c->exit_code);
            const char *tb[1] = {how.data};
            event_error(&c->batch, "CommandExecError", code, tb, 1, now);
        }
    }
    flush(c);
    if (c->job != 0) {
        out_end(c->job);
        wjob_remove(c->job);
        c->job = 0;
    }
    c->running = false;
    cmds.running--;
    /* The record may be kept for a day: give back the output buffers now. */
    linesplit_free(&c->out.ls);
    linesplit_free(&c->err.ls);
    strbuf_free(&c->batch);
    clock_gettime(CLOCK_REALTIME, &c->finished_at);
    free(c->error);
    c->error = ok ? NULL : strbuf_detach(&how);
    strbuf_free(&how);
    cmdstore_save(c);
    reply_interrupts(c);
    worker_changed();
}

/* ---- stream control from the master ----------------------------------- */

static void on_cancel(void *obj)
{
    struct command *c = obj;
    /* The Go daemon lets a foreground command run on when its client leaves. */
    c->detached = true;
    c->paused = false;
    out_cancel_wait(&c->waiter);
    strbuf_reset(&c->batch);
    sources_update(c);
}

static void on_pause(void *obj)
{
    struct command *c = obj;
    c->paused = true;
    sources_update(c);
}

static void on_resume(void *obj)
{
    struct command *c = obj;
    c->paused = false;
    sources_update(c);
}

static const struct wjob_ops stream_ops = {
    .cancel = on_cancel, .pause = on_pause, .resume = on_resume};

/* ---- starting --------------------------------------------------------- */

struct run_params {
    const char *command;
    const char *cwd; /* expanded; NULL = inherit */
    bool background;
    int64_t timeout_ms;
    bool has_uid, has_gid;
    uint32_t uid, gid;
    struct envmap env;
};

static void merge_request_envs(struct envmap *env, json_object *req)
{
    json_object *envs;
    if (jsonreq_object(req, "envs", &envs) != JSONREQ_OK)
        return;
    json_object_object_foreach(envs, key, value)
    {
        if (value != NULL && json_object_is_type(value, json_type_string))
            envmap_set(env, key, json_object_get_string(value));
    }
}

/* Builds the environment and checks the working directory; on failure err is the 400 message. */
static int prepare(json_object *req, struct run_params *p, struct strbuf *cwd_buf,
                   struct strbuf *err)
{
    memset(p, 0, sizeof(*p));
    worker_environment(&p->env);
    merge_request_envs(&p->env, req);

    jsonreq_string(req, "command", &p->command);
    jsonreq_bool(req, "background", &p->background);
    jsonreq_int64(req, "timeout", &p->timeout_ms);
    p->has_uid = jsonreq_uint32(req, "uid", &p->uid) == JSONREQ_OK;
    p->has_gid = jsonreq_uint32(req, "gid", &p->gid) == JSONREQ_OK;

    const char *cwd = NULL;
    if (jsonreq_string(req, "cwd", &cwd) != JSONREQ_OK || cwd[0] == '\0')
        return 0;
    if (pathexp_expand(cwd, envmap_lookup, &p->env, cwd_buf, err) < 0)
        return -1;
    struct stat st;
    if (stat(cwd_buf->data, &st) < 0) {
        strbuf_printf(err, "working directory does not exist: %s: stat %s: %s", cwd, cwd_buf->data,
                      strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        strbuf_printf(err, "working directory path is not a directory: %s", cwd);
        return -1;
    }
    p->cwd = cwd_buf->data;
    return 0;
}

static pid_t start_process(struct command *c, const struct run_params *p, int out_fd, int err_fd,
                           struct strbuf *err)
{
    const char *shell = spawn_shell();
    char *argv[] = {(char *)shell, "-c", (char *)p->command, NULL};
    struct spawn_req req;
    spawn_req_init(&req);
    req.path = shell;
    req.argv = argv;
    req.envp = p->env.entries;
    req.cwd = p->cwd;
    req.stdout_fd = out_fd;
    req.stderr_fd = err_fd;
    if (p->has_uid)
        spawn_set_identity(&req, p->uid, p->has_gid, p->gid);

    clock_gettime(CLOCK_REALTIME, &c->started_at);
    c->start_ms = clock_mono_ms();
    pid_t pid = spawn_process(&req, err);
    if (pid > 0) {
        c->pid = c->pgid = pid;
        c->child = true;
        /* Only a background command's record is adopted while it runs: only it
         * needs the start time that tells its leader from a later pid reuse. */
        if (p->background)
            c->pid_start = spawn_proc_start(pid);
    }
    return pid;
}

static void on_timeout(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    if (c->pid > 0) {
        log_info("command %s: timeout, killing process group %d", c->id, (int)c->pgid);
        if (kill(-c->pgid, SIGKILL) < 0 && errno != ESRCH)
            log_warn("command %s: kill: %s", c->id, strerror(errno));
    }
}

/* Watches the leader's exit and the timeout. Returns 0, or -1 (logged). */
static int watch_process(struct command *c, int64_t timeout_ms)
{
    c->running = true;
    cmds.running++;
    c->pidfd = spawn_pidfd(c->pid);
    if (c->pidfd < 0) {
        log_error("command %s: pidfd_open(%d) failed: %s", c->id, (int)c->pid, strerror(errno));
        return -1;
    }
    c->exit_ev = event_new(worker_base(), c->pidfd, EV_READ | EV_PERSIST, on_exit_ready, c);
    if (c->exit_ev == NULL || event_add(c->exit_ev, NULL) < 0)
        return -1;
    if (timeout_ms > 0) {
        c->timeout_ev = evtimer_new(worker_base(), on_timeout, c);
        if (c->timeout_ev == NULL)
            return -1;
        evt_arm_ms(c->timeout_ev, timeout_ms);
    }
    return 0;
}

/* Without a way to watch the process, stop it and collect it right away. */
static void abandon_process(struct command *c)
{
    int status = W_EXITCODE(255, 0);
    kill(-c->pgid, SIGKILL);
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    exited(c, status);
}

static void init_event(struct command *c, uint32_t job)
{
    event_text(&c->batch, "init", c->id, strlen(c->id), clock_wall_ms());
    out_events(job, &c->batch);
}

static int open_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return 0;
}

static void attach_pipe(struct command *c, struct pipe_src *p, int fd)
{
    p->fd = fd;
    linesplit_init(&p->ls, worker_settings()->max_line);
    p->ev = event_new(worker_base(), fd, EV_READ | EV_PERSIST, on_pipe, p);
    if (p->ev == NULL || event_add(p->ev, NULL) < 0)
        log_error("command %s: cannot watch %s", c->id, p->type);
}

static void run_foreground(uint32_t job, struct run_params *p)
{
    int outp[2], errp[2];
    struct strbuf err = STRBUF_INIT;
    struct command *c = command_new(NULL);

    if (open_pipe(outp) < 0) {
        out_reply_error(job, 500, "RUNTIME_ERROR", "error running commands pipe: %s",
                        strerror(errno));
        command_free(c);
        return;
    }
    if (open_pipe(errp) < 0) {
        out_reply_error(job, 500, "RUNTIME_ERROR", "error running commands pipe: %s",
                        strerror(errno));
        close(outp[0]);
        close(outp[1]);
        command_free(c);
        return;
    }
    pid_t pid = start_process(c, p, outp[1], errp[1], &err);
    close(outp[1]);
    close(errp[1]);
    if (pid < 0) {
        /* As in the Go daemon: init, then the start error as evalue and traceback. */
        close(outp[0]);
        close(errp[0]);
        init_event(c, job);
        const char *tb[1] = {err.data};
        event_error(&c->batch, "CommandExecError", err.data, tb, 1, clock_wall_ms());
        out_events(job, &c->batch);
        out_end(job);
        command_free(c);
        strbuf_free(&err);
        return;
    }
    strbuf_free(&err);

    c->content = xstrdup(p->command);
    c->job = job;
    attach_pipe(c, &c->out, outp[0]);
    attach_pipe(c, &c->err, errp[0]);
    c->waiter.fn = on_out_drained;
    c->waiter.arg = c;
    /* The record is in memory from now on (status, interrupt); it reaches the disk
     * at exit. Writing it here too would cost a file creation before `init`, and a
     * worker that dies takes its foreground streams with it anyway. */
    cmdstore_add(c);
    c->running = true;
    wjob_add(job, &stream_ops, c);
    /* Registered before `init`, so an interrupt right after it finds the id. */
    out_register(job, "command", c->id);
    init_event(c, job);
    if (watch_process(c, p->timeout_ms) < 0)
        abandon_process(c);
}

static void run_background(uint32_t job, struct run_params *p)
{
    struct command *c = command_new(NULL);
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;

    c->content = xstrdup(p->command);
    c->background = true;
    c->running = true;
    clock_gettime(CLOCK_REALTIME, &c->started_at);
    cmdstore_add(c);
    /* The record exists before `init` is sent, so status polls never 404. */
    cmdstore_save(c);
    out_register(job, "command", c->id);
    init_event(c, job);

    cmdstore_output_path(c->id, &path);
    int fd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    pid_t pid = -1;
    if (fd < 0)
        strbuf_printf(&err, "open %s: %s", path.data, strerror(errno));
    else
        pid = start_process(c, p, fd, fd, &err);
    if (fd >= 0)
        close(fd);

    if (pid < 0) {
        c->running = false;
        c->exit_code = 255;
        c->error = xstrdup(err.data);
        clock_gettime(CLOCK_REALTIME, &c->finished_at);
        cmdstore_save(c);
        out_reply_error(job, 500, "RUNTIME_ERROR",
                        "error running commands failed to start commands: %s", err.data);
    } else {
        cmdstore_save(c);
        event_complete(&c->batch, clock_mono_ms() - c->start_ms, clock_wall_ms());
        out_events(job, &c->batch);
        out_end(job);
        if (watch_process(c, p->timeout_ms) < 0)
            abandon_process(c);
    }
    strbuf_free(&path);
    strbuf_free(&err);
}

static void command_run(uint32_t job, json_object *request)
{
    struct run_params p;
    struct strbuf cwd = STRBUF_INIT, err = STRBUF_INIT;

    if (prepare(request, &p, &cwd, &err) < 0) {
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "invalid request, validation error %s",
                        err.data);
    } else if (p.command == NULL || p.command[0] == '\0') {
        out_reply_error(job, 400, "INVALID_REQUEST_BODY",
                        "invalid request, validation error field 'command' is required");
    } else if (p.background) {
        run_background(job, &p);
    } else {
        run_foreground(job, &p);
    }
    envmap_free(&p.env);
    strbuf_free(&cwd);
    strbuf_free(&err);
}

/* ---- queries ------------------------------------------------------------ */

static void add_time(json_object *o, const char *key, const struct timespec *ts)
{
    char buf[CLOCK_RFC3339_MAX];
    json_object_object_add(o, key, xjson_string(clock_rfc3339(ts, buf)));
}

static void command_status(uint32_t job, const char *id)
{
    struct command *c = cmdstore_get(id);
    if (c == NULL) {
        out_reply_error(job, 404, "INVALID_REQUEST_BODY", "command not found: %s", id);
        return;
    }
    json_object *o = xjson_object();
    json_object_object_add(o, "id", xjson_string(c->id));
    if (c->content != NULL && c->content[0] != '\0')
        json_object_object_add(o, "content", xjson_string(c->content));
    json_object_object_add(o, "running", xjson_bool(c->running));
    if (!c->running)
        json_object_object_add(o, "exit_code", xjson_int64(c->exit_code));
    if (c->error != NULL && c->error[0] != '\0')
        json_object_object_add(o, "error", xjson_string(c->error));
    add_time(o, "started_at", &c->started_at);
    if (!c->running)
        add_time(o, "finished_at", &c->finished_at);
    out_reply_json(job, 200, o);
}

static void command_logs(uint32_t job, const char *id, int64_t cursor)
{
    struct command *c = cmdstore_get(id);
    if (c == NULL) {
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "command not found: %s", id);
        return;
    }
    if (!c->background) {
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "command %s is not running in background",
                        id);
        return;
    }
    struct strbuf path = STRBUF_INIT;
    cmdstore_output_path(id, &path);
    int fd = open(path.data, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "error reading logs of %s: %s", id,
                        strerror(errno));
        if (fd >= 0)
            close(fd);
        strbuf_free(&path);
        return;
    }
    strbuf_free(&path);
    int64_t size = (int64_t)st.st_size;
    int64_t tail = cursor > size ? cursor : size;
    char tail_s[32];
    snprintf(tail_s, sizeof(tail_s), "%lld", (long long)tail);
    json_object *headers = xjson_object();
    json_object_object_add(headers, "EXECD-COMMANDS-TAIL-CURSOR", xjson_string(tail_s));
    out_reply_file(job, 200, headers, "text/plain; charset=utf-8", fd, (off_t)cursor,
                   cursor < size ? (off_t)(size - cursor) : 0);
}

/* ---- interrupt, signals, shutdown ------------------------------------- */

static bool group_alive(pid_t pgid)
{
    return kill(-pgid, 0) == 0 || errno != ESRCH;
}

static void on_interrupt_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    c->int_ticks++;
    if (!group_alive(c->pgid) || c->int_ticks >= INTERRUPT_GIVE_UP_TICKS) {
        reply_interrupts(c);
        return;
    }
    if (c->int_ticks == INTERRUPT_KILL_TICKS && kill(-c->pgid, SIGKILL) < 0 && errno != ESRCH)
        log_warn("command %s: SIGKILL to group %d: %s", c->id, (int)c->pgid, strerror(errno));
}

static void command_interrupt(uint32_t job, const char *id)
{
    struct command *c = cmdstore_get(id);
    if (c == NULL || !c->running || c->pgid <= 0) {
        out_reply_error(job, 500, "RUNTIME_ERROR",
                        "error interruptting code context. command session %s is not running", id);
        return;
    }
    struct interrupt_waiter *w = xmalloc(sizeof(*w));
    w->job = job;
    list_add_head(&c->int_waiters, &w->node);
    if (c->int_ev != NULL)
        return; /* already interrupting: answer together */

    if (kill(-c->pgid, SIGTERM) < 0 && errno == ESRCH) {
        reply_interrupts(c);
        return;
    }
    c->int_ticks = 0;
    c->int_ev = event_new(worker_base(), -1, EV_PERSIST, on_interrupt_tick, c);
    struct timeval tv = {0, INTERRUPT_PROBE_MS * 1000};
    if (c->int_ev == NULL || event_add(c->int_ev, &tv) < 0) {
        log_error("command %s: cannot arm the interrupt timer", c->id);
        reply_interrupts(c);
    }
}

struct signal_arg {
    int signo;
    bool foreground_only;
};

static void signal_one(struct command *c, void *arg)
{
    struct signal_arg *s = arg;
    if (!c->running || c->pgid <= 0 || (s->foreground_only && c->background))
        return;
    if (c->pid == 0 && !group_alive(c->pgid))
        return;
    if (kill(-c->pgid, s->signo) < 0 && errno != ESRCH)
        log_warn("command %s: signal %d to group %d: %s", c->id, s->signo, (int)c->pgid,
                 strerror(errno));
}

static void command_forward_signal(int signo)
{
    struct signal_arg s = {signo, true};
    cmdstore_each(signal_one, &s);
}

static void on_kill_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                             void *arg EXECD_UNUSED)
{
    struct signal_arg s = {SIGKILL, false};
    cmdstore_each(signal_one, &s);
}

static void command_shutdown(int64_t grace_ms)
{
    struct signal_arg s = {SIGTERM, false};
    cmdstore_each(signal_one, &s);
    if (cmds.kill_ev == NULL)
        cmds.kill_ev = evtimer_new(worker_base(), on_kill_deadline, NULL);
    if (cmds.kill_ev != NULL)
        evt_arm_ms(cmds.kill_ev, grace_ms);
}

struct reaped_arg {
    pid_t pid;
    int status;
};

static void reaped_one(struct command *c, void *arg)
{
    struct reaped_arg *r = arg;
    if (c->running && !c->child && c->pid == r->pid)
        exited(c, r->status);
}

static void command_reaped(pid_t pid, int status)
{
    struct reaped_arg r = {pid, status};
    cmdstore_each(reaped_one, &r);
}

/* Re-attaches a record loaded from disk to its still running process. */
static void adopt_one(struct command *c)
{
    if (!c->running)
        return;
    cmds.running++;
    c->pidfd = -1;
    if (procstat_same(c->pgid, c->pid_start))
        c->pidfd = spawn_pidfd(c->pgid);
    if (c->pidfd < 0) {
        log_warn("command %s: its process is gone; exit status unknown", c->id);
        c->status = W_EXITCODE(255, 0);
        finish(c);
        return;
    }
    c->pid = c->pgid;
    c->child = false;
    c->exit_ev = event_new(worker_base(), c->pidfd, EV_READ, on_exit_ready, c);
    if (c->exit_ev == NULL || event_add(c->exit_ev, NULL) < 0)
        log_error("command %s: cannot watch the adopted process", c->id);
    log_info("command %s: adopted running process %d", c->id, (int)c->pid);
}

static void command_adopt(void)
{
    cmdstore_load(adopt_one);
}

static void on_sweep(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                     void *arg EXECD_UNUSED)
{
    int n = cmdstore_sweep();
    if (n > 0)
        log_info("retention: dropped %d command record(s)", n);
}

static int command_init(const struct wsettings *s, bool adopt)
{
    if (cmdstore_init(worker_state_dir(), s->retention_ms, s->retention_bytes) < 0)
        return -1;
    cmds.sweep_ev = event_new(worker_base(), -1, EV_PERSIST, on_sweep, NULL);
    struct timeval every = {SWEEP_EVERY_S, 0};
    if (cmds.sweep_ev == NULL || event_add(cmds.sweep_ev, &every) < 0)
        log_error("cannot arm the command retention timer");
    if (adopt)
        command_adopt();
    cmdstore_sweep();
    return 0;
}

static void busy_one(struct command *c, void *arg)
{
    bool *busy = arg;
    if ((c->running && !c->background) || !list_empty(&c->int_waiters))
        *busy = true;
}

static bool command_busy(void)
{
    bool busy = false;
    cmdstore_each(busy_one, &busy);
    return busy;
}

static size_t command_running(void)
{
    return cmds.running;
}

static void command_cleanup(void)
{
    evt_free(&cmds.sweep_ev);
    evt_free(&cmds.kill_ev);
    cmdstore_free();
}

static void run_op(uint32_t job, json_object *msg)
{
    json_object *request = NULL;
    jsonreq_object(msg, "request", &request);
    command_run(job, request);
}

/* The id a query names; NULL (answered) when there is none. */
static const char *query_id(uint32_t job, json_object *msg)
{
    const char *id = NULL;
    if (jsonreq_string(msg, "id", &id) != JSONREQ_OK)
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "missing id");
    return id;
}

static void status_op(uint32_t job, json_object *msg)
{
    const char *id = query_id(job, msg);
    if (id != NULL)
        command_status(job, id);
}

static void logs_op(uint32_t job, json_object *msg)
{
    const char *id = query_id(job, msg);
    int64_t cursor = 0;
    jsonreq_int64(msg, "cursor", &cursor);
    if (id != NULL)
        command_logs(job, id, cursor);
}

static void command_interrupt_job(uint32_t job, const char *id, json_object *msg EXECD_UNUSED)
{
    command_interrupt(job, id);
}

static const struct executor_op ops[] = {
    {"command.run", run_op},
    {"command.status", status_op},
    {"command.logs", logs_op},
    {NULL, NULL},
};

const struct executor command_executor = {
    .name = "command",
    .ops = ops,
    .interrupt_kind = "command",
    .init = command_init,
    .interrupt = command_interrupt_job,
    .signal = command_forward_signal,
    .reaped = command_reaped,
    .adopt = command_adopt,
    .busy = command_busy,
    .running = command_running,
    .shutdown = command_shutdown,
    .cleanup = command_cleanup,
};
