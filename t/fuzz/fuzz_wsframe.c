/*
 * The WebSocket frame parser (master/http/wsframe.c) and wslay's frame layer under it, as
 * a PTY client's bytes reach them. Input: one byte choosing the piece size (1 to 17), then
 * the bytes from the client, fed in pieces of that size (frames split anywhere). Checked
 * beyond crashes: the parser returns only 0 or a close code a client may get (1002, 1007,
 * 1009); data messages are within the limit and text ones valid UTF-8; control payloads
 * are at most 125 bytes, close codes ones that may travel; and the server frames written
 * for what it parsed (echoes, pongs, the close) are accepted by wslay's writer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "http/wsframe.h"
#include "utf8.h"

#define MAX_MESSAGE 4096

struct state {
    struct wsframe *f;
    struct evbuffer *out;
};

static bool on_message(void *arg, int opcode, const char *data, size_t len)
{
    struct state *s = arg;
    if (len > MAX_MESSAGE || (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY) ||
        (opcode == WS_OP_TEXT && !utf8_valid(data, len)))
        abort();
    if (wsframe_write(s->f, s->out, opcode, data, len) < 0)
        abort();
    return true;
}

static bool on_control(void *arg, int opcode, int code, const char *data, size_t len)
{
    struct state *s = arg;
    if (len > 125 || (opcode != WS_OP_PING && opcode != WS_OP_PONG && opcode != WS_OP_CLOSE))
        abort();
    if (opcode == WS_OP_CLOSE && code != WS_CLOSE_NO_STATUS && !wsframe_valid_close_code(code))
        abort();
    if (opcode == WS_OP_PING && wsframe_write(s->f, s->out, WS_OP_PONG, data, len) < 0)
        abort();
    return opcode != WS_OP_CLOSE; /* a server stops reading at a close */
}

static const struct wsframe_ops ops = {on_message, on_control};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct fuzz_in fin = {data, size};
    size_t piece = (size_t)fuzz_byte(&fin) % 17 + 1;
    struct state s;
    s.f = wsframe_new(MAX_MESSAGE, &ops, &s);
    s.out = evbuffer_new();
    struct evbuffer *in = evbuffer_new();
    if (s.out == NULL || in == NULL)
        abort();
    for (size_t at = 0; at < fin.n; at += piece) {
        size_t n = fin.n - at < piece ? fin.n - at : piece;
        if (evbuffer_add(in, fin.p + at, n) < 0)
            abort();
        int rc = wsframe_parse(s.f, in);
        if (rc != 0 && rc != WS_CLOSE_PROTOCOL && rc != WS_CLOSE_BAD_DATA && rc != WS_CLOSE_TOO_BIG)
            abort();
        if (rc != 0) {
            if (wsframe_write_close(s.f, s.out, rc, "") < 0)
                abort();
            break;
        }
    }
    wsframe_free(s.f);
    evbuffer_free(s.out);
    evbuffer_free(in);
    return 0;
}
