#include "files/httprange.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Go's strings.TrimSpace, restricted to ASCII (headers are ASCII). */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && is_space(**s))
        (*s)++;
    while (*e > *s && is_space((*e)[-1]))
        (*e)--;
}

/* Parses [s, e) as a non-negative decimal int64. Empty, non-digit or overflow fails. */
static bool parse_num(const char *s, const char *e, int64_t *out)
{
    int64_t v = 0;
    if (s == e)
        return false;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return false;
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

enum item_rc { ITEM_BAD, ITEM_SKIP, ITEM_OK };

/* One item of the list: "a-b", "a-" or "-n", already trimmed and non-empty. */
static enum item_rc parse_item(const char *s, const char *e, int64_t size, struct httprange *r)
{
    const char *dash = memchr(s, '-', (size_t)(e - s));
    if (dash == NULL)
        return ITEM_BAD;
    const char *a = s, *ae = dash, *b = dash + 1, *be = e;
    trim(&a, &ae);
    trim(&b, &be);

    if (a == ae) { /* suffix: the last n bytes */
        int64_t n;
        if (!parse_num(b, be, &n))
            return ITEM_BAD;
        if (n > size)
            n = size;
        if (n == 0) /* nothing to send: covers "-0" and any suffix of an empty file */
            return ITEM_SKIP;
        r->start = size - n;
        r->length = n;
        return ITEM_OK;
    }

    int64_t start, end;
    if (!parse_num(a, ae, &start))
        return ITEM_BAD;
    if (b == be) {
        end = INT64_MAX;
    } else {
        if (!parse_num(b, be, &end) || end < start)
            return ITEM_BAD;
    }
    if (start >= size)
        return ITEM_SKIP;
    if (end > size - 1) /* clamp before computing the length: no overflow */
        end = size - 1;
    r->start = start;
    r->length = end - start + 1;
    return ITEM_OK;
}

enum httprange_kind httprange_parse(const char *header, int64_t size, struct httprange *out)
{
    static const char prefix[] = "bytes=";
    bool found = false, any_item = false;

    out->start = 0;
    out->length = 0;
    if (header == NULL || header[0] == '\0')
        return HTTPRANGE_NONE;
    if (strncmp(header, prefix, sizeof(prefix) - 1) != 0)
        return HTTPRANGE_MALFORMED;
    if (size < 0)
        size = 0;

    /* Every item is checked, even after the first satisfiable one: Go rejects
     * "bytes=0-1,foo" as a whole. */
    const char *p = header + sizeof(prefix) - 1;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *s = p, *e = comma != NULL ? comma : p + strlen(p);
        trim(&s, &e);
        if (s < e) {
            struct httprange r;
            any_item = true;
            switch (parse_item(s, e, size, &r)) {
            case ITEM_BAD:
                out->start = 0;
                out->length = 0;
                return HTTPRANGE_MALFORMED;
            case ITEM_OK:
                if (!found) {
                    *out = r;
                    found = true;
                }
                break;
            case ITEM_SKIP:
                break;
            }
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (found)
        return HTTPRANGE_OK;
    if (!any_item || size == 0)
        return HTTPRANGE_NONE;
    return HTTPRANGE_UNSATISFIABLE;
}

void httprange_content_range(struct strbuf *out, const struct httprange *r, int64_t size)
{
    strbuf_append_str(out, "bytes ");
    strbuf_append_int64(out, r->start);
    strbuf_append_char(out, '-');
    strbuf_append_int64(out, r->start + r->length - 1);
    strbuf_append_char(out, '/');
    strbuf_append_int64(out, size);
}

void httprange_unsatisfied(struct strbuf *out, int64_t size)
{
    strbuf_append_str(out, "bytes */");
    strbuf_append_int64(out, size);
}
