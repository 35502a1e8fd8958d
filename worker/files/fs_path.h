/* Path helpers of the file API. */
#ifndef EXECD_FS_PATH_H
#define EXECD_FS_PATH_H

#include <stddef.h>

#include "strbuf.h"

/* Appends "/name" to a directory path ("/" + "x" is "/x", not "//x"). */
void fspath_push(struct strbuf *path, const char *name);
/* Cuts path back to its first len bytes (undoing pushes; restoring a failed result). */
void fspath_cut(struct strbuf *path, size_t len);

#endif
