#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command/cmdstore.h"
#include "command/command.h"
#include "common.h"
#include "core/out.h"
#include "core/wjob.h"
#include "files/fs.h"
#include "ipc.h"
#include "jsonreq.h"
#include "jupyter/code.h"
#include "jupyter/context.h"
#include "jupyter/kernel.h"
#include "log.h"
#include "worker.h"

#define WORKER_IPC_FD 3
/* After a shutdown request, exit at the latest this long after the grace. */
#define EXIT_SLACK_MS 1000
/* How often freed heap (after a large stream or upload) is given back. */
#define TRIM_EVERY_S 10

struct worker_ctx wk;

static struct {
    struct ipc_chan *ch;
    bool configured;
    struct event *exit_ev;
    struct event *trim_ev;
    struct out_waiter flushed;
} self;

static void on_trim_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                         void *arg EXECD_UNUSED)
{
    malloc_trim(0);
}

static void dup_string(char **dst, json_object *cfg, const char *key)
{
    const char *v = "";
    jsonreq_string(cfg, key, &v);
    free(*dst);
    *dst = strdup(v);
}

static void get_int64(json_object *cfg, const char *key, int64_t *dst)
{
    if (jsonreq_int64(cfg, key, dst) != JSONREQ_OK)
        log_warn("configuration: '%s' missing", key);
}

static int apply_config(json_object *cfg)
{
    const char *runtime_dir = "", *log_file = "", *log_format = "text";
    int64_t level = LOG_LEVEL_INFO, retention_bytes = 0, max_line = 0, workers = 1,
            output_limit = 0;

    jsonreq_string(cfg, "runtime_dir", &runtime_dir);
    jsonreq_string(cfg, "log_file", &log_file);
    jsonreq_string(cfg, "log_format", &log_format);
    jsonreq_int64(cfg, "log_level", &level);
    char proc[32];
    snprintf(proc, sizeof(proc), "worker-%d", wk.slot);
    if (log_setup(log_file, (int)level,
                  strcmp(log_format, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT, proc) < 0)
        log_error("cannot open log file %s: %s", log_file, strerror(errno));

    get_int64(cfg, "grace_ms", &wk.grace_ms);
    get_int64(cfg, "retention_ms", &wk.retention_ms);
    get_int64(cfg, "retention_bytes", &retention_bytes);
    get_int64(cfg, "max_line", &max_line);
    get_int64(cfg, "jupyter_poll_ms", &wk.jupyter_poll_ms);
    get_int64(cfg, "workers", &workers);
    get_int64(cfg, "kernel_startup_ms", &wk.kernel_startup_ms);
    get_int64(cfg, "kernelspec_wait_ms", &wk.kernelspec_wait_ms);
    get_int64(cfg, "code_output_limit", &output_limit);
    wk.retention_bytes = (uint64_t)retention_bytes;
    wk.max_line = (uint64_t)max_line;
    wk.workers = (int)workers;
    wk.code_output_limit = (uint64_t)output_limit;
    json_object *pool = NULL;
    if (jsonreq_object(cfg, "kernel_pool", &pool) != JSONREQ_OK)
        log_warn("configuration: 'kernel_pool' missing");
    wk.kernel_pool = json_object_get(pool);
    dup_string(&wk.envs_file, cfg, "envs_file");

    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/w%d", runtime_dir, wk.slot);
    if (mkdir(dir.data, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create state directory %s: %s", dir.data, strerror(errno));
        strbuf_free(&dir);
        return -1;
    }
    wk.state_dir = strbuf_detach(&dir);
    if (cmdstore_init(wk.state_dir, wk.retention_ms, wk.retention_bytes) < 0)
        return -1;
    bool adopt = true;
    jsonreq_bool(cfg, "adopt", &adopt);
    command_init(adopt);
    struct context_cfg ccfg = {
        .state_dir = wk.state_dir,
        .pool = wk.kernel_pool,
        .workers = wk.workers,
        .slot = wk.slot,
        .startup_ms = wk.kernel_startup_ms,
        .spec_wait_ms = wk.kernelspec_wait_ms,
    };
    return context_init(&ccfg, adopt);
}

static void on_flushed(void *arg EXECD_UNUSED)
{
    worker_maybe_exit();
}

void worker_maybe_exit(void)
{
    if (!wk.stopping && !wk.draining)
        return;
    if (wk.stopping ? command_running() > 0 || context_stopping() > 0
                    : command_busy() || code_busy() || fs_busy())
        return;
    if (out_queued() > 0) {
        out_wait(&self.flushed); /* let the last answers reach the master */
        return;
    }
    event_base_loopexit(wk.base, NULL);
}

static void on_exit_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                             void *arg EXECD_UNUSED)
{
    log_warn("exiting with %zu command(s) still running", command_running());
    event_base_loopexit(wk.base, NULL);
}

static void begin_shutdown(int64_t grace_ms)
{
    if (wk.stopping)
        return;
    wk.stopping = true;
    command_shutdown(grace_ms);
    context_shutdown(grace_ms);
    self.exit_ev = evtimer_new(wk.base, on_exit_deadline, NULL);
    int64_t ms = grace_ms + EXIT_SLACK_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (self.exit_ev == NULL || evtimer_add(self.exit_ev, &tv) < 0)
        log_error("cannot arm the exit deadline");
    worker_maybe_exit();
}

static void on_control(json_object *msg, const char *op)
{
    int64_t v = 0;
    if (strcmp(op, "config") == 0) {
        if (self.configured) {
            log_warn("configuration received twice; ignored");
        } else if (apply_config(msg) < 0) {
            log_fatal("cannot start with this configuration");
            event_base_loopexit(wk.base, NULL);
        } else {
            self.configured = true;
            out_op("ready");
        }
    } else if (strcmp(op, "signal") == 0) {
        if (jsonreq_int64(msg, "signo", &v) == JSONREQ_OK)
            command_forward_signal((int)v);
    } else if (strcmp(op, "reaped") == 0) {
        int64_t status = 0;
        if (jsonreq_int64(msg, "pid", &v) == JSONREQ_OK &&
            jsonreq_int64(msg, "status", &status) == JSONREQ_OK)
            command_reaped((pid_t)v, (int)status);
    } else if (strcmp(op, "adopt") == 0) {
        command_adopt();
        context_adopt();
        code_adopted();
    } else if (strcmp(op, "drain") == 0) {
        wk.draining = true;
        worker_maybe_exit();
    } else if (strcmp(op, "shutdown") == 0) {
        int64_t grace = wk.grace_ms;
        jsonreq_int64(msg, "grace_ms", &grace);
        begin_shutdown(grace);
    } else if (strcmp(op, "reopen_log") == 0) {
        log_reopen();
    } else {
        log_warn("unknown control op '%s'", op);
    }
}

static void on_job(uint32_t job, json_object *msg, const char *op)
{
    const char *id = NULL;
    json_object *request = NULL;
    int64_t cursor = 0;

    if (!self.configured) {
        out_reply_error(job, 503, "SERVICE_UNAVAILABLE", "worker not configured yet");
    } else if (strcmp(op, "cancel") == 0 || strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
        wjob_control(job, op);
    } else if (strcmp(op, "command.run") == 0) {
        jsonreq_object(msg, "request", &request);
        command_run(job, request);
    } else if (code_job(job, op, msg) || fs_job(job, op, msg)) {
        /* handled */
    } else if (jsonreq_string(msg, "id", &id) != JSONREQ_OK) {
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "missing id");
    } else if (strcmp(op, "command.status") == 0) {
        command_status(job, id);
    } else if (strcmp(op, "command.logs") == 0) {
        jsonreq_int64(msg, "cursor", &cursor);
        command_logs(job, id, cursor);
    } else if (strcmp(op, "interrupt") == 0) {
        const char *kind = "command";
        jsonreq_string(msg, "kind", &kind);
        if (strcmp(kind, "context") == 0)
            code_interrupt(job, msg);
        else
            command_interrupt(job, id);
    } else {
        out_reply_error(job, 500, "RUNTIME_ERROR", "unknown operation '%s'", op);
    }
}

static void on_message(struct ipc_chan *ch EXECD_UNUSED, const struct ipc_msg *msg,
                       void *arg EXECD_UNUSED)
{
    if (msg->fd >= 0)
        close(msg->fd);
    if (msg->type == IPC_DATA && msg->job != 0) {
        fs_data(msg->job, msg->data, msg->len); /* an upload's body */
        return;
    }
    if (msg->type != IPC_MSG) {
        log_warn("unexpected frame type %d from the master", (int)msg->type);
        return;
    }
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse(msg->data, msg->len, &err);
    const char *op = NULL;
    if (obj == NULL || jsonreq_string(obj, "op", &op) != JSONREQ_OK)
        log_error("malformed message from the master: %s", err.data ? err.data : "no op");
    else if (msg->job == 0)
        on_control(obj, op);
    else
        on_job(msg->job, obj, op);
    json_object_put(obj);
    strbuf_free(&err);
}

static void on_closed(struct ipc_chan *ch EXECD_UNUSED, void *arg EXECD_UNUSED)
{
    /* The master is gone: stop everything this worker started. */
    log_error("the master closed the channel; shutting down");
    ipc_chan_free(self.ch);
    self.ch = NULL;
    out_init(NULL);
    begin_shutdown(wk.grace_ms > 0 ? wk.grace_ms : 1000);
}

static void on_term(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                    void *arg EXECD_UNUSED)
{
    begin_shutdown(wk.grace_ms > 0 ? wk.grace_ms : 1000);
}

int worker_main(int argc, char **argv)
{
    wk.slot = argc >= 3 ? atoi(argv[2]) : 0;
    char proc[32];
    snprintf(proc, sizeof(proc), "worker-%d", wk.slot);
    log_setup(NULL, LOG_LEVEL_INFO, LOG_FORMAT_TEXT, proc);

    /* The master coordinates signals; a terminal's ^C must not hit workers. */
    static const int ignored[] = {SIGPIPE, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
    for (size_t i = 0; i < ARRAY_SIZE(ignored); i++) {
        if (signal(ignored[i], SIG_IGN) == SIG_ERR)
            log_warn("cannot ignore signal %d: %s", ignored[i], strerror(errno));
    }

    wk.base = event_base_new();
    if (wk.base == NULL) {
        log_fatal("cannot create the event loop");
        return 1;
    }
    self.ch = ipc_chan_new(wk.base, WORKER_IPC_FD, on_message, on_closed, NULL);
    if (self.ch == NULL) {
        log_fatal("cannot open the channel to the master");
        return 1;
    }
    out_init(self.ch);
    self.flushed.fn = on_flushed;
    struct event *term = evsignal_new(wk.base, SIGTERM, on_term, NULL);
    if (term == NULL || evsignal_add(term, NULL) < 0)
        log_error("cannot handle SIGTERM");
    struct timeval every = {TRIM_EVERY_S, 0};
    self.trim_ev = event_new(wk.base, -1, EV_PERSIST, on_trim_tick, NULL);
    if (self.trim_ev == NULL || event_add(self.trim_ev, &every) < 0)
        log_warn("cannot arm the heap trim timer");

    event_base_dispatch(wk.base);

    wjob_free_all();
    fs_cleanup();
    code_cleanup();
    context_cleanup();
    kernel_cleanup();
    command_cleanup();
    cmdstore_free();
    if (self.ch != NULL)
        ipc_chan_free(self.ch);
    if (self.exit_ev != NULL)
        event_free(self.exit_ev);
    if (term != NULL)
        event_free(term);
    if (self.trim_ev != NULL)
        event_free(self.trim_ev);
    event_base_free(wk.base);
    free(wk.state_dir);
    free(wk.envs_file);
    json_object_put(wk.kernel_pool);
    log_close();
    return 0;
}
