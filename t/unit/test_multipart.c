/*
 * Streaming multipart/form-data parser: SDK-shaped bodies, every way of
 * splitting them, edge cases of the format, errors, and a fuzz pass whose
 * oracle is "no crash, no leak, well-formed callbacks, a clean result or an
 * error".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files/multipart.h"

#define MAX_PARTS 128

struct rpart {
    char *name, *filename, *ctype; /* NULL when absent */
    bool form_data;
    struct strbuf data;
    bool ended;
};

struct result {
    struct rpart parts[MAX_PARTS];
    size_t n;
    bool open;    /* a part has begun and not ended */
    bool misuse;  /* callbacks out of order: the parser's bug */
    int rc;       /* of feed/finish */
    int abort_cb; /* 1..3: that callback returns -1 on its first call */
    size_t data_total;
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static int on_begin(void *arg, const struct multipart_part *p)
{
    struct result *r = arg;
    if (r->open) {
        r->misuse = true;
        return -1;
    }
    assert_true(r->n < MAX_PARTS);
    struct rpart *rp = &r->parts[r->n++];
    rp->name = dup_or_null(p->name);
    rp->filename = dup_or_null(p->filename);
    rp->ctype = dup_or_null(p->content_type);
    rp->form_data = p->form_data;
    strbuf_init(&rp->data);
    rp->ended = false;
    r->open = true;
    return r->abort_cb == 1 ? -1 : 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct result *r = arg;
    if (!r->open || len == 0) {
        r->misuse = true;
        return -1;
    }
    strbuf_append(&r->parts[r->n - 1].data, data, len);
    r->data_total += len;
    return r->abort_cb == 2 ? -1 : 0;
}

static int on_end(void *arg)
{
    struct result *r = arg;
    if (!r->open) {
        r->misuse = true;
        return -1;
    }
    r->parts[r->n - 1].ended = true;
    r->open = false;
    return r->abort_cb == 3 ? -1 : 0;
}

static const struct multipart_callbacks callbacks = {on_begin, on_data, on_end};

static void result_free(struct result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->parts[i].name);
        free(r->parts[i].filename);
        free(r->parts[i].ctype);
        strbuf_free(&r->parts[i].data);
    }
    memset(r, 0, sizeof(*r));
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool result_eq(const struct result *a, const struct result *b)
{
    if (a->rc != b->rc || a->n != b->n || a->misuse || b->misuse)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct rpart *x = &a->parts[i], *y = &b->parts[i];
        if (!str_eq(x->name, y->name) || !str_eq(x->filename, y->filename) ||
            !str_eq(x->ctype, y->ctype) || x->form_data != y->form_data || x->ended != y->ended ||
            x->data.len != y->data.len ||
            (x->data.len > 0 && memcmp(x->data.data, y->data.data, x->data.len) != 0))
            return false;
    }
    return true;
}

/* Parses body fed in pieces: sizes from `chunk` (0 = random, seeded by *seed). */
static void parse(const char *ctype, const char *body, size_t len, size_t chunk, unsigned *seed,
                  struct result *r)
{
    struct strbuf err = STRBUF_INIT;
    int abort_cb = r->abort_cb;
    memset(r, 0, sizeof(*r));
    r->abort_cb = abort_cb;
    struct multipart *mp = multipart_new(ctype, &callbacks, r, &err);
    assert_non_null(mp);
    strbuf_free(&err);

    size_t off = 0;
    int rc = MULTIPART_OK;
    while (off < len && rc == MULTIPART_OK) {
        size_t n = chunk;
        if (n == 0)
            n = 1 + (size_t)rand_r(seed) % 97;
        if (n > len - off)
            n = len - off;
        rc = multipart_feed(mp, body + off, n);
        off += n;
    }
    if (rc == MULTIPART_OK)
        rc = multipart_finish(mp);
    else
        assert_int_equal(multipart_finish(mp), rc); /* errors are sticky */
    if (rc != MULTIPART_OK)
        assert_true(multipart_error(mp)[0] != '\0');
    assert_true(multipart_parts(mp) == r->n);
    r->rc = rc;
    multipart_free(mp);
}

/* ---- bodies ---- */

struct body {
    const char *what;
    char *ctype;
    struct strbuf b;
};

static void add_part(struct strbuf *b, const char *boundary, const char *headers, const char *data,
                     size_t len)
{
    strbuf_printf(b, "--%s\r\n%s\r\n", boundary, headers);
    strbuf_append(b, data, len);
    strbuf_append_str(b, "\r\n");
}

/* The Python SDK: one request, a metadata + file pair per file. */
static void python_body(struct body *bd, int pairs)
{
    const char *bnd = "9051914041544843365972754266";
    bd->what = "python";
    strbuf_init(&bd->b);
    struct strbuf ct = STRBUF_INIT;
    strbuf_printf(&ct, "multipart/form-data; boundary=%s", bnd);
    bd->ctype = strbuf_detach(&ct);
    for (int i = 0; i < pairs; i++) {
        struct strbuf meta = STRBUF_INIT, hdr = STRBUF_INIT, data = STRBUF_INIT;
        strbuf_printf(&meta,
                      "{\"path\": \"/workspace/dir %d/文件-%d.bin\", \"owner\": null, "
                      "\"group\": null, \"mode\": 755}",
                      i, i);
        add_part(&bd->b, bnd,
                 "Content-Disposition: form-data; name=\"metadata\"; filename=\"metadata\"\r\n"
                 "Content-Type: application/json\r\n",
                 meta.data, meta.len);
        strbuf_printf(&hdr,
                      "Content-Disposition: form-data; name=\"file\"; "
                      "filename=\"/workspace/dir %d/文件-%d.bin\"\r\n"
                      "Content-Type: application/octet-stream\r\n",
                      i, i);
        for (int k = 0; k < 40 + i * 13; k++)
            strbuf_append_char(&data, (char)(k * 7 + i));
        add_part(&bd->b, bnd, hdr.data, data.data, data.len);
        strbuf_free(&meta);
        strbuf_free(&hdr);
        strbuf_free(&data);
    }
    strbuf_printf(&bd->b, "--%s--\r\n", bnd);
}

/* The JS SDK in Node streaming mode: hand-built, one file per request. */
static void js_body(struct body *bd)
{
    const char *bnd = "opensandbox_5f2c9a7e13b04d6e_1767604085123";
    bd->what = "js";
    strbuf_init(&bd->b);
    struct strbuf ct = STRBUF_INIT;
    strbuf_printf(&ct, "multipart/form-data; boundary=%s", bnd);
    bd->ctype = strbuf_detach(&ct);
    const char *meta = "{\"path\":\"/tmp/hello.txt\"}";
    add_part(&bd->b, bnd,
             "Content-Disposition: form-data; name=\"metadata\"; filename=\"metadata\"\r\n"
             "Content-Type: application/json\r\n",
             meta, strlen(meta));
    const char *text = "hello world\n";
    add_part(&bd->b, bnd,
             "Content-Disposition: form-data; name=\"file\"; filename=\"hello.txt\"\r\n"
             "Content-Type: application/octet-stream\r\n",
             text, strlen(text));
    strbuf_printf(&bd->b, "--%s--\r\n", bnd);
}

/* Data made to look like delimiters, with a preamble and an epilogue. */
static void tricky_body(struct body *bd)
{
    const char *bnd = "XyZ";
    bd->what = "tricky";
    strbuf_init(&bd->b);
    bd->ctype = strdup("Multipart/Form-Data; charset=utf-8; boundary=\"XyZ\"");
    strbuf_append_str(&bd->b, "This is the preamble.\r\n--XyZnot a boundary\r\n-- XyZ\r\n");
    static const char data[] = "--\r\n--\r\n--X\r\n--Xy\r\n--XyZX\r\n--XyZ-x\r\r\n\n--XyZ\r\n\r\r\n"
                               "\n--XyZ"; /* bare-LF delimiters are data in a CRLF body */
    add_part(&bd->b, bnd, "Content-Disposition: form-data; name=\"file\"; filename=\"t\"\r\n", data,
             sizeof(data) - 1);
    char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (char)i;
    add_part(&bd->b, bnd, "content-disposition: form-data; name=\"bin\"; filename=\"b\"\r\n", bytes,
             sizeof(bytes));
    add_part(&bd->b, bnd, "Content-Disposition: form-data; name=\"empty\"\r\n", "", 0);
    add_part(&bd->b, bnd, "", "no headers at all", 17);
    strbuf_printf(&bd->b, "--%s-- \r\nepilogue --XyZ\r\ngarbage", bnd);
}

/* Bare LF line ends throughout, padding after boundaries, folded headers. */
static void lf_body(struct body *bd)
{
    bd->what = "lf";
    strbuf_init(&bd->b);
    bd->ctype = strdup("multipart/form-data; boundary=lf-b");
    strbuf_append_str(&bd->b, "--lf-b \t\n"
                              "Content-Disposition: form-data;\n"
                              "\tname=\"a\";\n"
                              "  filename=\"x.txt\"\n"
                              "\n"
                              "line1\r\nline2\n\n"
                              "--lf-b\n"
                              "Content-Disposition: form-data; name=\"b\"\n"
                              "\n"
                              "B\n"
                              "--lf-b--");
}

/* Parameters: RFC 2231, escapes, empty vs absent filename, other dispositions. */
static void params_body(struct body *bd)
{
    bd->what = "params";
    strbuf_init(&bd->b);
    bd->ctype = strdup("multipart/form-data; boundary=p");
    add_part(&bd->b, "p",
             "Content-Disposition: form-data; name=\"f\"; filename=\"fallback.txt\"; "
             "filename*=UTF-8''%E6%B5%8B%E8%AF%95%20x.txt\r\n",
             "1", 1);
    add_part(&bd->b, "p", "Content-Disposition: form-data; name=\"g\"; filename=\"\"\r\n", "2", 1);
    add_part(&bd->b, "p", "Content-Disposition: form-data; name=g2\r\n", "3", 1);
    add_part(&bd->b, "p",
             "Content-Disposition: form-data; name=\"q\\\"uo\\\\te\"; "
             "filename=\"C:\\dir\\file.txt\"\r\n",
             "4", 1);
    add_part(&bd->b, "p", "Content-Disposition: attachment; filename=a.txt\r\n", "5", 1);
    add_part(&bd->b, "p",
             "Content-Type: text/plain; charset=utf-8\r\n"
             "X-Other:   spaced value  \r\n"
             "Content-Disposition: FORM-DATA; NAME=\"upper\"; filename*=iso-8859-1''%E9\r\n"
             "Content-Disposition: form-data; name=\"second-ignored\"\r\n"
             "Content-Type: ignored/too\r\n",
             "6", 1);
    add_part(&bd->b, "p", "Content-Disposition: form-data; name=\"t\";\r\n", "7", 1);
    strbuf_append_str(&bd->b, "--p--");
}

static void body_free(struct body *bd)
{
    free(bd->ctype);
    strbuf_free(&bd->b);
}

enum { N_BODIES = 6 };

static void make_bodies(struct body *bd)
{
    python_body(&bd[0], 3);
    js_body(&bd[1]);
    tricky_body(&bd[2]);
    lf_body(&bd[3]);
    params_body(&bd[4]);
    python_body(&bd[5], 1);
}

static void free_bodies(struct body *bd)
{
    for (int i = 0; i < N_BODIES; i++)
        body_free(&bd[i]);
}

/* ---- tests ---- */

static void expect_part(const struct result *r, size_t i, const char *name, const char *filename,
                        const char *ctype, const char *data, size_t len)
{
    assert_true(i < r->n);
    const struct rpart *p = &r->parts[i];
    if (!str_eq(p->name, name) || !str_eq(p->filename, filename) || !str_eq(p->ctype, ctype))
        fprintf(stderr, "# part %zu: name %s filename %s ctype %s\n", i,
                p->name ? p->name : "(null)", p->filename ? p->filename : "(null)",
                p->ctype ? p->ctype : "(null)");
    assert_true(str_eq(p->name, name));
    assert_true(str_eq(p->filename, filename));
    assert_true(str_eq(p->ctype, ctype));
    assert_int_equal(p->data.len, len);
    if (len > 0)
        assert_memory_equal(p->data.data, data, len);
    assert_true(p->ended);
}

static void test_boundary(void **state)
{
    (void)state;
    static const struct {
        const char *ct, *want; /* want NULL: an error */
    } cases[] = {
        {"multipart/form-data; boundary=abc", "abc"},
        {"multipart/form-data; boundary=\"a b:c\"", "a b:c"},
        {"MULTIPART/FORM-DATA;BOUNDARY=xyz", "xyz"},
        {"multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
         "----WebKitFormBoundary7MA4YWxkTrZu0gW"},
        {"multipart/form-data; boundary=opensandbox_0a1b2c_1767604085123",
         "opensandbox_0a1b2c_1767604085123"},
        {"  multipart/form-data ;  boundary = abc ; ", "abc"},
        {"multipart/form-data; boundary=\"q\\\"x\"", "q\"x"},
        {"multipart/form-data", NULL},
        {"multipart/form-data; charset=utf-8", NULL},
        {"multipart/form-data; boundary=", NULL},
        {"multipart/form-data; boundary=\"\"", NULL},
        {"multipart/form-data; boundary=\"unterminated", NULL},
        {"multipart/form-data; boundary=a; boundary=b", NULL},
        {"multipart/form-data; boundary=\"a\tb\"", NULL},
        {"multipart/mixed; boundary=abc", NULL},
        {"application/json", NULL},
        {"text/plain; boundary=abc", NULL},
        {"", NULL},
        {"multipart", NULL},
        {"multipart/form-data boundary=abc", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strbuf b = STRBUF_INIT, err = STRBUF_INIT;
        int rc = multipart_boundary(cases[i].ct, &b, &err);
        if (cases[i].want != NULL) {
            if (rc != 0)
                fprintf(stderr, "# '%s': %s\n", cases[i].ct, err.data);
            assert_int_equal(rc, 0);
            assert_string_equal(b.data, cases[i].want);
        } else {
            if (rc == 0)
                fprintf(stderr, "# '%s' accepted as '%s'\n", cases[i].ct, b.data);
            assert_int_equal(rc, MULTIPART_EBADTYPE);
            assert_true(err.len > 0);
        }
        strbuf_free(&b);
        strbuf_free(&err);
    }
    /* too long */
    struct strbuf ct = STRBUF_INIT, b = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_append_str(&ct, "multipart/form-data; boundary=");
    for (int i = 0; i < MULTIPART_MAX_BOUNDARY + 1; i++)
        strbuf_append_char(&ct, 'b');
    assert_int_equal(multipart_boundary(ct.data, &b, &err), MULTIPART_EBADTYPE);
    assert_int_equal(multipart_boundary(NULL, &b, &err), MULTIPART_EBADTYPE);
    assert_null(multipart_new("text/plain", &callbacks, NULL, &err));
    strbuf_free(&ct);
    strbuf_free(&b);
    strbuf_free(&err);
}

static void test_python_shape(void **state)
{
    (void)state;
    struct body bd;
    python_body(&bd, 3);
    struct result r = {0};
    parse(bd.ctype, bd.b.data, bd.b.len, bd.b.len, NULL, &r);
    assert_int_equal(r.rc, MULTIPART_OK);
    assert_int_equal(r.n, 6);
    for (int i = 0; i < 3; i++) {
        char meta[160], path[80], data[80];
        snprintf(path, sizeof(path), "/workspace/dir %d/文件-%d.bin", i, i);
        int ml =
            snprintf(meta, sizeof(meta),
                     "{\"path\": \"%s\", \"owner\": null, \"group\": null, \"mode\": 755}", path);
        expect_part(&r, 2 * (size_t)i, "metadata", "metadata", "application/json", meta,
                    (size_t)ml);
        for (int k = 0; k < 40 + i * 13; k++)
            data[k] = (char)(k * 7 + i);
        expect_part(&r, 2 * (size_t)i + 1, "file", path, "application/octet-stream", data,
                    (size_t)(40 + i * 13));
        assert_true(r.parts[2 * i].form_data);
    }
    result_free(&r);
    body_free(&bd);
}

static void test_js_shape(void **state)
{
    (void)state;
    struct body bd;
    js_body(&bd);
    struct result r = {0};
    parse(bd.ctype, bd.b.data, bd.b.len, 7, NULL, &r);
    assert_int_equal(r.rc, MULTIPART_OK);
    assert_int_equal(r.n, 2);
    const char *meta = "{\"path\":\"/tmp/hello.txt\"}";
    expect_part(&r, 0, "metadata", "metadata", "application/json", meta, strlen(meta));
    expect_part(&r, 1, "file", "hello.txt", "application/octet-stream", "hello world\n", 12);
    result_free(&r);
    body_free(&bd);
}

static void test_tricky_data(void **state)
{
    (void)state;
    struct body bd;
    tricky_body(&bd);
    struct result r = {0};
    parse(bd.ctype, bd.b.data, bd.b.len, 1, NULL, &r);
    assert_int_equal(r.rc, MULTIPART_OK);
    assert_int_equal(r.n, 4);
    static const char data[] = "--\r\n--\r\n--X\r\n--Xy\r\n--XyZX\r\n--XyZ-x\r\r\n\n--XyZ\r\n\r\r\n"
                               "\n--XyZ";
    expect_part(&r, 0, "file", "t", NULL, data, sizeof(data) - 1);
    char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (char)i;
    expect_part(&r, 1, "bin", "b", NULL, bytes, 256);
    expect_part(&r, 2, "empty", NULL, NULL, "", 0);
    expect_part(&r, 3, NULL, NULL, NULL, "no headers at all", 17);
    assert_false(r.parts[3].form_data);
    result_free(&r);
    body_free(&bd);
}

static void test_lf_and_folding(void **state)
{
    (void)state;
    struct body bd;
    lf_body(&bd);
    struct result r = {0};
    parse(bd.ctype, bd.b.data, bd.b.len, 3, NULL, &r);
    assert_int_equal(r.rc, MULTIPART_OK);
    assert_int_equal(r.n, 2);
    expect_part(&r, 0, "a", "x.txt", NULL, "line1\r\nline2\n", 13);
    expect_part(&r, 1, "b", NULL, NULL, "B", 1);
    result_free(&r);
    body_free(&bd);
}

/* As in Go, an empty part may end with "--boundary" right after its headers. */
static void test_boundary_right_after_headers(void **state)
{
    (void)state;
    const char *ct = "multipart/form-data; boundary=B";
    static const struct {
        const char *body;
        size_t parts;
        const char *last_data;
    } cases[] = {
        {"--B\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n--B--", 1, ""},
        {"--B\r\n\r\n--B\r\n\r\nx\r\n--B--", 2, "x"},
        {"--B\r\n\r\n--Bx\r\n--B--", 1, "--Bx"},
        {"--B\r\n\r\n--B-x\r\n--B--", 1, "--B-x"},
        {"--B\r\n\r\n-\r\n--B--", 1, "-"},
        {"--B\r\n\r\n\r\n\r\n--B--", 1, "\r\n"},
        {"--B\n\n--B--", 1, ""},
        {"--B\n\n--Bx\n--B--", 1, "--Bx"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t chunk = 1; chunk <= strlen(cases[i].body); chunk++) {
            struct result r = {0};
            parse(ct, cases[i].body, strlen(cases[i].body), chunk, NULL, &r);
            if (r.rc != MULTIPART_OK || r.n != cases[i].parts)
                fprintf(stderr, "# case %zu chunk %zu: rc %d parts %zu\n", i, chunk, r.rc, r.n);
            assert_int_equal(r.rc, MULTIPART_OK);
            assert_int_equal(r.n, cases[i].parts);
            const struct strbuf *d = &r.parts[r.n - 1].data;
            assert_int_equal(d->len, strlen(cases[i].last_data));
            if (d->len > 0)
                assert_memory_equal(d->data, cases[i].last_data, d->len);
            result_free(&r);
        }
    }
}

static void test_parameters(void **state)
{
    (void)state;
    struct body bd;
    params_body(&bd);
    struct result r = {0};
    parse(bd.ctype, bd.b.data, bd.b.len, 5, NULL, &r);
    assert_int_equal(r.rc, MULTIPART_OK);
    assert_int_equal(r.n, 7);
    expect_part(&r, 0, "f", "测试 x.txt", NULL, "1", 1);
    expect_part(&r, 1, "g", "", NULL, "2", 1); /* present but empty */
    expect_part(&r, 2, "g2", NULL, NULL, "3", 1);
    expect_part(&r, 3, "q\"uo\\te", "C:\\dir\\file.txt", NULL, "4", 1);
    expect_part(&r, 4, NULL, "a.txt", NULL, "5", 1);
    assert_false(r.parts[4].form_data);
    /* unknown charset in filename*: ignored (as Go); first headers win */
    expect_part(&r, 5, "upper", NULL, "text/plain; charset=utf-8", "6", 1);
    assert_true(r.parts[5].form_data);
    expect_part(&r, 6, "t", NULL, NULL, "7", 1); /* trailing ';' tolerated */
    result_free(&r);
    body_free(&bd);
}

/* Every body, split every possible regular way and randomly, parses identically. */
static void test_every_split(void **state)
{
    (void)state;
    struct body bd[N_BODIES];
    make_bodies(bd);
    for (int i = 0; i < N_BODIES; i++) {
        struct result whole = {0}, r = {0};
        parse(bd[i].ctype, bd[i].b.data, bd[i].b.len, bd[i].b.len, NULL, &whole);
        assert_int_equal(whole.rc, MULTIPART_OK);
        for (size_t k = 1; k <= bd[i].b.len; k++) {
            parse(bd[i].ctype, bd[i].b.data, bd[i].b.len, k, NULL, &r);
            if (!result_eq(&whole, &r))
                fprintf(stderr, "# body %s differs at chunk size %zu\n", bd[i].what, k);
            assert_true(result_eq(&whole, &r));
            result_free(&r);
        }
        unsigned seed = 42 + (unsigned)i;
        for (int k = 0; k < 300; k++) {
            parse(bd[i].ctype, bd[i].b.data, bd[i].b.len, 0, &seed, &r);
            assert_true(result_eq(&whole, &r));
            result_free(&r);
        }
        result_free(&whole);
    }
    free_bodies(bd);
}

static int expect_rc(const char *ctype, const char *body, size_t chunk)
{
    struct result r = {0};
    parse(ctype, body, strlen(body), chunk ? chunk : strlen(body) + 1, NULL, &r);
    assert_false(r.misuse);
    int rc = r.rc;
    result_free(&r);
    return rc;
}

static void test_errors(void **state)
{
    (void)state;
    const char *ct = "multipart/form-data; boundary=B";
    for (size_t chunk = 0; chunk <= 3; chunk++) {
        assert_int_equal(expect_rc(ct, "", chunk), MULTIPART_ETRUNC);
        assert_int_equal(expect_rc(ct, "no boundary here\r\n", chunk), MULTIPART_ETRUNC);
        assert_int_equal(expect_rc(ct, "--B\r\n\r\ndata", chunk), MULTIPART_ETRUNC);
        assert_int_equal(expect_rc(ct, "--B\r\n\r\ndata\r\n--B", chunk), MULTIPART_ETRUNC);
        assert_int_equal(expect_rc(ct, "--B\r\n\r\ndata\r\n--B-", chunk), MULTIPART_ETRUNC);
        assert_int_equal(expect_rc(ct, "--B\r\nContent-Type: x", chunk), MULTIPART_ETRUNC);
        /* malformed headers */
        assert_int_equal(expect_rc(ct, "--B\r\nno colon\r\n\r\nx\r\n--B--", chunk),
                         MULTIPART_ESYNTAX);
        assert_int_equal(expect_rc(ct, "--B\r\n: empty name\r\n\r\nx\r\n--B--", chunk),
                         MULTIPART_ESYNTAX);
        assert_int_equal(expect_rc(ct, "--B\r\nBad Name: v\r\n\r\nx\r\n--B--", chunk),
                         MULTIPART_ESYNTAX);
        assert_int_equal(expect_rc(ct, "--B\r\n folded first\r\n\r\nx\r\n--B--", chunk),
                         MULTIPART_ESYNTAX);
        assert_int_equal(
            expect_rc(ct, "--B\r\nContent-Disposition: form-data; name=\"x\r\n\r\nx\r\n--B--",
                      chunk),
            MULTIPART_ESYNTAX);
        assert_int_equal(
            expect_rc(ct, "--B\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n\r\n--B--",
                      chunk),
            MULTIPART_ESYNTAX);
        assert_int_equal(
            expect_rc(ct, "--B\r\nContent-Disposition: ; name=a\r\n\r\n\r\n--B--", chunk),
            MULTIPART_ESYNTAX);
        assert_int_equal(
            expect_rc(ct, "--B\r\nContent-Disposition: form-data; name\r\n\r\n\r\n--B--", chunk),
            MULTIPART_ESYNTAX);
        /* a boundary line with junk after blanks */
        assert_int_equal(expect_rc(ct, "--B\r\n\r\nx\r\n--B  junk\r\n\r\n--B--", chunk),
                         MULTIPART_ESYNTAX);
        assert_int_equal(expect_rc(ct, "--B\r\n\r\nx\r\n--B\rjunk", chunk), MULTIPART_ESYNTAX);
        /* ...but in the preamble such a line is just preamble */
        assert_int_equal(expect_rc(ct, "--B  junk\r\n--B\r\n\r\nx\r\n--B--", chunk), MULTIPART_OK);
        /* zero parts */
        assert_int_equal(expect_rc(ct, "--B--", chunk), MULTIPART_OK);
        assert_int_equal(expect_rc(ct, "preamble\r\n--B--\r\n", chunk), MULTIPART_OK);
    }
    /* NUL in headers */
    static const char nul_body[] = "--B\r\nX-A: a\0b\r\n\r\nx\r\n--B--";
    struct result r = {0};
    parse(ct, nul_body, sizeof(nul_body) - 1, 4, NULL, &r);
    assert_int_equal(r.rc, MULTIPART_ESYNTAX);
    result_free(&r);
}

static void test_header_limit(void **state)
{
    (void)state;
    const char *ct = "multipart/form-data; boundary=B";
    struct strbuf b = STRBUF_INIT;
    strbuf_append_str(&b, "--B\r\n");
    for (int i = 0; i < 2000; i++)
        strbuf_append_str(&b, "X-Filler: 0123456789012345678901234567890123456789\r\n");
    strbuf_append_str(&b, "\r\nx\r\n--B--");
    assert_int_equal(expect_rc(ct, b.data, 0), MULTIPART_ETOOBIG);
    assert_int_equal(expect_rc(ct, b.data, 1000), MULTIPART_ETOOBIG);
    /* one endless header line fails the same way, without growing */
    strbuf_reset(&b);
    strbuf_append_str(&b, "--B\r\nX-Long: ");
    for (int i = 0; i < MULTIPART_MAX_HEADERS; i++)
        strbuf_append_char(&b, 'a');
    assert_int_equal(expect_rc(ct, b.data, 4096), MULTIPART_ETOOBIG);
    /* just under the limit is fine */
    strbuf_reset(&b);
    strbuf_append_str(&b, "--B\r\nX-Long: ");
    while (b.len < MULTIPART_MAX_HEADERS - 100)
        strbuf_append_char(&b, 'a');
    strbuf_append_str(&b, "\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nx\r\n--B--");
    assert_int_equal(expect_rc(ct, b.data, 0), MULTIPART_OK);
    strbuf_free(&b);
}

static void test_callback_abort(void **state)
{
    (void)state;
    struct body bd;
    js_body(&bd);
    for (int cb = 1; cb <= 3; cb++) {
        struct result r = {0};
        r.abort_cb = cb;
        parse(bd.ctype, bd.b.data, bd.b.len, 9, NULL, &r);
        assert_int_equal(r.rc, MULTIPART_EABORT);
        assert_int_equal(r.n, 1); /* nothing after the refusal */
        assert_false(r.misuse);
        result_free(&r);
    }
    body_free(&bd);
}

/* Data is passed on as it arrives: at most the delimiter's length is held back. */
static void test_streaming_is_bounded(void **state)
{
    (void)state;
    const char *head =
        "--bnd\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n";
    struct result r = {0};
    struct strbuf err = STRBUF_INIT;
    struct multipart *mp = multipart_new("multipart/form-data; boundary=bnd", &callbacks, &r, &err);
    assert_non_null(mp);
    assert_int_equal(multipart_feed(mp, head, strlen(head)), MULTIPART_OK);

    /* 8 MiB of data full of CR/LF and dashes: nothing may pile up in the parser */
    char chunk[65536];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = "ab\r\n-\r\n--bn"[i % 12];
    size_t fed = 0;
    for (int i = 0; i < 128; i++) {
        assert_int_equal(multipart_feed(mp, chunk, sizeof(chunk)), MULTIPART_OK);
        fed += sizeof(chunk);
        assert_true(r.data_total + strlen("\r\n--bnd") >= fed);
        /* the parts' data is collected by the test itself; drop it */
        strbuf_reset(&r.parts[0].data);
    }
    assert_int_equal(multipart_feed(mp, "\r\n--bnd--\r\n", 11), MULTIPART_OK);
    assert_int_equal(multipart_finish(mp), MULTIPART_OK);
    assert_int_equal(r.data_total, fed);
    multipart_free(mp);
    strbuf_free(&err);
    result_free(&r);
}

/* Offset just past the closing delimiter "--boundary--" (truncating at or after it is fine). */
static size_t close_end(const struct body *bd)
{
    struct strbuf b = STRBUF_INIT, err = STRBUF_INIT, pat = STRBUF_INIT;
    assert_int_equal(multipart_boundary(bd->ctype, &b, &err), 0);
    strbuf_printf(&pat, "--%s--", b.data);
    const char *last = NULL;
    for (const char *p = bd->b.data;
         (p = memmem(p, bd->b.len - (size_t)(p - bd->b.data), pat.data, pat.len)) != NULL; p++) {
        last = p;
        break; /* the first one closes the body; the epilogue may repeat it */
    }
    assert_non_null(last);
    size_t end = (size_t)(last - bd->b.data) + pat.len;
    strbuf_free(&b);
    strbuf_free(&err);
    strbuf_free(&pat);
    return end;
}

static void test_fuzz_truncate(void **state)
{
    (void)state;
    struct body bd[N_BODIES];
    make_bodies(bd);
    for (int i = 0; i < N_BODIES; i++) {
        size_t done = close_end(&bd[i]);
        unsigned seed = 7 + (unsigned)i;
        for (size_t cut = 0; cut <= bd[i].b.len; cut++) {
            struct result r = {0};
            parse(bd[i].ctype, bd[i].b.data, cut, 0, &seed, &r);
            assert_false(r.misuse);
            if (cut >= done) {
                assert_int_equal(r.rc, MULTIPART_OK);
            } else {
                if (r.rc != MULTIPART_ETRUNC)
                    fprintf(stderr, "# %s cut at %zu: rc %d\n", bd[i].what, cut, r.rc);
                assert_int_equal(r.rc, MULTIPART_ETRUNC);
            }
            result_free(&r);
        }
    }
    free_bodies(bd);
}

static void test_fuzz_mutate(void **state)
{
    (void)state;
    static const char values[] = {'\0', '\r', '\n', '-', ' ', ':', '"', 'x', (char)0xff};
    struct body bd[N_BODIES];
    make_bodies(bd);
    int outcomes[6] = {0};
    for (int i = 0; i < N_BODIES; i++) {
        unsigned seed = 1000 + (unsigned)i;
        struct strbuf m = STRBUF_INIT;
        for (size_t pos = 0; pos < bd[i].b.len; pos++) {
            for (size_t v = 0; v < sizeof(values); v++) {
                strbuf_reset(&m);
                strbuf_append(&m, bd[i].b.data, bd[i].b.len);
                m.data[pos] = values[v];
                struct result r = {0};
                parse(bd[i].ctype, m.data, m.len, 0, &seed, &r);
                assert_false(r.misuse);
                assert_true(r.rc <= 0 && r.rc >= MULTIPART_EABORT);
                assert_true(r.rc != MULTIPART_EBADTYPE && r.rc != MULTIPART_EABORT);
                if (r.rc == MULTIPART_OK)
                    assert_false(r.open); /* a clean result has every part closed */
                outcomes[-r.rc]++;
                result_free(&r);
            }
        }
        strbuf_free(&m);
    }
    fprintf(stderr, "# mutations: ok %d, syntax %d, toobig %d, truncated %d\n", outcomes[0],
            outcomes[2], outcomes[3], outcomes[4]);
    free_bodies(bd);
}

/* Random bodies assembled from the format's own pieces. */
static void test_fuzz_random(void **state)
{
    (void)state;
    static const char *pieces[] = {
        "--",
        "--zz",
        "zz",
        "\r\n",
        "\n",
        "\r",
        " ",
        "\t",
        ":",
        ";",
        "\"",
        "\\",
        "=",
        "--zz--",
        "data",
        "\0",
        "\xff",
        "--zz\r\n",
        "name",
        "filename",
        "Content-Disposition: form-data; name=\"a\"; filename=\"b\"\r\n",
        "Content-Type: text/plain\r\n",
        "filename*=UTF-8''%E6%B5",
        "\r\n--zz\r\n",
    };
    unsigned seed = 20260105;
    struct strbuf b = STRBUF_INIT;
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        strbuf_reset(&b);
        if (rand_r(&seed) % 2)
            strbuf_append_str(&b, "--zz\r\n");
        int n = rand_r(&seed) % 40;
        for (int k = 0; k < n; k++) {
            if (rand_r(&seed) % 5 == 0) {
                strbuf_append_char(&b, (char)(rand_r(&seed) & 0xff));
            } else {
                const char *pc =
                    pieces[(size_t)rand_r(&seed) % (sizeof(pieces) / sizeof(pieces[0]))];
                strbuf_append(&b, pc, pc[0] == '\0' ? 1 : strlen(pc));
            }
        }
        struct result r = {0};
        parse("multipart/form-data; boundary=zz", b.data ? b.data : "", b.len, 0, &seed, &r);
        assert_false(r.misuse);
        assert_true(r.rc <= 0 && r.rc > MULTIPART_EABORT && r.rc != MULTIPART_EBADTYPE);
        if (r.rc == MULTIPART_OK) {
            assert_false(r.open);
            ok++;
        }
        result_free(&r);
    }
    fprintf(stderr, "# random bodies: %d of 20000 parsed cleanly\n", ok);
    strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),
        cmocka_unit_test(test_python_shape),
        cmocka_unit_test(test_js_shape),
        cmocka_unit_test(test_tricky_data),
        cmocka_unit_test(test_lf_and_folding),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_boundary_right_after_headers),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_callback_abort),
        cmocka_unit_test(test_streaming_is_bounded),
        cmocka_unit_test(test_fuzz_truncate),
        cmocka_unit_test(test_fuzz_mutate),
        cmocka_unit_test(test_fuzz_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
