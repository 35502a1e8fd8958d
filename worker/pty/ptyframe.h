/*
 * The PTY protocol's messages (api-contract §10.4) as the worker sees them: binary frames
 * start with a channel byte; text frames are JSON. Server text frames are rendered with the
 * Go daemon's key order (type, session_id, mode, data, offset, exit_code, error, code),
 * empty keys left out; client text frames are read as the Go daemon reads them.
 */
#ifndef EXECD_PTY_PTYFRAME_H
#define EXECD_PTY_PTYFRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* The first byte of a binary frame. */
enum {
    PTY_CH_STDIN = 0x00,  /* client -> server */
    PTY_CH_STDOUT = 0x01, /* the terminal's output (PTY mode: all of it) */
    PTY_CH_STDERR = 0x02, /* pipe mode */
    PTY_CH_REPLAY = 0x03, /* 8-byte big-endian offset of the first byte, then the bytes */
};

/* A server text frame; NULL strings and a false has_exit_code are left out. */
struct ptyframe {
    const char *type;
    const char *session_id;
    const char *mode;
    bool has_exit_code;
    int exit_code;
    const char *error;
    const char *code;
};

void ptyframe_render(struct strbuf *out, const struct ptyframe *f);

enum ptyframe_kind {
    PTYFRAME_IGNORED, /* not a JSON object of the expected shape: ignored, as Go does */
    PTYFRAME_STDIN,
    PTYFRAME_RESIZE,
    PTYFRAME_SIGNAL,
    PTYFRAME_PING,
    PTYFRAME_UNKNOWN, /* a type nobody knows: answered with INVALID_FRAME */
};

/* A client text frame. Strings point into the parsed JSON, valid until ptyframe_in_free. */
struct ptyframe_in {
    const char *type;
    const char *data; /* stdin */
    size_t len;
    int cols, rows; /* resize (0 when absent) */
    int signo;      /* signal: one of the five allowed, else 0 */
    void *json;
};

enum ptyframe_kind ptyframe_parse(const char *text, size_t len, struct ptyframe_in *in);
void ptyframe_in_free(struct ptyframe_in *in);

#endif
