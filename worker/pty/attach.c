/*
 * The client attached to a session: the master's WebSocket, relayed as job J.
 *
 *   master -> worker  IPC_DATA: the WebSocket opcode (1 text, 2 binary), then the message;
 *                     cancel (the client went away or was taken over), pause/resume (its
 *                     output queue is above/below the watermarks)
 *   worker -> master  IPC_DATA: the opcode, then the message to send;
 *                     {"op":"close","code","reason"} ends the job (the master closes the
 *                     socket with that code); pause/resume: stop/restart reading the client
 *                     (its stdin waits in the shell's queue beyond 256 KiB)
 *
 * On attach: the shell starts if none runs, the replay frame (0x03 + the offset + what the
 * ring holds from `since`) and `connected` go out, then live output.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/wjob.h"
#include "jsonreq.h"
#include "log.h"
#include "pty/ptyframe.h"
#include "pty/session.h"
#include "xalloc.h"

/* The WebSocket opcodes of the messages relayed with the master. */
#define OP_TEXT 0x1
#define OP_BINARY 0x2

struct pty_attach {
    uint32_t job;
    struct pty_session *s;
    bool paused;     /* the master: the client's output queue is full */
    bool input_held; /* we asked the master to stop reading the client */
};

static void send_text(uint32_t job, const struct ptyframe *f)
{
    struct strbuf out = STRBUF_INIT;
    strbuf_append_char(&out, OP_TEXT);
    ptyframe_render(&out, f);
    out_data(job, out.data, out.len);
    strbuf_free(&out);
}

static void send_error(uint32_t job, const char *code, const char *message)
{
    struct ptyframe f = {.type = "error", .error = message, .code = code};
    send_text(job, &f);
}

/* Ends the job at the master: it closes the WebSocket with code. */
static void send_close(uint32_t job, int code, const char *reason)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("close"));
    json_object_object_add(msg, "code", xjson_int64(code));
    json_object_object_add(msg, "reason", xjson_string(reason));
    out_msg(job, msg);
}

/* The client is no longer this session's (cancelled, closed, or taken over). */
static void detach(struct pty_attach *a)
{
    struct pty_session *s = a->s;
    wjob_remove(a->job);
    if (s->client == a) {
        s->client = NULL;
        out_cancel_wait(&s->congestion);
        pty_session_idle(s);
        pty_shell_update_reading(s); /* into the ring only, whatever the client did */
    }
    free(a);
}

static void end(struct pty_attach *a, int code, const char *reason)
{
    send_close(a->job, code, reason);
    detach(a);
}

/* ---- from the client ------------------------------------------------------------------ */

static void write_stdin(struct pty_attach *a, const char *data, size_t len)
{
    struct strbuf err = STRBUF_INIT;
    if (pty_shell_write(a->s, data, len, &err) < 0) {
        log_info("pty session %s: %s", a->s->id, err.data);
        send_error(a->job, "STDIN_WRITE_FAILED", err.data);
        end(a, 1011, "stdin write failed");
    }
    strbuf_free(&err);
}

static void on_text(struct pty_attach *a, const char *text, size_t len)
{
    struct ptyframe_in in;
    enum ptyframe_kind kind = ptyframe_parse(text, len, &in);
    switch (kind) {
    case PTYFRAME_STDIN:
        write_stdin(a, in.data, in.len); /* may end a */
        break;
    case PTYFRAME_RESIZE:
        if (in.cols > 0 && in.rows > 0)
            pty_shell_resize(a->s, in.cols, in.rows);
        break;
    case PTYFRAME_SIGNAL:
        if (in.signo != 0)
            pty_shell_signal(a->s, in.signo);
        break;
    case PTYFRAME_PING: {
        struct ptyframe pong = {.type = "pong"};
        send_text(a->job, &pong);
        break;
    }
    case PTYFRAME_UNKNOWN: {
        struct strbuf msg = STRBUF_INIT;
        strbuf_printf(&msg, "unknown frame type \"%s\"", in.type);
        send_error(a->job, "INVALID_FRAME", msg.data);
        strbuf_free(&msg);
        break;
    }
    case PTYFRAME_IGNORED:
        break;
    }
    ptyframe_in_free(&in);
}

/* IPC_DATA from the master: one client message, its opcode first. */
static void on_data(void *obj, const char *data, size_t len)
{
    struct pty_attach *a = obj;
    if (len < 1)
        return;
    if (data[0] == OP_TEXT)
        on_text(a, data + 1, len - 1);
    else if (len >= 2 && data[1] == PTY_CH_STDIN)
        write_stdin(a, data + 2, len - 2);
    /* other channel bytes and empty binary frames are ignored */
}

static void on_cancel(void *obj)
{
    detach(obj);
}

static void on_pause(void *obj)
{
    struct pty_attach *a = obj;
    a->paused = true;
    pty_shell_update_reading(a->s);
}

static void on_resume(void *obj)
{
    struct pty_attach *a = obj;
    a->paused = false;
    pty_shell_update_reading(a->s);
}

static const struct wjob_ops attach_ops = {on_cancel, on_pause, on_resume, on_data};

/* ---- to the client -------------------------------------------------------------------- */

bool pty_attach_wants_output(const struct pty_attach *a)
{
    return !a->paused;
}

void pty_attach_output(struct pty_attach *a, int channel, unsigned char *buf, size_t len)
{
    buf[0] = OP_BINARY;
    buf[1] = (unsigned char)channel;
    out_data(a->job, buf, len + 2);
}

void pty_attach_input_full(struct pty_attach *a, bool full)
{
    if (full == a->input_held)
        return;
    a->input_held = full;
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string(full ? "pause" : "resume"));
    out_msg(a->job, msg);
}

void pty_attach_exited(struct pty_attach *a, int exit_code)
{
    struct ptyframe f = {.type = "exit", .has_exit_code = true, .exit_code = exit_code};
    send_text(a->job, &f);
    end(a, 1000, "process exited");
}

void pty_attach_session_gone(struct pty_attach *a)
{
    pty_attach_exited(a, -1);
}

void pty_attach_release(struct pty_attach *a)
{
    wjob_remove(a->job);
    a->s->client = NULL;
    free(a);
}

void pty_attach_shutdown(struct pty_attach *a)
{
    end(a, 1001, "server shutting down");
}

/* The replay frame: 0x03, the big-endian offset of the first byte, the bytes. */
static void send_replay(struct pty_attach *a, uint64_t since)
{
    struct strbuf frame = STRBUF_INIT;
    strbuf_append_char(&frame, OP_BINARY);
    strbuf_append_char(&frame, PTY_CH_REPLAY);
    strbuf_append(&frame, "\0\0\0\0\0\0\0\0", 8);
    uint64_t from = ring_read(&a->s->ring, since, &frame);
    if (frame.len > 10) {
        for (int i = 0; i < 8; i++)
            frame.data[2 + i] = (char)(from >> (56 - 8 * i));
        out_data(a->job, frame.data, frame.len);
    }
    strbuf_free(&frame);
}

void pty_attach_start(uint32_t job, json_object *msg)
{
    const char *id = "", *mode = "pty";
    int64_t since = 0;
    jsonreq_string(msg, "id", &id);
    jsonreq_string(msg, "mode", &mode);
    jsonreq_int64(msg, "since", &since);
    struct pty_session *s = pty_session_find(id);
    if (s == NULL) {
        struct strbuf why = STRBUF_INIT;
        strbuf_printf(&why, "pty session %s not found", id);
        send_error(job, "SESSION_GONE", why.data);
        send_close(job, 1011, "session gone");
        strbuf_free(&why);
        return;
    }
    if (s->client != NULL) {
        /* The master cancels a holder before it attaches the next: not expected. */
        send_error(s->client->job, "TAKEN_OVER", "another client attached");
        end(s->client, 4001, "TAKEN_OVER");
    }
    pty_shell_settle(s); /* a shell still draining its last output ends before the next starts */
    struct pty_attach *a = xcalloc(1, sizeof(*a));
    a->job = job;
    a->s = s;
    wjob_add(job, &attach_ops, a);
    s->client = a;
    event_del(s->idle_ev);
    struct strbuf err = STRBUF_INIT;
    if (pty_session_ring(s, &err) < 0)
        log_error("pty session %s: no replay buffer: %s", s->id, err.data);
    if (!pty_shell_running(s) && pty_shell_start(s, strcmp(mode, "pipe") == 0, &err) < 0) {
        log_info("pty session %s: cannot start the shell: %s", s->id, err.data);
        send_error(job, "START_FAILED", err.data);
        end(a, 1011, "start failed");
        strbuf_free(&err);
        return;
    }
    strbuf_free(&err);
    send_replay(a, since > 0 ? (uint64_t)since : 0);
    struct ptyframe connected = {
        .type = "connected", .session_id = s->id, .mode = s->shell->pipe_mode ? "pipe" : "pty"};
    send_text(job, &connected);
}
