/*
 * A new file written beside a target and put in its place with one rename (upload,
 * replace). Where the filesystem has O_TMPFILE the file has no name before that, so a
 * worker killed meanwhile leaves nothing behind and nobody can swap its name for a
 * symlink; owner and mode are set on the descriptor. Where a name cannot be avoided
 * (no O_TMPFILE; the instant between linking and renaming over an existing target) it
 * is ".NAME.execd-<tag>-XXXXXX", created O_EXCL and only ever used relative to its
 * directory's descriptor, and it is journaled in the worker's state directory
 * (temps/) so that the next worker of the slot removes it (fstmp_sweep).
 *
 * The directory is passed to every call (an O_PATH descriptor is fine): a caller may
 * close it in between and resolve it again.
 */
#ifndef EXECD_FS_TMP_H
#define EXECD_FS_TMP_H

#include "strbuf.h"

struct fstmp {
    int fd;          /* read-write; -1 when there is none */
    const char *tag; /* names it if it needs a name: .NAME.execd-<tag>-XXXXXX */
    char *name;      /* NULL while the file has no name */
    char *journal;   /* the journal entry naming it, NULL when none */
};

#define FSTMP_INIT                                                                                 \
    {                                                                                              \
        -1, NULL, NULL, NULL                                                                       \
    }

/*
 * Creates the file in dir for the target called base, mode 0600 until set on fd.
 * tag is static. Returns 0, or -1 with errno.
 */
int fstmp_open(struct fstmp *t, int dir, const char *base, const char *tag);
/*
 * Puts the file (complete, synced) in place of name in dir, atomically, and syncs
 * the directory; the descriptor stays open. Returns 0, or -1 with errno.
 */
int fstmp_commit(struct fstmp *t, int dir, const char *name);
/* Drops the file: closes it and removes its name, if it has one (dir: where it is). */
void fstmp_discard(struct fstmp *t, int dir);
/* Removes what a previous worker of this slot left in the journal. */
void fstmp_sweep(void);

#endif
