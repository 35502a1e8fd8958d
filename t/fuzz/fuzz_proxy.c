/*
 * The port proxy's parsers of what a backend (any program in the sandbox) sends back and
 * of the path a client asks for (master/proxy/): the response head (resphead.c), the end
 * of a chunked body (chunkscan.c) and the /proxy/{port}/{rest} target (proxy.c).
 *
 * A head's length is where its first empty line ends and nowhere earlier; a parsed head's
 * fields lie inside it, with names free of blanks and control bytes and values free of
 * surrounding blanks, CR and NUL, and a value without a comma lists itself as a token. A
 * chunked body scanned in pieces of any size ends at the same byte in the same state as
 * scanned whole, and a scan that has not ended took every byte. A target's port is a
 * port, its rest a path.
 *
 * Input: SEED (2 bytes) BYTES, read as a head, as a chunked body and as a target path.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "proxy/chunkscan.h"
#include "proxy/proxy.h"
#include "proxy/resphead.h"

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && p - buf <= (ptrdiff_t)(len - n);
}

static void check_field(const struct resphead *h, const struct resphead_field *f, const char *buf,
                        size_t len)
{
    if (!inside(f->name, f->name_len, buf, len) || !inside(f->value, f->value_len, buf, len))
        abort();
    for (size_t i = 0; i < f->name_len; i++) {
        unsigned char c = (unsigned char)f->name[i];
        if (c <= ' ' || c >= 0x7f || c == ':')
            abort();
    }
    if (memchr(f->value, '\r', f->value_len) != NULL ||
        memchr(f->value, '\0', f->value_len) != NULL)
        abort();
    if (f->value_len > 0 &&
        (f->value[0] == ' ' || f->value[0] == '\t' || f->value[f->value_len - 1] == ' ' ||
         f->value[f->value_len - 1] == '\t'))
        abort();
    /* The first field of that name answers; it is this one or an earlier one. */
    char *name = xstrndup(f->name, f->name_len);
    size_t vlen;
    const char *v = resphead_get(h, name, &vlen);
    free(name);
    if (v == NULL || v > f->value)
        abort();
    /* A value without a comma is one token: itself. */
    if (f->value_len > 0 && memchr(f->value, ',', f->value_len) == NULL) {
        char *token = xstrndup(f->value, f->value_len);
        bool listed = resphead_has_token(f->value, f->value_len, token);
        free(token);
        if (!listed)
            abort();
    }
}

static void check_head(const char *buf, size_t n)
{
    long len = resphead_length(buf, n);
    /* The limit bounds where the last field line ends: the empty line may end 2 bytes on. */
    if (len < -1 || len > (long)n || len > RESPHEAD_MAX_BYTES + 2)
        abort();
    if (len <= 0)
        return;
    /* The empty line that ends it is its first one: one byte less is not a head. */
    if (resphead_length(buf, (size_t)len - 1) > 0)
        abort();
    struct resphead h;
    if (resphead_parse(buf, (size_t)len, &h) < 0)
        return;
    if (h.status < 100 || h.status > 999 || h.minor < 0 || h.minor > 9 || h.n_fields < 0 ||
        h.n_fields > RESPHEAD_MAX_FIELDS)
        abort();
    if (h.reason_len > 0 && !inside(h.reason, h.reason_len, buf, (size_t)len))
        abort();
    for (int i = 0; i < h.n_fields; i++)
        check_field(&h, &h.fields[i], buf, (size_t)len);
}

static bool ended(const struct chunkscan *s)
{
    return s->state == CS_DONE || s->state == CS_ERROR;
}

static void check_chunks(const char *buf, size_t n, uint32_t seed)
{
    struct chunkscan whole;
    chunkscan_init(&whole);
    size_t used_whole = chunkscan_feed(&whole, buf, n);
    if (used_whole > n || (!ended(&whole) && used_whole != n))
        abort();

    struct chunkscan cut;
    chunkscan_init(&cut);
    size_t used = 0;
    while (used < n && !ended(&cut)) {
        size_t step = fuzz_chunk(&seed, 16);
        if (step > n - used)
            step = n - used;
        size_t took = chunkscan_feed(&cut, buf + used, step);
        if (took > step || (!ended(&cut) && took != step))
            abort();
        used += took;
    }
    if (used != used_whole || cut.state != whole.state || (!ended(&cut) && cut.left != whole.left))
        abort();
}

static void check_target(const char *buf, size_t n)
{
    char *path = xmalloc(n + sizeof("/proxy/"));
    memcpy(path, "/proxy/", 7);
    memcpy(path + 7, buf, n);
    path[7 + n] = '\0';
    int port = -1;
    const char *rest = NULL;
    enum proxy_target_rc rc = proxy_target(path, &port, &rest);
    if (rc == PROXY_TARGET_OK) {
        size_t len = strlen(path);
        if (port < 1 || port > 65535 || rest == NULL || rest[0] != '/')
            abort();
        if (strcmp(rest, "/") != 0 && !inside(rest, strlen(rest), path, len))
            abort();
    } else if (rc != PROXY_NO_PORT && rc != PROXY_BAD_PORT) {
        abort();
    }
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint32_t seed = fuzz_u16(&in);
    const char *buf = (const char *)in.p;
    check_head(buf, in.n);
    check_chunks(buf, in.n, seed);
    check_target(buf, in.n);
    return 0;
}
