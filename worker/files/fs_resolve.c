/* Paths of changing file operations, resolved without untrusted symlinks (fs_resolve.h). */
#include "files/fs_resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files/fs_err.h"
#include "xalloc.h"

/* The kernel's own limit on symlinks followed in one resolution. */
#define MAX_LINKS 40

struct walk {
    const char *path;  /* as given, for messages */
    mode_t mkdir_mode; /* 0: a missing directory is an error */
    int links;         /* symlinks followed so far */
    uid_t self;
    /* The failure, worded by describe(). */
    int err;
    size_t at_len; /* path[0..at_len) is the component it happened at */
    bool refused;
    uid_t link_uid, target_uid;
};

static void walk_init(struct walk *w, const char *path, mode_t mkdir_mode)
{
    memset(w, 0, sizeof(*w));
    w->path = path;
    w->mkdir_mode = mkdir_mode;
    w->self = geteuid();
}

static int fail(struct walk *w, int e)
{
    if (w->err == 0)
        w->err = e;
    errno = w->err;
    return -1;
}

/* A link only its owner's files may be reached through (the daemon's and root's are trusted). */
static int check_owner(struct walk *w, uid_t link_uid, uid_t target_uid)
{
    if (link_uid == 0 || link_uid == w->self || link_uid == target_uid)
        return 0;
    w->refused = true;
    w->link_uid = link_uid;
    w->target_uid = target_uid;
    return fail(w, EPERM);
}

static void describe(const struct walk *w, const char *op, struct strbuf *why)
{
    char ebuf[128];
    strbuf_reset(why);
    if (w->refused)
        strbuf_printf(why,
                      "%s %s: not following symlink %.*s: it belongs to uid %u and leads to "
                      "a file of uid %u",
                      op, w->path, (int)w->at_len, w->path, (unsigned)w->link_uid,
                      (unsigned)w->target_uid);
    else if (w->mkdir_mode != 0)
        strbuf_printf(why, "mkdir %.*s: %s", (int)w->at_len, w->path, fs_strerror(w->err, ebuf));
    else
        strbuf_printf(why, "%s %s: %s", op, w->path, fs_strerror(w->err, ebuf));
    errno = w->err;
}

static int open_dirs(struct walk *w, int at, const char *path, size_t len, bool top);

/* Reads the symlink open as fd into a new buffer; NULL with the failure recorded. */
static char *read_link(struct walk *w, int fd, size_t *len)
{
    if (++w->links > MAX_LINKS) {
        fail(w, ELOOP);
        return NULL;
    }
    char *target = xmalloc(PATH_MAX);
    ssize_t n = readlinkat(fd, "", target, PATH_MAX);
    if (n <= 0 || n >= PATH_MAX) {
        fail(w, n < 0 ? errno : n == 0 ? ENOENT : ENAMETOOLONG);
        free(target);
        return NULL;
    }
    *len = (size_t)n;
    return target;
}

/* Where a link's target starts: the root, or the directory holding the link. */
static int link_start(struct walk *w, int dir, const char *target)
{
    int fd = target[0] == '/' ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)
                              : openat(dir, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? fail(w, errno) : fd;
}

/* The directory a symlink (open as link, in dir) leads to. */
static int follow_dir(struct walk *w, int dir, int link, const struct stat *lst)
{
    size_t len;
    char *target = read_link(w, link, &len);
    if (target == NULL)
        return -1;
    int fd = link_start(w, dir, target);
    if (fd >= 0)
        fd = open_dirs(w, fd, target, len, false);
    free(target);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || check_owner(w, lst->st_uid, st.st_uid) != 0)) {
        fail(w, errno);
        close(fd);
        return -1;
    }
    return fd;
}

/* One component below the directory at: its directory descriptor, or -1. */
static int step(struct walk *w, int at, const char *name, bool create)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        int fd = openat(at, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? fail(w, errno) : fd;
    }
    for (int tries = 0;; tries++) {
        int fd = openat(at, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            /* Lost a race to another creator: fine if it made a directory. */
            if (e == ENOENT && create && tries < 3) {
                if (mkdirat(at, name, w->mkdir_mode) == 0 || errno == EEXIST)
                    continue;
                e = errno;
            }
            return fail(w, e);
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
            int e = errno;
            close(fd);
            return fail(w, e);
        }
        if (S_ISDIR(st.st_mode))
            return fd;
        int r = S_ISLNK(st.st_mode) ? follow_dir(w, at, fd, &st) : fail(w, ENOTDIR);
        close(fd);
        return r;
    }
}

/*
 * Opens path[0..len) as a directory, starting at the directory at (consumed). Missing
 * directories are created only on the path itself (top), never inside a link's target.
 */
static int open_dirs(struct walk *w, int at, const char *path, size_t len, bool top)
{
    char name[NAME_MAX + 1];
    size_t i = 0;
    while (at >= 0) {
        while (i < len && path[i] == '/')
            i++;
        if (i == len)
            break;
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (top)
            w->at_len = j;
        int next;
        if (j - i > NAME_MAX) {
            next = fail(w, ENAMETOOLONG);
        } else {
            memcpy(name, path + i, j - i);
            name[j - i] = '\0';
            next = step(w, at, name, top && w->mkdir_mode != 0);
        }
        close(at);
        at = next;
        i = j;
    }
    return at;
}

/* Splits path (trailing slashes ignored) into its directory part's length and last name. */
static size_t split(const char *path, size_t len, const char **name, size_t *name_len)
{
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    if (slash == len) { /* "/" */
        *name = ".";
        *name_len = 1;
    } else {
        *name = path + slash;
        *name_len = len - slash;
    }
    return slash;
}

int fsres_parent(const char *path, const char *op, mode_t mkdir_mode, struct fsres *r,
                 struct strbuf *why)
{
    struct walk w;
    walk_init(&w, path, mkdir_mode);
    r->dir = -1;
    r->name = NULL;
    r->dangling = false;
    if (path[0] == '\0') {
        fail(&w, ENOENT);
        describe(&w, op, why);
        return -1;
    }
    const char *name;
    size_t name_len;
    size_t dir_len = split(path, strlen(path), &name, &name_len);
    int at = link_start(&w, AT_FDCWD, path);
    if (at >= 0)
        at = open_dirs(&w, at, path, dir_len, true);
    if (at < 0) {
        describe(&w, op, why);
        return -1;
    }
    r->dir = at;
    r->name = xstrndup(name, name_len);
    return 0;
}

int fsres_follow(struct fsres *r, const char *op, const char *path, struct strbuf *why)
{
    struct walk w;
    walk_init(&w, path, 0);
    w.at_len = strlen(path);
    for (;;) {
        struct stat lst, st;
        int link = openat(r->dir, r->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (link < 0 && errno == ENOENT)
            return 0;
        if (link < 0 || fstat(link, &lst) != 0) {
            fail(&w, errno);
            if (link >= 0)
                close(link);
            break;
        }
        if (!S_ISLNK(lst.st_mode)) {
            close(link);
            return 0;
        }
        size_t len;
        char *target = read_link(&w, link, &len);
        close(link);
        if (target == NULL)
            break;
        const char *name;
        size_t name_len;
        size_t dir_len = split(target, len, &name, &name_len);
        char *new_name = xstrndup(name, name_len);
        int dir = link_start(&w, r->dir, target);
        if (dir >= 0)
            dir = open_dirs(&w, dir, target, dir_len, false);
        free(target);
        /* Where it leads: e is 0 when that exists. */
        int e = dir < 0 ? w.err : fstatat(dir, new_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ? errno : 0;
        if (e == ENOENT) {
            /* Dangling: the link itself is what the operation gets. */
            if (dir >= 0)
                close(dir);
            free(new_name);
            r->dangling = true;
            return 0;
        }
        if (e != 0 || check_owner(&w, lst.st_uid, st.st_uid) != 0) {
            fail(&w, e != 0 ? e : EPERM);
            if (dir >= 0)
                close(dir);
            free(new_name);
            break;
        }
        close(r->dir);
        free(r->name);
        r->dir = dir;
        r->name = new_name;
    }
    describe(&w, op, why);
    return -1;
}

void fsres_free(struct fsres *r)
{
    if (r->dir >= 0)
        close(r->dir);
    free(r->name);
    r->dir = -1;
    r->name = NULL;
}
