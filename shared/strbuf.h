/*
 * Growable byte buffer, always NUL-terminated so it can be handed to C string
 * APIs. Allocation failure aborts: the daemon cannot do anything useful without
 * memory and every caller would otherwise need the same error path.
 */
#ifndef EXECD_STRBUF_H
#define EXECD_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};

#define STRBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_reserve(struct strbuf *sb, size_t extra);
void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_append_str(struct strbuf *sb, const char *s);
void strbuf_append_char(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends v in decimal (hot path of event rendering: no printf). */
void strbuf_append_int64(struct strbuf *sb, int64_t v);
/* The longest decimal int64 ("-9223372036854775808"). */
#define STRBUF_INT64_MAX 20
/* Writes v in decimal to dst (not NUL-terminated); returns the length. */
size_t strbuf_format_int64(char dst[STRBUF_INT64_MAX], int64_t v);
/* Removes the first n bytes. */
void strbuf_consume(struct strbuf *sb, size_t n);
/* Hands the heap string to the caller; the buffer is left empty. */
char *strbuf_detach(struct strbuf *sb);

#endif
