/* Small file-system helpers used on both sides. */
#ifndef EXECD_FSUTIL_H
#define EXECD_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all of data (retrying short writes and EINTR). Returns 0 or -1 (errno). */
int fsutil_write_all(int fd, const void *data, size_t len);
/*
 * mkdir -p: creates missing parents with 0755 and dir itself with mode; an
 * existing directory is fine. Returns 0 or -1 (errno).
 */
int fsutil_mkdir_p(const char *dir, mode_t mode);

#endif
