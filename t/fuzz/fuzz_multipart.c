/*
 * Upload bodies (worker/files/multipart.c): a Content-Type and a multipart body, fed once
 * whole and once in pieces of any size. Both runs must end alike: the same result, the
 * same parts with the same names and the same bytes.
 *
 * Input: CONTENT-TYPE \n SEED (2 bytes) BODY.
 */
#include <stdlib.h>

#include "files/multipart.h"
#include "fuzz.h"

/* What a run saw: every part's names and data, in order, in one transcript. */
struct seen {
    struct strbuf log;
    bool in_part;
};

static void note_str(struct strbuf *log, const char *s)
{
    if (s == NULL) {
        strbuf_append_str(log, "-|");
        return;
    }
    strbuf_printf(log, "%zu:", strlen(s));
    strbuf_append_str(log, s);
    strbuf_append_char(log, '|');
}

static int on_begin(void *arg, const struct multipart_part *part)
{
    struct seen *s = arg;
    if (s->in_part)
        abort();
    s->in_part = true;
    strbuf_append_str(&s->log, part->form_data ? "<F" : "<P");
    note_str(&s->log, part->name);
    note_str(&s->log, part->filename);
    note_str(&s->log, part->content_type);
    return 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct seen *s = arg;
    if (!s->in_part || len == 0)
        abort();
    strbuf_append(&s->log, data, len);
    return 0;
}

static int on_end(void *arg)
{
    struct seen *s = arg;
    if (!s->in_part)
        abort();
    s->in_part = false;
    strbuf_append_char(&s->log, '>');
    return 0;
}

static const struct multipart_callbacks callbacks = {on_begin, on_data, on_end};

/* Parses body in pieces (max 0: whole); returns the result, the transcript in s. */
static int parse(const char *type, const char *body, size_t len, uint32_t seed, size_t max,
                 struct seen *s)
{
    struct strbuf err = STRBUF_INIT;
    struct multipart *mp = multipart_new(type, &callbacks, s, &err);
    if (mp == NULL) {
        if (err.len == 0)
            abort();
        strbuf_free(&err);
        return MULTIPART_EBADTYPE;
    }
    int rc = MULTIPART_OK;
    for (size_t at = 0; at < len && rc == MULTIPART_OK;) {
        size_t n = max > 0 ? fuzz_chunk(&seed, max) : len;
        if (n > len - at)
            n = len - at;
        rc = multipart_feed(mp, body + at, n);
        at += n;
    }
    if (rc == MULTIPART_OK)
        rc = multipart_finish(mp);
    if (rc != MULTIPART_OK && multipart_error(mp)[0] == '\0')
        abort();
    strbuf_printf(&s->log, "=%d/%u", rc, multipart_parts(mp));
    multipart_free(mp);
    strbuf_free(&err);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *type = fuzz_field(&in, '\n', NULL);
    uint32_t seed = fuzz_u16(&in);

    struct strbuf boundary = STRBUF_INIT, err = STRBUF_INIT;
    if (multipart_boundary(type, &boundary, &err) == 0 &&
        (boundary.len == 0 || boundary.len > MULTIPART_MAX_BOUNDARY))
        abort();

    struct seen whole = {STRBUF_INIT, false}, pieces = {STRBUF_INIT, false};
    int a = parse(type, (const char *)in.p, in.n, seed, 0, &whole);
    int b = parse(type, (const char *)in.p, in.n, seed, 1 + seed % 97, &pieces);
    if (a != b || whole.log.len != pieces.log.len ||
        (whole.log.len > 0 && memcmp(whole.log.data, pieces.log.data, whole.log.len) != 0))
        abort();

    strbuf_free(&whole.log);
    strbuf_free(&pieces.log);
    strbuf_free(&boundary);
    strbuf_free(&err);
    free(type);
    return 0;
}
