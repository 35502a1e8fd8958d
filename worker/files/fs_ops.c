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
#include "files/glob.h"
#include "fsutil.h"
#include "jsonesc.h"
#include "log.h"

/* Largest passwd/group record buffer tried (the _r lookups need a caller buffer). */
#define NSS_BUF_MAX (1024 * 1024)
/* I/O buffer of replace. */
#define IO_BUF 65536
/* Passes of rm -rf over a directory that keeps getting new entries. */
#define RM_PASSES 3

/* Puts out back to the length it had before a failed operation. */
static void out_restore(struct strbuf *out, size_t len)
{
    if (out->data != NULL) {
        out->len = len;
        out->data[len] = '\0';
    }
}

static void sb_truncate(struct strbuf *sb, size_t len)
{
    sb->len = len;
    if (sb->data != NULL)
        sb->data[len] = '\0';
}

/* Appends "/name" to a directory path ("/" + "x" is "/x", not "//x"). */
static void path_push(struct strbuf *path, const char *name)
{
    if (path->len == 0 || path->data[path->len - 1] != '/')
        strbuf_append_char(path, '/');
    strbuf_append_str(path, name);
}

/* ---- Permission ---- */

int fsops_mode_parse(int64_t digits, mode_t *out)
{
    uint64_t bits = 0;
    unsigned shift = 0;

    if (digits < 0)
        return -1;
    do {
        int64_t d = digits % 10;
        if (d > 7)
            return -1;
        bits |= (uint64_t)d << shift;
        shift += 3;
        digits /= 10;
    } while (digits > 0);
    if (bits > 0xffffffffu) /* Go parses the digits into 32 bits */
        return -1;
    *out = (mode_t)(bits & 0777);
    return 0;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

/*
 * A user (is_user) or group given by name, or failing that by number.
 * Returns 0, or -1 with the reason in why.
 */
static int resolve_id(const char *s, bool is_user, unsigned *id, struct strbuf *why)
{
    size_t size = 1024;
    char *buf = NULL;
    int rc = 0;
    bool found = false;

    for (;;) {
        char *nbuf = realloc(buf, size);
        if (nbuf == NULL) {
            rc = ENOMEM;
            break;
        }
        buf = nbuf;
        if (is_user) {
            struct passwd pw, *res = NULL;
            rc = getpwnam_r(s, &pw, buf, size, &res);
            if (rc == 0 && res != NULL) {
                *id = (unsigned)res->pw_uid;
                found = true;
            }
        } else {
            struct group gr, *res = NULL;
            rc = getgrnam_r(s, &gr, buf, size, &res);
            if (rc == 0 && res != NULL) {
                *id = (unsigned)res->gr_gid;
                found = true;
            }
        }
        if (rc != ERANGE || size >= NSS_BUF_MAX)
            break;
        size *= 2;
    }
    free(buf);
    if (found)
        return 0;

    /* No such name: a number is taken as the id itself (chown(1) does the same). */
    if (all_digits(s) && strlen(s) <= 10) {
        unsigned long long v = strtoull(s, NULL, 10);
        if (v < 0xffffffffull) { /* (uid_t)-1 means "unchanged" to chown(2) */
            *id = (unsigned)v;
            return 0;
        }
    }
    if (rc != 0) {
        char ebuf[128];
        strbuf_printf(why, "cannot look up %s %s: %s", is_user ? "user" : "group", s,
                      fs_strerror(rc, ebuf));
    } else {
        strbuf_printf(why, "unknown %s %s", is_user ? "user" : "group", s);
    }
    return -1;
}

int fsops_apply_perm(const char *path, const struct fsops_perm *perm, struct strbuf *why)
{
    char ebuf[128];
    mode_t mode = 0;
    unsigned uid = (unsigned)-1, gid = (unsigned)-1;
    bool has_owner = perm->owner != NULL && perm->owner[0] != '\0';
    bool has_group = perm->group != NULL && perm->group[0] != '\0';

    /* Everything is validated before anything changes. */
    if (perm->mode != 0 && fsops_mode_parse(perm->mode, &mode) != 0) {
        strbuf_printf(why, "invalid mode %lld: expected octal digits like 755",
                      (long long)perm->mode);
        errno = 0;
        return -1;
    }
    if ((has_owner && resolve_id(perm->owner, true, &uid, why) != 0) ||
        (has_group && resolve_id(perm->group, false, &gid, why) != 0)) {
        errno = 0;
        return -1;
    }

    if (perm->mode != 0 && chmod(path, mode) != 0) {
        int e = errno;
        strbuf_printf(why, "chmod %s: %s", path, fs_strerror(e, ebuf));
        errno = e;
        return -1;
    }
    if ((has_owner || has_group) && chown(path, (uid_t)uid, (gid_t)gid) != 0) {
        int e = errno;
        strbuf_printf(why, "chown %s: %s", path, fs_strerror(e, ebuf));
        errno = e;
        return -1;
    }
    return 0;
}

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

/* ---- info, delete, chmod, mv, mkdir ---- */

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
    struct stat *st = calloc(n, sizeof(*st));
    size_t *order = calloc(n, sizeof(*order));
    if (st == NULL || order == NULL) {
        free(st);
        free(order);
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error accessing file: out of memory");
        return -1;
    }
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

/* ---- rm -rf ---- */

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
static int rm_tree(int parent, const char *name, struct strbuf *path, struct strbuf *why)
{
    for (int pass = 0; pass < RM_PASSES; pass++) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == ENOENT)
                return 0;
            if (e == ENOTDIR || e == ELOOP) { /* replaced by a file or link meanwhile */
                if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
                    return 0;
                e = errno;
            }
            rm_fail(why, "openat", path, e);
            return -1;
        }
        DIR *d = fdopendir(fd);
        if (d == NULL) {
            int e = errno;
            close(fd);
            rm_fail(why, "fdopendir", path, e);
            return -1;
        }
        size_t base = path->len;
        struct dirent *ent;
        for (errno = 0; (ent = readdir(d)) != NULL; errno = 0) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            path_push(path, ent->d_name);
            if (unlinkat(dirfd(d), ent->d_name, 0) != 0 && errno != ENOENT) {
                int e = errno;
                struct stat st;
                /* unlink(2) refuses directories with EISDIR (Linux) or EPERM (POSIX). */
                if ((e == EISDIR || e == EPERM) &&
                    fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISDIR(st.st_mode)) {
                    if (rm_tree(dirfd(d), ent->d_name, path, why) != 0) {
                        closedir(d);
                        return -1;
                    }
                } else {
                    rm_fail(why, "unlinkat", path, e);
                    closedir(d);
                    return -1;
                }
            }
            sb_truncate(path, base);
        }
        if (errno != 0) {
            int e = errno;
            rm_fail(why, "readdirent", path, e);
            closedir(d);
            return -1;
        }
        closedir(d);
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
    struct stat st;
    int rc = -1;

    if (path[0] == '\0')
        return 0;
    /* Trailing slashes would make the kernel follow a final symlink: drop them. */
    strbuf_append_str(&p, path);
    while (p.len > 1 && p.data[p.len - 1] == '/')
        sb_truncate(&p, p.len - 1);
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

    if (lstat(p.data, &st) != 0) {
        if (errno == ENOENT) {
            rc = 0;
            goto out;
        }
        rm_fail(&why, "lstat", &p, errno);
    } else if (!S_ISDIR(st.st_mode)) {
        if (unlink(p.data) == 0 || errno == ENOENT)
            rc = 0;
        else
            rm_fail(&why, "unlinkat", &p, errno);
    } else {
        /* The display path grows during the walk: it must not be the name buffer. */
        struct strbuf shown = STRBUF_INIT;
        strbuf_append(&shown, p.data, p.len);
        rc = rm_tree(AT_FDCWD, p.data, &shown, &why);
        strbuf_free(&shown);
    }
    if (rc != 0)
        fs_err_set(err, 500, FS_ERR_RUNTIME, "error removing directory %s. %s", path, why.data);
out:
    strbuf_free(&p);
    strbuf_free(&why);
    return rc;
}

/* ---- list and search ---- */

/* The names of a directory, sorted bytewise (Go's os.ReadDir order). */
struct dirnames {
    struct strbuf pool; /* NUL-terminated names back to back */
    size_t *off;
    size_t n, cap;
};

static int cmp_name(const void *a, const void *b, void *arg)
{
    const char *pool = arg;
    return strcmp(pool + *(const size_t *)a, pool + *(const size_t *)b);
}

static void dirnames_free(struct dirnames *dn)
{
    strbuf_free(&dn->pool);
    free(dn->off);
    dn->off = NULL;
    dn->n = dn->cap = 0;
}

/* Reads every name but "." and "..". Returns 0, or -1 with errno. */
static int dirnames_read(DIR *d, struct dirnames *dn)
{
    struct dirent *ent;
    for (errno = 0; (ent = readdir(d)) != NULL; errno = 0) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (dn->n == dn->cap) {
            size_t cap = dn->cap ? dn->cap * 2 : 32;
            size_t *off = realloc(dn->off, cap * sizeof(*off));
            if (off == NULL) {
                errno = ENOMEM;
                return -1;
            }
            dn->off = off;
            dn->cap = cap;
        }
        dn->off[dn->n++] = dn->pool.len;
        strbuf_append(&dn->pool, ent->d_name, strlen(ent->d_name) + 1);
    }
    if (errno != 0)
        return -1;
    if (dn->n > 1)
        qsort_r(dn->off, dn->n, sizeof(*dn->off), cmp_name, dn->pool.data);
    return 0;
}

struct walk {
    struct strbuf *out;
    size_t entries;
    struct fsinfo_names names;
    struct fs_err *err;
    const char *root;
    struct strbuf path; /* of the entry being looked at */
    int max_depth;      /* list: levels to show; search: unlimited (-1) */
    struct glob *glob;  /* search only */
};

/* A failed system call during the walk, worded as Go's list / search. */
static int walk_fail(struct walk *w, const char *op, int e)
{
    char ebuf[128];
    const char *p = w->path.data;
    if (w->glob != NULL)
        fs_err_set(w->err, 500, FS_ERR_RUNTIME,
                   "error searching files. error accessing path %s: %s %s: %s", p, op, p,
                   fs_strerror(e, ebuf));
    else
        fs_err_set(w->err, 500, FS_ERR_RUNTIME, "error listing directory %s. %s %s: %s", w->root,
                   op, p, fs_strerror(e, ebuf));
    return -1;
}

static void walk_emit(struct walk *w, const struct stat *st)
{
    if (w->entries++ > 0)
        strbuf_append_char(w->out, ',');
    fsinfo_append(w->out, w->path.data, st, &w->names);
}

/* Search: does the entry's base name match? */
static int walk_match(struct walk *w, const char *name, bool *match)
{
    int rc = glob_exec(w->glob, name, strlen(name));
    if (rc == GLOB_ENOMEM) {
        fs_err_set(w->err, 500, FS_ERR_RUNTIME, "error searching files. out of memory");
        return -1;
    }
    *match = rc == GLOB_MATCH;
    return 0;
}

/*
 * Walks the directory open as dfd (taken over) whose path is w->path, at
 * `level` below the root. Entries that vanish meanwhile are skipped.
 */
static int walk_dir(struct walk *w, int dfd, int level)
{
    struct dirnames dn = {STRBUF_INIT, NULL, 0, 0};
    int rc = -1;

    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int e = errno;
        close(dfd);
        return walk_fail(w, "open", e);
    }
    if (dirnames_read(d, &dn) != 0) {
        walk_fail(w, "readdirent", errno);
        goto out;
    }
    size_t base = w->path.len;
    for (size_t i = 0; i < dn.n; i++) {
        const char *name = dn.pool.data + dn.off[i];
        struct stat st;
        sb_truncate(&w->path, base);
        path_push(&w->path, name);
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue;
            walk_fail(w, "lstat", errno);
            goto out;
        }
        if (w->glob == NULL) {
            walk_emit(w, &st);
        } else if (!S_ISDIR(st.st_mode)) {
            bool match;
            if (walk_match(w, name, &match) != 0)
                goto out;
            if (match)
                walk_emit(w, &st);
        }
        if (!S_ISDIR(st.st_mode) || (w->max_depth >= 0 && level + 1 >= w->max_depth))
            continue;
        int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            /* Gone, or swapped for a file or a symlink since the lstat: not ours to follow. */
            if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
                continue;
            walk_fail(w, "open", errno);
            goto out;
        }
        if (walk_dir(w, sub, level + 1) != 0)
            goto out;
    }
    sb_truncate(&w->path, base);
    rc = 0;
out:
    closedir(d);
    dirnames_free(&dn);
    return rc;
}

static void walk_init(struct walk *w, struct strbuf *out, struct fs_err *err, const char *root)
{
    w->out = out;
    w->entries = 0;
    fsinfo_names_init(&w->names);
    w->err = err;
    w->root = root;
    strbuf_init(&w->path);
    strbuf_append_str(&w->path, root);
    w->max_depth = -1;
    w->glob = NULL;
}

static void walk_free(struct walk *w)
{
    fsinfo_names_free(&w->names);
    strbuf_free(&w->path);
    glob_free(w->glob);
}

int fsops_list(const char *path, int depth, struct strbuf *out, struct fs_err *err)
{
    char ebuf[128];
    struct stat st;
    size_t start = out->len;

    if (lstat(path, &st) != 0) {
        int e = errno;
        fs_err_file(err, e, "lstat %s: %s", path, fs_strerror(e, ebuf));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        fs_err_set(err, 400, FS_ERR_INVALID_REQUEST,
                   "path is a symbolic link, refusing to traverse: %s", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fs_err_set(err, 400, FS_ERR_INVALID_REQUEST, "path is not a directory: %s", path);
        return -1;
    }
    if (depth < 0) {
        fs_err_set(err, 400, FS_ERR_INVALID_REQUEST, "invalid query parameter 'depth': %d", depth);
        return -1;
    }

    strbuf_append_char(out, '[');
    if (depth > 0) {
        struct walk w;
        walk_init(&w, out, err, path);
        w.max_depth = depth;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int rc = fd < 0 ? walk_fail(&w, "open", errno) : walk_dir(&w, fd, 0);
        walk_free(&w);
        if (rc != 0) {
            out_restore(out, start);
            return -1;
        }
    }
    strbuf_append_char(out, ']');
    return 0;
}

/* Go's filepath.Base of a cleaned path: the last element, "/" for the root. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return path;
    if (slash[1] == '\0')
        return slash == path ? "/" : slash + 1;
    return slash + 1;
}

int fsops_search(const char *path, const char *pattern, struct strbuf *out, struct fs_err *err)
{
    char ebuf[128];
    struct stat st;
    size_t start = out->len;
    struct walk w;
    int rc = -1;

    if (pattern == NULL || pattern[0] == '\0')
        pattern = "**";
    /* The root must exist (through symlinks) before the pattern is looked at, as in Go. */
    if (stat(path, &st) != 0) {
        int e = errno;
        fs_err_file(err, e, "stat %s: %s", path, fs_strerror(e, ebuf));
        return -1;
    }

    walk_init(&w, out, err, path);
    int grc = glob_compile(pattern, &w.glob);
    if (grc != 0) {
        if (grc == GLOB_EBADPAT)
            fs_err_set(err, 500, FS_ERR_RUNTIME,
                       "error searching files. invalid pattern %s: syntax error in pattern",
                       pattern);
        else
            fs_err_set(err, 500, FS_ERR_RUNTIME, "error searching files. out of memory");
        goto out;
    }

    strbuf_append_char(out, '[');
    /* The root itself is lstat'ed: a symlinked root is one entry, never walked. */
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT) {
            walk_fail(&w, "lstat", errno);
            goto out;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        bool match;
        if (walk_match(&w, base_name(path), &match) != 0)
            goto out;
        if (match)
            walk_emit(&w, &st);
    } else {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
                walk_fail(&w, "open", errno);
                goto out;
            }
        } else if (walk_dir(&w, fd, 0) != 0) {
            goto out;
        }
    }
    strbuf_append_char(out, ']');
    rc = 0;
out:
    if (rc != 0)
        out_restore(out, start);
    walk_free(&w);
    return rc;
}

/* ---- replace ---- */

struct writer {
    int fd;
    char buf[IO_BUF];
    size_t len;
    int err; /* errno of the first failed write */
};

static void wr_flush(struct writer *wr)
{
    if (wr->err == 0 && wr->len > 0 && fsutil_write_all(wr->fd, wr->buf, wr->len) != 0)
        wr->err = errno;
    wr->len = 0;
}

static void wr_put(struct writer *wr, const char *p, size_t n)
{
    if (wr->err != 0)
        return;
    if (n >= sizeof(wr->buf)) {
        wr_flush(wr);
        if (wr->err == 0 && fsutil_write_all(wr->fd, p, n) != 0)
            wr->err = errno;
        return;
    }
    if (wr->len + n > sizeof(wr->buf))
        wr_flush(wr);
    memcpy(wr->buf + wr->len, p, n);
    wr->len += n;
}

static ssize_t read_some(int fd, char *buf, size_t n)
{
    ssize_t r;
    do {
        r = read(fd, buf, n);
    } while (r < 0 && errno == EINTR);
    return r;
}

/*
 * Copies in to wr replacing every occurrence of old (leftmost first, not
 * overlapping, like Go's strings.ReplaceAll) with repl. Only the bytes of a
 * possible occurrence are held back: KMP tells how many of them can no
 * longer start one. Returns 0, or -1 with errno (read side) or wr->err.
 */
static int stream_replace(int in, struct writer *wr, const char *old, size_t old_len,
                          const char *repl, size_t repl_len, int64_t *count)
{
    size_t *border = malloc(old_len * sizeof(*border));
    char *buf = malloc(IO_BUF);
    size_t m = 0; /* bytes of old matched so far */
    int rc = -1;

    *count = 0;
    if (border == NULL || buf == NULL) {
        errno = ENOMEM;
        goto out;
    }
    /* border[i]: length of the longest proper prefix of old[0..i] that is also its suffix. */
    border[0] = 0;
    for (size_t i = 1, k = 0; i < old_len; i++) {
        while (k > 0 && old[i] != old[k])
            k = border[k - 1];
        if (old[i] == old[k])
            k++;
        border[i] = k;
    }
    for (;;) {
        ssize_t r = read_some(in, buf, IO_BUF);
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            char c = buf[i];
            while (m > 0 && c != old[m]) {
                size_t keep = border[m - 1];
                wr_put(wr, old, m - keep);
                m = keep;
            }
            if (c == old[m]) {
                if (++m == old_len) {
                    wr_put(wr, repl, repl_len);
                    (*count)++;
                    m = 0;
                }
            } else {
                wr_put(wr, &c, 1);
            }
        }
        if (wr->err != 0)
            break;
    }
    wr_put(wr, old, m);
    wr_flush(wr);
    if (wr->err != 0) {
        errno = wr->err;
        goto out;
    }
    rc = 0;
out:
    free(border);
    free(buf);
    return rc;
}

static int copy_fd(int from, int to)
{
    char *buf = malloc(IO_BUF);
    int rc = -1;
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        ssize_t r = read_some(from, buf, IO_BUF);
        if (r < 0)
            break;
        if (r == 0) {
            rc = 0;
            break;
        }
        if (fsutil_write_all(to, buf, (size_t)r) != 0)
            break;
    }
    int e = errno;
    free(buf);
    errno = e;
    return rc;
}

/* Rewrites target in place from the temporary file (Go's way: not atomic, keeps the inode). */
static int copy_back(int tfd, const char *target)
{
    if (lseek(tfd, 0, SEEK_SET) != 0)
        return -1;
    int out = open(target, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (out < 0)
        return -1;
    if (copy_fd(tfd, out) != 0 || fsync(out) != 0) {
        int e = errno;
        close(out);
        errno = e;
        return -1;
    }
    return close(out);
}

/* Makes tmp look like the original and puts it in its place. */
static int swap_in(int tfd, const char *tmp, const char *target, const struct stat *st)
{
    /* chown first: it would clear set-id bits that fchmod sets. */
    if (fchown(tfd, st->st_uid, st->st_gid) != 0 || fchmod(tfd, st->st_mode & 07777) != 0 ||
        fsync(tfd) != 0)
        return -1;
    return rename(tmp, target);
}

static void sync_dir_of(const char *file)
{
    struct strbuf dir = STRBUF_INIT;
    const char *slash = strrchr(file, '/');
    strbuf_append(&dir, file, slash == NULL ? 0 : slash == file ? 1 : (size_t)(slash - file));
    int fd = open(dir.len > 0 ? dir.data : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Best effort: the data itself is already synced; a failure only risks the rename. */
    if (fd < 0 || fsync(fd) != 0)
        log_debug("replace: cannot fsync the directory of %s: %s", file, strerror(errno));
    if (fd >= 0)
        close(fd);
    strbuf_free(&dir);
}

int fsops_replace(const char *path, const char *old, size_t old_len, const char *repl,
                  size_t repl_len, int64_t *count, struct fs_err *err)
{
    char ebuf[128];
    struct stat st;
    struct strbuf tmp = STRBUF_INIT;
    struct writer *wr = NULL;
    char *target = NULL;
    int in = -1, tfd = -1, rc = -1;
    int64_t n = 0;

    if (count != NULL)
        *count = 0;
    if (stat(path, &st) != 0) {
        int e = errno;
        fs_err_file(err, e, "stat %s: %s", path, fs_strerror(e, ebuf));
        return -1;
    }
    /* Before any open: opening a FIFO for reading would block. */
    if (S_ISDIR(st.st_mode)) {
        fs_err_file(err, EISDIR, "read %s: %s", path, fs_strerror(EISDIR, ebuf));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        fs_err_file(err, 0, "read %s: not a regular file", path);
        return -1;
    }
    /* A symlinked path is edited at its target (Go writes through the link). */
    target = realpath(path, NULL);
    if (target == NULL) {
        int e = errno;
        fs_err_file(err, e, "realpath %s: %s", path, fs_strerror(e, ebuf));
        return -1;
    }
    /* O_NONBLOCK: should it have become a FIFO meanwhile, the open must not hang. */
    in = open(target, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) != 0) {
        int e = errno;
        fs_err_file(err, e, "open %s: %s", path, fs_strerror(e, ebuf));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        fs_err_file(err, 0, "read %s: not a regular file", path);
        goto out;
    }
    if (old_len == 0) {
        fs_err_set(err, 400, FS_ERR_INVALID_REQUEST, "old content must not be empty");
        goto out;
    }

    /*
     * Beside the target, so the rename is atomic; a hard-linked file must keep
     * its inode, and an unwritable directory leaves no choice: then the temp
     * file goes to $TMPDIR and the target is rewritten in place.
     */
    bool atomic = st.st_nlink == 1;
    if (atomic) {
        const char *base = strrchr(target, '/') + 1; /* realpath is absolute */
        strbuf_append(&tmp, target, (size_t)(base - target));
        strbuf_printf(&tmp, ".%s.execd-XXXXXX", base);
        tfd = mkostemp(tmp.data, O_CLOEXEC);
        atomic = tfd >= 0;
    }
    if (!atomic) {
        const char *tmpdir = getenv("TMPDIR");
        strbuf_reset(&tmp);
        strbuf_printf(&tmp, "%s/execd-replace-XXXXXX",
                      tmpdir != NULL && tmpdir[0] == '/' ? tmpdir : "/tmp");
        tfd = mkostemp(tmp.data, O_CLOEXEC);
        if (tfd < 0) {
            int e = errno;
            fs_err_file(err, e, "create temporary file for %s: %s", path, fs_strerror(e, ebuf));
            goto out;
        }
    }

    wr = malloc(sizeof(*wr));
    if (wr == NULL) {
        fs_err_file(err, ENOMEM, "replace in %s: %s", path, fs_strerror(ENOMEM, ebuf));
        goto out;
    }
    wr->fd = tfd;
    wr->len = 0;
    wr->err = 0;
    if (stream_replace(in, wr, old, old_len, repl, repl_len, &n) != 0) {
        int e = errno;
        fs_err_file(err, e, "rewrite %s: %s", path, fs_strerror(e, ebuf));
        goto out;
    }
    if (n > 0) {
        if (atomic && swap_in(tfd, tmp.data, target, &st) == 0) {
            strbuf_reset(&tmp); /* renamed: nothing left to remove */
            sync_dir_of(target);
        } else if (copy_back(tfd, target) != 0) {
            int e = errno;
            fs_err_file(err, e, "write %s: %s", path, fs_strerror(e, ebuf));
            goto out;
        }
    }
    if (count != NULL)
        *count = n;
    rc = 0;
out:
    if (tfd >= 0)
        close(tfd);
    if (tmp.len > 0 && tfd >= 0)
        unlink(tmp.data);
    if (in >= 0)
        close(in);
    free(wr);
    free(target);
    strbuf_free(&tmp);
    return rc;
}
