/* GET /files/info, DELETE /files, chmod, mv and mkdir (fs_ops.h). */
#include "files/fs_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files/fs_info.h"
#include "files/fs_path.h"
#include "files/fs_resolve.h"
#include "files/glob.h"
#include "fsutil.h"
#include "jsonesc.h"
#include "log.h"
#include "xalloc.h"

static int cmp_key_index(const void *a, const void *b, void *arg)
{
    const char *const *keys = arg;
    return strcmp(keys[*(const size_t *)a], keys[*(const size_t *)b]);
}

int fsops_info(const char *const *keys, const char *const *paths, size_t n, struct strbuf *out,
               struct fs_err *err)
{
    if (n == 0) {
        strbuf_append_str(out, "{}");
        return 0;
    }
    struct stat *st = xcalloc(n, sizeof(*st));
    size_t *order = xcalloc(n, sizeof(*order));
    /* Request order decides which failure is reported, as in Go. */
    for (size_t i = 0; i < n; i++) {
        if (lstat(paths[i], &st[i]) != 0) {
            fsinfo_lstat_error(err, errno, paths[i]);
            free(st);
            free(order);
            return -1;
        }
        order[i] = i;
    }
    qsort_r(order, n, sizeof(*order), cmp_key_index, (void *)keys);

    struct fsinfo_names names;
    fsinfo_names_init(&names);
    strbuf_append_char(out, '{');
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        if (k > 0 && strcmp(keys[i], keys[order[k - 1]]) == 0)
            continue; /* a repeated key is one map entry */
        if (k > 0)
            strbuf_append_char(out, ',');
        jsonesc_append(out, keys[i], strlen(keys[i]));
        strbuf_append_char(out, ':');
        fsinfo_append(out, paths[i], &st[i], &names);
    }
    strbuf_append_char(out, '}');
    fsinfo_names_free(&names);
    free(st);
    free(order);
    return 0;
}

int fsops_delete_file(const char *path, struct fs_err *err)
{
    char ebuf[128];
    struct stat st, target;
    struct strbuf why = STRBUF_INIT;
    struct fsres r = FSRES_INIT;
    int rc = -1;

    if (fsres_parent(path, "lstat", 0, &r, &why) != 0 ||
        fstatat(r.dir, r.name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        if (e == ENOENT) {
            rc = 0;
        } else if (why.len > 0) {
            fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing file %s. %s", path, why.data);
        } else {
            fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing file %s. lstat %s: %s", path, path,
                       fs_strerror(e, ebuf));
        }
        goto out;
    }
    /* A symlink to a directory counts as a directory, as in Go (which stats). */
    if (S_ISDIR(st.st_mode) || (S_ISLNK(st.st_mode) && fstatat(r.dir, r.name, &target, 0) == 0 &&
                                S_ISDIR(target.st_mode))) {
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing file %s. path is a directory: %s",
                   path, path);
        goto out;
    }
    if (unlinkat(r.dir, r.name, 0) != 0 && errno != ENOENT) {
        int e = errno;
        fs_err_set(err, 500, FS_ERR_RUNTIME,
                   "error removing file %s. failed to remove file: remove %s: %s", path, path,
                   fs_strerror(e, ebuf));
        goto out;
    }
    rc = 0;
out:
    fsres_free(&r);
    strbuf_free(&why);
    return rc;
}

int fsops_chmod(const char *path, const struct fsops_perm *perm, struct fs_err *err)
{
    struct strbuf why = STRBUF_INIT;
    int rc = fsops_apply_perm(path, perm, &why);
    if (rc != 0)
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error changing permissions for %s. %s", path,
                   why.data);
    strbuf_free(&why);
    return rc;
}

/* rename without replacing: atomic where the filesystem supports it. */
static int rename_noreplace(const struct fsres *src, const struct fsres *dest)
{
    if (renameat2(src->dir, src->name, dest->dir, dest->name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* Not supported here (or a genuine EINVAL, which renameat reports again). */
    return renameat(src->dir, src->name, dest->dir, dest->name);
}

int fsops_mv(const char *src, const char *dest, struct fs_err *err)
{
    char ebuf[128];
    struct stat st;
    struct strbuf why = STRBUF_INIT;
    struct fsres from = FSRES_INIT, to = FSRES_INIT;
    int rc = -1;

    if (fsres_parent(src, "lstat", 0, &from, &why) != 0 ||
        fstatat(from.dir, from.name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        if (why.len == 0)
            strbuf_printf(&why, "lstat %s: %s", src, fs_strerror(e, ebuf));
        if (e == ENOENT)
            fs_err_file(err, e, "source path not found: %s: %s", src, why.data);
        else
            fs_err_file(err, e, "%s", why.data);
        goto out;
    }
    /* The destination's parents are created (0755); src and dest are never followed. */
    if (fsres_parent(dest, "mkdir", 0755, &to, &why) != 0) {
        fs_err_file(err, errno, "failed to create destination directory: %s", why.data);
        goto out;
    }
    if (fstatat(to.dir, to.name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        fs_err_set(err, 500, FS_ERR_RUNTIME,
                   "error accessing file: destination path already exists: %s", dest);
        goto out;
    }
    if (rename_noreplace(&from, &to) != 0) {
        int e = errno;
        if (e == EEXIST)
            fs_err_set(err, 500, FS_ERR_RUNTIME,
                       "error accessing file: destination path already exists: %s", dest);
        else
            fs_err_file(err, e, "failed to rename file: rename %s %s: %s", src, dest,
                        fs_strerror(e, ebuf));
        goto out;
    }
    rc = 0;
out:
    fsres_free(&from);
    fsres_free(&to);
    strbuf_free(&why);
    return rc;
}

int fsops_mkdir(const char *path, const struct fsops_perm *perm, struct fs_err *err)
{
    char ebuf[128];
    struct strbuf why = STRBUF_INIT;
    struct fsres r = FSRES_INIT;
    struct stat st;
    int fd = -1, rc = -1;

    if (fsres_parent(path, "mkdir", 0777, &r, &why) != 0)
        goto fail;
    /* An existing directory, or a symlink to one that may be followed, is fine. */
    if ((mkdirat(r.dir, r.name, 0777) != 0 && errno != EEXIST) ||
        fsres_follow(&r, "mkdir", path, &why) != 0)
        goto fail;
    if (r.dangling || fstatat(r.dir, r.name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        goto fail;
    }
    fd = openat(r.dir, r.name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fsops_apply_perm_fd(fd, path, perm, &why) != 0)
        goto fail;
    rc = 0;
    goto out;
fail : {
    int e = errno;
    if (why.len == 0)
        strbuf_printf(&why, "mkdir %s: %s", path, fs_strerror(e, ebuf));
    fs_err_file(err, e, "%s", why.data);
}
out:
    if (fd >= 0)
        close(fd);
    fsres_free(&r);
    strbuf_free(&why);
    return rc;
}
