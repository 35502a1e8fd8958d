/*
 * WebSocket messages (RFC 6455, server side) on top of wslay's frame layer: wslay parses and
 * writes single frames (header, lengths, masking); this file makes messages of them and
 * enforces what a server must: client frames masked, no reserved bits or unknown opcodes,
 * control frames whole and at most 125 bytes (they may arrive between the fragments of a
 * message), continuations only within a fragmented message, text messages and close
 * reasons valid UTF-8, close codes valid, frames and messages within a size limit. A
 * violation yields the close code the peer gets: 1002 (protocol error), 1007 (invalid
 * UTF-8) or 1009 (too big). No socket here: bytes come from and go to evbuffers, so the
 * parser can be driven by tests and the fuzzer (t/fuzz/fuzz_wsframe.c).
 *
 * Why not wslay's event layer: it answers a frame-level protocol error (a fragmented or
 * oversized control frame, a non-minimal length) with a close frame without a status code,
 * where the peer must get 1002, and it allocates a frame's whole declared length when the
 * frame starts.
 */
#ifndef EXECD_HTTP_WSFRAME_H
#define EXECD_HTTP_WSFRAME_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_NO_STATUS = 1005, /* received close without a code (never sent) */
    WS_CLOSE_ABNORMAL = 1006,  /* the connection ended without a close (never sent) */
    WS_CLOSE_BAD_DATA = 1007,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

/* What the parser found. Each returns true to go on parsing, false to stop for now. */
struct wsframe_ops {
    /* A complete data message: WS_OP_TEXT (valid UTF-8) or WS_OP_BINARY. */
    bool (*message)(void *arg, int opcode, const char *data, size_t len);
    /* A ping (its payload), a pong, or a close: code is WS_CLOSE_NO_STATUS when it has none. */
    bool (*control)(void *arg, int opcode, int code, const char *data, size_t len);
};

struct wsframe;

/* A parser of one client's frames, data messages up to max_message bytes. */
struct wsframe *wsframe_new(size_t max_message, const struct wsframe_ops *ops, void *arg);
void wsframe_free(struct wsframe *f);
/*
 * Parses the frames in `in`, draining what it consumed (a partial frame is kept until more
 * arrives). Returns 0, or the close code the peer's violation calls for (the parser then
 * refuses everything and returns it again). A callback returning false stops it early.
 */
int wsframe_parse(struct wsframe *f, struct evbuffer *in);

/* Appends one final, unmasked frame with the payload data[0..len) to out. Returns 0 or -1. */
int wsframe_write(struct wsframe *f, struct evbuffer *out, int opcode, const void *data,
                  size_t len);
/* Appends a close frame with code and reason (at most 123 bytes are kept). Returns 0 or -1. */
int wsframe_write_close(struct wsframe *f, struct evbuffer *out, int code, const char *reason);

/* Whether code may travel in a close frame (RFC 6455 7.4). */
bool wsframe_valid_close_code(int code);

#endif
