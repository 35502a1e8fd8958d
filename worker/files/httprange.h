/*
 * The Range header of GET /files/download (api-contract §7.8), parsed the way
 * the Go daemon does before it falls back to http.ServeContent:
 *
 *   "bytes=a-b", "bytes=a-", "bytes=-n", comma-separated lists of those;
 *   blanks around items and numbers are ignored, empty items are skipped;
 *   only the FIRST satisfiable range is served (no multipart/byteranges);
 *   an end past the file is clamped; "-n" longer than the file is the whole
 *   file; ranges starting at or after the end are unsatisfiable.
 *
 * Outcomes and what the caller sends:
 *   HTTPRANGE_NONE           200, full body (no header, "bytes=" with no
 *                            items, or nothing satisfiable in a 0-byte file:
 *                            Go's ServeContent answers 200 there)
 *   HTTPRANGE_OK             206, Content-Range "bytes a-b/size", the range
 *   HTTPRANGE_MALFORMED      416 {"code":"UNKNOWN","message":"invalid range"}
 *                            (no "bytes=" prefix, an item without '-', a
 *                            non-numeric or out-of-range number, end < start,
 *                            "bytes=-")
 *   HTTPRANGE_UNSATISFIABLE  416 with the Content-Range of
 *                            httprange_unsatisfied (an asterisk for the range)
 *
 * Differences from Go, all stricter: numbers are plain digits (Go's ParseInt
 * also takes a leading '+'), and "-0" is unsatisfiable (Go's ServeContent
 * would send an odd zero-length 206).
 */
#ifndef EXECD_HTTPRANGE_H
#define EXECD_HTTPRANGE_H

#include <stdint.h>

#include "strbuf.h"

enum httprange_kind {
    HTTPRANGE_NONE,
    HTTPRANGE_OK,
    HTTPRANGE_MALFORMED,
    HTTPRANGE_UNSATISFIABLE,
};

struct httprange {
    int64_t start;
    int64_t length; /* > 0 when HTTPRANGE_OK */
};

/* header may be NULL (no Range header). size is the file size (>= 0). */
enum httprange_kind httprange_parse(const char *header, int64_t size, struct httprange *out);

/* Appends the Content-Range value of a served range: "bytes a-b/size". */
void httprange_content_range(struct strbuf *out, const struct httprange *r, int64_t size);
/* Appends the Content-Range value of a 416: "bytes", a space, '*', '/', the size. */
void httprange_unsatisfied(struct strbuf *out, int64_t size);

#endif
