/*
 * POST /files/replace for one file (fs_ops.h): streamed (memory bounded by the size of
 * old) into a temporary file renamed over the target, or copied back in place when
 * the target must keep its inode.
 */
#include "files/fs_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files/fs.h"
#include "files/fs_resolve.h"
#include "files/fs_thread.h"
#include "files/fs_tmp.h"
#include "fsutil.h"
#include "log.h"
#include "xalloc.h"

/* I/O buffer of replace. */
#define IO_BUF 65536

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
    size_t *border = xmalloc(old_len * sizeof(*border));
    char *buf = xmalloc(IO_BUF);
    size_t m = 0; /* bytes of old matched so far */
    int rc = -1;

    *count = 0;
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
        if (fsthread_stopping()) {
            errno = ECANCELED;
            goto out;
        }
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
    char *buf = xmalloc(IO_BUF);
    int rc = -1;
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

/* Rewrites the target in place from the temporary file (Go's way: not atomic, keeps the inode). */
static int copy_back(int tfd, int dir, const char *name)
{
    if (lseek(tfd, 0, SEEK_SET) != 0)
        return -1;
    int out = openat(dir, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
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

/* A file being rewritten. */
struct rewrite {
    const char *path;   /* as requested, for messages */
    struct fsres where; /* the file itself: a symlinked path is edited at its target, as
                           Go, where fs_resolve.h allows */
    struct stat st;     /* of the target */
    int in;             /* the target, open for reading */
    struct fstmp tmp;   /* the new content beside the target */
    int tfd;            /* the new content: tmp's descriptor, or an unnamed file elsewhere */
};

/* Checks that path is a regular file and opens it. Returns 0, or -1 with err set. */
static int open_target(struct rewrite *rw, struct fs_err *err)
{
    char ebuf[128];
    struct strbuf why = STRBUF_INIT;
    const char *path = rw->path;
    struct fsres *w = &rw->where;
    int rc = -1;
    if (fsres_parent(path, "stat", 0, w, &why) != 0 || fsres_follow(w, "stat", path, &why) != 0) {
        fs_err_file(err, errno, "%s", why.data);
        goto out;
    }
    if (w->dangling || fstatat(w->dir, w->name, &rw->st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = w->dangling ? ENOENT : errno;
        fs_err_file(err, e, "stat %s: %s", path, fs_strerror(e, ebuf));
        goto out;
    }
    /* Before any open: opening a FIFO for reading would block. */
    if (S_ISDIR(rw->st.st_mode)) {
        fs_err_file(err, EISDIR, "read %s: %s", path, fs_strerror(EISDIR, ebuf));
        goto out;
    }
    if (!S_ISREG(rw->st.st_mode)) {
        fs_err_file(err, 0, "read %s: not a regular file", path);
        goto out;
    }
    /* O_NONBLOCK: should it have become a FIFO meanwhile, the open must not hang. */
    rw->in = openat(w->dir, w->name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (rw->in < 0 || fstat(rw->in, &rw->st) != 0) {
        int e = errno;
        fs_err_file(err, e, "open %s: %s", path, fs_strerror(e, ebuf));
        goto out;
    }
    if (!S_ISREG(rw->st.st_mode)) {
        fs_err_file(err, 0, "read %s: not a regular file", path);
        goto out;
    }
    rc = 0;
out:
    strbuf_free(&why);
    return rc;
}

/*
 * The new content: beside the target, so a rename puts it in place atomically; a
 * hard-linked file must keep its inode, and an unwritable directory leaves no choice:
 * then it goes to an unnamed file elsewhere and the target is rewritten in place.
 * Returns 0, or -1 with err set.
 */
static int open_temp(struct rewrite *rw, struct fs_err *err)
{
    char ebuf[128];
    if (rw->st.st_nlink == 1 && fstmp_open(&rw->tmp, rw->where.dir, rw->where.name, "replace") == 0)
        rw->tfd = rw->tmp.fd;
    else
        rw->tfd = fs_anon_file();
    if (rw->tfd < 0) {
        int e = errno;
        fs_err_file(err, e, "create temporary file for %s: %s", rw->path, fs_strerror(e, ebuf));
        return -1;
    }
    return 0;
}

/* Puts the rewritten content in place. Returns 0, or -1 with err set. */
static int put_in_place(struct rewrite *rw, struct fs_err *err)
{
    char ebuf[128];
    /* chown first: it would clear set-id bits that fchmod sets. */
    if (rw->tmp.fd >= 0 && fchown(rw->tfd, rw->st.st_uid, rw->st.st_gid) == 0 &&
        fchmod(rw->tfd, rw->st.st_mode & 07777) == 0 && fsync(rw->tfd) == 0 &&
        fstmp_commit(&rw->tmp, rw->where.dir, rw->where.name) == 0)
        return 0;
    if (copy_back(rw->tfd, rw->where.dir, rw->where.name) != 0) {
        int e = errno;
        fs_err_file(err, e, "write %s: %s", rw->path, fs_strerror(e, ebuf));
        return -1;
    }
    return 0;
}

static void rewrite_free(struct rewrite *rw)
{
    if (rw->tmp.fd >= 0)
        fstmp_discard(&rw->tmp, rw->where.dir);
    else if (rw->tfd >= 0)
        close(rw->tfd);
    if (rw->in >= 0)
        close(rw->in);
    fsres_free(&rw->where);
}

int fsops_replace(const char *path, const char *old, size_t old_len, const char *repl,
                  size_t repl_len, int64_t *count, struct fs_err *err)
{
    char ebuf[128];
    struct rewrite rw = {.path = path, .where = FSRES_INIT, .in = -1, .tmp = FSTMP_INIT, .tfd = -1};
    struct writer *wr = NULL;
    int64_t n = 0;
    int rc = -1;

    if (count != NULL)
        *count = 0;
    if (open_target(&rw, err) < 0)
        goto out;
    if (old_len == 0) {
        fs_err_set(err, 400, FS_ERR_INVALID_REQUEST, "old content must not be empty");
        goto out;
    }
    if (open_temp(&rw, err) < 0)
        goto out;
    wr = xmalloc(sizeof(*wr));
    wr->fd = rw.tfd;
    wr->len = 0;
    wr->err = 0;
    if (stream_replace(rw.in, wr, old, old_len, repl, repl_len, &n) != 0) {
        int e = errno;
        fs_err_file(err, e, "rewrite %s: %s", path, fs_strerror(e, ebuf));
        goto out;
    }
    if (n > 0 && put_in_place(&rw, err) < 0)
        goto out;
    if (count != NULL)
        *count = n;
    rc = 0;
out:
    free(wr);
    rewrite_free(&rw);
    return rc;
}
