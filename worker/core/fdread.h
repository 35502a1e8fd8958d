/* Reading a non-blocking descriptor (a pipe, a fifo) in chunks on an event loop. */
#ifndef EXECD_FDREAD_H
#define EXECD_FDREAD_H

#include <stddef.h>

enum fdread_rc {
    FDREAD_AGAIN,  /* nothing more for now (or max_reads done): the descriptor stays open */
    FDREAD_CLOSED, /* end of file, or a read error (errno set; 0 at end of file) */
};

/*
 * Reads fd in 64 KiB chunks, at most max_reads of them, handing each to fn(arg, data,
 * len); stops early at a short read.
 */
enum fdread_rc fdread_chunks(int fd, int max_reads,
                             void (*fn)(void *arg, const char *data, size_t len), void *arg);

#endif
