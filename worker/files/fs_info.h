/*
 * The contract's FileInfo object (api-contract §7), from an lstat: symlinks
 * are described, never followed.
 *
 *   {"path","type","size","modified_at","created_at","owner","group","mode"}
 *
 * in exactly that order. type is file | directory | symlink | other;
 * modified_at is the mtime and created_at the ctime (inode change time, as
 * the Go daemon reports it), both in Go's time format; owner and group are
 * names, or the numeric id as a string when it has no name; mode is the
 * permission bits written as octal digits in a decimal number (0755 -> 755).
 */
#ifndef EXECD_FS_INFO_H
#define EXECD_FS_INFO_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "files/fs_err.h"
#include "strbuf.h"

/*
 * A small uid/gid -> name memo for one request: listing a large tree would
 * otherwise read the user database once per entry. Not kept across requests,
 * so account changes are seen at once.
 */
#define FSINFO_NAMES_SLOTS 8

struct fsinfo_names {
    struct {
        unsigned id;
        char *name;
    } users[FSINFO_NAMES_SLOTS], groups[FSINFO_NAMES_SLOTS];
    unsigned n_users, n_groups, next_user, next_group;
};

void fsinfo_names_init(struct fsinfo_names *names);
void fsinfo_names_free(struct fsinfo_names *names);

/* "file", "directory", "symlink" or "other". */
const char *fsinfo_type(mode_t mode);
/* The permission bits as decimal-octal digits: 0755 -> 755, 0 -> 0. */
int64_t fsinfo_mode_digits(mode_t mode);

/* Appends the FileInfo of path described by st. names may be NULL. */
void fsinfo_append(struct strbuf *out, const char *path, const struct stat *st,
                   struct fsinfo_names *names);

/*
 * lstat + fsinfo_append. Returns 0, or -1 with the Go daemon's error:
 * 404 "file not found. file not found: <p>: lstat <p>: ..." or
 * 500 "error accessing file: error accessing file <p>: lstat <p>: ...".
 */
int fsinfo_lstat(const char *path, struct strbuf *out, struct fsinfo_names *names,
                 struct fs_err *err);
/* The error of fsinfo_lstat for a failed lstat(path) with errnum. */
void fsinfo_lstat_error(struct fs_err *err, int errnum, const char *path);

#endif
