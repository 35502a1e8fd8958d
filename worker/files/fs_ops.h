/*
 * The blocking filesystem operations behind /files/... and /directories/...
 * (api-contract §7-§8, runtime-behavior §8), as plain functions a worker
 * runs for the master.
 *
 * Conventions:
 *  - paths are already expanded by the caller (pathexp: ~, $VAR, absolute
 *    and cleaned where the contract says so); messages quote the paths
 *    passed in (Go sometimes quoted the request's unexpanded string);
 *  - each function returns 0, or -1 with err set to the HTTP status, code and
 *    message the route sends as {"code","message"} (fs_err_json);
 *  - JSON results are appended to out, which is left unchanged on error;
 *  - multi-item requests are the caller's loop: the first failure aborts
 *    and earlier items stay applied, as in Go.
 *
 * Where this differs from the Go daemon (documented for the README):
 *  - Permission owner/group may be a name OR a numeric id; an unknown one is
 *    an error (Go only logged it); when neither is given nothing is chowned
 *    (Go chowned to the daemon's own uid/gid).
 *  - DELETE /files removes a dangling symlink (Go left it in place), and
 *    mv checks source and destination with lstat, so links are moved and
 *    never silently replaced; mv never overwrites even under a race
 *    (renameat2 RENAME_NOREPLACE when the filesystem has it).
 *  - rm -rf refuses "/" and paths ending in "." or "..".
 *  - list and search skip entries that vanish while being walked (Go failed
 *    the listing).
 *  - search validates the pattern before walking: an invalid one is an
 *    error even in an empty directory.
 *  - replace streams (memory bounded by the size of old), writes a temporary
 *    file in the same directory and renames it over the target (atomic,
 *    keeps mode and owner, follows a symlinked path to its target); when
 *    that is impossible (hard links, bind-mounted file, unwritable
 *    directory) it rewrites the file in place like Go. A file without any
 *    occurrence is left untouched (Go rewrote it).
 *  - the changing operations (delete, chmod, mv, mkdir, rm -rf, replace)
 *    resolve paths with fs_resolve.h: a symlink owned by another user is
 *    followed only to that user's own files (Go followed every link).
 */
#ifndef EXECD_FS_OPS_H
#define EXECD_FS_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "files/fs_err.h"
#include "strbuf.h"

/* The Permission object of chmod, mkdir and upload metadata. */
struct fsops_perm {
    int64_t mode;      /* octal digits as a decimal number (755); 0 = leave unchanged */
    const char *owner; /* user name or numeric uid; NULL or "" = leave unchanged */
    const char *group; /* group name or numeric gid; NULL or "" = leave unchanged */
};

/*
 * Decimal-octal digits to permission bits (755 -> 0755). Only the lower nine
 * bits are kept (special bits cannot be set, as in Go). Returns 0, or -1 for
 * a negative number, a digit 8 or 9, or more than 32 bits (Go's ParseUint).
 */
int fsops_mode_parse(int64_t digits, mode_t *out);

/*
 * Applies a Permission to path: chmod when mode != 0, then chown of whichever
 * of owner/group is given. A symlink is followed as fs_resolve.h allows (Go's
 * os.Chmod and os.Chown follow any). Returns 0, or -1 with errno set (0 when
 * the failure is not a system call's, e.g. an unknown user) and the reason in
 * why ("chmod <p>: ...").
 */
int fsops_apply_perm(const char *path, const struct fsops_perm *perm, struct strbuf *why);
/* The same on a file open as fd (any descriptor, O_PATH included); path is for messages. */
int fsops_apply_perm_fd(int fd, const char *path, const struct fsops_perm *perm,
                        struct strbuf *why);
/*
 * An O_PATH descriptor of what path names, its last symlink followed as
 * fs_resolve.h allows (a dangling one is ENOENT). Returns it, or -1 with errno
 * and why ("<op> <path>: ...").
 */
int fsops_open_final(const char *path, const char *op, struct strbuf *why);

/*
 * GET /files/info: {"<key>": FileInfo, ...} for paths[i] requested as keys[i].
 * Keys come out sorted and once (Go's map encoding); failures are reported in
 * request order. n == 0 gives {}.
 */
int fsops_info(const char *const *keys, const char *const *paths, size_t n, struct strbuf *out,
               struct fs_err *err);

/* DELETE /files: removes one non-directory; a missing path is fine. */
int fsops_delete_file(const char *path, struct fs_err *err);

/* POST /files/permissions for one path (every failure is a 500, even ENOENT). */
int fsops_chmod(const char *path, const struct fsops_perm *perm, struct fs_err *err);

/* POST /files/mv for one item. */
int fsops_mv(const char *src, const char *dest, struct fs_err *err);

/* POST /directories for one path: mkdir -p (0777 & ~umask), then perm on the leaf. */
int fsops_mkdir(const char *path, const struct fsops_perm *perm, struct fs_err *err);

/* DELETE /directories for one path: rm -rf, never following symlinks. */
int fsops_rmrf(const char *path, struct fs_err *err);

/* GET /directories/list: JSON array of FileInfo (depth >= 0; 0 gives []). */
int fsops_list(const char *path, int depth, struct strbuf *out, struct fs_err *err);

/* GET /files/search: JSON array of FileInfo; pattern NULL or "" means "**". */
int fsops_search(const char *path, const char *pattern, struct strbuf *out, struct fs_err *err);

/*
 * POST /files/replace for one file: every occurrence of old (non-empty) by
 * new. *count (may be NULL) receives the number of replacements.
 */
int fsops_replace(const char *path, const char *old, size_t old_len, const char *repl,
                  size_t repl_len, int64_t *count, struct fs_err *err);

#endif
