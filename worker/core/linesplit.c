#include "core/linesplit.h"

#include <string.h>

#include "utf8.h"

void linesplit_init(struct linesplit *ls, size_t max_line)
{
    strbuf_init(&ls->tail);
    ls->after_cr = false;
    ls->session = false;
    ls->max_line = max_line > 0 ? max_line : 1;
}

void linesplit_init_session(struct linesplit *ls, size_t max_line)
{
    linesplit_init(ls, max_line);
    ls->session = true;
}

void linesplit_free(struct linesplit *ls)
{
    strbuf_free(&ls->tail);
}

/*
 * Emits leading pieces of s[0..len) of at most max_line bytes, cut on UTF-8 boundaries,
 * while more than max_line bytes remain (greedy: while at least max_line remain). Returns
 * how many bytes were emitted.
 */
static size_t emit_pieces(struct linesplit *ls, const char *s, size_t len, bool greedy,
                          linesplit_emit_fn emit, void *arg)
{
    size_t done = 0;
    while (len - done > ls->max_line || (greedy && len - done == ls->max_line)) {
        size_t cut = utf8_cut(s + done, ls->max_line);
        if (cut == 0)
            cut = ls->max_line;
        emit(arg, s + done, cut);
        done += cut;
    }
    return done;
}

/* A session line: "\n"-terminated, its "\r" dropped, nothing when empty. */
static void emit_session_line(struct linesplit *ls, const char *line, size_t len,
                              linesplit_emit_fn emit, void *arg)
{
    if (ls->tail.len > 0) {
        strbuf_append(&ls->tail, line, len);
        line = ls->tail.data;
        len = ls->tail.len;
    }
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > 0) {
        size_t done = emit_pieces(ls, line, len, false, emit, arg);
        emit(arg, line + done, len - done);
    }
    strbuf_reset(&ls->tail);
}

/* A terminated line (the held tail, then line): longer than max_line, it goes in pieces. */
static void emit_line(struct linesplit *ls, const char *line, size_t len, linesplit_emit_fn emit,
                      void *arg)
{
    if (ls->session) {
        emit_session_line(ls, line, len, emit, arg);
        return;
    }
    if (ls->tail.len > 0) {
        strbuf_append(&ls->tail, line, len);
        line = ls->tail.data;
        len = ls->tail.len;
    } else if (len == 0) {
        emit(arg, "\n", 1);
        return;
    }
    size_t done = emit_pieces(ls, line, len, false, emit, arg);
    emit(arg, line + done, len - done);
    strbuf_reset(&ls->tail);
}

/* Emits full max_line pieces of an over-long tail, keeping the remainder. */
static void emit_overlong(struct linesplit *ls, linesplit_emit_fn emit, void *arg)
{
    strbuf_consume(&ls->tail, emit_pieces(ls, ls->tail.data, ls->tail.len, true, emit, arg));
}

/* Position of the first c in data[from, len), or len. */
static size_t find(const char *data, size_t from, size_t len, char c)
{
    const char *p = memchr(data + from, c, len - from);
    return p != NULL ? (size_t)(p - data) : len;
}

void linesplit_feed(struct linesplit *ls, const char *data, size_t len, linesplit_emit_fn emit,
                    void *arg)
{
    if (len == 0)
        return;
    size_t start = 0;
    if (!ls->session) {
        /* A '\n' right after a '\r' that ended the previous feed is that pair's second half. */
        start = ls->after_cr && data[0] == '\n' ? 1 : 0;
        ls->after_cr = data[len - 1] == '\r';
    }

    /* The next '\n' and '\r' at or after start, each searched again only once passed: output
     * without '\r' costs one scan for it per feed. Only '\n' ends a session line. */
    size_t nl = find(data, start, len, '\n');
    size_t cr = ls->session ? len : find(data, start, len, '\r');
    while (start < len) {
        if (nl < start)
            nl = find(data, start, len, '\n');
        if (cr < start)
            cr = find(data, start, len, '\r');
        size_t end = nl < cr ? nl : cr;
        if (end == len)
            break;
        emit_line(ls, data + start, end - start, emit, arg);
        start = end + 1;
        if (end == cr && nl == start)
            start++; /* the '\n' of a "\r\n" pair */
    }
    if (start < len) {
        strbuf_append(&ls->tail, data + start, len - start);
        emit_overlong(ls, emit, arg);
    }
}

void linesplit_finish(struct linesplit *ls, linesplit_emit_fn emit, void *arg)
{
    if (ls->session)
        emit_session_line(ls, "", 0, emit, arg);
    else if (ls->tail.len > 0)
        emit(arg, ls->tail.data, ls->tail.len);
    strbuf_reset(&ls->tail);
    ls->after_cr = false;
}
