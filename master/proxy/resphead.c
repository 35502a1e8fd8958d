#include "proxy/resphead.h"

#include <string.h>
#include <strings.h>

long resphead_length(const char *buf, size_t len)
{
    /*
     * The empty line ends the head; bare LFs are accepted as line ends. Only the first
     * RESPHEAD_MAX_BYTES count: whether a head fits must not depend on how many bytes
     * after it arrived with it.
     */
    size_t n = len < RESPHEAD_MAX_BYTES ? len : RESPHEAD_MAX_BYTES;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < n && buf[i + 1] == '\n')
            return (long)(i + 2);
        if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return (long)(i + 3);
    }
    return len >= RESPHEAD_MAX_BYTES ? -1 : 0;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A bare CR or a NUL would reach the client's parser inside a reason or value passed on. */
static bool passable(const char *s, size_t n)
{
    return memchr(s, '\r', n) == NULL && memchr(s, '\0', n) == NULL;
}

/* The next line of [*p, end): its start and length without the line end; advances *p. */
static size_t next_line(const char **p, const char *end, const char **line)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL)
        nl = end;
    *line = *p;
    size_t n = (size_t)(nl - *p);
    if (n > 0 && (*p)[n - 1] == '\r')
        n--;
    *p = nl < end ? nl + 1 : end;
    return n;
}

static int parse_status_line(const char *l, size_t n, struct resphead *out)
{
    /* "HTTP/1.1 200 OK": the reason may be empty or missing. */
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ')
        return -1;
    out->minor = l[7] - '0';
    out->status = 0;
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9')
            return -1;
        out->status = out->status * 10 + (l[i] - '0');
    }
    if (out->status < 100 || (n > 12 && l[12] != ' '))
        return -1;
    out->reason = n > 13 ? l + 13 : "";
    out->reason_len = n > 13 ? n - 13 : 0;
    return passable(out->reason, out->reason_len) ? 0 : -1;
}

static int parse_field(const char *l, size_t n, struct resphead_field *f)
{
    const char *colon = memchr(l, ':', n);
    if (colon == NULL || colon == l)
        return -1;
    f->name = l;
    f->name_len = (size_t)(colon - l);
    for (size_t i = 0; i < f->name_len; i++) {
        unsigned char c = (unsigned char)l[i];
        if (c <= ' ' || c >= 0x7f)
            return -1; /* no blank before the colon, no control bytes */
    }
    const char *v = colon + 1, *end = l + n;
    while (v < end && blank(*v))
        v++;
    while (end > v && blank(end[-1]))
        end--;
    f->value = v;
    f->value_len = (size_t)(end - v);
    return passable(v, f->value_len) ? 0 : -1;
}

int resphead_parse(const char *buf, size_t len, struct resphead *out)
{
    const char *p = buf, *end = buf + len, *line;
    size_t n = next_line(&p, end, &line);
    if (parse_status_line(line, n, out) < 0)
        return -1;
    out->n_fields = 0;
    while (p < end) {
        n = next_line(&p, end, &line);
        if (n == 0)
            return 0; /* the empty line */
        if (blank(line[0]) || out->n_fields == RESPHEAD_MAX_FIELDS)
            return -1; /* obsolete line folding, or too many fields */
        if (parse_field(line, n, &out->fields[out->n_fields]) < 0)
            return -1;
        out->n_fields++;
    }
    return -1;
}

const char *resphead_get(const struct resphead *h, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (int i = 0; i < h->n_fields; i++) {
        const struct resphead_field *f = &h->fields[i];
        if (f->name_len == nlen && strncasecmp(f->name, name, nlen) == 0) {
            *len = f->value_len;
            return f->value;
        }
    }
    *len = 0;
    return NULL;
}

bool resphead_has_token(const char *value, size_t len, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = value, *end = value + len;
    while (p < end) {
        while (p < end && (blank(*p) || *p == ','))
            p++;
        const char *start = p;
        while (p < end && *p != ',')
            p++;
        const char *stop = p;
        while (stop > start && blank(stop[-1]))
            stop--;
        if ((size_t)(stop - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return true;
    }
    return false;
}
