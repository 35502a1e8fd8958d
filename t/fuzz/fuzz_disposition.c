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

static void check_value(const struct strbuf *v, const char *name, size_t len)
{
    static const char plain[] = "attachment; filename=\"";
    static const char star[] = "filename*=UTF-8''";
    if (strncmp(v->data, plain, sizeof(plain) - 1) != 0)
        abort();
    for (size_t i = 0; i < v->len; i++) {
        if (v->data[i] < 0x20 || v->data[i] > 0x7e)
            abort();
    }
    const char *enc = strstr(v->data, star);
    if (enc == NULL) {
        /* Unencoded: the name sits between the quotes as it is. */
        if (v->len != sizeof(plain) - 1 + len + 1 ||
            memcmp(v->data + sizeof(plain) - 1, name, len) != 0)
            abort();
        return;
    }
    struct strbuf dec = STRBUF_INIT;
    for (const char *p = enc + sizeof(star) - 1; *p != '\0'; p++) {
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
