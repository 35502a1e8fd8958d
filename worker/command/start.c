/*
 * Starting a command (POST /command, shell-mode /code): the environment (the daemon's,
 * EXECD_ENVS, the request's), the working directory, bash -c in its own process group
 * with the request's identity; a foreground command streams its pipes, a background
 * one writes a log under the state directory. The record exists before `init`.
 */

#include "command/command.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "command/cmdstore.h"
#include "core/out.h"
#include "core/spawn.h"
#include "core/wjob.h"
#include "envmap.h"
#include "event.h"
#include "jsonreq.h"
#include "pathexp.h"
#include "worker.h"
#include "xalloc.h"

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

    c->content = cmdstore_content(p->command);
    c->job = job;
    cmd_output_attach(c, &c->out, outp[0]);
    cmd_output_attach(c, &c->err, errp[0]);
    c->waiter.fn = cmd_output_drained;
    c->waiter.arg = c;
    /* The record is in memory from now on (status, interrupt); it reaches the disk
     * at exit. Writing it here too would cost a file creation before `init`, and a
     * worker that dies takes its foreground streams with it anyway. */
    cmdstore_add(c);
    c->running = true;
    wjob_add(job, &cmd_stream_ops, c);
    /* Registered before `init`, so an interrupt right after it finds the id. */
    out_register(job, "command", c->id);
    init_event(c, job);
    if (cmd_watch(c, p->timeout_ms) < 0)
        cmd_abandon(c);
}

static void run_background(uint32_t job, struct run_params *p)
{
    struct command *c = command_new(NULL);
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;

    c->content = cmdstore_content(p->command);
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
        if (cmd_watch(c, p->timeout_ms) < 0)
            cmd_abandon(c);
    }
    strbuf_free(&path);
    strbuf_free(&err);
}

void cmd_run(uint32_t job, json_object *request)
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
