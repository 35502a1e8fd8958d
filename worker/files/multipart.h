/*
 * Streaming multipart/form-data parser for POST /files/upload.
 *
 * Push style: the body is fed in chunks of any size as it arrives, and part
 * contents leave through callbacks as soon as they are known not to be the
 * start of a boundary. Memory is bounded by the part headers limit
 * (MULTIPART_MAX_HEADERS) plus the boundary: a part's data is never buffered.
 *
 * Reading rules follow Go's mime/multipart (what the Go daemon used):
 *  - everything before the first "--boundary" line is preamble, everything
 *    after the closing "--boundary--" is epilogue; both are ignored;
 *  - a boundary line may carry spaces/tabs before its line end;
 *  - bodies with bare LF line ends work when the first boundary line ends
 *    with a bare LF (then parts are delimited by "\n--boundary");
 *  - "--boundary" followed by anything but "--", blanks or a line end is
 *    part data, not a delimiter;
 *  - header lines end with CRLF or LF, may be folded, names are tokens,
 *    lookups are case-insensitive; the first Content-Disposition and
 *    Content-Type count.
 * Differences: Content-Transfer-Encoding is not decoded (Go decodes
 * quoted-printable; no SDK sends it), and the text after "--boundary--" is
 * never looked at.
 */
#ifndef EXECD_MULTIPART_H
#define EXECD_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* Limit of one part's header block (all lines, in bytes). */
#define MULTIPART_MAX_HEADERS (64 * 1024)
/* Longest boundary accepted (RFC 2046 says 70; clients are sometimes generous). */
#define MULTIPART_MAX_BOUNDARY 200

enum multipart_rc {
    MULTIPART_OK = 0,
    MULTIPART_EBADTYPE = -1, /* Content-Type not multipart/form-data, or no usable boundary */
    MULTIPART_ESYNTAX = -2,  /* malformed boundary line or part headers */
    MULTIPART_ETOOBIG = -3,  /* part headers over MULTIPART_MAX_HEADERS */
    MULTIPART_ETRUNC = -4,   /* the body ended before the closing boundary */
    MULTIPART_EABORT = -5,   /* a callback returned non-zero */
};

/*
 * A part, as its headers describe it. Strings are valid during part_begin only.
 * A part is a *file part* (what Go's ParseMultipartForm files under
 * form.File) when it has a filename parameter; filename is NULL when the
 * parameter is absent and "" when it is present but empty (Go treats the
 * empty one as a plain field). filename*=UTF-8''... (RFC 2231/5987) is
 * decoded and wins over filename=. The name is given as sent (Go's
 * FileName() would also strip directories).
 */
struct multipart_part {
    const char *name;         /* Content-Disposition name=, NULL when absent */
    const char *filename;     /* see above */
    const char *content_type; /* Content-Type value, NULL when absent */
    bool form_data;           /* disposition type is "form-data" (Go ignores other parts) */
};

/* Each callback may be NULL. A non-zero return stops parsing with MULTIPART_EABORT. */
struct multipart_callbacks {
    int (*part_begin)(void *arg, const struct multipart_part *part);
    int (*part_data)(void *arg, const char *data, size_t len);
    /* The closing boundary of the part was seen: its data is complete. */
    int (*part_end)(void *arg);
};

struct multipart;

/*
 * Extracts the boundary of a "multipart/form-data; boundary=..." value
 * (quoted or not, parameters in any order, type case-insensitive) into
 * boundary. Returns 0, or MULTIPART_EBADTYPE with a reason in err.
 */
int multipart_boundary(const char *content_type, struct strbuf *boundary, struct strbuf *err);

/*
 * A parser for a body of the given Content-Type. Returns NULL with a reason
 * in err (MULTIPART_EBADTYPE cases, or out of memory).
 */
struct multipart *multipart_new(const char *content_type, const struct multipart_callbacks *cb,
                                void *arg, struct strbuf *err);
void multipart_free(struct multipart *mp);

/* Feeds the next bytes. Returns MULTIPART_OK or the (sticky) error. */
int multipart_feed(struct multipart *mp, const void *data, size_t len);
/* The body has ended: MULTIPART_OK only if the closing boundary was seen. */
int multipart_finish(struct multipart *mp);

/* The last error's message ("" when none). */
const char *multipart_error(const struct multipart *mp);
/* Parts begun so far. */
unsigned multipart_parts(const struct multipart *mp);

#endif
