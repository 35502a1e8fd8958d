/*
 * Paths of the file operations that change something (upload, replace, permissions,
 * mkdir, mv, delete), resolved by hand so that a workload running as another user
 * cannot redirect them with a symbolic link.
 *
 * The path is walked one component at a time with O_PATH|O_NOFOLLOW descriptors; the
 * operation then acts on the last component through the descriptor of its directory
 * (the *at() calls), so nothing is resolved twice. A symbolic link met on the way is
 * followed only when
 *  - it belongs to root or to the daemon's own user (nobody else can have planted it),
 *  - or what it leads to belongs to the link's owner (it then reaches nothing its owner
 *    could not change anyway).
 * Any other link stops the operation (EPERM, "not following symlink ..."). A link to
 * nowhere is reported as dangling. Links are never followed through more than 40 hops.
 */
#ifndef EXECD_FS_RESOLVE_H
#define EXECD_FS_RESOLVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "strbuf.h"

struct fsres {
    int dir;       /* O_PATH descriptor of the directory holding the last component */
    char *name;    /* the last component in it ("." for the root) */
    bool dangling; /* fsres_follow: the last component is a symlink to nowhere (kept) */
};

#define FSRES_INIT                                                                                 \
    {                                                                                              \
        -1, NULL, false                                                                            \
    }

/*
 * Resolves the directory holding path's last component (trailing slashes ignored).
 * mkdir_mode != 0 creates missing directories with that mode (umask applies), as
 * mkdir -p; never through a symlink's target. Returns 0, or -1 with errno and the
 * reason in why: "mkdir <prefix>: <error>" when creating, else "<op> <path>: <error>".
 */
int fsres_parent(const char *path, const char *op, mode_t mkdir_mode, struct fsres *r,
                 struct strbuf *why);
/*
 * When the last component is a symlink, follows it (under the rule above) to what it
 * leads to: r then names that. A symlink to nowhere stays as it is with r->dangling.
 * A missing last component is fine (r unchanged). Returns 0, or -1 as fsres_parent.
 */
int fsres_follow(struct fsres *r, const char *op, const char *path, struct strbuf *why);
void fsres_free(struct fsres *r);

#endif
