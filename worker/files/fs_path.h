/* Path helpers of the file API. */
#ifndef EXECD_FS_PATH_H
#define EXECD_FS_PATH_H

#include <stddef.h>

#include "strbuf.h"

/* Appends "/name" to a directory path ("/" + "x" is "/x", not "//x"). */
void fspath_push(struct strbuf *path, const char *name);
/* Cuts path back to its first len bytes (undoing pushes; restoring a failed result). */
void fspath_cut(struct strbuf *path, size_t len);
/* The directory of path into out: "." for a bare name, "/" for a name in the root. */
void fspath_dir(const char *path, struct strbuf *out);
/* fsync of the directory holding file, so a rename in it is durable. Returns 0 or -1 (errno). */
int fspath_sync_dir(const char *file);

#endif
