/*
 * Splits command output into the texts of stdout/stderr events, with the Go
 * daemon's rules: "\n", "\r" and a "\r\n" pair (also when split across reads)
 * each end a line; a line is emitted without its terminator; an empty line is
 * emitted as the one-character text "\n"; an unterminated tail is held until
 * more data arrives or linesplit_finish is called.
 *
 * Bash session output (linesplit_init_session) follows the Go daemon's other rules
 * (bufio.Scanner's): only "\n" ends a line, a "\r" before it is dropped, and empty lines
 * are not emitted at all.
 *
 * Unlike the Go daemon, a line is not allowed to grow without bound: once the
 * held tail reaches max_line bytes it is emitted as it is (cut on a UTF-8
 * boundary), so a command printing gigabytes without a newline streams with
 * bounded memory.
 */
#ifndef EXECD_LINESPLIT_H
#define EXECD_LINESPLIT_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

typedef void (*linesplit_emit_fn)(void *arg, const char *text, size_t len);

struct linesplit {
    struct strbuf tail; /* unterminated bytes held back */
    bool after_cr;      /* the last byte seen was '\r' */
    bool session;       /* bash session rules */
    size_t max_line;
};

void linesplit_init(struct linesplit *ls, size_t max_line);
/* With the rules of bash session output. */
void linesplit_init_session(struct linesplit *ls, size_t max_line);
void linesplit_free(struct linesplit *ls);
void linesplit_feed(struct linesplit *ls, const char *data, size_t len, linesplit_emit_fn emit,
                    void *arg);
/* Emits the held tail, if any (end of output). */
void linesplit_finish(struct linesplit *ls, linesplit_emit_fn emit, void *arg);

#endif
