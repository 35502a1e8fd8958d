/*
 * Stream events, rendered exactly as the Go daemon frames them: one compact
 * JSON object followed by "\n\n", keys in the order type, text,
 * execution_count, execution_time, timestamp, results, error, zero values
 * omitted. Renderers append to out so several events can share one IPC frame.
 */
#ifndef EXECD_EVENT_H
#define EXECD_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/*
 * The rendered end of an event, ',"timestamp":<ts>}' and the blank line: the many events of
 * one read share one millisecond, so their end is rendered once.
 */
struct event_stamp {
    size_t len;
    char text[sizeof(",\"timestamp\":}\n\n") + STRBUF_INT64_MAX];
};
void event_stamp_set(struct event_stamp *st, int64_t ts);

/*
 * init, stdout, stderr, ping, status: {"type","text","timestamp"}. type is one of those
 * names, written as it is (no escaping).
 */
void event_text(struct strbuf *out, const char *type, const char *text, size_t len, int64_t ts);
/* The same with a rendered timestamp. */
void event_text_stamped(struct strbuf *out, const char *type, const char *text, size_t len,
                        const struct event_stamp *st);
/* execution_complete; execution_time omitted when 0 ms. */
void event_complete(struct strbuf *out, int64_t exec_ms, int64_t ts);
void event_count(struct strbuf *out, int64_t count, int64_t ts);
/* results_json is an already rendered JSON object (the MIME bundle). */
void event_result(struct strbuf *out, const char *results_json, int64_t ts);
/*
 * error: {"ename","evalue","traceback"}. traceback is an array of ntb strings;
 * tb == NULL renders JSON null (the Go daemon's nil slice).
 */
void event_error(struct strbuf *out, const char *ename, const char *evalue, const char *const *tb,
                 size_t ntb, int64_t ts);

#endif
