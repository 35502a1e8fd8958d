/*
 * What every harness shares: the libFuzzer entry point (built into a fuzzer by clang, or
 * into a replay program by the compiler of the normal build, t/fuzz/replay.c) and a reader
 * that cuts the input into the pieces a harness needs. Conventions: docs/fuzzing.md.
 */
#ifndef EXECD_FUZZ_H
#define EXECD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The part of the input not consumed yet. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

/* The next byte, 0 once the input is used up. */
static inline uint8_t fuzz_byte(struct fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* The next two bytes, little-endian. */
static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t lo = fuzz_byte(in);
    return (uint16_t)(lo | (uint16_t)fuzz_byte(in) << 8);
}

/*
 * The bytes up to the next sep (consumed, not returned) or the end, as a heap copy with a
 * NUL added that the caller frees; *len (if not NULL) is their count (a C string view of
 * them ends at the first NUL byte among them).
 */
static inline char *fuzz_field(struct fuzz_in *in, uint8_t sep, size_t *len)
{
    const uint8_t *end = memchr(in->p, sep, in->n);
    size_t n = end != NULL ? (size_t)(end - in->p) : in->n;
    char *s = xmalloc(n + 1);
    memcpy(s, in->p, n);
    s[n] = '\0';
    in->p += n;
    in->n -= n;
    if (end != NULL) {
        in->p++;
        in->n--;
    }
    if (len != NULL)
        *len = n;
    return s;
}

/*
 * Chunk sizes for feeding a stream parser piecewise: a small generator seeded from the
 * input, so the cut points vary with it without consuming the stream's own bytes.
 */
static inline size_t fuzz_chunk(uint32_t *state, size_t max)
{
    *state = *state * 1103515245u + 12345u;
    size_t n = 1 + (*state >> 16) % max;
    return n;
}

#endif
