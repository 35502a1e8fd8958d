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
#include "core/out.h"
#include "executor.h"
#include "jsonreq.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

/* Interrupt: TERM, probe every 50 ms for 3 s, KILL, probe a few more times. */
#define INTERRUPT_PROBE_MS 50
#define INTERRUPT_KILL_TICKS 60
#define INTERRUPT_GIVE_UP_TICKS 64
#define SWEEP_EVERY_S 60

static struct {
    struct event *sweep_ev;
    struct event *kill_ev;
} cmds;

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

void command_free(struct command *c)
{
    cmd_output_close(&c->out);
    cmd_output_close(&c->err);
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

/* ---- interrupt, signals, shutdown ------------------------------------- */

void cmd_reply_interrupts(struct command *c)
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
    /* An unknown status has no exit_code (the contract's nullable field), only its error. */
    if (!c->running && !c->exit_unknown)
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

static bool group_alive(struct command *c)
{
    return cmd_signal_group(c, 0) == 0 || errno != ESRCH;
}

static void on_interrupt_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct command *c = arg;
    c->int_ticks++;
    if (!group_alive(c) || c->int_ticks >= INTERRUPT_GIVE_UP_TICKS) {
        cmd_reply_interrupts(c);
        return;
    }
    if (c->int_ticks == INTERRUPT_KILL_TICKS && cmd_signal_group(c, SIGKILL) < 0 && errno != ESRCH)
        log_warn("command %s: SIGKILL to group %d: %s", c->id, (int)c->pgid, strerror(errno));
}

static void command_interrupt(uint32_t job, const char *id, json_object *msg EXECD_UNUSED)
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

    if (cmd_signal_group(c, SIGTERM) < 0 && errno == ESRCH) {
        cmd_reply_interrupts(c);
        return;
    }
    c->int_ticks = 0;
    c->int_ev = event_new(worker_base(), -1, EV_PERSIST, on_interrupt_tick, c);
    struct timeval tv = {0, INTERRUPT_PROBE_MS * 1000};
    if (c->int_ev == NULL || event_add(c->int_ev, &tv) < 0) {
        log_error("command %s: cannot arm the interrupt timer", c->id);
        cmd_reply_interrupts(c);
    }
}

struct signal_arg {
    int signo;
    bool foreground_only;
};

static void signal_one(struct command *c, void *arg)
{
    struct signal_arg *s = arg;
    if (!c->running || (s->foreground_only && c->background))
        return;
    if (cmd_signal_group(c, s->signo) < 0 && errno != ESRCH)
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

static void command_adopt(void)
{
    cmdstore_load(cmd_adopt_process);
}

static void on_sweep(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                     void *arg EXECD_UNUSED)
{
    int n = cmdstore_sweep(clock_wall_ms());
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
    cmdstore_sweep(clock_wall_ms());
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
    cmd_run(job, request);
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
    .interrupt = command_interrupt,
    .signal = command_forward_signal,
    .reaped = cmd_reaped,
    .adopt = command_adopt,
    .busy = command_busy,
    .running = cmd_running,
    .shutdown = command_shutdown,
    .cleanup = command_cleanup,
};
