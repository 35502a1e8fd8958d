/*
 * A WebSocket connection (RFC 6455, server side) on a socket taken over from HTTP
 * (http/upgrade.h): the 101 answer, messages through wsframe.c, the closing handshake, and
 * what keeps a connection from hanging: a ping every ping_ms, a read deadline (read_ms
 * without a byte from the client, pongs included, ends it) and a write deadline (write_ms
 * without the client taking any queued output ends it). The owner learns when the output
 * queue crosses its watermarks, to stop and restart whatever produces it, and may stop
 * reading the client while what it sent cannot be consumed.
 *
 * Ownership: the owner holds a ws until it calls ws_close (after which the ws finishes the
 * closing handshake and frees itself, calling nothing) or until its closed callback ran
 * (the client closed, broke the protocol or missed a deadline).
 */
#ifndef EXECD_HTTP_WEBSOCKET_H
#define EXECD_HTTP_WEBSOCKET_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/wsframe.h"
#include "strbuf.h"

/* The output queue above which the owner should stop producing, and where it may go on. */
#define WS_OUT_HIGH (256 * 1024)
#define WS_OUT_LOW (64 * 1024)

struct ws;

struct ws_ops {
    /* A data message: WS_OP_TEXT (valid UTF-8) or WS_OP_BINARY. */
    void (*message)(void *arg, int opcode, const char *data, size_t len);
    /* The output queue went above WS_OUT_HIGH (true) or drained to WS_OUT_LOW (false). */
    void (*congested)(void *arg, bool above);
    /*
     * The connection ended without the owner asking: code is the close code exchanged,
     * WS_CLOSE_ABNORMAL when the connection broke or missed a deadline. The ws is gone
     * once this returns.
     */
    void (*closed)(void *arg, int code);
};

struct ws_config {
    size_t max_message; /* larger client messages (or frames) are closed with 1009 */
    int64_t ping_ms;    /* 0: no pings */
    int64_t read_ms;    /* 0: no read deadline */
    int64_t write_ms;   /* 0: no write deadline */
    int64_t close_ms;   /* how long a closing handshake may take */
    /* Closes the socket when the connection is over (NULL: close()). */
    void (*close_socket)(evutil_socket_t fd);
};

/*
 * Checks the upgrade headers of a request as RFC 6455 4.2.1 asks (values as given, NULL
 * when absent). Returns true, or false with the reason in *why.
 */
bool ws_handshake_ok(const char *connection, const char *upgrade, const char *version,
                     const char *key, const char **why);
/* Whether the request asks for a WebSocket upgrade at all (Connection and Upgrade). */
bool ws_is_upgrade(const char *connection, const char *upgrade);

/*
 * Serves fd (non-blocking, taken) as a WebSocket: the 101 answer for key is written first;
 * rest holds bytes read beyond the request (drained). cfg is copied. Returns NULL when the
 * connection could not be set up (fd is then closed).
 */
struct ws *ws_open(struct event_base *base, evutil_socket_t fd, struct evbuffer *rest,
                   const char *key, const struct ws_config *cfg, const struct ws_ops *ops,
                   void *arg);
/* Queues one message. Never calls back (a failed write is noticed from the loop). */
void ws_send(struct ws *ws, int opcode, const void *data, size_t len);
/* Bytes queued for the client. */
size_t ws_pending(const struct ws *ws);
/* Stops (true) or restarts reading the client; the read deadline is off meanwhile. */
void ws_hold_input(struct ws *ws, bool hold);
/*
 * The owner is done: a close frame with code and reason follows what is queued, and the
 * ws frees itself once the client answered it (or after close_ms). No callback runs.
 */
void ws_close(struct ws *ws, int code, const char *reason);
/* At exit: every connection still open or closing is dropped without callbacks. */
void ws_free_all(void);

#endif
