/*
 * A FIFO of ready-framed stream events ("<json>\n\n"...) with bounded
 * memory: the first mem_max bytes stay in memory, the rest goes to an
 * unlinked file in dir until the queue drains. A kernel cannot be paused
 * (iopub is PUB/SUB: a reader that stops makes the kernel drop messages), so
 * output produced while the client reads slowly is parked here rather than
 * in the worker's or the master's memory.
 *
 * Pushes must hold whole events; pops return whole events only, so the
 * master can relay every IPC frame without reassembly.
 */
#ifndef EXECD_SPOOL_H
#define EXECD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct spool {
    const char *dir; /* borrowed; where the overflow file is created */
    size_t mem_max;
    struct strbuf mem; /* the oldest events while the file is empty */
    size_t mem_off;    /* bytes of mem already popped */
    int fd;            /* overflow file, -1 until needed */
    uint64_t rd, wr;   /* read and write offsets in the file */
};

void spool_init(struct spool *s, const char *dir, size_t mem_max);
/* Appends whole events. Returns 0, or -1 with a reason in err (nothing was queued). */
int spool_push(struct spool *s, const char *data, size_t len, struct strbuf *err);
/*
 * Appends to out the oldest queued events: as many whole events as fit in
 * max bytes, at least one. Returns the number of bytes moved (0 when empty),
 * or -1 with a reason in err.
 */
long spool_pop(struct spool *s, struct strbuf *out, size_t max, struct strbuf *err);
bool spool_empty(const struct spool *s);
/* Bytes queued (memory and file). */
uint64_t spool_len(const struct spool *s);
/* Drops everything queued (the reader went away). */
void spool_clear(struct spool *s);
void spool_free(struct spool *s);

#endif
