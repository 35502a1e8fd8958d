/* Jupyter wire protocol: signing, building and parsing multipart frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "jupyter/jmsg.h"

#define KEY "0123456789abcdef0123456789abcdef"
/* Digests computed independently with Python's hmac module:
 *   hmac.new(KEY, digestmod=hashlib.sha256), update() with each part, hexdigest(). */
#define VECTOR1 "e9f00355a4c29ed2c4fe3658f5b14ce53daf48514f8c4699dce286a3c862ce3e"
#define VECTOR2 "8d8649d751bdcfde69e8b4d0e5ee7fa52122734a9190e6c976287e690ea8cb79"

static const char *const reply_parts[4] = {
    "{\"msg_id\":\"m1\",\"msg_type\":\"execute_reply\"}",
    "{\"msg_id\":\"p1\"}",
    "{}",
    "{\"status\":\"ok\",\"execution_count\":3}",
};

static struct jmsg_frame fr(const char *s)
{
    struct jmsg_frame f = {s, strlen(s)};
    return f;
}

/* ids identity frames, then the delimiter, sig and the four reply parts. */
static size_t make_frames(struct jmsg_frame *f, size_t ids, const char *sig)
{
    static const char *const idnames[] = {"id-a", "id-b", "id-c"};
    size_t n = 0;
    for (size_t i = 0; i < ids; i++)
        f[n++] = fr(idnames[i]);
    f[n++] = fr(JMSG_DELIM);
    f[n++] = fr(sig);
    for (int i = 0; i < 4; i++)
        f[n++] = fr(reply_parts[i]);
    return n;
}

static void test_sign_known_vector(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new(KEY, &err);
    assert_non_null(a);
    assert_true(jmsg_auth_enabled(a));
    struct jmsg_frame parts[4] = {fr("{\"msg_id\":\"a\"}"), fr("{}"), fr("{}"),
                                  fr("{\"code\":\"1+1\"}")};
    char hex[JMSG_SIG_HEX + 1];
    assert_int_equal(jmsg_auth_sign(a, parts, hex), 0);
    assert_string_equal(hex, VECTOR1);
    /* The template is reusable: same input, same digest. */
    assert_int_equal(jmsg_auth_sign(a, parts, hex), 0);
    assert_string_equal(hex, VECTOR1);
    jmsg_auth_free(a);
    strbuf_free(&err);
}

static void test_parse_delimiter_anywhere(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new(KEY, &err);
    size_t ids[] = {0, 1, 3};
    for (size_t i = 0; i < 3; i++) {
        struct jmsg_frame f[16];
        size_t n = make_frames(f, ids[i], VECTOR2);
        struct jmsg m;
        strbuf_reset(&err);
        assert_int_equal(jmsg_parse(&m, a, f, n, &err), 0);
        assert_int_equal(m.nids, ids[i]);
        assert_string_equal(m.msg_type, "execute_reply");
        assert_string_equal(m.msg_id, "m1");
        assert_string_equal(m.parent_id, "p1");
        assert_string_equal(jmsg_str(&m, "status"), "ok");
        assert_int_equal(jmsg_int(&m, "execution_count", -1), 3);
        assert_int_equal(jmsg_int(&m, "missing", -1), -1);
        assert_null(jmsg_str(&m, "execution_count"));
        jmsg_free(&m);
    }
    jmsg_auth_free(a);
    strbuf_free(&err);
}

static void test_extra_buffers_ignored(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new(KEY, &err);
    struct jmsg_frame f[16];
    size_t n = make_frames(f, 1, VECTOR2);
    f[n++] = fr("binary buffer 1");
    f[n++] = fr("");
    struct jmsg m;
    assert_int_equal(jmsg_parse(&m, a, f, n, &err), 0);
    assert_string_equal(m.msg_type, "execute_reply");
    jmsg_free(&m);
    jmsg_auth_free(a);
    strbuf_free(&err);
}

static void expect_reject(const struct jmsg_auth *a, const struct jmsg_frame *f, size_t n,
                          const char *why)
{
    struct strbuf err = STRBUF_INIT;
    struct jmsg m;
    assert_int_equal(jmsg_parse(&m, a, f, n, &err), -1);
    assert_non_null(err.data);
    assert_non_null(strstr(err.data, why));
    assert_null(m.header);
    assert_null(m.content);
    strbuf_free(&err);
}

static void test_missing_frames(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new(KEY, &err);
    struct jmsg_frame f[16];
    size_t n = make_frames(f, 1, VECTOR2);
    /* content missing */
    expect_reject(a, f, n - 1, "frames after the delimiter");
    /* only the delimiter */
    expect_reject(a, f, 2, "frames after the delimiter");
    /* no delimiter at all */
    struct jmsg_frame nodelim[5] = {fr("id"), fr(VECTOR2), fr(reply_parts[0]), fr(reply_parts[1]),
                                    fr(reply_parts[2])};
    expect_reject(a, nodelim, 5, "delimiter");
    expect_reject(a, f, 0, "delimiter");
    /* a delimiter-like frame that is longer does not count */
    struct jmsg_frame longer[7];
    memcpy(longer, f + 1, 6 * sizeof(*f));
    longer[0] = fr("<IDS|MSG>x");
    expect_reject(a, longer, 6, "delimiter");
    jmsg_auth_free(a);
    strbuf_free(&err);
}

static void test_wrong_signature(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new(KEY, &err);
    struct jmsg_frame f[16];
    char bad[] = VECTOR2;
    bad[10] = bad[10] == '0' ? '1' : '0';
    size_t n = make_frames(f, 0, bad);
    expect_reject(a, f, n, "invalid signature");
    /* upper-case hex is not what Python sends */
    char upper[] = VECTOR2;
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    n = make_frames(f, 0, upper);
    expect_reject(a, f, n, "invalid signature");
    n = make_frames(f, 0, "");
    expect_reject(a, f, n, "invalid signature");
    n = make_frames(f, 0, VECTOR2 "00");
    expect_reject(a, f, n, "invalid signature");
    /* right signature, tampered content */
    n = make_frames(f, 0, VECTOR2);
    f[5] = fr("{\"status\":\"ok\",\"execution_count\":4}");
    expect_reject(a, f, n, "invalid signature");
    /* a different key */
    struct jmsg_auth *other = jmsg_auth_new("another key", &err);
    n = make_frames(f, 0, VECTOR2);
    expect_reject(other, f, n, "invalid signature");
    jmsg_auth_free(other);
    jmsg_auth_free(a);
    strbuf_free(&err);
}

/* Signs parts with a and fills f (no identities). */
static size_t signed_frames(const struct jmsg_auth *a, struct jmsg_frame *f, char *sig,
                            const char *h, const char *p, const char *md, const char *c)
{
    struct jmsg_frame parts[4] = {fr(h), fr(p), fr(md), fr(c)};
    assert_int_equal(jmsg_auth_sign(a, parts, sig), 0);
    f[0] = fr(JMSG_DELIM);
    f[1] = fr(sig);
    memcpy(f + 2, parts, sizeof(parts));
    return 6;
}

static void test_bad_json(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new(KEY, &err);
    struct jmsg_frame f[8];
    char sig[JMSG_SIG_HEX + 1];
    const char *h = reply_parts[0];

    size_t n = signed_frames(a, f, sig, h, "{}", "{}", "{\"status\":");
    expect_reject(a, f, n, "invalid JSON in content");
    n = signed_frames(a, f, sig, "not json", "{}", "{}", "{}");
    expect_reject(a, f, n, "invalid JSON in header");
    n = signed_frames(a, f, sig, h, "[1,2]", "{}", "{}");
    expect_reject(a, f, n, "parent_header is not a single JSON object");
    n = signed_frames(a, f, sig, h, "{}", "{} {}", "{}");
    expect_reject(a, f, n, "metadata is not a single JSON object");
    n = signed_frames(a, f, sig, "{\"msg_id\":\"x\"}", "{}", "{}", "{}");
    expect_reject(a, f, n, "no msg_type");
    n = signed_frames(a, f, sig, "{\"msg_type\":7}", "{}", "{}", "{}");
    expect_reject(a, f, n, "no msg_type");
    /* Whitespace around the object is fine; unknown message types are accepted. */
    n = signed_frames(a, f, sig, " {\"msg_type\":\"comm_whatever\"}\n", "{}", "{}", "{}");
    struct jmsg m;
    assert_int_equal(jmsg_parse(&m, a, f, n, &err), 0);
    assert_string_equal(m.msg_type, "comm_whatever");
    assert_string_equal(m.msg_id, "");
    assert_string_equal(m.parent_id, "");
    jmsg_free(&m);
    jmsg_auth_free(a);
    strbuf_free(&err);
}

static void test_empty_key(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new("", &err);
    assert_non_null(a);
    assert_false(jmsg_auth_enabled(a));
    struct jmsg_frame parts[4] = {fr("{}"), fr("{}"), fr("{}"), fr("{}")};
    char hex[JMSG_SIG_HEX + 1] = "x";
    assert_int_equal(jmsg_auth_sign(a, parts, hex), 0);
    assert_string_equal(hex, "");
    /* Without a key any signature frame is accepted (nothing to check against). */
    struct jmsg_frame f[16];
    size_t n = make_frames(f, 0, "");
    struct jmsg m;
    assert_int_equal(jmsg_parse(&m, a, f, n, &err), 0);
    jmsg_free(&m);
    n = make_frames(f, 2, "whatever");
    assert_int_equal(jmsg_parse(&m, a, f, n, &err), 0);
    jmsg_free(&m);
    /* A built message has an empty signature frame. */
    struct jmsg_out out;
    assert_int_equal(jmsg_build(&out, a, "sess", "id1", "kernel_info_request", NULL, NULL, &err),
                     0);
    assert_int_equal(out.frames[1].len, 0);
    jmsg_out_free(&out);
    jmsg_auth_free(a);
    strbuf_free(&err);
}

static void test_build_and_parse_back(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct jmsg_auth *a = jmsg_auth_new(KEY, &err);
    json_object *content = json_object_new_object();
    json_object_object_add(content, "code", json_object_new_string("print('a/b')\n"));
    json_object *parent = json_object_new_object();
    json_object_object_add(parent, "msg_id", json_object_new_string("parent-7"));
    struct jmsg_out out;
    assert_int_equal(
        jmsg_build(&out, a, "sess-1", "msg-1", "execute_request", content, parent, &err), 0);
    assert_string_equal(out.frames[0].data, JMSG_DELIM);
    assert_int_equal(out.frames[1].len, JMSG_SIG_HEX);
    assert_string_equal(out.frames[3].data, "{\"msg_id\":\"parent-7\"}");
    assert_string_equal(out.frames[4].data, "{}");
    assert_string_equal(out.frames[5].data, "{\"code\":\"print('a/b')\\n\"}");

    /* The signature covers the four JSON frames as sent. */
    struct jmsg_frame parts[4];
    for (int i = 0; i < 4; i++)
        parts[i] = (struct jmsg_frame){out.frames[2 + i].data, out.frames[2 + i].len};
    char sig[JMSG_SIG_HEX + 1];
    jmsg_auth_sign(a, parts, sig);
    assert_string_equal(out.frames[1].data, sig);

    struct jmsg_frame f[JMSG_OUT_FRAMES + 1];
    f[0] = fr("router-identity");
    for (int i = 0; i < JMSG_OUT_FRAMES; i++)
        f[i + 1] = (struct jmsg_frame){out.frames[i].data, out.frames[i].len};
    struct jmsg m;
    assert_int_equal(jmsg_parse(&m, a, f, JMSG_OUT_FRAMES + 1, &err), 0);
    assert_string_equal(m.msg_type, "execute_request");
    assert_string_equal(m.msg_id, "msg-1");
    assert_string_equal(m.parent_id, "parent-7");
    assert_string_equal(jmsg_str(&m, "code"), "print('a/b')\n");
    json_object *v;
    assert_true(json_object_object_get_ex(m.header, "version", &v));
    assert_string_equal(json_object_get_string(v), "5.3");
    assert_true(json_object_object_get_ex(m.header, "session", &v));
    assert_string_equal(json_object_get_string(v), "sess-1");
    assert_true(json_object_object_get_ex(m.header, "username", &v));
    assert_true(json_object_object_get_ex(m.header, "date", &v));
    const char *date = json_object_get_string(v);
    /* 2024-01-02T03:04:05.123456Z */
    assert_int_equal(strlen(date), 27);
    assert_int_equal(date[10], 'T');
    assert_int_equal(date[19], '.');
    assert_int_equal(date[26], 'Z');
    jmsg_free(&m);
    jmsg_out_free(&out);
    json_object_put(content);
    json_object_put(parent);
    jmsg_auth_free(a);
    strbuf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_vector),
        cmocka_unit_test(test_parse_delimiter_anywhere),
        cmocka_unit_test(test_extra_buffers_ignored),
        cmocka_unit_test(test_missing_frames),
        cmocka_unit_test(test_wrong_signature),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_empty_key),
        cmocka_unit_test(test_build_and_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
