/*
 * A command's process from its start to its record: the leader's exit watched through
 * a pidfd (with the request's timeout, or adopted from a previous worker, whose exit
 * status the master reports), the drain of its pipes, the terminal event and the
 * record's final state.
 */

#include "command/command.h"

#include <errno.h>
#include <poll.h>
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
#define UNKNOWN_STATUS_MS 2000
/* Statuses the master reported before their record was adopted: how many, how long. */
#define ORPHANS_MAX 256
#define ORPHAN_KEEP_MS 10000

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

/*
 * Leaders the master reaped that no record claimed yet: a record adopted a moment
 * later (a replaced worker's, whose process ended in between) finds its status here.
 */
static struct orphan {
    pid_t pid;
    int status;
    int64_t at_ms;
} orphans[ORPHANS_MAX];
static size_t orphans_next;

static void orphan_keep(pid_t pid, int status)
{
    orphans[orphans_next] = (struct orphan){pid, status, clock_mono_ms()};
    orphans_next = (orphans_next + 1) % ORPHANS_MAX;
}

static bool orphan_take(pid_t pid, int *status)
{
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < ORPHANS_MAX; i++) {
        struct orphan *o = &orphans[i];
        if (o->pid == pid && o->pid > 0 && now - o->at_ms <= ORPHAN_KEEP_MS) {
            *status = o->status;
            o->pid = 0;
            return true;
        }
    }
    return false;
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
    evt_free(&c->exit_ev);
    evt_free(&c->timeout_ev);
    evt_free(&c->unknown_ev);
    if (c->out.fd < 0 && c->err.fd < 0)
        cmd_finish(c);
    else if (cmd_output_allowed(c))
        cmd_schedule_drain(c);
    /* else: cmd_output_update() starts the drain when reading resumes */
}

static void on_unknown_status(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    log_warn("command %s: exit status unknown (its process ended while no worker watched it)",
             c->id);
    cmd_exited(c, CMD_STATUS_UNKNOWN);
}

/* An adopted leader is gone: the master reaps it and reports its status. */
static void await_master_status(struct command *c)
{
    c->pid = 0; /* reaped by the master: its pgid may be reused from now on */
    evt_free(&c->exit_ev);
    c->unknown_ev = evtimer_new(worker_base(), on_unknown_status, c);
    if (c->unknown_ev == NULL) {
        log_error("command %s: cannot arm the exit status timer", c->id);
        cmd_exited(c, CMD_STATUS_UNKNOWN);
        return;
    }
    evt_arm_ms(c->unknown_ev, UNKNOWN_STATUS_MS);
}

static void cmd_on_exit(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    if (!c->child) {
        await_master_status(c);
        return;
    }
    int status;
    int r = spawn_peek_exit(c->pid, &status);
    if (r == 0)
        return;
    if (r < 0) {
        log_error("command %s: waitid(%d) failed: %s", c->id, (int)c->pid, strerror(errno));
        c->pid = 0;
        status = CMD_STATUS_UNKNOWN;
    }
    cmd_exited(c, status);
}

/* Reaps our own leader once its group is no longer signalled. */
static void reap_leader(struct command *c)
{
    int status;
    if (c->child && c->pid > 0 && waitpid(c->pid, &status, WNOHANG) < 0)
        log_warn("command %s: waitpid(%d): %s", c->id, (int)c->pid, strerror(errno));
    c->pid = 0;
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }
}

int cmd_signal_group(struct command *c, int signo)
{
    struct pollfd p = {c->pidfd, POLLIN, 0};
    /* An adopted leader is reaped by the master as soon as it exits: its pidfd tells. */
    if (c->pid <= 0 || c->pgid <= 0 || (!c->child && (c->pidfd < 0 || poll(&p, 1, 0) != 0))) {
        errno = ESRCH;
        return -1;
    }
    return kill(-c->pgid, signo);
}

struct reaped_arg {
    pid_t pid;
    int status;
    bool claimed;
};

static void reaped_one(struct command *c, void *arg)
{
    struct reaped_arg *r = arg;
    if (c->running && !c->child && !c->exited && c->pgid == r->pid) {
        r->claimed = true;
        cmd_exited(c, r->status);
    }
}

void cmd_reaped(pid_t pid, int status)
{
    struct reaped_arg r = {pid, status, false};
    cmdstore_each(reaped_one, &r);
    if (!r.claimed)
        orphan_keep(pid, status);
}

void cmd_finish(struct command *c)
{
    if (!c->running)
        return;
    cmd_output_finish(&c->out);
    cmd_output_finish(&c->err);
    cmd_output_close(&c->out);
    cmd_output_close(&c->err);
    evt_free(&c->drain_ev);
    out_cancel_wait(&c->waiter);

    struct strbuf how = STRBUF_INIT;
    bool known = c->status != CMD_STATUS_UNKNOWN;
    if (known)
        spawn_describe_status(c->status, &how);
    else
        strbuf_append_str(&how, "exit status unknown");
    bool ok = known && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
    c->exit_unknown = !known;
    c->exit_code = known ? spawn_exit_code(c->status) : 0;
    if (c->job != 0 && !c->detached) {
        int64_t now = clock_wall_ms();
        if (ok) {
            event_complete(&c->batch, clock_mono_ms() - c->start_ms, now);
        } else {
            /* An unknown status is no number: SDKs then report no exit code. */
            char code[16];
            snprintf(code, sizeof(code), "%d", c->exit_code);
            const char *tb[1] = {how.data};
            event_error(&c->batch, "CommandExecError", known ? code : how.data, tb, 1, now);
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
    reap_leader(c);
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
    log_info("command %s: timeout, killing process group %d", c->id, (int)c->pgid);
    if (cmd_signal_group(c, SIGKILL) < 0 && errno != ESRCH)
        log_warn("command %s: kill: %s", c->id, strerror(errno));
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
    int status = CMD_STATUS_UNKNOWN;
    if (cmd_signal_group(c, SIGKILL) < 0 && errno != ESRCH)
        log_warn("command %s: kill: %s", c->id, strerror(errno));
    pid_t r;
    while ((r = waitpid(c->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        status = CMD_STATUS_UNKNOWN;
    c->pid = 0;
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
    if (c->pidfd < 0) {
        int status;
        c->pid = 0;
        if (orphan_take(c->pgid, &status)) {
            cmd_exited(c, status);
        } else {
            log_info("command %s: its process is gone; waiting for the master's exit status",
                     c->id);
            await_master_status(c);
        }
        return;
    }
    c->pid = c->pgid;
    c->child = false;
    c->exit_ev = event_new(worker_base(), c->pidfd, EV_READ, cmd_on_exit, c);
    if (c->exit_ev == NULL || event_add(c->exit_ev, NULL) < 0)
        log_error("command %s: cannot watch the adopted process", c->id);
    log_info("command %s: adopted running process %d", c->id, (int)c->pid);
}

size_t cmd_running(void)
{
    return running;
}
