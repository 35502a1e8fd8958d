#include "relay/ptylink.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "http/lifecycle.h"
#include "http/request.h"
#include "http/server.h"
#include "http/websocket.h"
#include "jsonesc.h"
#include "jsonreq.h"
#include "list.h"
#include "log.h"
#include "relay/job.h"
#include "relay/registry.h"
#include "strmap.h"
#include "xalloc.h"

/* RFC 6455 timings of the Go daemon: a ping every 30 s, 60 s without a byte from the
 * client, 10 s without it taking any output. */
#define PING_MS 30000
#define READ_MS 60000
#define WRITE_MS 10000
/* How long the closing handshake may take once a close frame is out. */
#define CLOSE_MS 1000
/* Largest client message (stdin included): beyond, close 1009. */
#define MAX_MESSAGE (1024 * 1024)
/* Session ids are dashed UUIDs; a longer id is never registered. */
#define ID_MAX 64

enum link_state {
    LINK_PENDING, /* the handler decided; the connection is being taken over */
    LINK_OPEN,    /* a WebSocket, relayed to a job */
};

struct ptylink {
    struct list node; /* in links.all */
    enum link_state state;
    char id[ID_MAX + 1];
    char key[32]; /* Sec-WebSocket-Key, for the 101 */
    bool pipe_mode;
    int64_t since;
    bool evicted; /* taken over (or shut down) before it was open: closes at once */
    int evict_code;
    struct ws *ws;
    struct job *job;
    int busy;     /* our callbacks on the stack */
    bool dead;    /* freed when the last one returns */
    bool holding; /* the holder of its session in links.holders */
};

static struct {
    struct strmap holders; /* session id -> its link */
    struct list all;
    bool stopping;
} links = {.all = LIST_HEAD_INIT(links.all)};

static const struct ws_config ws_cfg = {
    .max_message = MAX_MESSAGE,
    .ping_ms = PING_MS,
    .read_ms = READ_MS,
    .write_ms = WRITE_MS,
    .close_ms = CLOSE_MS,
    .close_socket = http_upgraded_close,
};

bool ptylink_held(const char *id)
{
    return strmap_get(&links.holders, id) != NULL;
}

size_t ptylink_count(void)
{
    return list_count(&links.all);
}

static void unhold(struct ptylink *l)
{
    if (l->holding && strmap_get(&links.holders, l->id) == l)
        strmap_del(&links.holders, l->id);
    l->holding = false;
}

static void enter(struct ptylink *l)
{
    l->busy++;
}

static void leave(struct ptylink *l)
{
    if (--l->busy == 0 && l->dead) {
        list_del(&l->node);
        free(l);
    }
}

/* The link is over (its ws and job are already let go of): freed once nothing uses it. */
static void release(struct ptylink *l)
{
    unhold(l);
    l->ws = NULL;
    l->job = NULL;
    l->dead = true;
    enter(l);
    leave(l);
}

/* A text frame as the Go daemon writes it: {"type":"error","error":...,"code":...}. */
static void send_error(struct ws *ws, const char *code, const char *message)
{
    struct strbuf f = STRBUF_INIT;
    strbuf_append_str(&f, "{\"type\":\"error\",\"error\":");
    jsonesc_append(&f, message, strlen(message));
    strbuf_append_str(&f, ",\"code\":");
    jsonesc_append(&f, code, strlen(code));
    strbuf_append_char(&f, '}');
    ws_send(ws, WS_OP_TEXT, f.data, f.len);
    strbuf_free(&f);
}

/* We end it: the client gets code, the worker cancel. */
static void close_link(struct ptylink *l, int code, const char *reason)
{
    if (l->ws != NULL)
        ws_close(l->ws, code, reason);
    if (l->job != NULL)
        job_cancel_sink(l->job);
    release(l);
}

/* ---- the worker's side -------------------------------------------------------------- */

static void on_worker_data(void *arg, const char *data, size_t len)
{
    struct ptylink *l = arg;
    if (len >= 1 && l->ws != NULL)
        ws_send(l->ws, (unsigned char)data[0], data + 1, len - 1);
}

static void on_worker_message(void *arg, json_object *msg, const char *op)
{
    struct ptylink *l = arg;
    enter(l);
    if (strcmp(op, "close") == 0) {
        int64_t code = WS_CLOSE_NORMAL;
        const char *reason = "";
        jsonreq_int64(msg, "code", &code);
        jsonreq_string(msg, "reason", &reason);
        if (!wsframe_valid_close_code((int)code))
            code = WS_CLOSE_INTERNAL;
        struct job *j = l->job;
        l->job = NULL; /* the worker is done with it */
        if (l->ws != NULL)
            ws_close(l->ws, (int)code, reason);
        job_end_sink(j);
        release(l);
    } else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
        if (l->ws != NULL)
            ws_hold_input(l->ws, strcmp(op, "pause") == 0);
    } else {
        log_warn("pty session %s: unknown op '%s' from the worker", l->id, op);
    }
    leave(l);
}

static void on_worker_lost(void *arg, const char *why)
{
    struct ptylink *l = arg;
    enter(l);
    l->job = NULL; /* job.c frees it once we return */
    log_info("pty session %s: %s; closing its client (the shell lives on)", l->id, why);
    if (l->ws != NULL) {
        send_error(l->ws, "RUNTIME_ERROR", why);
        ws_close(l->ws, links.stopping ? WS_CLOSE_GOING_AWAY : WS_CLOSE_INTERNAL,
                 links.stopping ? "server shutting down" : "worker exited");
    }
    release(l);
    leave(l);
}

static const struct job_sink sink = {on_worker_data, on_worker_message, on_worker_lost};

/* ---- the client's side -------------------------------------------------------------- */

static void on_client_message(void *arg, int opcode, const char *data, size_t len)
{
    struct ptylink *l = arg;
    if (l->job == NULL)
        return;
    enter(l);
    char *frame = xmalloc(len + 1);
    frame[0] = (char)opcode;
    memcpy(frame + 1, data, len);
    job_send_data(l->job, frame, len + 1); /* a broken channel ends l through lost */
    free(frame);
    leave(l);
}

static void on_client_congested(void *arg, bool above)
{
    struct ptylink *l = arg;
    if (l->job == NULL)
        return;
    enter(l);
    job_send_op(l->job, above ? "pause" : "resume");
    leave(l);
}

static void on_client_closed(void *arg, int code)
{
    struct ptylink *l = arg;
    enter(l);
    log_info("pty session %s: client gone (%d)", l->id, code);
    l->ws = NULL; /* it frees itself */
    if (l->job != NULL)
        job_cancel_sink(l->job);
    release(l);
    leave(l);
}

static const struct ws_ops ws_ops = {on_client_message, on_client_congested, on_client_closed};

/* ---- attaching ---------------------------------------------------------------------- */

/* The taken-over connection is a WebSocket now: the worker attaches the session to it. */
static void on_upgraded(evutil_socket_t fd, struct evbuffer *rest, void *arg)
{
    struct ptylink *l = arg;
    enter(l);
    if (fd >= 0)
        l->ws = ws_open(http_base(), fd, rest, l->key, &ws_cfg, &ws_ops, l);
    struct worker *w = NULL;
    const char *kind = registry_lookup(l->id, &w);
    json_object *args = NULL;
    if (l->ws == NULL) {
        release(l); /* the client went away first */
    } else if (l->evicted) {
        close_link(l, l->evict_code, l->evict_code == 4001 ? "TAKEN_OVER" : "server shutting down");
    } else if (kind == NULL || strcmp(kind, "pty") != 0 || w == NULL) {
        send_error(l->ws, "SESSION_GONE", "the pty session is gone or its worker is restarting");
        close_link(l, WS_CLOSE_INTERNAL, "session gone");
    } else {
        l->state = LINK_OPEN;
        args = xjson_object();
        json_object_object_add(args, "id", xjson_string(l->id));
        json_object_object_add(args, "mode", xjson_string(l->pipe_mode ? "pipe" : "pty"));
        json_object_object_add(args, "since", xjson_int64(l->since));
        l->job = job_start_sink(w, "pty.attach", args, &sink, l);
        if (l->job == NULL) {
            send_error(l->ws, "RUNTIME_ERROR", "the worker is unavailable");
            close_link(l, WS_CLOSE_INTERNAL, "worker unavailable");
        }
    }
    leave(l);
}

/* The holder loses its session to a new client (takeover=1) or to the shutdown. */
static void evict(struct ptylink *l, int code)
{
    unhold(l);
    if (l->state == LINK_PENDING) {
        l->evicted = true; /* closed as soon as it is a WebSocket */
        l->evict_code = code;
        return;
    }
    log_info("pty session %s: client closed with %d", l->id, code);
    close_link(l, code, code == 4001 ? "TAKEN_OVER" : "server shutting down");
}

void ptylink_attach(struct http_req *r, const char *id, const char *key, bool pipe_mode,
                    int64_t since)
{
    struct ptylink *holder = strmap_get(&links.holders, id);
    if (holder != NULL) {
        log_info("pty session %s: taken over by a new client", id);
        evict(holder, 4001);
    }
    struct ptylink *l = xcalloc(1, sizeof(*l));
    snprintf(l->id, sizeof(l->id), "%s", id);
    snprintf(l->key, sizeof(l->key), "%s", key);
    l->pipe_mode = pipe_mode;
    l->since = since;
    l->holding = true;
    list_add_tail(&links.all, &l->node);
    strmap_put(&links.holders, l->id, l);
    snprintf(r->exec_id, sizeof(r->exec_id), "%s", id);
    http_upgrade(r, on_upgraded, l);
}

void ptylink_shutdown(void)
{
    links.stopping = true;
    list_each_safe(&links.all, it, nx)
    {
        struct ptylink *l = list_entry(it, struct ptylink, node);
        if (!l->dead)
            evict(l, WS_CLOSE_GOING_AWAY);
    }
}

void ptylink_free(void)
{
    list_each_safe(&links.all, it, nx)
    {
        struct ptylink *l = list_entry(it, struct ptylink, node);
        list_del(&l->node);
        free(l);
    }
    strmap_free(&links.holders, NULL);
}
