/*
 * libFuzzer harness for the WebSocket frame parser (master/http/wsframe.c) and wslay's frame
 * layer under it: arbitrary bytes from a client, fed in pieces whose size the first input
 * byte picks (frames split anywhere). Checked: the parser never crashes, only returns 0 or
 * a close code a client may get (1002, 1007, 1009), reports data messages within the limit
 * (text ones valid UTF-8), control payloads of at most 125 bytes and close codes that may
 * travel; and the server frames written for what it parsed are well formed.
 *
 * `make fuzz` builds it with clang (-fsanitize=fuzzer,address,undefined) and runs it;
 * t/fuzz/replay.c replays the corpus (t/fuzz/corpus/wsframe) in `make check` with gcc.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "http/wsframe.h"
#include "utf8.h"

#define MAX_MESSAGE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    size_t piece = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    struct state s;
    s.f = wsframe_new(MAX_MESSAGE, &ops, &s);
    s.out = evbuffer_new();
    struct evbuffer *in = evbuffer_new();
    if (s.out == NULL || in == NULL)
        abort();
    for (size_t at = 0; at < size; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        evbuffer_add(in, data + at, n);
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
