/*
 * Content-Disposition of a download (worker/files/disposition.c) for any file name: the
 * value must be one printable ASCII header value, and a name that had to be encoded must
 * decode back from filename* byte for byte.
 *
 * Input: the file name (bytes; a path for disposition_for_path up to its first NUL).
 */
#include <stdlib.h>

#include "files/disposition.h"
#include "fuzz.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Either attachment; filename="NAME" with the name as it is, or
 * attachment; filename="PCT"; filename*=UTF-8''PCT with the name percent-encoded twice.
 */
static void check_value(const struct strbuf *v, const char *name, size_t len)
{
    static const char plain[] = "attachment; filename=\"";
    static const char star[] = "\"; filename*=UTF-8''";
    size_t head = sizeof(plain) - 1;
    if (v->len < head + 1 || strncmp(v->data, plain, head) != 0)
        abort();
    for (size_t i = 0; i < v->len; i++) {
        if (v->data[i] < 0x20 || v->data[i] > 0x7e)
            abort();
    }
    if (v->len == head + len + 1 && memcmp(v->data + head, name, len) == 0 &&
        v->data[v->len - 1] == '"') {
        if (memchr(name, '"', len) != NULL || memchr(name, '\\', len) != NULL)
            abort();
        return;
    }
    const char *enc = strstr(v->data + head, star);
    if (enc == NULL)
        abort();
    size_t first = (size_t)(enc - (v->data + head));
    const char *second = enc + sizeof(star) - 1;
    if (strlen(second) != first || memcmp(second, v->data + head, first) != 0)
        abort();
    struct strbuf dec = STRBUF_INIT;
    for (const char *p = second; *p != '\0'; p++) {
        if (*p != '%') {
            strbuf_append_char(&dec, *p);
            continue;
        }
        int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;
        if (lo < 0)
            abort();
        strbuf_append_char(&dec, (char)(hi * 16 + lo));
        p += 2;
    }
    if (dec.len != len || (len > 0 && memcmp(dec.data, name, len) != 0))
        abort();
    strbuf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    size_t len;
    char *name = fuzz_field(&in, '\0', &len);
    struct strbuf v = STRBUF_INIT;

    disposition_format(&v, (const char *)data, size);
    check_value(&v, (const char *)data, size);
    strbuf_reset(&v);
    disposition_for_path(&v, name);
    if (v.len == 0)
        abort();

    strbuf_free(&v);
    free(name);
    return 0;
}
