#include "jsonesc.h"

#include "utf8.h"

static const char hexdigits[] = "0123456789abcdef";

static void append_u00(struct strbuf *out, unsigned char c)
{
    char esc[6] = {'\\', 'u', '0', '0', hexdigits[c >> 4], hexdigits[c & 0xf]};
    strbuf_append(out, esc, sizeof(esc));
}

void jsonesc_append(struct strbuf *out, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes [run, i) need no escaping */

    strbuf_reserve(out, len + 2);
    strbuf_append_char(out, '"');
    while (i < len) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_valid_seq(u + i, len - i);
            /* U+2028 and U+2029 are E2 80 A8 / E2 80 A9. */
            if (n == 3 && c == 0xe2 && u[i + 1] == 0x80 && (u[i + 2] & 0xfe) == 0xa8) {
                strbuf_append(out, s + run, i - run);
                strbuf_append_str(out, u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
                i += 3;
                run = i;
                continue;
            }
            if (n > 0) {
                i += n;
                continue;
            }
            strbuf_append(out, s + run, i - run);
            strbuf_append_str(out, "\\ufffd");
            i++;
            run = i;
            continue;
        }
        strbuf_append(out, s + run, i - run);
        switch (c) {
        case '"':
            strbuf_append_str(out, "\\\"");
            break;
        case '\\':
            strbuf_append_str(out, "\\\\");
            break;
        case '\n':
            strbuf_append_str(out, "\\n");
            break;
        case '\r':
            strbuf_append_str(out, "\\r");
            break;
        case '\t':
            strbuf_append_str(out, "\\t");
            break;
        default:
            append_u00(out, c);
            break;
        }
        i++;
        run = i;
    }
    strbuf_append(out, s + run, i - run);
    strbuf_append_char(out, '"');
}

bool jsonesc_repair_utf8(const char *json, size_t len, struct strbuf *out)
{
    const unsigned char *u = (const unsigned char *)json;
    size_t i = 0, run = 0; /* bytes [run, i) are copied as they are */
    bool repaired = false;

    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_valid_seq(u + i, len - i);
        if (n > 0) {
            i += n;
            continue;
        }
        if (!repaired)
            strbuf_reserve(out, len + 16);
        repaired = true;
        strbuf_append(out, json + run, i - run);
        strbuf_append_str(out, "\\ufffd");
        run = ++i;
    }
    if (repaired)
        strbuf_append(out, json + run, len - run);
    return repaired;
}
