#include "jupyter/jmsg.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xalloc.h"

#define DIGEST_LEN 32

struct jmsg_auth {
    EVP_MAC *mac;
    EVP_MAC_CTX *tmpl; /* keyed once; duplicated per message */
};

static void openssl_error(struct strbuf *err, const char *what)
{
    unsigned long e = ERR_get_error_all(NULL, NULL, NULL, NULL, NULL);
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    strbuf_printf(err, "%s: %s", what, e != 0 ? buf : "unknown OpenSSL error");
}

struct jmsg_auth *jmsg_auth_new(const char *key, struct strbuf *err)
{
    struct jmsg_auth *a = xcalloc(1, sizeof(*a));
    if (key == NULL || key[0] == '\0')
        return a;
    a->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (a->mac == NULL) {
        openssl_error(err, "HMAC unavailable");
        goto fail;
    }
    a->tmpl = EVP_MAC_CTX_new(a->mac);
    if (a->tmpl == NULL) {
        openssl_error(err, "HMAC context");
        goto fail;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_init(a->tmpl, (const unsigned char *)key, strlen(key), params)) {
        openssl_error(err, "HMAC key");
        goto fail;
    }
    return a;
fail:
    jmsg_auth_free(a);
    return NULL;
}

void jmsg_auth_free(struct jmsg_auth *a)
{
    if (a == NULL)
        return;
    EVP_MAC_CTX_free(a->tmpl);
    EVP_MAC_free(a->mac);
    free(a);
}

bool jmsg_auth_enabled(const struct jmsg_auth *a)
{
    return a != NULL && a->tmpl != NULL;
}

int jmsg_auth_sign(const struct jmsg_auth *a, const struct jmsg_frame parts[4], char *hex)
{
    hex[0] = '\0';
    if (!jmsg_auth_enabled(a))
        return 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(a->tmpl);
    if (c == NULL)
        return -1;
    unsigned char md[DIGEST_LEN];
    size_t mdlen = 0;
    int ok = 1;
    for (int i = 0; i < 4 && ok; i++)
        ok = EVP_MAC_update(c, parts[i].data, parts[i].len);
    if (ok)
        ok = EVP_MAC_final(c, md, &mdlen, sizeof(md));
    EVP_MAC_CTX_free(c);
    if (!ok || mdlen != DIGEST_LEN)
        return -1;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < DIGEST_LEN; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }
    hex[JMSG_SIG_HEX] = '\0';
    return 0;
}

/* ---- building ---------------------------------------------------------- */

/* RFC 3339 in UTC with microseconds: what jupyter_client itself sends. */
static void utc_now(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static void put_json(struct strbuf *sb, json_object *obj)
{
    const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
    strbuf_append_str(sb, s);
}

int jmsg_build(struct jmsg_out *out, const struct jmsg_auth *auth, const char *session,
               const char *msg_id, const char *msg_type, json_object *content, json_object *parent,
               struct strbuf *err)
{
    for (int i = 0; i < JMSG_OUT_FRAMES; i++)
        strbuf_init(&out->frames[i]);

    char date[64];
    utc_now(date, sizeof(date));
    json_object *h = xjson_object();
    json_object_object_add(h, "msg_id", xjson_string(msg_id));
    json_object_object_add(h, "session", xjson_string(session));
    json_object_object_add(h, "username", xjson_string("execd"));
    json_object_object_add(h, "date", xjson_string(date));
    json_object_object_add(h, "msg_type", xjson_string(msg_type));
    json_object_object_add(h, "version", xjson_string(JMSG_VERSION));

    strbuf_append_str(&out->frames[0], JMSG_DELIM);
    put_json(&out->frames[2], h);
    json_object_put(h);
    if (parent != NULL)
        put_json(&out->frames[3], parent);
    else
        strbuf_append_str(&out->frames[3], "{}");
    strbuf_append_str(&out->frames[4], "{}");
    if (content != NULL)
        put_json(&out->frames[5], content);
    else
        strbuf_append_str(&out->frames[5], "{}");

    struct jmsg_frame parts[4];
    for (int i = 0; i < 4; i++) {
        parts[i].data = out->frames[2 + i].data;
        parts[i].len = out->frames[2 + i].len;
    }
    char sig[JMSG_SIG_HEX + 1];
    if (jmsg_auth_sign(auth, parts, sig) < 0) {
        strbuf_printf(err, "cannot sign %s", msg_type);
        jmsg_out_free(out);
        return -1;
    }
    strbuf_append_str(&out->frames[1], sig);
    return 0;
}

void jmsg_out_free(struct jmsg_out *out)
{
    for (int i = 0; i < JMSG_OUT_FRAMES; i++)
        strbuf_free(&out->frames[i]);
}

/* ---- parsing ------------------------------------------------------------ */

static const char *const frame_names[4] = {"header", "parent_header", "metadata", "content"};

/* Strict: one JSON object filling the frame (surrounding whitespace allowed). */
static json_object *parse_object(const struct jmsg_frame *f, const char *name, struct strbuf *err)
{
    if (f->len > (size_t)INT32_MAX) {
        strbuf_printf(err, "%s frame too large", name);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        xalloc_die("json tokener");
    json_object *obj = json_tokener_parse_ex(tok, f->data, (int)f->len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    if (obj == NULL) {
        strbuf_printf(err, "invalid JSON in %s: %s", name,
                      jerr == json_tokener_continue ? "unexpected end"
                                                    : json_tokener_error_desc(jerr));
        return NULL;
    }
    const char *p = f->data;
    while (end < f->len && strchr(" \t\r\n", p[end]) != NULL && p[end] != '\0')
        end++;
    if (end != f->len || !json_object_is_type(obj, json_type_object)) {
        strbuf_printf(err, "%s is not a single JSON object", name);
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

static const char *get_str(json_object *obj, const char *key)
{
    json_object *v;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int jmsg_parse(struct jmsg *m, const struct jmsg_auth *auth, const struct jmsg_frame *frames,
               size_t n, struct strbuf *err)
{
    memset(m, 0, sizeof(*m));
    size_t d = 0;
    static const size_t dlen = sizeof(JMSG_DELIM) - 1;
    while (d < n && !(frames[d].len == dlen && memcmp(frames[d].data, JMSG_DELIM, dlen) == 0))
        d++;
    if (d == n) {
        strbuf_append_str(err, "no <IDS|MSG> delimiter");
        return -1;
    }
    if (n - d - 1 < 5) {
        strbuf_printf(err, "message has %zu frames after the delimiter, expected at least 5",
                      n - d - 1);
        return -1;
    }
    const struct jmsg_frame *sig = &frames[d + 1];
    const struct jmsg_frame *parts = &frames[d + 2];

    if (jmsg_auth_enabled(auth)) {
        char want[JMSG_SIG_HEX + 1];
        if (jmsg_auth_sign(auth, parts, want) < 0) {
            strbuf_append_str(err, "cannot compute the signature");
            return -1;
        }
        /* The length is public; the comparison of the digest must not leak timing. */
        if (sig->len != JMSG_SIG_HEX || CRYPTO_memcmp(sig->data, want, JMSG_SIG_HEX) != 0) {
            strbuf_append_str(err, "invalid signature");
            return -1;
        }
    }

    json_object **dst[4] = {&m->header, &m->parent, &m->metadata, &m->content};
    for (int i = 0; i < 4; i++) {
        *dst[i] = parse_object(&parts[i], frame_names[i], err);
        if (*dst[i] == NULL) {
            jmsg_free(m);
            return -1;
        }
    }
    m->msg_type = get_str(m->header, "msg_type");
    if (m->msg_type == NULL) {
        strbuf_append_str(err, "header has no msg_type");
        jmsg_free(m);
        return -1;
    }
    m->msg_id = get_str(m->header, "msg_id");
    if (m->msg_id == NULL)
        m->msg_id = "";
    m->parent_id = get_str(m->parent, "msg_id");
    if (m->parent_id == NULL)
        m->parent_id = "";
    m->nids = d;
    return 0;
}

void jmsg_free(struct jmsg *m)
{
    json_object_put(m->header);
    json_object_put(m->parent);
    json_object_put(m->metadata);
    json_object_put(m->content);
    memset(m, 0, sizeof(*m));
}

const char *jmsg_str(const struct jmsg *m, const char *key)
{
    return get_str(m->content, key);
}

int64_t jmsg_int(const struct jmsg *m, const char *key, int64_t dflt)
{
    json_object *v;
    if (m->content == NULL || !json_object_object_get_ex(m->content, key, &v) ||
        !json_object_is_type(v, json_type_int))
        return dflt;
    return json_object_get_int64(v);
}
