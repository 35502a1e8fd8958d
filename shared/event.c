#include "event.h"

#include <inttypes.h>
#include <string.h>

#include "jsonesc.h"

static void begin(struct strbuf *out, const char *type)
{
    strbuf_append_str(out, "{\"type\":");
    jsonesc_append(out, type, strlen(type));
}

static void end(struct strbuf *out, int64_t ts)
{
    strbuf_append_str(out, ",\"timestamp\":");
    strbuf_append_int64(out, ts);
    strbuf_append_str(out, "}\n\n");
}

void event_text(struct strbuf *out, const char *type, const char *text, size_t len, int64_t ts)
{
    begin(out, type);
    if (len > 0) {
        strbuf_append_str(out, ",\"text\":");
        jsonesc_append(out, text, len);
    }
    end(out, ts);
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
