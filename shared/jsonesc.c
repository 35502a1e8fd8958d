#include "jsonesc.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

static const char hexdigits[] = "0123456789abcdef";

/* Bytes copied as they are: printable ASCII other than " \ < > &. */
static bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
}

/* 16 bytes at a time with GCC's portable vector extension (SSE2 on x86-64, NEON on arm64). */
typedef unsigned char block_u __attribute__((vector_size(16)));
typedef signed char block_s __attribute__((vector_size(16)));

/* Whether none of the 16 bytes at s needs escaping: most output (base64, numbers, log lines)
 * needs none at all, and a run of it is copied as it is. */
static bool block_plain(const unsigned char *s)
{
    block_u v;
    memcpy(&v, s, sizeof(v));
    /* As signed bytes, controls (< 0x20) and non-ASCII (>= 0x80) are both below 0x20. < and >
     * differ in one bit, " and & in another: one comparison for each pair. */
    block_s bad = ((block_s)v < 0x20) | ((v | 2) == '>') | ((v | 4) == '&') | (v == '\\');
    uint64_t half[2];
    memcpy(half, &bad, sizeof(half));
    return (half[0] | half[1]) == 0;
}

/* How many leading bytes of s[0..len) are plain. */
static size_t plain_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (len - i >= 16 && block_plain(s + i))
        i += 16;
    /* The rest of a long enough run: its last 16 bytes overlap what was checked. */
    if (i < len && len >= 16 && len - i < 16 && block_plain(s + len - 16))
        return len;
    while (i < len && plain(s[i]))
        i++;
    return i;
}

/* The escape of u[0] (u[0..n) one valid UTF-8 sequence, n 0 when invalid), or NULL when the
 * sequence is copied as it is. */
static const char *escape_of(const unsigned char *u, size_t n, char esc[7])
{
    switch (u[0]) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        break;
    }
    if (u[0] >= 0x80) {
        if (n == 0)
            return "\\ufffd";
        /* U+2028 and U+2029 are E2 80 A8 / E2 80 A9. */
        if (n == 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] & 0xfe) == 0xa8)
            return u[2] == 0xa8 ? "\\u2028" : "\\u2029";
        return NULL;
    }
    esc[0] = '\\';
    esc[1] = 'u';
    esc[2] = '0';
    esc[3] = '0';
    esc[4] = hexdigits[u[0] >> 4];
    esc[5] = hexdigits[u[0] & 0xf];
    esc[6] = '\0';
    return esc;
}

void jsonesc_append(struct strbuf *out, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes [run, i) need no escaping */

    strbuf_reserve(out, len + 2);
    out->data[out->len++] = '"';
    while (i < len) {
        i += plain_prefix(u + i, len - i);
        if (i == len)
            break;
        size_t n = u[i] >= 0x80 ? utf8_valid_seq(u + i, len - i) : 1;
        char esc[7];
        const char *e = escape_of(u + i, n, esc);
        if (e == NULL) {
            i += n;
            continue;
        }
        strbuf_append(out, s + run, i - run);
        strbuf_append_str(out, e);
        i += n > 0 ? n : 1;
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
