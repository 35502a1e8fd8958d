/* DELETE /directories: rm -rf that never follows a symlink (fs_ops.h). */
#include "files/fs_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files/fs_path.h"
#include "files/fs_resolve.h"
#include "files/fs_thread.h"

/* Passes of rm -rf over a directory that keeps getting new entries. */
#define RM_PASSES 3

static void rm_fail(struct strbuf *why, const char *op, const struct strbuf *path, int e)
{
    char ebuf[128];
    strbuf_printf(why, "%s %s: %s", op, path->data, fs_strerror(e, ebuf));
}

/*
 * Removes the directory name (under parent), known not to be a symlink:
 * opened with O_NOFOLLOW and emptied through its descriptor, so a swap to a
 * symlink mid-way can never lead outside the tree. path is the display path.
 */
static int rm_tree(int parent, const char *name, struct strbuf *path, struct strbuf *why);

/*
 * Opens the directory name under parent, never through a symlink. NULL when it cannot:
 * *gone tells that nothing is left to remove (it vanished, or was replaced by a file or
 * a link, which is removed), else why says what failed.
 */
static DIR *open_dir(int parent, const char *name, const struct strbuf *path, struct strbuf *why,
                     bool *gone)
{
    *gone = false;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOTDIR || e == ELOOP) { /* replaced by a file or link meanwhile */
            if (unlinkat(parent, name, 0) == 0)
                e = ENOENT;
            else
                e = errno;
        }
        *gone = e == ENOENT;
        if (!*gone)
            rm_fail(why, "openat", path, e);
        return NULL;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        rm_fail(why, "fdopendir", path, e);
    }
    return d;
}

/* Removes the entry name of d, whose display path is path. Returns 0 or -1 (why). */
static int rm_entry(DIR *d, const char *name, struct strbuf *path, struct strbuf *why)
{
    if (unlinkat(dirfd(d), name, 0) == 0 || errno == ENOENT)
        return 0;
    int e = errno;
    struct stat st;
    /* unlink(2) refuses directories with EISDIR (Linux) or EPERM (POSIX). */
    if ((e == EISDIR || e == EPERM) && fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode))
        return rm_tree(dirfd(d), name, path, why);
    rm_fail(why, "unlinkat", path, e);
    return -1;
}

/* Removes everything in d, then closes it. Returns 0 or -1 (why, path naming the entry). */
static int empty_dir(DIR *d, struct strbuf *path, struct strbuf *why)
{
    size_t base = path->len;
    struct dirent *ent;
    int rc = 0;
    for (errno = 0; rc == 0 && (ent = readdir(d)) != NULL; errno = 0) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (fsthread_stopping()) {
            strbuf_printf(why, "stopped at %s: its client went away", path->data);
            closedir(d);
            return -1;
        }
        fspath_push(path, ent->d_name);
        rc = rm_entry(d, ent->d_name, path, why);
        if (rc == 0)
            fspath_cut(path, base);
    }
    if (rc == 0 && errno != 0) {
        rm_fail(why, "readdirent", path, errno);
        rc = -1;
    }
    closedir(d);
    return rc;
}

static int rm_tree(int parent, const char *name, struct strbuf *path, struct strbuf *why)
{
    for (int pass = 0; pass < RM_PASSES; pass++) {
        bool gone;
        DIR *d = open_dir(parent, name, path, why, &gone);
        if (d == NULL)
            return gone ? 0 : -1;
        if (empty_dir(d, path, why) != 0)
            return -1;
        if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        if (errno != ENOTEMPTY && errno != EEXIST) {
            rm_fail(why, "unlinkat", path, errno);
            return -1;
        }
        /* Something was created in it meanwhile: empty it again. */
    }
    rm_fail(why, "unlinkat", path, ENOTEMPTY);
    return -1;
}

int fsops_rmrf(const char *path, struct fs_err *err)
{
    struct strbuf p = STRBUF_INIT, why = STRBUF_INIT;
    struct fsres r = FSRES_INIT;
    struct stat st;
    int rc = -1;

    if (path[0] == '\0')
        return 0;
    /* Trailing slashes would make the kernel follow a final symlink: drop them. */
    strbuf_append_str(&p, path);
    while (p.len > 1 && p.data[p.len - 1] == '/')
        fspath_cut(&p, p.len - 1);
    const char *last = strrchr(p.data, '/');
    last = last != NULL ? last + 1 : p.data;
    if (strcmp(p.data, "/") == 0) {
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing directory %s. refusing to remove /",
                   path);
        goto out;
    }
    if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
        fs_err_set(err, 500, FS_ERR_RUNTIME,
                   "error removing directory %s. RemoveAll %s: invalid argument", path, path);
        goto out;
    }

    /* The parent is resolved once (no untrusted symlink on the way), the rest below it. */
    if (fsres_parent(p.data, "lstat", 0, &r, &why) != 0 ||
        fstatat(r.dir, r.name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            rc = 0;
            goto out;
        }
        if (why.len == 0)
            rm_fail(&why, "lstat", &p, errno);
    } else if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(r.dir, r.name, 0) == 0 || errno == ENOENT)
            rc = 0;
        else
            rm_fail(&why, "unlinkat", &p, errno);
    } else {
        rc = rm_tree(r.dir, r.name, &p, &why);
    }
    if (rc != 0)
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing directory %s. %s", path, why.data);
out:
    fsres_free(&r);
    strbuf_free(&p);
    strbuf_free(&why);
    return rc;
}
