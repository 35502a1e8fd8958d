#include "files/disposition.h"

#include <stdbool.h>
#include <string.h>

/* Kept as they are in the encoded form: safe in a URL path and an RFC 5987 attr-char. */
static bool keep_raw(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-._~$&+", c) != NULL;
}

/* Could not sit inside filename="..." unescaped. */
static bool needs_encoding(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 0x80 || s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\')
            return true;
    }
    return false;
}

static void append_pct(struct strbuf *out, const unsigned char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        if (keep_raw(s[i])) {
            strbuf_append_char(out, (char)s[i]);
        } else {
            char esc[3] = {'%', hex[s[i] >> 4], hex[s[i] & 0xf]};
            strbuf_append(out, esc, sizeof(esc));
        }
    }
}

void disposition_format(struct strbuf *out, const char *name, size_t len)
{
    const unsigned char *u = (const unsigned char *)name;

    strbuf_append_str(out, "attachment; filename=\"");
    if (!needs_encoding(u, len)) {
        strbuf_append(out, name, len);
        strbuf_append_char(out, '"');
        return;
    }
    size_t mark = out->len;
    append_pct(out, u, len);
    size_t enc_len = out->len - mark;
    strbuf_append_str(out, "\"; filename*=UTF-8''");
    /* The same encoded text again: reserve first so the source cannot move while copied. */
    strbuf_reserve(out, enc_len);
    strbuf_append(out, out->data + mark, enc_len);
}

void disposition_for_path(struct strbuf *out, const char *path)
{
    size_t len = strlen(path);

    /* filepath.Base: trailing slashes removed; "" -> "."; only slashes -> "/". */
    while (len > 0 && path[len - 1] == '/')
        len--;
    if (len == 0) {
        disposition_format(out, path[0] == '/' ? "/" : ".", 1);
        return;
    }
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    disposition_format(out, path + start, len - start);
}
