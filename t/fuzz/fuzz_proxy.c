/*
 * The port proxy's parsers (master/proxy/): the target of a /proxy/{port}/{rest} path
 * (proxy_target), and a backend's answer as the proxy reads it from an untrusted
 * workload: where its head ends (resphead_length, asked again after every read), the head
 * (resphead_parse, resphead_get, resphead_has_token) and where a chunked body after it
 * ends (chunkscan), fed whole and in pieces of any size.
 *
 * Input: PATH \n SEED (2 bytes) ANSWER. The body is what follows ANSWER's head, or all of
 * ANSWER when it has no complete head. When SEED's top four bits are set, ANSWER is also
 * moved behind filler bytes so that its head ends within 4 bytes of RESPHEAD_MAX_BYTES.
 */
#include <stdlib.h>
#include <strings.h>

#include "fuzz.h"
#include "proxy/chunkscan.h"
#include "proxy/proxy.h"
#include "proxy/resphead.h"
#include "strbuf.h"

/* Splitting a path: "/proxy/" and the port's digits, then the rest as it was. */
static void check_target(const char *path)
{
    int port = 0;
    const char *rest = NULL;
    enum proxy_target_rc rc = proxy_target(path, &port, &rest);
    bool prefixed = strncmp(path, "/proxy/", 7) == 0;
    if ((rc == PROXY_NO_PORT) != (!prefixed || path[7] == '/' || path[7] == '\0'))
        abort();
    if (rc != PROXY_TARGET_OK)
        return;
    const char *digits = path + 7;
    size_t n = strspn(digits, "0123456789");
    if (n == 0 || n > 5 || (digits[n] != '/' && digits[n] != '\0') || port < 1 || port > 65535 ||
        strtol(digits, NULL, 10) != port)
        abort();
    if (digits[n] == '\0' ? strcmp(rest, "/") != 0 : rest != digits + n)
        abort();
}

/* What resphead_length must say of the first k bytes when the head ends at end (0: never). */
static long length_of_prefix(size_t end, size_t k)
{
    if (end > 0 && end <= k && end <= RESPHEAD_MAX_BYTES)
        return (long)end;
    return k >= RESPHEAD_MAX_BYTES ? -1 : 0;
}

/*
 * The proxy asks resphead_length again after every read, with all that arrived so far:
 * every prefix must agree with where the head ends, or the answer would depend on how
 * the backend's bytes arrived.
 */
static void check_prefixes(const char *buf, size_t len, size_t end, uint32_t *seed)
{
    size_t ks[] = {len, end > 0 ? end - 1 : 0, end, RESPHEAD_MAX_BYTES,
                   fuzz_chunk(seed, len + 1) - 1};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        if (ks[i] <= len && resphead_length(buf, ks[i]) != length_of_prefix(end, ks[i]))
            abort();
    }
}

/* ANSWER behind filler bytes without a line end, its head's end near the limit. */
static void check_near_limit(const char *answer, size_t len, long head_len, uint32_t far)
{
    if (len + 8 >= RESPHEAD_MAX_BYTES)
        return;
    size_t anchor = head_len > 0 ? (size_t)head_len : len;
    size_t filler = RESPHEAD_MAX_BYTES + (far & 7) - 4 - anchor;
    char *buf = xmalloc(filler + len);
    memset(buf, 'x', filler);
    memcpy(buf + filler, answer, len);
    check_prefixes(buf, filler + len, head_len > 0 ? filler + (size_t)head_len : 0, &far);
    free(buf);
}

static bool ends_in_empty_line(const char *head, size_t len)
{
    return (len >= 2 && memcmp(head + len - 2, "\n\n", 2) == 0) ||
           (len >= 3 && memcmp(head + len - 3, "\n\r\n", 3) == 0);
}

static bool inside(const char *buf, size_t len, const char *p, size_t n)
{
    return p >= buf && n <= len && p <= buf + len - n;
}

/* What the proxy writes into the client's head as it is: no line end, no NUL. */
static bool clean(const char *p, size_t n)
{
    return memchr(p, '\r', n) == NULL && memchr(p, '\n', n) == NULL && memchr(p, '\0', n) == NULL;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Every comma-separated element of a field's value is a token resphead_has_token finds. */
static void check_tokens(const char *value, size_t len)
{
    for (size_t at = 0; at < len;) {
        const char *comma = memchr(value + at, ',', len - at);
        size_t stop = comma != NULL ? (size_t)(comma - value) : len, start = at;
        at = stop + 1;
        while (start < stop && blank(value[start]))
            start++;
        while (stop > start && blank(value[stop - 1]))
            stop--;
        if (start == stop)
            continue;
        char *token = xstrndup(value + start, stop - start);
        if (!resphead_has_token(value, len, token))
            abort();
        free(token);
    }
}

static void check_field(const char *buf, size_t len, const struct resphead *h, int i)
{
    const struct resphead_field *f = &h->fields[i];
    if (f->name_len == 0 || !inside(buf, len, f->name, f->name_len) ||
        !inside(buf, len, f->value, f->value_len) || !clean(f->value, f->value_len) ||
        (f->value_len > 0 && (blank(f->value[0]) || blank(f->value[f->value_len - 1]))))
        abort();
    for (size_t k = 0; k < f->name_len; k++) {
        unsigned char c = (unsigned char)f->name[k];
        if (c <= ' ' || c >= 0x7f || c == ':')
            abort();
    }
    /* resphead_get finds the first field of that name, in any case. */
    char *name = xstrndup(f->name, f->name_len);
    size_t vlen;
    const char *v = resphead_get(h, name, &vlen);
    int first = 0;
    while (h->fields[first].name_len != f->name_len ||
           strncasecmp(h->fields[first].name, name, f->name_len) != 0)
        first++;
    if (v != h->fields[first].value || vlen != h->fields[first].value_len)
        abort();
    free(name);
    check_tokens(f->value, f->value_len);
}

/* The head as the proxy writes it for the client, from a parsed one. */
static void rebuild(const struct resphead *h, struct strbuf *out)
{
    strbuf_printf(out, "HTTP/1.%d %d ", h->minor, h->status);
    strbuf_append(out, h->reason, h->reason_len);
    strbuf_append_str(out, "\r\n");
    for (int i = 0; i < h->n_fields; i++) {
        strbuf_append(out, h->fields[i].name, h->fields[i].name_len);
        strbuf_append_str(out, ": ");
        strbuf_append(out, h->fields[i].value, h->fields[i].value_len);
        strbuf_append_str(out, "\r\n");
    }
    strbuf_append_str(out, "\r\n");
}

static bool same_text(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* A head written again from its parts reads back as the same head, of the same length. */
static void check_rebuilt(const struct resphead *h)
{
    struct strbuf text = STRBUF_INIT;
    rebuild(h, &text);
    struct resphead *again = xmalloc(sizeof(*again));
    if ((text.len <= RESPHEAD_MAX_BYTES &&
         resphead_length(text.data, text.len) != (long)text.len) ||
        resphead_parse(text.data, text.len, again) != 0 || again->status != h->status ||
        again->minor != h->minor || again->n_fields != h->n_fields ||
        !same_text(again->reason, again->reason_len, h->reason, h->reason_len))
        abort();
    for (int i = 0; i < h->n_fields; i++) {
        const struct resphead_field *a = &again->fields[i], *b = &h->fields[i];
        if (!same_text(a->name, a->name_len, b->name, b->name_len) ||
            !same_text(a->value, a->value_len, b->value, b->value_len))
            abort();
    }
    free(again);
    strbuf_free(&text);
}

/* Parses the head of length len (its own allocation: a read past it is seen). */
static void check_head(const char *head, size_t len)
{
    char *buf = xmalloc(len);
    memcpy(buf, head, len);
    struct resphead *h = xmalloc(sizeof(*h));
    if (resphead_parse(buf, len, h) == 0) {
        if (h->minor < 0 || h->minor > 9 || h->status < 100 || h->status > 999 || h->n_fields < 0 ||
            h->n_fields > RESPHEAD_MAX_FIELDS ||
            (h->reason_len > 0 && !inside(buf, len, h->reason, h->reason_len)) ||
            !clean(h->reason, h->reason_len))
            abort();
        for (int i = 0; i < h->n_fields; i++)
            check_field(buf, len, h, i);
        check_rebuilt(h);
    }
    free(h);
    free(buf);
}

/*
 * Scans a chunked body in pieces (max 0: whole), each in its own allocation, stopping at
 * its end as the proxy does. Returns how many bytes belong to the body, its state in *st.
 */
static size_t scan(const char *body, size_t len, uint32_t seed, size_t max,
                   enum chunkscan_state *st)
{
    struct chunkscan s;
    chunkscan_init(&s);
    size_t used = 0;
    for (size_t at = 0; at < len && s.state != CS_DONE && s.state != CS_ERROR;) {
        size_t n = max > 0 ? fuzz_chunk(&seed, max) : len;
        if (n > len - at)
            n = len - at;
        char *piece = xmalloc(n);
        memcpy(piece, body + at, n);
        size_t took = chunkscan_feed(&s, piece, n);
        free(piece);
        if (took > n || (took < n && s.state != CS_DONE && s.state != CS_ERROR) || s.digits > 16 ||
            s.state > CS_ERROR)
            abort();
        used += took;
        at += n;
    }
    /* Past its end or an error, a scan takes nothing more. */
    if ((s.state == CS_DONE || s.state == CS_ERROR) && chunkscan_feed(&s, body, len) != 0)
        abort();
    *st = s.state;
    return used;
}

static void check_body(const char *body, size_t len, uint32_t seed)
{
    enum chunkscan_state whole, pieces;
    size_t a = scan(body, len, seed, 0, &whole);
    size_t b = scan(body, len, seed, 1 + seed % 97, &pieces);
    if (a != b || whole != pieces || a > len)
        abort();
    /* A body ends on a line end; a scan that neither ended nor failed took everything. */
    if (whole == CS_DONE ? (a < 3 || body[a - 1] != '\n') : (whole != CS_ERROR && a != len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *path = fuzz_field(&in, '\n', NULL);
    uint32_t seed = fuzz_u16(&in);
    const char *answer = (const char *)in.p;
    size_t len = in.n;

    check_target(path);

    long head_len = resphead_length(answer, len);
    if (head_len > 0 && !ends_in_empty_line(answer, (size_t)head_len))
        abort();
    if (len < RESPHEAD_MAX_BYTES) {
        uint32_t s = seed;
        if (head_len < 0)
            abort();
        check_prefixes(answer, len, (size_t)head_len, &s);
        if ((seed & 0xf000) == 0xf000)
            check_near_limit(answer, len, head_len, seed >> 8);
    }
    if (head_len > 0)
        check_head(answer, (size_t)head_len);

    size_t skip = head_len > 0 ? (size_t)head_len : 0;
    check_body(answer + skip, len - skip, seed);
    free(path);
    return 0;
}
