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

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when a byte of w is zero (exact: no false positives). */
static uint64_t has_zero(uint64_t w)
{
    return (w - ONES) & ~w & HIGHS;
}

/* Nonzero when a byte of w may not be plain; tested 8 bytes at a time, since most output
 * (base64, numbers, log lines) needs no escaping at all. */
static uint64_t maybe_special(uint64_t w)
{
    return (w & HIGHS) | ((w - ONES * 0x20) & ~w & HIGHS) | has_zero(w ^ (ONES * '"')) |
           has_zero(w ^ (ONES * '\\')) | has_zero(w ^ (ONES * '<')) | has_zero(w ^ (ONES * '>')) |
           has_zero(w ^ (ONES * '&'));
}

/* How many leading bytes of s[0..len) are plain. */
static size_t plain_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (maybe_special(w))
            break;
        i += 8;
    }
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
