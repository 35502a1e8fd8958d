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
#include "files/glob.h"
#include "fsutil.h"
#include "jsonesc.h"
#include "log.h"
#include "xalloc.h"

int fsops_mkdir_p(const char *path, mode_t mode, struct strbuf *why)
{
    char ebuf[128];
    struct stat st;

    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        strbuf_printf(why, "mkdir %s: %s", path, fs_strerror(ENOTDIR, ebuf));
        errno = ENOTDIR;
        return -1;
    }

    struct strbuf p = STRBUF_INIT;
    strbuf_append_str(&p, path);
    size_t len = p.len;
    /* Each prefix that ends a component, top-down; the root always exists. */
    for (size_t i = 1; i <= len; i++) {
        if ((i < len && p.data[i] != '/') || p.data[i - 1] == '/')
            continue;
        char saved = p.data[i];
        p.data[i] = '\0';
        if (stat(p.data, &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (mkdir(p.data, mode) != 0) {
                int e = errno;
                /* Lost a race to another creator: fine if it made a directory. */
                if (!(e == EEXIST && stat(p.data, &st) == 0 && S_ISDIR(st.st_mode))) {
                    if (e == EEXIST)
                        e = ENOTDIR;
                    strbuf_printf(why, "mkdir %s: %s", p.data, fs_strerror(e, ebuf));
                    strbuf_free(&p);
                    errno = e;
                    return -1;
                }
            }
        }
        p.data[i] = saved;
    }
    strbuf_free(&p);
    return 0;
}

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

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        int e = errno;
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing file %s. lstat %s: %s", path, path,
                   fs_strerror(e, ebuf));
        return -1;
    }
    /* A symlink to a directory counts as a directory, as in Go (which stats). */
    if (S_ISDIR(st.st_mode) ||
        (S_ISLNK(st.st_mode) && stat(path, &target) == 0 && S_ISDIR(target.st_mode))) {
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing file %s. path is a directory: %s",
                   path, path);
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        int e = errno;
        fs_err_set(err, 500, FS_ERR_RUNTIME,
                   "error removing file %s. failed to remove file: remove %s: %s", path, path,
                   fs_strerror(e, ebuf));
        return -1;
    }
    return 0;
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
static int rename_noreplace(const char *src, const char *dest)
{
    if (renameat2(AT_FDCWD, src, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* Not supported here (or a genuine EINVAL, which rename reports again). */
    return rename(src, dest);
}

int fsops_mv(const char *src, const char *dest, struct fs_err *err)
{
    char ebuf[128];
    struct stat st;
    struct strbuf parent = STRBUF_INIT, why = STRBUF_INIT;
    int rc = -1;

    if (lstat(src, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            fs_err_file(err, e, "source path not found: %s: lstat %s: %s", src, src,
                        fs_strerror(e, ebuf));
        else
            fs_err_file(err, e, "lstat %s: %s", src, fs_strerror(e, ebuf));
        goto out;
    }

    const char *slash = strrchr(dest, '/');
    if (slash != NULL) {
        strbuf_append(&parent, dest, slash == dest ? 1 : (size_t)(slash - dest));
        if (fsops_mkdir_p(parent.data, 0755, &why) != 0) {
            fs_err_file(err, errno, "failed to create destination directory: %s", why.data);
            goto out;
        }
    }
    if (lstat(dest, &st) == 0) {
        fs_err_set(err, 500, FS_ERR_RUNTIME,
                   "error accessing file: destination path already exists: %s", dest);
        goto out;
    }
    if (rename_noreplace(src, dest) != 0) {
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
    strbuf_free(&parent);
    strbuf_free(&why);
    return rc;
}

int fsops_mkdir(const char *path, const struct fsops_perm *perm, struct fs_err *err)
{
    struct strbuf why = STRBUF_INIT;
    int rc = fsops_mkdir_p(path, 0777, &why);
    if (rc == 0)
        rc = fsops_apply_perm(path, perm, &why);
    if (rc != 0)
        fs_err_file(err, errno, "%s", why.data);
    strbuf_free(&why);
    return rc;
}
