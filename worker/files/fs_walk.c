/*
 * GET /directories/list and GET /files/search: a walk of a tree in Go's order (names
 * sorted bytewise), never following symlinks, with FileInfo for each entry (fs_ops.h).
 */
#include "files/fs_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files/fs_info.h"
#include "files/fs_path.h"
#include "files/fs_thread.h"
#include "files/glob.h"
#include "xalloc.h"

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
            dn->off = xrealloc(dn->off, cap * sizeof(*dn->off));
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
        if (fsthread_stopping()) {
            fs_err_set(w->err, 500, FS_ERR_RUNTIME, "the walk was stopped: its client went away");
            goto out;
        }
        fspath_cut(&w->path, base);
        fspath_push(&w->path, name);
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
    fspath_cut(&w->path, base);
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
            fspath_cut(out, start);
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
        fspath_cut(out, start);
    walk_free(&w);
    return rc;
}
