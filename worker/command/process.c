/*
 * A command's process from its start to its record: the leader's exit watched through
 * a pidfd (with the request's timeout, or adopted from a previous worker, whose exit
 * status the master reports), the drain of its pipes, the terminal event and the
 * record's final state.
 */

#include "command/command.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "command/cmdstore.h"
#include "common.h"
#include "core/evt.h"
#include "core/out.h"
#include "core/spawn.h"
#include "core/wjob.h"
#include "event.h"
#include "log.h"
#include "procstat.h"
#include "worker.h"
#include "xalloc.h"

/* After the leader exits, the pipes are read until EOF, or until no data came
 * for DRAIN_IDLE_MS (a background child may keep them open), at most DRAIN_MAX_MS. */
#define DRAIN_IDLE_MS 100
#define DRAIN_MAX_MS 2000
/* An adopted leader that exited: wait this long for the master's wait status. */
#define UNKNOWN_STATUS_MS 1000

/* Commands whose process has not finished. */
static size_t running;
/* ... of them in the background: the master counts them as executions (-max-executions). */
static size_t background;

/* A command starts or stops running: a background one changes what the master counts. */
static void count_running(const struct command *c, bool started)
{
    running = started ? running + 1 : running - 1;
    if (!c->background)
        return;
    background = started ? background + 1 : background - 1;
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("background"));
    json_object_object_add(msg, "running", xjson_int64((int64_t)background));
    out_msg(0, msg);
}

static void on_drain_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    /* A last non-blocking read, then whoever still holds the pipes is ignored. */
    cmd_output_read(&c->out, 16);
    cmd_output_read(&c->err, 16);
    cmd_output_close(&c->out);
    cmd_output_close(&c->err);
    cmd_finish(c);
}

void cmd_schedule_drain(struct command *c)
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

void cmd_exited(struct command *c, int status)
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
        cmd_finish(c);
    else if (cmd_output_allowed(c))
        cmd_schedule_drain(c);
    /* else: cmd_output_update() starts the drain when reading resumes */
}

static void on_unknown_status(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    log_warn("command %s: exit status unknown (started by a previous worker)", c->id);
    cmd_exited(c, W_EXITCODE(255, 0));
}

/* An adopted leader exited: the master reaps it and tells us the status (reaped). */
static void await_reaped(struct command *c)
{
    evt_free(&c->exit_ev);
    c->unknown_ev = evtimer_new(worker_base(), on_unknown_status, c);
    evt_arm_ms(c->unknown_ev, UNKNOWN_STATUS_MS);
}

static void cmd_on_exit(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    if (!c->child) {
        await_reaped(c);
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
    cmd_exited(c, status);
}

void cmd_finish(struct command *c)
{
    if (!c->running)
        return;
    linesplit_finish(&c->out.ls, cmd_output_line, &c->out);
    linesplit_finish(&c->err.ls, cmd_output_line, &c->err);
    cmd_output_close(&c->out);
    cmd_output_close(&c->err);
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
    cmd_output_flush(c);
    if (c->job != 0) {
        out_end(c->job);
        wjob_remove(c->job);
        c->job = 0;
    }
    c->running = false;
    count_running(c, false);
    /* The record may be kept for a day: give back the output buffers now. */
    linesplit_free(&c->out.ls);
    linesplit_free(&c->err.ls);
    strbuf_free(&c->batch);
    clock_gettime(CLOCK_REALTIME, &c->finished_at);
    free(c->error);
    c->error = ok ? NULL : strbuf_detach(&how);
    strbuf_free(&how);
    cmdstore_save(c);
    cmd_reply_interrupts(c);
    worker_changed();
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
int cmd_watch(struct command *c, int64_t timeout_ms)
{
    c->running = true;
    count_running(c, true);
    c->pidfd = spawn_pidfd(c->pid);
    if (c->pidfd < 0) {
        log_error("command %s: pidfd_open(%d) failed: %s", c->id, (int)c->pid, strerror(errno));
        return -1;
    }
    c->exit_ev = event_new(worker_base(), c->pidfd, EV_READ | EV_PERSIST, cmd_on_exit, c);
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
void cmd_abandon(struct command *c)
{
    int status = W_EXITCODE(255, 0);
    kill(-c->pgid, SIGKILL);
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    cmd_exited(c, status);
}

/* Re-attaches a record loaded from disk to its still running process. */
void cmd_adopt_process(struct command *c)
{
    if (!c->running)
        return;
    count_running(c, true);
    c->pidfd = -1;
    if (procstat_same(c->pgid, c->pid_start))
        c->pidfd = spawn_pidfd(c->pgid);
    c->pid = c->pgid;
    c->child = false;
    if (c->pidfd < 0) {
        /* It ended while no worker watched it: the master reaped it, and sends the statuses
         * it kept right after this worker's config or adopt. */
        log_info("command %s: its process is gone; waiting for its exit status", c->id);
        await_reaped(c);
        return;
    }
    c->exit_ev = event_new(worker_base(), c->pidfd, EV_READ, cmd_on_exit, c);
    if (c->exit_ev == NULL || event_add(c->exit_ev, NULL) < 0)
        log_error("command %s: cannot watch the adopted process", c->id);
    log_info("command %s: adopted running process %d", c->id, (int)c->pid);
}

size_t cmd_running(void)
{
    return running;
}
