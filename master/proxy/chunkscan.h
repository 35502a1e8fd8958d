/*
 * Finds the end of a chunked body without changing it: the port proxy passes a backend's
 * chunked answer through as it is and only needs to know where it ends (the zero-size
 * chunk and the trailer section after it).
 */
#ifndef EXECD_CHUNKSCAN_H
#define EXECD_CHUNKSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum chunkscan_state {
    CS_SIZE,     /* hex digits of a chunk size */
    CS_EXT,      /* a chunk extension, up to the line end */
    CS_DATA,     /* the chunk's bytes */
    CS_DATA_END, /* the line end after them */
    CS_TRAILER,  /* at the start of a trailer line (an empty one ends the body) */
    CS_TRAILER_LINE,
    CS_DONE,
    CS_ERROR,
};

struct chunkscan {
    enum chunkscan_state state;
    uint64_t left;   /* of the chunk's data */
    int digits;      /* of the size so far */
    bool line_bytes; /* of a trailer line or the data's line end so far */
};

void chunkscan_init(struct chunkscan *s);
/*
 * Scans n more bytes; returns how many belong to the body (n, or fewer once it ended).
 * s->state is CS_DONE at the end of the body and CS_ERROR on a malformed one.
 */
size_t chunkscan_feed(struct chunkscan *s, const char *p, size_t n);

#endif
