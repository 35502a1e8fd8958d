/*
 * The body is scanned for the delimiter "\r\n--boundary" (or "\n--boundary"
 * in LF mode) byte by byte, holding back only the part of it matched so far.
 * A boundary never contains CR or LF (checked when it is extracted), so the
 * delimiter's first byte occurs nowhere else in it: on a mismatch the held
 * bytes are plain data and matching restarts at the current byte, with no
 * failure table needed.
 */
#include "files/multipart.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include <strings.h>

enum state {
    ST_PREAMBLE, /* before the first boundary line */
    ST_AFTER,    /* just after "--boundary": what follows decides */
    ST_DASH,     /* after "--boundary-" */
    ST_PAD,      /* blanks after "--boundary" */
    ST_CR,       /* CR after "--boundary" */
    ST_HEADERS,  /* part header lines */
    ST_BODY,     /* part data */
    ST_DONE,     /* after "--boundary--": epilogue */
};

struct multipart {
    struct multipart_callbacks cb;
    void *arg;

    /* "\r\n--boundary"; LF mode matches from delim + 1. */
    char *delim_buf;
    const char *delim;
    size_t dlen;
    size_t pre_len; /* strlen("\n--boundary"), the preamble's delimiter */
    size_t m;       /* bytes of the delimiter matched (held back) */
    size_t virt;    /* leading matched bytes that were never in the body (see enter_body) */

    enum state state;
    bool in_preamble; /* the boundary being checked is the first one */
    int rc;
    unsigned parts;

    struct strbuf headers; /* this part's header lines, each ended by '\n', CRs dropped */
    size_t line_start;     /* offset of the current (incomplete) line in headers */
    struct strbuf name, filename, ext_filename, content_type;
    bool has_disposition, has_name, has_filename, has_ext_filename, has_content_type, form_data;

    struct strbuf err;
};

static int fail(struct multipart *mp, int rc, const char *msg)
{
    if (mp->rc == 0) {
        mp->rc = rc;
        strbuf_reset(&mp->err);
        strbuf_append_str(&mp->err, msg);
    }
    return rc;
}

/* ---- media types and parameters (like Go's mime.ParseMediaType) ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 2045 token characters: no controls, spaces or tspecials. */
static bool is_tspecial(unsigned char c)
{
    return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (is_blank(*p) || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static const char *take_token(const char *p, const char *end)
{
    while (p < end && is_token_char((unsigned char)*p))
        p++;
    return p;
}

/*
 * A parameter value: a token, or a quoted-string where a backslash escapes
 * only a tspecial (Go keeps MSIE's unescaped "C:\dir\file" paths intact).
 * Returns the position after it, or NULL when malformed.
 */
static const char *take_value(const char *p, const char *end, struct strbuf *out)
{
    strbuf_reset(out);
    if (p < end && *p == '"') {
        for (p++; p < end; p++) {
            if (*p == '"')
                return p + 1;
            if (*p == '\\' && p + 1 < end && is_tspecial((unsigned char)p[1]))
                p++;
            else if (*p == '\r' || *p == '\n')
                return NULL;
            strbuf_append_char(out, *p);
        }
        return NULL; /* no closing quote */
    }
    const char *e = take_token(p, end);
    if (e == p)
        return NULL;
    strbuf_append(out, p, (size_t)(e - p));
    return e;
}

typedef int (*param_fn)(void *arg, const char *key, const struct strbuf *value);

/*
 * Parses "type[/subtype] *(; key=value)". The type, lowercased, goes to type.
 * Keys are lowercased; a repeated key is an error, as in Go. Returns 0 or -1.
 */
static int parse_media(const char *s, bool want_subtype, struct strbuf *type, param_fn fn,
                       void *arg)
{
    const char *p = s, *end = s + strlen(s);
    struct strbuf key = STRBUF_INIT, value = STRBUF_INIT, seen = STRBUF_INIT, probe = STRBUF_INIT;
    int rc = -1;

    p = skip_ws(p, end);
    const char *t = p;
    p = take_token(p, end);
    if (p == t)
        goto out;
    if (want_subtype) {
        if (p == end || *p != '/')
            goto out;
        const char *sub = ++p;
        p = take_token(p, end);
        if (p == sub)
            goto out;
    }
    strbuf_reset(type);
    for (const char *c = t; c < p; c++)
        strbuf_append_char(type, (char)tolower((unsigned char)*c));
    strbuf_append_char(&seen, ';'); /* ";key1;key2;" to detect repeats */

    for (;;) {
        p = skip_ws(p, end);
        if (p == end)
            break;
        if (*p != ';')
            goto out;
        p = skip_ws(p + 1, end);
        if (p == end) /* a trailing ';' is tolerated */
            break;
        const char *k = p;
        p = take_token(p, end);
        if (p == k)
            goto out;
        strbuf_reset(&key);
        for (const char *c = k; c < p; c++)
            strbuf_append_char(&key, (char)tolower((unsigned char)*c));
        p = skip_ws(p, end);
        if (p == end || *p != '=')
            goto out;
        p = take_value(skip_ws(p + 1, end), end, &value);
        if (p == NULL)
            goto out;

        strbuf_reset(&probe);
        strbuf_printf(&probe, ";%s;", key.data);
        if (strstr(seen.data, probe.data) != NULL)
            goto out;
        strbuf_append(&seen, probe.data + 1, probe.len - 1);
        if (fn != NULL && fn(arg, key.data, &value) != 0)
            goto out;
    }
    rc = 0;
out:
    strbuf_free(&key);
    strbuf_free(&value);
    strbuf_free(&seen);
    strbuf_free(&probe);
    return rc;
}

struct boundary_param {
    struct strbuf *value;
    bool found;
};

static int boundary_param(void *arg, const char *key, const struct strbuf *value)
{
    struct boundary_param *bp = arg;
    if (strcmp(key, "boundary") == 0) {
        strbuf_append(bp->value, value->data != NULL ? value->data : "", value->len);
        bp->found = true;
    }
    return 0;
}

int multipart_boundary(const char *content_type, struct strbuf *boundary, struct strbuf *err)
{
    struct strbuf type = STRBUF_INIT;
    struct boundary_param bp = {boundary, false};
    int rc = MULTIPART_EBADTYPE;

    strbuf_reset(boundary);
    if (content_type == NULL || parse_media(content_type, true, &type, boundary_param, &bp) != 0) {
        strbuf_append_str(err, "request Content-Type isn't multipart/form-data");
        goto out;
    }
    if (strcmp(type.data, "multipart/form-data") != 0) {
        strbuf_append_str(err, "request Content-Type isn't multipart/form-data");
        goto out;
    }
    if (!bp.found) {
        strbuf_append_str(err, "no multipart boundary param in Content-Type");
        goto out;
    }
    if (boundary->len == 0 || boundary->len > MULTIPART_MAX_BOUNDARY) {
        strbuf_printf(err, "invalid multipart boundary length %zu", boundary->len);
        goto out;
    }
    for (size_t i = 0; i < boundary->len; i++) {
        unsigned char c = (unsigned char)boundary->data[i];
        /* CR and LF would break the delimiter scan; controls have no business here. */
        if (c < 0x20 || c == 0x7f) {
            strbuf_append_str(err, "invalid character in multipart boundary");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        strbuf_reset(boundary);
    strbuf_free(&type);
    return rc;
}

/* ---- part headers ---- */

/*
 * RFC 2231 value "charset'lang'pct-encoded" into out. Only UTF-8 and
 * US-ASCII are understood (as in Go); false means "ignore the parameter".
 */
static bool decode_ext_value(const struct strbuf *v, struct strbuf *out)
{
    const char *s = v->data ? v->data : "";
    const char *q1 = strchr(s, '\'');
    const char *q2 = q1 != NULL ? strchr(q1 + 1, '\'') : NULL;
    if (q2 == NULL)
        return false;
    size_t cslen = (size_t)(q1 - s);
    if (!((cslen == 5 && strncasecmp(s, "utf-8", 5) == 0) ||
          (cslen == 8 && strncasecmp(s, "us-ascii", 8) == 0)))
        return false;
    strbuf_reset(out);
    for (const char *p = q2 + 1; *p != '\0'; p++) {
        if (*p != '%') {
            strbuf_append_char(out, *p);
            continue;
        }
        int hi = hex_digit(p[1]), lo = hi >= 0 ? hex_digit(p[2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) /* bad escape, or a NUL in a C string */
            return false;
        strbuf_append_char(out, (char)(hi * 16 + lo));
        p += 2;
    }
    return true;
}

static int disposition_param(void *arg, const char *key, const struct strbuf *value)
{
    struct multipart *mp = arg;
    const char *v = value->data ? value->data : "";

    if (memchr(v, '\0', value->len) != NULL)
        return -1;
    if (strcmp(key, "name") == 0) {
        strbuf_append(&mp->name, v, value->len);
        mp->has_name = true;
    } else if (strcmp(key, "filename") == 0) {
        strbuf_append(&mp->filename, v, value->len);
        mp->has_filename = true;
    } else if (strcmp(key, "filename*") == 0) {
        mp->has_ext_filename = decode_ext_value(value, &mp->ext_filename);
    }
    return 0;
}

static int header_field(struct multipart *mp, const char *name, size_t nlen, const char *value)
{
    if (nlen == 19 && strncasecmp(name, "content-disposition", 19) == 0) {
        if (mp->has_disposition)
            return 0; /* only the first one counts */
        mp->has_disposition = true;
        struct strbuf type = STRBUF_INIT;
        int rc = parse_media(value, false, &type, disposition_param, mp);
        if (rc == 0)
            mp->form_data = strcmp(type.data, "form-data") == 0;
        strbuf_free(&type);
        if (rc != 0)
            return fail(mp, MULTIPART_ESYNTAX, "malformed Content-Disposition in multipart part");
        if (mp->has_ext_filename) {
            strbuf_reset(&mp->filename);
            strbuf_append(&mp->filename, mp->ext_filename.data, mp->ext_filename.len);
            mp->has_filename = true;
        }
    } else if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) {
        if (!mp->has_content_type) {
            strbuf_append_str(&mp->content_type, value);
            mp->has_content_type = true;
        }
    }
    return 0;
}

/* "Name: value" (folded lines already joined). */
static int header_line(struct multipart *mp, struct strbuf *line)
{
    char *colon = memchr(line->data, ':', line->len);
    if (colon == NULL)
        return fail(mp, MULTIPART_ESYNTAX, "malformed MIME header line in multipart part");
    size_t nlen = (size_t)(colon - line->data);
    bool valid = nlen > 0;
    for (size_t i = 0; i < nlen && valid; i++)
        valid = is_token_char((unsigned char)line->data[i]);
    if (!valid)
        return fail(mp, MULTIPART_ESYNTAX, "malformed MIME header field name in multipart part");
    char *v = colon + 1, *end = line->data + line->len;
    while (v < end && is_blank(*v))
        v++;
    while (end > v && is_blank(end[-1]))
        end--;
    *end = '\0';
    return header_field(mp, line->data, nlen, v);
}

static void reset_part(struct multipart *mp)
{
    strbuf_reset(&mp->headers);
    mp->line_start = 0;
    strbuf_reset(&mp->name);
    strbuf_reset(&mp->filename);
    strbuf_reset(&mp->ext_filename);
    strbuf_reset(&mp->content_type);
    mp->has_disposition = mp->has_name = mp->has_filename = false;
    mp->has_ext_filename = mp->has_content_type = false;
    mp->form_data = false;
}

/* A strbuf as a C string, "" when nothing was ever appended. */
static const char *str_of(const struct strbuf *sb)
{
    return sb->data != NULL ? sb->data : "";
}

/* All header lines are in; parse them and announce the part. */
static int begin_part(struct multipart *mp)
{
    struct strbuf field = STRBUF_INIT;
    const char *p = mp->headers.data ? mp->headers.data : "";
    const char *end = p + mp->headers.len;
    int rc = 0;

    if (memchr(p, '\0', mp->headers.len) != NULL) {
        rc = fail(mp, MULTIPART_ESYNTAX, "NUL byte in multipart part headers");
        goto out;
    }
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) /* cannot happen: every stored line ends with '\n' */
            nl = end;
        size_t len = (size_t)(nl - p);
        if (is_blank(*p)) { /* folded continuation of the previous field */
            if (field.len == 0) {
                rc = fail(mp, MULTIPART_ESYNTAX, "malformed MIME header initial line");
                break;
            }
            strbuf_append_char(&field, ' ');
            while (len > 0 && is_blank(*p)) {
                p++;
                len--;
            }
            strbuf_append(&field, p, len);
        } else {
            if (field.len > 0)
                rc = header_line(mp, &field);
            strbuf_reset(&field);
            strbuf_append(&field, p, len);
        }
        p = nl + 1;
    }
    if (rc == 0 && field.len > 0)
        rc = header_line(mp, &field);
    if (rc != 0)
        goto out;

    mp->parts++;
    if (mp->cb.part_begin != NULL) {
        struct multipart_part part = {
            .name = mp->has_name ? str_of(&mp->name) : NULL,
            .filename = mp->has_filename ? str_of(&mp->filename) : NULL,
            .content_type = mp->has_content_type ? str_of(&mp->content_type) : NULL,
            .form_data = mp->form_data,
        };
        if (mp->cb.part_begin(mp->arg, &part) != 0)
            rc = fail(mp, MULTIPART_EABORT, "multipart part rejected");
    }
out:
    strbuf_free(&field);
    return rc;
}

/* ---- the scanner ---- */

static int emit(struct multipart *mp, const char *data, size_t len)
{
    if (len == 0 || mp->cb.part_data == NULL)
        return 0;
    if (mp->cb.part_data(mp->arg, data, len) != 0)
        return fail(mp, MULTIPART_EABORT, "multipart part data rejected");
    return 0;
}

static int end_part(struct multipart *mp)
{
    if (mp->cb.part_end != NULL && mp->cb.part_end(mp->arg) != 0)
        return fail(mp, MULTIPART_EABORT, "multipart part end rejected");
    return 0;
}

/* A complete boundary line: the next part's headers follow. */
static int boundary_line(struct multipart *mp, bool crlf)
{
    if (mp->in_preamble) {
        /* The first boundary line's ending sets the body's line ending, as in Go. */
        mp->in_preamble = false;
        mp->delim = crlf ? mp->delim_buf : mp->delim_buf + 1;
        mp->dlen = strlen(mp->delim);
    } else if (end_part(mp) != 0) {
        return mp->rc;
    }
    reset_part(mp);
    mp->state = ST_HEADERS;
    return 0;
}

/*
 * "--boundary" turned out to be followed by something else. In the preamble
 * it is just more preamble; in a part it is data (delimiter + extra).
 */
static int not_boundary(struct multipart *mp, const char *extra, size_t n)
{
    mp->m = 0;
    if (mp->in_preamble) {
        mp->state = ST_PREAMBLE;
        return 0;
    }
    mp->state = ST_BODY;
    size_t virt = mp->virt;
    mp->virt = 0;
    if (emit(mp, mp->delim + virt, mp->dlen - virt) != 0)
        return mp->rc;
    return emit(mp, extra, n);
}

/* After a full "--boundary": one byte at a time decides what it was. */
static int after_boundary(struct multipart *mp, unsigned char c, bool *consumed)
{
    *consumed = true;
    switch (mp->state) {
    case ST_AFTER:
        if (c == '-') {
            mp->state = ST_DASH;
        } else if (is_blank((char)c)) {
            mp->state = ST_PAD;
        } else if (c == '\r') {
            mp->state = ST_CR;
        } else if (c == '\n') {
            return boundary_line(mp, false);
        } else {
            *consumed = false;
            return not_boundary(mp, "", 0);
        }
        return 0;
    case ST_DASH:
        if (c == '-') { /* closing delimiter: the rest is epilogue */
            mp->state = ST_DONE;
            return mp->in_preamble ? 0 : end_part(mp);
        }
        *consumed = false;
        return not_boundary(mp, "-", 1);
    case ST_PAD:
        if (is_blank((char)c))
            return 0;
        if (c == '\r') {
            mp->state = ST_CR;
            return 0;
        }
        if (c == '\n')
            return boundary_line(mp, false);
        break;
    case ST_CR:
        if (c == '\n')
            return boundary_line(mp, true);
        break;
    default:
        break;
    }
    /* "--boundary" + blanks/CR + something else. */
    if (mp->in_preamble) {
        *consumed = false;
        return not_boundary(mp, "", 0);
    }
    return fail(mp, MULTIPART_ESYNTAX, "malformed multipart boundary line");
}

/* Part data: pass everything on except a possible delimiter start. */
static const char *scan_body(struct multipart *mp, const char *p, const char *end)
{
    const char *run = p; /* data not yet passed on */

    while (p < end) {
        if (mp->m == 0) {
            const char *q = memchr(p, mp->delim[0], (size_t)(end - p));
            if (q == NULL) {
                p = end;
                break;
            }
            if (emit(mp, run, (size_t)(q - run)) != 0)
                return end;
            mp->m = 1;
            p = run = q + 1;
            continue;
        }
        if (*p == mp->delim[mp->m]) {
            p = run = p + 1;
            if (++mp->m == mp->dlen) {
                mp->m = 0; /* virt stays: not_boundary may still need it */
                mp->state = ST_AFTER;
                return p;
            }
            continue;
        }
        /* Not a delimiter: what was held back is data; look at *p afresh. */
        if (emit(mp, mp->delim + mp->virt, mp->m - mp->virt) != 0)
            return end;
        mp->m = 0;
        mp->virt = 0;
        run = p;
    }
    if (emit(mp, run, (size_t)(p - run)) != 0)
        return end;
    return p;
}

/* Preamble: only looks for the first "--boundary" at a line start. */
static const char *scan_preamble(struct multipart *mp, const char *p, const char *end)
{
    while (p < end) {
        if (mp->m == 0) {
            const char *q = memchr(p, '\n', (size_t)(end - p));
            if (q == NULL)
                return end;
            mp->m = 1;
            p = q + 1;
            continue;
        }
        /* LF-mode delimiter "\n--boundary", whatever the body's line ends are. */
        if (*p == mp->delim_buf[1 + mp->m]) {
            p++;
            if (++mp->m == mp->pre_len) {
                mp->m = 0;
                mp->state = ST_AFTER;
                return p;
            }
            continue;
        }
        mp->m = 0;
    }
    return p;
}

/*
 * Like Go, an empty part may be closed by "--boundary" right after its
 * headers, without the line end that normally precedes a delimiter: the
 * body starts as if that line end had been matched already. Those bytes are
 * virtual: if no delimiter follows, they are not passed on as data.
 */
static void enter_body(struct multipart *mp)
{
    mp->state = ST_BODY;
    mp->m = mp->virt = mp->dlen - mp->pre_len + 1; /* "\r\n" or "\n" */
}

static const char *scan_headers(struct multipart *mp, const char *p, const char *end)
{
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        size_t n = (size_t)(stop - p);
        if (mp->headers.len + n + 1 > MULTIPART_MAX_HEADERS) {
            fail(mp, MULTIPART_ETOOBIG, "multipart part headers too large");
            return end;
        }
        strbuf_append(&mp->headers, p, n);
        if (nl == NULL)
            return end;
        p = nl + 1;
        /* A line is complete: drop its CR, and a blank line ends the headers. */
        size_t len = mp->headers.len - mp->line_start;
        if (len > 0 && mp->headers.data[mp->headers.len - 1] == '\r') {
            mp->headers.len--;
            len--;
        }
        if (len == 0) {
            mp->headers.len = mp->line_start;
            if (mp->headers.data != NULL)
                mp->headers.data[mp->headers.len] = '\0';
            if (begin_part(mp) != 0)
                return end;
            enter_body(mp);
            return p;
        }
        strbuf_append_char(&mp->headers, '\n');
        mp->line_start = mp->headers.len;
    }
    return p;
}

int multipart_feed(struct multipart *mp, const void *data, size_t len)
{
    const char *p = data, *end = p + len;

    while (p < end && mp->rc == 0) {
        switch (mp->state) {
        case ST_PREAMBLE:
            p = scan_preamble(mp, p, end);
            break;
        case ST_BODY:
            p = scan_body(mp, p, end);
            break;
        case ST_HEADERS:
            p = scan_headers(mp, p, end);
            break;
        case ST_DONE:
            return MULTIPART_OK; /* epilogue */
        default: {
            bool consumed;
            after_boundary(mp, (unsigned char)*p, &consumed);
            if (consumed)
                p++;
            break;
        }
        }
    }
    return mp->rc;
}

int multipart_finish(struct multipart *mp)
{
    if (mp->rc != 0)
        return mp->rc;
    if (mp->state == ST_DONE)
        return MULTIPART_OK;
    return fail(mp, MULTIPART_ETRUNC,
                mp->parts == 0 && mp->in_preamble ? "multipart body has no boundary"
                                                  : "unexpected end of multipart body");
}

struct multipart *multipart_new(const char *content_type, const struct multipart_callbacks *cb,
                                void *arg, struct strbuf *err)
{
    struct strbuf boundary = STRBUF_INIT;
    if (multipart_boundary(content_type, &boundary, err) != 0) {
        strbuf_free(&boundary);
        return NULL;
    }

    struct multipart *mp = calloc(1, sizeof(*mp));
    if (mp == NULL) {
        strbuf_append_str(err, "out of memory");
        strbuf_free(&boundary);
        return NULL;
    }
    if (cb != NULL)
        mp->cb = *cb;
    mp->arg = arg;

    struct strbuf d = STRBUF_INIT;
    strbuf_printf(&d, "\r\n--%s", boundary.data);
    strbuf_free(&boundary);
    mp->delim_buf = strbuf_detach(&d);
    mp->delim = mp->delim_buf;
    mp->dlen = strlen(mp->delim);
    mp->pre_len = mp->dlen - 1;
    /* The body's start counts as a line start: "--boundary" may open it. */
    mp->m = 1;
    mp->state = ST_PREAMBLE;
    mp->in_preamble = true;
    strbuf_init(&mp->headers);
    strbuf_init(&mp->name);
    strbuf_init(&mp->filename);
    strbuf_init(&mp->ext_filename);
    strbuf_init(&mp->content_type);
    strbuf_init(&mp->err);
    return mp;
}

void multipart_free(struct multipart *mp)
{
    if (mp == NULL)
        return;
    free(mp->delim_buf);
    strbuf_free(&mp->headers);
    strbuf_free(&mp->name);
    strbuf_free(&mp->filename);
    strbuf_free(&mp->ext_filename);
    strbuf_free(&mp->content_type);
    strbuf_free(&mp->err);
    free(mp);
}

const char *multipart_error(const struct multipart *mp)
{
    return mp->err.data != NULL ? mp->err.data : "";
}

unsigned multipart_parts(const struct multipart *mp)
{
    return mp->parts;
}
