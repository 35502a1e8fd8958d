#include "event.h"

#include <inttypes.h>
#include <string.h>

#include "jsonesc.h"

#define TYPE_KEY "{\"type\":\""
#define TEXT_KEY "\",\"text\":"
#define STAMP_KEY ",\"timestamp\":"
#define EVENT_END "}\n\n"

static void append_lit(struct strbuf *out, const char *s, size_t len)
{
    memcpy(out->data + out->len, s, len);
    out->len += len;
}

static void begin(struct strbuf *out, const char *type)
{
    size_t tlen = strlen(type);
    strbuf_reserve(out, sizeof(TYPE_KEY) + tlen + 1);
    append_lit(out, TYPE_KEY, sizeof(TYPE_KEY) - 1);
    append_lit(out, type, tlen);
    out->data[out->len++] = '"';
    out->data[out->len] = '\0';
}

void event_stamp_set(struct event_stamp *st, int64_t ts)
{
    char *p = st->text;
    memcpy(p, STAMP_KEY, sizeof(STAMP_KEY) - 1);
    p += sizeof(STAMP_KEY) - 1;
    p += strbuf_format_int64(p, ts);
    memcpy(p, EVENT_END, sizeof(EVENT_END) - 1);
    p += sizeof(EVENT_END) - 1;
    st->len = (size_t)(p - st->text);
}

static void end(struct strbuf *out, int64_t ts)
{
    struct event_stamp st;
    event_stamp_set(&st, ts);
    strbuf_append(out, st.text, st.len);
}

void event_text_stamped(struct strbuf *out, const char *type, const char *text, size_t len,
                        const struct event_stamp *st)
{
    size_t tlen = strlen(type);
    /* One reservation for the whole event when the text needs no escaping (the common case);
     * escapes grow the buffer as they go. */
    strbuf_reserve(out, sizeof(TYPE_KEY) + tlen + sizeof(TEXT_KEY) + len + 2 + st->len);
    append_lit(out, TYPE_KEY, sizeof(TYPE_KEY) - 1);
    append_lit(out, type, tlen);
    if (len > 0) {
        append_lit(out, TEXT_KEY, sizeof(TEXT_KEY) - 1);
        jsonesc_append(out, text, len);
    } else {
        out->data[out->len++] = '"';
    }
    strbuf_append(out, st->text, st->len);
}

void event_text(struct strbuf *out, const char *type, const char *text, size_t len, int64_t ts)
{
    struct event_stamp st;
    event_stamp_set(&st, ts);
    event_text_stamped(out, type, text, len, &st);
}

void event_complete(struct strbuf *out, int64_t exec_ms, int64_t ts)
{
    begin(out, "execution_complete");
    if (exec_ms != 0)
        strbuf_printf(out, ",\"execution_time\":%" PRId64, exec_ms);
    end(out, ts);
}

void event_count(struct strbuf *out, int64_t count, int64_t ts)
{
    begin(out, "execution_count");
    if (count != 0)
        strbuf_printf(out, ",\"execution_count\":%" PRId64, count);
    end(out, ts);
}

void event_result(struct strbuf *out, const char *results_json, int64_t ts)
{
    begin(out, "result");
    strbuf_printf(out, ",\"timestamp\":%" PRId64 ",\"results\":%s}\n\n", ts, results_json);
}

void event_error(struct strbuf *out, const char *ename, const char *evalue, const char *const *tb,
                 size_t ntb, int64_t ts)
{
    begin(out, "error");
    strbuf_printf(out, ",\"timestamp\":%" PRId64 ",\"error\":{\"ename\":", ts);
    jsonesc_append(out, ename, strlen(ename));
    strbuf_append_str(out, ",\"evalue\":");
    jsonesc_append(out, evalue, strlen(evalue));
    strbuf_append_str(out, ",\"traceback\":");
    if (tb == NULL) {
        strbuf_append_str(out, "null");
    } else {
        strbuf_append_char(out, '[');
        for (size_t i = 0; i < ntb; i++) {
            if (i > 0)
                strbuf_append_char(out, ',');
            jsonesc_append(out, tb[i], strlen(tb[i]));
        }
        strbuf_append_char(out, ']');
    }
    strbuf_append_str(out, "}}\n\n");
}
