/*
 * A command's output on its way to the client (worker/core/linesplit.c, shared/event.c,
 * jsonesc.c, utf8.c): any bytes, read in pieces of any size, cut into lines (capped at a
 * maximum), each framed as a stdout event. Every event must be valid JSON in valid UTF-8
 * holding the line (exactly, when the line was valid UTF-8), and the lines together must
 * hold every byte of the output but the line ends. JSON that json-c rendered from the same
 * bytes must come out of jsonesc_repair_utf8 as valid UTF-8.
 *
 * Input: MAX-LINE (1 byte) SEED (2 bytes) OUTPUT.
 */
#include <stdlib.h>

#include "core/linesplit.h"
#include "event.h"
#include "fuzz.h"
#include "jsonesc.h"
#include "utf8.h"

struct lines {
    struct strbuf joined; /* every line's bytes */
    struct strbuf event;
};

static json_object *parse_strict(const char *s, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *obj = json_tokener_parse_ex(tok, s, (int)len);
    if (obj == NULL || json_tokener_get_parse_end(tok) != len)
        abort();
    json_tokener_free(tok);
    return obj;
}

static void on_line(void *arg, const char *text, size_t len)
{
    struct lines *l = arg;
    if (len == 0)
        abort();
    bool empty_line = len == 1 && text[0] == '\n';
    if (!empty_line && (memchr(text, '\n', len) != NULL || memchr(text, '\r', len) != NULL))
        abort();
    if (!empty_line)
        strbuf_append(&l->joined, text, len);

    strbuf_reset(&l->event);
    event_text(&l->event, "stdout", text, len, 1700000000000);
    if (l->event.len < 2 || memcmp(l->event.data + l->event.len - 2, "\n\n", 2) != 0)
        abort();
    json_object *ev = parse_strict(l->event.data, l->event.len - 2);
    json_object *t;
    if (!json_object_object_get_ex(ev, "text", &t) || !json_object_is_type(t, json_type_string))
        abort();
    if (utf8_valid(text, len) && ((size_t)json_object_get_string_len(t) != len ||
                                  memcmp(json_object_get_string(t), text, len) != 0))
        abort();
    json_object_put(ev);
}

static void check_repair(const char *s, size_t len)
{
    json_object *str = json_object_new_string_len(s, (int)len);
    size_t jlen;
    const char *json = json_object_to_json_string_length(str, JSON_C_TO_STRING_PLAIN, &jlen);
    struct strbuf fixed = STRBUF_INIT;
    if (jsonesc_repair_utf8(json, jlen, &fixed))
        json_object_put(parse_strict(fixed.data, fixed.len));
    else if (!utf8_valid(json, jlen))
        abort();
    strbuf_free(&fixed);
    json_object_put(str);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    size_t max_line = 1 + fuzz_byte(&in) % 64;
    uint32_t seed = fuzz_u16(&in);
    const char *out = (const char *)in.p;
    size_t len = in.n;

    struct lines l = {STRBUF_INIT, STRBUF_INIT};
    struct linesplit ls;
    linesplit_init(&ls, max_line);
    for (size_t at = 0; at < len;) {
        size_t n = fuzz_chunk(&seed, 256);
        if (n > len - at)
            n = len - at;
        linesplit_feed(&ls, out + at, n, on_line, &l);
        at += n;
    }
    linesplit_finish(&ls, on_line, &l);
    linesplit_free(&ls);

    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '\n' || out[i] == '\r')
            continue;
        if (k >= l.joined.len || l.joined.data[k++] != out[i])
            abort();
    }
    if (k != l.joined.len)
        abort();
    check_repair(out, len);

    strbuf_free(&l.joined);
    strbuf_free(&l.event);
    return 0;
}
