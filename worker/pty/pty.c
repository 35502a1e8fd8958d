/*
 * The PTY executor: pty.create, pty.status, pty.delete and pty.attach (the WebSocket's
 * job), the adoption of a previous worker's sessions with the descriptors the master kept,
 * shells the master reaped, and shutdown (every shell ends; reload leaves them running for
 * the next worker).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "common.h"
#include "core/evt.h"
#include "executor.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "log.h"
#include "pathexp.h"
#include "pty/session.h"
#include "worker.h"
#include "xalloc.h"

static struct event *kill_ev; /* shutdown: the grace is over */

/* The session msg's id names, or NULL after answering 404. */
static struct pty_session *session_arg(uint32_t job, json_object *msg)
{
    const char *id = "";
    jsonreq_string(msg, "id", &id);
    struct pty_session *s = pty_session_find(id);
    if (s == NULL)
        out_reply_error(job, 404, "CONTEXT_NOT_FOUND", "pty session %s not found", id);
    return s;
}

/* pty.create {cwd, command}: the cwd is expanded and created; no process starts yet. */
static void pty_create(uint32_t job, json_object *msg)
{
    const char *cwd = "", *command = "";
    jsonreq_string(msg, "cwd", &cwd);
    jsonreq_string(msg, "command", &command);
    struct strbuf dir = STRBUF_INIT, err = STRBUF_INIT;
    if (cwd[0] != '\0' && pathexp_expand_abs(cwd, pathexp_getenv, NULL, &dir, &err) < 0) {
        out_reply_error(job, 500, "RUNTIME_ERROR", "error creating pty session: %s", err.data);
    } else if (dir.len > 0 && fsutil_mkdir_p(dir.data, 0755) < 0) {
        out_reply_error(job, 500, "RUNTIME_ERROR", "error creating pty session: mkdir %s: %s",
                        dir.data, strerror(errno));
    } else {
        struct pty_session *s = pty_session_create(dir.data, command, &err);
        if (s == NULL) {
            out_reply_error(job, 500, "RUNTIME_ERROR", "error creating pty session: %s", err.data);
        } else {
            log_info("pty session %s created%s%s", s->id, s->cwd ? " in " : "",
                     s->cwd ? s->cwd : "");
            out_register(job, "pty", s->id);
            json_object *body = xjson_object();
            json_object_object_add(body, "session_id", xjson_string(s->id));
            out_reply_json(job, 201, body);
        }
    }
    strbuf_free(&dir);
    strbuf_free(&err);
}

/* pty.status {id}: {session_id, running, output_offset}. */
static void pty_status(uint32_t job, json_object *msg)
{
    struct pty_session *s = session_arg(job, msg);
    if (s == NULL)
        return;
    json_object *body = xjson_object();
    json_object_object_add(body, "session_id", xjson_string(s->id));
    json_object_object_add(body, "running", xjson_bool(pty_shell_running(s)));
    json_object_object_add(body, "output_offset", xjson_int64((int64_t)ring_total(&s->ring)));
    out_reply_json(job, 200, body);
}

/* pty.delete {id}: the shell's group is killed, the client gets exit -1, the session goes. */
static void pty_delete(uint32_t job, json_object *msg)
{
    struct pty_session *s = session_arg(job, msg);
    if (s == NULL)
        return;
    pty_session_delete(s);
    out_reply_empty(job, 200);
}

static const struct executor_op pty_ops[] = {
    {"pty.create", pty_create},
    {"pty.status", pty_status},
    {"pty.delete", pty_delete},
    {"pty.attach", pty_attach_start},
    {NULL, NULL},
};

static int pty_init(const struct wsettings *s EXECD_UNUSED, bool adopt)
{
    pty_session_init();
    if (adopt)
        pty_session_adopt_all();
    return 0;
}

struct reaped_arg {
    pid_t pid;
    int status;
};

static void reaped_one(struct pty_session *s, void *arg)
{
    const struct reaped_arg *r = arg;
    pty_shell_reaped(s, r->pid, r->status);
}

static void pty_reaped(pid_t pid, int status)
{
    struct reaped_arg r = {pid, status};
    pty_session_each(reaped_one, &r);
}

static void signal_one(struct pty_session *s, void *arg)
{
    pty_shell_signal(s, *(const int *)arg);
}

static void on_grace_over(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                          void *arg EXECD_UNUSED)
{
    int signo = SIGKILL;
    pty_session_each(signal_one, &signo);
}

/* Every client is closed with 1001; every shell gets SIGHUP (an interactive bash ignores
 * SIGTERM), then SIGKILL after the grace. */
static void shutdown_one(struct pty_session *s, void *arg EXECD_UNUSED)
{
    if (s->client != NULL)
        pty_attach_shutdown(s->client);
    static const int signals[] = {SIGHUP, SIGTERM, SIGCONT};
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        pty_shell_signal(s, signals[i]);
}

static void pty_shutdown(int64_t grace_ms)
{
    pty_session_each(shutdown_one, NULL);
    if (kill_ev == NULL)
        kill_ev = evtimer_new(worker_base(), on_grace_over, NULL);
    evt_arm_ms(kill_ev, grace_ms);
}

static size_t pty_running(void)
{
    return pty_shell_count();
}

static void pty_cleanup(void)
{
    pty_session_free_all();
    pty_shell_forget_dying();
    evt_free(&kill_ev);
}

const struct executor pty_executor = {
    .name = PTY_OWNER,
    .ops = pty_ops,
    .init = pty_init,
    .reaped = pty_reaped,
    .adopt = pty_session_adopt_all,
    .kept = pty_session_kept,
    .running = pty_running,
    .shutdown = pty_shutdown,
    .cleanup = pty_cleanup,
};
