/*
 * The download's request headers (worker/files/httprange.c, httpdate.c): a Range value
 * against a file size, and an If-Modified-Since / If-Unmodified-Since date. A served range
 * must lie inside the file; a parsed date must format and parse back to itself.
 *
 * Input: SIZE-SELECTOR (1 byte) SIZE (8 bytes) RANGE \n DATE.
 */
#include <stdlib.h>

#include "files/httpdate.h"
#include "files/httprange.h"
#include "fuzz.h"

static int64_t file_size(struct fuzz_in *in)
{
    uint8_t how = fuzz_byte(in);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_byte(in);
    switch (how % 4) {
    case 0:
        return 0;
    case 1:
        return (int64_t)(v % 1024);
    case 2:
        return INT64_MAX;
    default:
        return (int64_t)(v >> 1);
    }
}

static void check_range(const char *header, int64_t size)
{
    struct httprange r = {-1, -1};
    enum httprange_kind kind = httprange_parse(header, size, &r);
    struct strbuf out = STRBUF_INIT;
    if (kind == HTTPRANGE_OK) {
        if (r.start < 0 || r.length <= 0 || r.start >= size || r.length > size - r.start)
            abort();
        httprange_content_range(&out, &r, size);
    } else if (kind == HTTPRANGE_UNSATISFIABLE) {
        httprange_unsatisfied(&out, size);
    }
    strbuf_free(&out);
}

/*
 * A date that parses formats and parses back to itself. Parsing normalizes as timegm does
 * (31 Feb is 3 Mar, second 60 the next minute), and the format has four digits of year:
 * the round trip holds up to the end of year 9999.
 */
static void check_date(const char *s)
{
    time_t t;
    if (httpdate_parse(s, &t) < 0 || t >= (time_t)253402300800)
        return;
    char text[HTTPDATE_LEN];
    httpdate_format(t, text);
    time_t again;
    if (httpdate_parse(text, &again) < 0 || again != t)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    int64_t file = file_size(&in);
    char *range = fuzz_field(&in, '\n', NULL);
    char *date = fuzz_field(&in, '\0', NULL);

    check_range(range[0] != '\0' ? range : NULL, file);
    check_range(range, file);
    check_date(date);

    free(range);
    free(date);
    return 0;
}
