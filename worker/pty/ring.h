/*
 * A PTY session's replay buffer: the last `capacity` bytes of its output, addressed by
 * absolute offsets (total = every byte ever appended, monotonic). Reading from an offset
 * older than the oldest kept byte starts at the oldest; from total or later gives nothing.
 *
 * The ring lives in a memfd mapped shared, so that the master can keep it (out_keep) and
 * the worker that takes the session over after a crash maps the same bytes. An append
 * first moves the start of the valid bytes past what it will overwrite, then copies, then
 * advances total: a worker killed in the middle leaves no byte claimed valid that is not
 * (the one append in flight is lost, nothing else).
 */
#ifndef EXECD_PTY_RING_H
#define EXECD_PTY_RING_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct ring_hdr;

struct ring {
    struct ring_hdr *hdr; /* NULL: no ring */
    unsigned char *data;
    size_t capacity;
    size_t map_len;
    int fd;
};

/* A new, empty ring of capacity bytes. Returns 0, or -1 with the reason in err. */
int ring_create(struct ring *r, size_t capacity, struct strbuf *err);
/* Maps the ring in memfd fd (taken), as another worker left it. Returns 0 or -1 (err). */
int ring_attach(struct ring *r, int fd, struct strbuf *err);
/* Appends data; bytes beyond the capacity push the oldest out (total grows by len). */
void ring_append(struct ring *r, const void *data, size_t len);
uint64_t ring_total(const struct ring *r);
/* The oldest offset still readable. */
uint64_t ring_oldest(const struct ring *r);
/*
 * Appends the bytes from offset from (clamped to the oldest) up to total to out; returns
 * the offset of the first byte appended (total when there is none).
 */
uint64_t ring_read(const struct ring *r, uint64_t from, struct strbuf *out);
/* Unmaps and closes (the master's copy of the memfd, if any, stays). */
void ring_close(struct ring *r);

#endif
