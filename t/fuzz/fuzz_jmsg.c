/*
 * Jupyter wire messages from a kernel (worker/jupyter/jmsg.c, kernel_mime.c): ZeroMQ
 * frames checked against the connection key's HMAC and parsed, then read as the
 * execution does (content fields, a MIME bundle rendered as a result). Most inputs get a
 * correct signature computed here, so the parser behind the check is reached; a parsed
 * message built again and parsed back must keep its content.
 *
 * Input: MODE (1 byte) then frames, each LENGTH (2 bytes) DATA.
 *   MODE & 3: 0 no key, 1 a key and the signature as given, 2-3 a key and a correct one.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "jupyter/jmsg.h"
#include "jupyter/kernel_mime.h"

#define MAX_FRAMES 16

static struct jmsg_auth *keyed, *unkeyed;

static void check_valid_json(const struct strbuf *s)
{
    json_object *obj = json_tokener_parse(s->data);
    if (obj == NULL)
        abort();
    json_object_put(obj);
}

/* Builds m's content again and parses it back with the same key. */
static void check_roundtrip(const struct jmsg *m, const struct jmsg_auth *auth)
{
    struct jmsg_out out;
    struct strbuf err = STRBUF_INIT;
    if (jmsg_build(&out, auth, "session", "id", m->msg_type, m->content, m->header, &err) < 0)
        abort();
    struct jmsg_frame frames[JMSG_OUT_FRAMES];
    for (int i = 0; i < JMSG_OUT_FRAMES; i++) {
        frames[i].data = out.frames[i].data;
        frames[i].len = out.frames[i].len;
    }
    struct jmsg back;
    /* Compared as rendered text: json-c accepts NaN, and NaN equals nothing, itself included. */
    if (jmsg_parse(&back, auth, frames, JMSG_OUT_FRAMES, &err) < 0 ||
        strcmp(back.msg_type, m->msg_type) != 0 ||
        strcmp(json_object_to_json_string_ext(back.content, JSON_C_TO_STRING_PLAIN),
               json_object_to_json_string_ext(m->content, JSON_C_TO_STRING_PLAIN)) != 0)
        abort();
    jmsg_free(&back);
    jmsg_out_free(&out);
    strbuf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strbuf err = STRBUF_INIT;
    if (keyed == NULL) {
        keyed = jmsg_auth_new("0123456789abcdef-fuzz-key", &err);
        unkeyed = jmsg_auth_new("", &err);
        if (keyed == NULL || unkeyed == NULL)
            abort();
    }
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_byte(&in);
    const struct jmsg_auth *auth = (mode & 3) == 0 ? unkeyed : keyed;

    struct jmsg_frame frames[MAX_FRAMES];
    size_t n = 0;
    while (in.n > 0 && n < MAX_FRAMES) {
        size_t len = fuzz_u16(&in);
        if (len > in.n)
            len = in.n;
        frames[n].data = in.p;
        frames[n].len = len;
        in.p += len;
        in.n -= len;
        n++;
    }

    char sig[JMSG_SIG_HEX + 1];
    static const size_t dlen = sizeof(JMSG_DELIM) - 1;
    for (size_t d = 0; (mode & 3) >= 2 && d + 6 <= n; d++) {
        if (frames[d].len == dlen && memcmp(frames[d].data, JMSG_DELIM, dlen) == 0) {
            if (jmsg_auth_sign(auth, &frames[d + 2], sig) < 0)
                abort();
            frames[d + 1].data = sig;
            frames[d + 1].len = JMSG_SIG_HEX;
            break;
        }
    }

    struct jmsg m;
    if (jmsg_parse(&m, auth, frames, n, &err) == 0) {
        if (m.msg_type == NULL || m.msg_id == NULL || m.parent_id == NULL || m.nids >= n)
            abort();
        jmsg_str(&m, "execution_state");
        jmsg_str(&m, "name");
        jmsg_int(&m, "execution_count", 0);
        json_object *bundle = NULL;
        json_object_object_get_ex(m.content, "data", &bundle);
        struct strbuf rendered = STRBUF_INIT;
        kernel_mime_render(bundle, &rendered);
        check_valid_json(&rendered);
        strbuf_free(&rendered);
        check_roundtrip(&m, auth);
        jmsg_free(&m);
    } else if (err.len == 0) {
        abort();
    }
    strbuf_free(&err);
    return 0;
}
