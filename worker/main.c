/*
 * The worker's loop: messages from the master are control operations (job 0), handled
 * here and passed to every executor, or job operations, handed to the executor that
 * lists them (executors.c). Per-job control (cancel, pause, resume) and upload bytes go
 * to whoever registered the job (core/wjob.h).
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/evt.h"
#include "core/out.h"
#include "core/wjob.h"
#include "executor.h"
#include "ipc.h"
#include "jsonreq.h"
#include "log.h"
#include "entry.h"
#include "proctitle.h"
#include "worker.h"
#include "xalloc.h"

#define WORKER_IPC_FD 3
/* How often freed heap (after a large stream or upload) is given back. */
#define TRIM_EVERY_S 10
/* The grace of a shutdown the master did not ask for (SIGTERM, the master gone). */
#define DEFAULT_GRACE_MS 1000

static struct {
    struct ipc_chan *ch;
    bool configured;
} self;

static void on_trim_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                         void *arg EXECD_UNUSED)
{
    malloc_trim(0);
}

static void configure(json_object *msg)
{
    if (self.configured) {
        log_warn("configuration received twice; ignored");
    } else if (worker_configure(msg) < 0) {
        log_fatal("cannot start with this configuration");
        event_base_loopexit(worker_base(), NULL);
    } else {
        self.configured = true;
        out_op("ready");
    }
}

static void forward_signal(json_object *msg)
{
    int64_t signo = 0;
    if (jsonreq_int64(msg, "signo", &signo) != JSONREQ_OK)
        return;
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if ((*e)->signal != NULL)
            (*e)->signal((int)signo);
    }
}

static void forward_reaped(json_object *msg)
{
    int64_t pid = 0, status = 0;
    if (jsonreq_int64(msg, "pid", &pid) != JSONREQ_OK ||
        jsonreq_int64(msg, "status", &status) != JSONREQ_OK)
        return;
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if ((*e)->reaped != NULL)
            (*e)->reaped((pid_t)pid, (int)status);
    }
}

static void adopt(void)
{
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if ((*e)->adopt != NULL)
            (*e)->adopt();
    }
}

/* The master's heartbeat (its systemd watchdog): answered from the loop, so a worker whose
 * loop is stuck or stopped stays silent. */
static void answer_ping(json_object *msg)
{
    int64_t seq = 0;
    if (jsonreq_int64(msg, "seq", &seq) != JSONREQ_OK) {
        log_warn("ping without a seq");
        return;
    }
    json_object *pong = xjson_object();
    json_object_object_add(pong, "op", xjson_string("pong"));
    json_object_object_add(pong, "seq", xjson_int64(seq));
    out_msg(0, pong);
}

static int64_t default_grace(void)
{
    int64_t grace = worker_settings()->grace_ms;
    return grace > 0 ? grace : DEFAULT_GRACE_MS;
}

/* kept {owner, key} + fd: a descriptor the master held for this slot (pool/fdstore.h). */
static void hand_kept(json_object *msg, int fd)
{
    const char *owner = NULL, *key = NULL;
    const struct executor *e = NULL;
    if (jsonreq_string(msg, "owner", &owner) == JSONREQ_OK)
        e = executor_named(owner);
    if (fd < 0 || e == NULL || e->kept == NULL || jsonreq_string(msg, "key", &key) != JSONREQ_OK) {
        log_warn("kept descriptor for %s dropped", owner != NULL ? owner : "nobody");
        if (fd >= 0)
            close(fd);
        return;
    }
    e->kept(key, fd);
}

static void on_control(json_object *msg, const char *op, int fd)
{
    if (strcmp(op, "kept") == 0) {
        hand_kept(msg, fd);
        return;
    }
    if (fd >= 0)
        close(fd);
    if (strcmp(op, "config") == 0) {
        configure(msg);
    } else if (strcmp(op, "signal") == 0) {
        forward_signal(msg);
    } else if (strcmp(op, "reaped") == 0) {
        forward_reaped(msg);
    } else if (strcmp(op, "adopt") == 0) {
        adopt();
    } else if (strcmp(op, "drain") == 0) {
        worker_drain();
    } else if (strcmp(op, "shutdown") == 0) {
        int64_t grace = worker_settings()->grace_ms;
        jsonreq_int64(msg, "grace_ms", &grace);
        worker_shutdown(grace);
    } else if (strcmp(op, "ping") == 0) {
        answer_ping(msg);
    } else if (strcmp(op, "reopen_log") == 0) {
        log_reopen();
    } else {
        log_warn("unknown control op '%s'", op);
    }
}

/* interrupt {id, kind}: the executor owning kind (a command when the kind is absent). */
static void interrupt(uint32_t job, json_object *msg)
{
    const char *id = NULL, *kind = "command";
    jsonreq_string(msg, "kind", &kind);
    const struct executor *e = executor_for_kind(kind);
    if (jsonreq_string(msg, "id", &id) != JSONREQ_OK)
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "missing id");
    else if (e == NULL || e->interrupt == NULL)
        out_reply_error(job, 500, "RUNTIME_ERROR", "cannot interrupt a '%s'", kind);
    else
        e->interrupt(job, id, msg);
}

static void on_job(uint32_t job, json_object *msg, const char *op)
{
    const struct executor_op *o;
    if (!self.configured)
        out_reply_error(job, 503, "SERVICE_UNAVAILABLE", "worker not configured yet");
    else if (strcmp(op, "cancel") == 0 || strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0)
        wjob_control(job, op);
    else if (strcmp(op, "interrupt") == 0)
        interrupt(job, msg);
    else if ((o = executor_op(op)) != NULL)
        o->run(job, msg);
    else
        out_reply_error(job, 500, "RUNTIME_ERROR", "unknown operation '%s'", op);
}

static void on_message(struct ipc_chan *ch EXECD_UNUSED, const struct ipc_msg *msg,
                       void *arg EXECD_UNUSED)
{
    int fd = msg->fd; /* only a kept descriptor is taken (on_control) */
    if (fd >= 0 && (msg->type != IPC_MSG || msg->job != 0)) {
        close(fd);
        fd = -1;
    }
    if (msg->type == IPC_DATA && msg->job != 0) {
        wjob_data(msg->job, msg->data, msg->len); /* an upload's body */
        return;
    }
    if (msg->type != IPC_MSG) {
        log_warn("unexpected frame type %d from the master", (int)msg->type);
        return;
    }
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse(msg->data, msg->len, &err);
    const char *op = NULL;
    if (obj == NULL || jsonreq_string(obj, "op", &op) != JSONREQ_OK) {
        log_error("malformed message from the master: %s", err.data ? err.data : "no op");
        if (fd >= 0)
            close(fd);
    } else if (msg->job == 0) {
        on_control(obj, op, fd);
    } else {
        on_job(msg->job, obj, op);
    }
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
    worker_shutdown(default_grace());
}

static void on_term(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                    void *arg EXECD_UNUSED)
{
    worker_shutdown(default_grace());
}

static void ignore_signals(void)
{
    /* The master coordinates signals; a terminal's ^C must not hit workers. */
    static const int ignored[] = {SIGPIPE, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
    for (size_t i = 0; i < ARRAY_SIZE(ignored); i++) {
        if (signal(ignored[i], SIG_IGN) == SIG_ERR)
            log_warn("cannot ignore signal %d: %s", ignored[i], strerror(errno));
    }
}

int worker_main(int argc, char **argv)
{
    int slot = argc >= 3 ? atoi(argv[2]) : 0;
    char proc[32];
    snprintf(proc, sizeof(proc), "worker-%d", slot);
    log_setup(NULL, LOG_LEVEL_INFO, LOG_FORMAT_TEXT, proc);
    proctitle_init(argc, argv);
    char title[32];
    snprintf(title, sizeof(title), "execd: worker %d", slot);
    proctitle_set(title);
    ignore_signals();

    struct event_base *base = event_base_new();
    if (base == NULL) {
        log_fatal("cannot create the event loop");
        return 1;
    }
    worker_state_init(base, slot);
    self.ch = ipc_chan_new(base, WORKER_IPC_FD, on_message, on_closed, NULL);
    if (self.ch == NULL) {
        log_fatal("cannot open the channel to the master");
        return 1;
    }
    out_init(self.ch);
    struct event *term = evsignal_new(base, SIGTERM, on_term, NULL);
    if (term == NULL || evsignal_add(term, NULL) < 0)
        log_error("cannot handle SIGTERM");
    struct timeval every = {TRIM_EVERY_S, 0};
    struct event *trim = event_new(base, -1, EV_PERSIST, on_trim_tick, NULL);
    if (trim == NULL || event_add(trim, &every) < 0)
        log_warn("cannot arm the heap trim timer");

    event_base_dispatch(base);

    worker_finish();
    if (self.ch != NULL)
        ipc_chan_free(self.ch);
    evt_free(&term);
    evt_free(&trim);
    event_base_free(base);
    log_close();
    return 0;
}
