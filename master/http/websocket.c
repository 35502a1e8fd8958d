#include "http/websocket.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "list.h"
#include "log.h"
#include "xalloc.h"

/* One read of the socket at most. */
#define READ_MAX (64 * 1024)
/* RFC 6455 1.3: appended to the client's key for Sec-WebSocket-Accept. */
#define ACCEPT_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum ws_state {
    WS_OPEN,    /* messages both ways */
    WS_CLOSING, /* a close frame was queued: waiting for the client's, then the socket goes */
    WS_LINGER,  /* both closes are out: our side is shut, the client's last bytes are drained */
    WS_DEAD,    /* the socket is closed; freed once no callback of ours is on the stack */
};

struct ws {
    struct list node; /* in every_ws */
    enum ws_state state;
    evutil_socket_t fd;
    struct ws_config cfg;
    const struct ws_ops *ops; /* NULL once the owner is done (ws_close) or told (closed) */
    void *arg;
    struct wsframe *frames;
    struct evbuffer *in, *out;
    struct event *rd, *wr;
    struct event *read_deadline, *write_deadline, *ping, *close_deadline;
    bool held;        /* the owner stopped reading */
    bool congested;   /* above WS_OUT_HIGH, told the owner */
    bool peer_closed; /* the client's close frame arrived */
    int busy;         /* our callbacks on the stack: the free waits */
};

static struct list every_ws = LIST_HEAD_INIT(every_ws);

/* ---- handshake ---------------------------------------------------------------------- */

/* Whether the comma-separated header value lists token (case-insensitive). */
static bool has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    for (const char *p = value; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == tlen && strncasecmp(p, token, tlen) == 0)
            return true;
        p = end;
    }
    return false;
}

bool ws_is_upgrade(const char *connection, const char *upgrade)
{
    return has_token(connection, "upgrade") && has_token(upgrade, "websocket");
}

/* A Sec-WebSocket-Key: the base64 form of 16 bytes (24 characters, "==" at the end). */
static bool valid_key(const char *key)
{
    unsigned char raw[32];
    size_t len = key != NULL ? strlen(key) : 0;
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return false;
    return EVP_DecodeBlock(raw, (const unsigned char *)key, (int)len) == 18;
}

bool ws_handshake_ok(const char *connection, const char *upgrade, const char *version,
                     const char *key, const char **why)
{
    if (!has_token(connection, "upgrade"))
        *why = "'upgrade' token not found in 'Connection' header";
    else if (!has_token(upgrade, "websocket"))
        *why = "'websocket' token not found in 'Upgrade' header";
    else if (version == NULL || strcmp(version, "13") != 0)
        *why = "unsupported version: 13 not found in 'Sec-Websocket-Version' header";
    else if (!valid_key(key))
        *why = "'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length";
    else
        return true;
    return false;
}

static void accept_head(const char *key, struct evbuffer *out)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char accept[64];
    struct strbuf in = STRBUF_INIT;
    strbuf_append_str(&in, key);
    strbuf_append_str(&in, ACCEPT_GUID);
    if (EVP_Digest(in.data, in.len, digest, &dlen, EVP_sha1(), NULL) != 1)
        xalloc_die("a SHA-1 digest");
    strbuf_free(&in);
    EVP_EncodeBlock((unsigned char *)accept, digest, (int)dlen);
    if (evbuffer_add_printf(out,
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                            accept) < 0)
        xalloc_die("a WebSocket handshake");
}

/* ---- the connection's end ------------------------------------------------------------ */

static void destroy(struct ws *ws)
{
    list_del(&ws->node);
    event_free(ws->rd);
    event_free(ws->wr);
    event_free(ws->read_deadline);
    event_free(ws->write_deadline);
    event_free(ws->ping);
    event_free(ws->close_deadline);
    evbuffer_free(ws->in);
    evbuffer_free(ws->out);
    wsframe_free(ws->frames);
    free(ws);
}

/* The socket goes, and the rest with it unless a callback of ours is running (then leave()
 * frees it): a caller that is not one of our callbacks must not touch ws afterwards. */
static void finish(struct ws *ws)
{
    if (ws->state == WS_DEAD)
        return;
    ws->state = WS_DEAD;
    ws->ops = NULL;
    event_del(ws->rd);
    event_del(ws->wr);
    event_del(ws->read_deadline);
    event_del(ws->write_deadline);
    event_del(ws->ping);
    event_del(ws->close_deadline);
    if (ws->cfg.close_socket != NULL)
        ws->cfg.close_socket(ws->fd);
    else
        close(ws->fd);
    ws->fd = -1;
    if (ws->busy == 0)
        destroy(ws);
}

static void enter(struct ws *ws)
{
    ws->busy++;
}

static void leave(struct ws *ws)
{
    if (--ws->busy == 0 && ws->state == WS_DEAD)
        destroy(ws);
}

static void start_closing(struct ws *ws, int code, const char *reason);

/*
 * The connection ends on its own: a close frame with code follows the output (none when
 * send is false: it broke), and the owner hears it once, last.
 */
static void end(struct ws *ws, bool send, int code, const char *reason)
{
    const struct ws_ops *ops = ws->ops;
    void *arg = ws->arg;
    ws->ops = NULL;
    if (send && ws->state == WS_OPEN)
        start_closing(ws, code, reason);
    else
        finish(ws);
    if (ops != NULL)
        ops->closed(arg, send ? code : WS_CLOSE_ABNORMAL);
}

static void arm(struct event *ev, int64_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (ms > 0 && event_add(ev, &tv) < 0)
        log_error("websocket: cannot arm a timer");
}

/*
 * Once the client has our close frame and we have its (or it broke the protocol), our side
 * is shut down and what the client still sends is read and dropped until it closes (or the
 * close deadline): closing a socket with unread input resets the connection, and a reset can
 * destroy the close frame before the client reads it.
 */
static void maybe_finish_closing(struct ws *ws)
{
    if (ws->state != WS_CLOSING || !ws->peer_closed || evbuffer_get_length(ws->out) != 0)
        return;
    if (shutdown(ws->fd, SHUT_WR) < 0) {
        finish(ws);
        return;
    }
    ws->state = WS_LINGER;
    event_del(ws->wr);
    if (!event_pending(ws->rd, EV_READ, NULL) && event_add(ws->rd, NULL) < 0)
        finish(ws);
}

/* ---- output --------------------------------------------------------------------------- */

static void output_changed(struct ws *ws)
{
    size_t pending = evbuffer_get_length(ws->out);
    if (pending == 0) {
        event_del(ws->wr);
        event_del(ws->write_deadline);
    } else if (!event_pending(ws->wr, EV_WRITE, NULL)) {
        if (event_add(ws->wr, NULL) < 0)
            log_error("websocket: cannot watch the socket for writing");
        arm(ws->write_deadline, ws->cfg.write_ms);
    }
    if (ws->ops == NULL || ws->state != WS_OPEN)
        return;
    if (!ws->congested && pending > WS_OUT_HIGH) {
        ws->congested = true;
        ws->ops->congested(ws->arg, true);
    } else if (ws->congested && pending <= WS_OUT_LOW) {
        ws->congested = false;
        ws->ops->congested(ws->arg, false);
    }
}

/* Writes what the socket takes now. Returns false when the connection broke. */
static bool write_some(struct ws *ws)
{
    int n = evbuffer_write(ws->out, ws->fd);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log_debug("websocket: write: %s", strerror(errno));
        return false;
    }
    if (n > 0)
        arm(ws->write_deadline, ws->cfg.write_ms); /* progress: the deadline starts again */
    return true;
}

static void on_writable(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ws *ws = arg;
    enter(ws);
    if (!write_some(ws)) {
        end(ws, false, 0, NULL);
    } else {
        output_changed(ws);
        maybe_finish_closing(ws);
    }
    leave(ws);
}

static void queue_frame(struct ws *ws, int opcode, const void *data, size_t len)
{
    if (wsframe_write(ws->frames, ws->out, opcode, data, len) < 0)
        log_error("websocket: cannot frame a message of %zu bytes", len);
}

/* Sends what was queued at once when nothing was waiting (keystrokes), else in turn. */
static void push(struct ws *ws, bool was_empty)
{
    if (was_empty && !write_some(ws) && !event_pending(ws->wr, EV_WRITE, NULL)) {
        /* The failure is noticed by the write callback, from the loop. */
        if (event_add(ws->wr, NULL) < 0)
            log_error("websocket: cannot watch the socket for writing");
        return;
    }
    output_changed(ws);
}

void ws_send(struct ws *ws, int opcode, const void *data, size_t len)
{
    if (ws->state != WS_OPEN)
        return;
    bool was_empty = evbuffer_get_length(ws->out) == 0;
    queue_frame(ws, opcode, data, len);
    push(ws, was_empty);
}

size_t ws_pending(const struct ws *ws)
{
    return evbuffer_get_length(ws->out);
}

/* Our close frame is queued: nothing but the client's close is read from now on. */
static void start_closing(struct ws *ws, int code, const char *reason)
{
    bool was_empty = evbuffer_get_length(ws->out) == 0;
    if (code == WS_CLOSE_NO_STATUS)
        queue_frame(ws, WS_OP_CLOSE, NULL, 0);
    else if (wsframe_write_close(ws->frames, ws->out, code, reason) < 0)
        log_error("websocket: cannot frame a close");
    ws->state = WS_CLOSING;
    event_del(ws->ping);
    event_del(ws->read_deadline);
    arm(ws->close_deadline, ws->cfg.close_ms);
    if (ws->held) {
        ws->held = false; /* the client's close must be read */
        if (event_add(ws->rd, NULL) < 0)
            log_error("websocket: cannot watch the socket for reading");
    }
    push(ws, was_empty);
    maybe_finish_closing(ws);
}

void ws_close(struct ws *ws, int code, const char *reason)
{
    ws->ops = NULL;
    if (ws->state == WS_OPEN)
        start_closing(ws, code, reason);
}

/* ---- input ---------------------------------------------------------------------------- */

static bool on_message(void *arg, int opcode, const char *data, size_t len)
{
    struct ws *ws = arg;
    if (ws->state != WS_OPEN || ws->ops == NULL)
        return true; /* closing: data is dropped until the client's close */
    ws->ops->message(ws->arg, opcode, data, len);
    return ws->state == WS_OPEN && !ws->held;
}

static bool on_control(void *arg, int opcode, int code, const char *data, size_t len)
{
    struct ws *ws = arg;
    if (opcode == WS_OP_CLOSE) {
        ws->peer_closed = true;
        if (ws->state == WS_OPEN)
            end(ws, true, code, ""); /* the echo (RFC 6455 5.5.1) */
        else
            maybe_finish_closing(ws);
        return false;
    }
    if (opcode == WS_OP_PING && ws->state == WS_OPEN) {
        bool was_empty = evbuffer_get_length(ws->out) == 0;
        queue_frame(ws, WS_OP_PONG, data, len);
        push(ws, was_empty);
    }
    return true; /* a pong only proves the client is there: the read did that */
}

static const struct wsframe_ops frame_ops = {on_message, on_control};

static void parse(struct ws *ws)
{
    int violation = wsframe_parse(ws->frames, ws->in);
    if (violation == 0 || ws->state == WS_DEAD)
        return;
    if (ws->state == WS_CLOSING) {
        ws->peer_closed = true; /* garbage instead of a close: enough */
        maybe_finish_closing(ws);
        return;
    }
    log_info("websocket: client broke the protocol: closing with %d", violation);
    ws->peer_closed = true; /* nothing more is read from it */
    end(ws, true, violation, violation == WS_CLOSE_TOO_BIG ? "message too big" : "");
}

static void on_readable(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ws *ws = arg;
    enter(ws);
    if (ws->state == WS_LINGER) {
        char sink[4096];
        ssize_t n = recv(ws->fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            finish(ws);
        leave(ws);
        return;
    }
    int n = evbuffer_read(ws->in, ws->fd, READ_MAX);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        n = 1; /* nothing new, but buffered frames may wait (after a hold) */
    } else if (n <= 0) {
        if (ws->state == WS_CLOSING)
            finish(ws);
        else
            end(ws, false, 0, NULL);
    } else if (ws->state == WS_OPEN) {
        arm(ws->read_deadline, ws->cfg.read_ms);
    }
    if (n > 0 && ws->state != WS_DEAD && !ws->held)
        parse(ws);
    leave(ws);
}

void ws_hold_input(struct ws *ws, bool hold)
{
    if (ws->state != WS_OPEN || hold == ws->held)
        return;
    ws->held = hold;
    if (hold) {
        event_del(ws->rd);
        event_del(ws->read_deadline);
        return;
    }
    if (event_add(ws->rd, NULL) < 0)
        log_error("websocket: cannot watch the socket for reading");
    arm(ws->read_deadline, ws->cfg.read_ms);
    /* Frames read before the hold are parsed from the loop, never from the caller's stack. */
    event_active(ws->rd, EV_READ, 0);
}

/* ---- timers --------------------------------------------------------------------------- */

static void on_read_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ws *ws = arg;
    enter(ws);
    log_info("websocket: nothing from the client for %lld ms: dropping it",
             (long long)ws->cfg.read_ms);
    end(ws, false, 0, NULL);
    leave(ws);
}

static void on_write_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ws *ws = arg;
    enter(ws);
    log_info("websocket: the client took no output for %lld ms (%zu bytes queued): dropping it",
             (long long)ws->cfg.write_ms, evbuffer_get_length(ws->out));
    end(ws, false, 0, NULL);
    leave(ws);
}

static void on_ping(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ws *ws = arg;
    enter(ws);
    bool was_empty = evbuffer_get_length(ws->out) == 0;
    queue_frame(ws, WS_OP_PING, NULL, 0);
    push(ws, was_empty);
    leave(ws);
}

static void on_close_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ws *ws = arg;
    enter(ws);
    finish(ws);
    leave(ws);
}

/* ---- opening -------------------------------------------------------------------------- */

struct ws *ws_open(struct event_base *base, evutil_socket_t fd, struct evbuffer *rest,
                   const char *key, const struct ws_config *cfg, const struct ws_ops *ops,
                   void *arg)
{
    struct ws *ws = xcalloc(1, sizeof(*ws));
    ws->fd = fd;
    ws->cfg = *cfg;
    ws->ops = ops;
    ws->arg = arg;
    ws->frames = wsframe_new(cfg->max_message, &frame_ops, ws);
    ws->in = evbuffer_new();
    ws->out = evbuffer_new();
    ws->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, ws);
    ws->wr = event_new(base, fd, EV_WRITE | EV_PERSIST, on_writable, ws);
    ws->read_deadline = evtimer_new(base, on_read_deadline, ws);
    ws->write_deadline = evtimer_new(base, on_write_deadline, ws);
    ws->ping = event_new(base, -1, EV_PERSIST, on_ping, ws);
    ws->close_deadline = evtimer_new(base, on_close_deadline, ws);
    list_add_tail(&every_ws, &ws->node);
    if (ws->in == NULL || ws->out == NULL || ws->rd == NULL || ws->wr == NULL ||
        ws->read_deadline == NULL || ws->write_deadline == NULL || ws->ping == NULL ||
        ws->close_deadline == NULL || (rest != NULL && evbuffer_add_buffer(ws->in, rest) < 0) ||
        event_add(ws->rd, NULL) < 0) {
        log_error("websocket: cannot set up a connection");
        ws->ops = NULL;
        finish(ws);
        return NULL;
    }
    accept_head(key, ws->out);
    arm(ws->read_deadline, cfg->read_ms);
    arm(ws->ping, cfg->ping_ms);
    push(ws, true);
    if (evbuffer_get_length(ws->in) > 0)
        event_active(ws->rd, EV_READ, 0);
    return ws;
}

void ws_free_all(void)
{
    while (!list_empty(&every_ws)) {
        struct ws *ws = list_first(&every_ws, struct ws, node);
        ws->ops = NULL;
        finish(ws); /* no callback of ours runs at exit: freed at once */
    }
}
