/* A file written beside its target, named only when it replaces it (fs_tmp.h). */
#include "files/fs_tmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files/fs_resolve.h"
#include "fsutil.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

/* Temporary names keep at most this much of the target's name (NAME_MAX is 255). */
#define TMP_BASE_MAX 200
/* Attempts at a free random name. */
#define NAME_TRIES 64

/* Fills the trailing XXXXXX of a name; a clash is retried by the caller. */
static void fill_template(char *name)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static __thread uint64_t seq;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = ((uint64_t)ts.tv_nsec << 16) ^ ((uint64_t)getpid() << 40) ^
                 ((uint64_t)(uintptr_t)&seq << 8) ^ ++seq;
    char *p = name + strlen(name) - 6;
    for (int i = 0; i < 6; i++, x /= 36)
        p[i] = digits[x % 36];
}

/* <state dir>/temps: one entry per temporary name that exists (or is about to). */
static int journal_dir(struct strbuf *out)
{
    const char *state = worker_state_dir();
    if (state == NULL)
        return -1; /* outside a worker (unit tests): nothing to journal */
    strbuf_printf(out, "%s/temps", state);
    if (mkdir(out->data, 0700) != 0 && errno != EEXIST) {
        log_warn("cannot create %s: %s", out->data, strerror(errno));
        return -1;
    }
    return 0;
}

/* Journals dir/name before that name is created. Best effort: a failure is logged. */
static void journal_add(struct fstmp *t, int dir, const char *name)
{
    struct strbuf entry = STRBUF_INIT, text = STRBUF_INIT;
    char proc[32], *where = xmalloc(PATH_MAX);
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir);
    ssize_t n = readlink(proc, where, PATH_MAX - 1);
    if (n <= 0 || journal_dir(&entry) != 0)
        goto out;
    strbuf_append(&text, where, (size_t)n);
    strbuf_printf(&text, "/%s", name);
    strbuf_printf(&entry, "/%d-XXXXXX", (int)getpid());
    for (int tries = 0; tries < NAME_TRIES; tries++) {
        fill_template(entry.data);
        int fd = open(entry.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0 || fsutil_write_all(fd, text.data, text.len) != 0) {
            log_warn("cannot journal the temporary file %s: %s", text.data, strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(entry.data);
            }
            goto out;
        }
        close(fd);
        t->journal = strbuf_detach(&entry);
        break;
    }
out:
    free(where);
    strbuf_free(&entry);
    strbuf_free(&text);
}

static void journal_drop(struct fstmp *t)
{
    if (t->journal != NULL && unlink(t->journal) != 0)
        log_warn("cannot remove %s: %s", t->journal, strerror(errno));
    free(t->journal);
    t->journal = NULL;
}

/* Links the unnamed file as name in dir. */
static int link_fd(int fd, int dir, const char *name)
{
    /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link works without. */
    if (linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno == EEXIST)
        return -1;
    char proc[32];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW);
}

/*
 * Gives the file a journaled hidden name in dir, for the target base: created (opened
 * O_EXCL) when t->fd < 0, else the unnamed t->fd linked. Returns 0 or -1 (errno).
 */
static int name_it(struct fstmp *t, int dir, const char *base)
{
    struct strbuf name = STRBUF_INIT;
    size_t blen = strlen(base);
    strbuf_printf(&name, ".%.*s.execd-%s-XXXXXX", (int)(blen > TMP_BASE_MAX ? TMP_BASE_MAX : blen),
                  base, t->tag);
    int rc = -1;
    for (int tries = 0; tries < NAME_TRIES && rc != 0; tries++) {
        fill_template(name.data);
        journal_add(t, dir, name.data);
        if (t->fd < 0) {
            t->fd =
                openat(dir, name.data, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            rc = t->fd >= 0 ? 0 : -1;
        } else {
            rc = link_fd(t->fd, dir, name.data);
        }
        int e = errno;
        if (rc != 0)
            journal_drop(t);
        errno = e;
        if (rc != 0 && e != EEXIST)
            break;
    }
    if (rc == 0)
        t->name = strbuf_detach(&name);
    strbuf_free(&name);
    return rc;
}

int fstmp_open(struct fstmp *t, int dir, const char *base, const char *tag)
{
    t->tag = tag;
    t->name = t->journal = NULL;
    t->fd = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (t->fd >= 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return -1;
    return name_it(t, dir, base); /* no O_TMPFILE on this filesystem */
}

int fstmp_commit(struct fstmp *t, int dir, const char *name)
{
    /* A new target gets the file under its own name at once: no other name ever. */
    if (t->name == NULL && link_fd(t->fd, dir, name) != 0) {
        if (errno != EEXIST || name_it(t, dir, name) != 0)
            return -1;
    }
    if (t->name != NULL) {
        if (renameat(dir, t->name, dir, name) != 0)
            return -1;
        free(t->name);
        t->name = NULL;
        journal_drop(t);
    }
    /* Best effort: the data is already synced; a failure only risks the rename. */
    int d = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0 || fsync(d) != 0)
        log_warn("cannot fsync the directory of %s: %s", name, strerror(errno));
    if (d >= 0)
        close(d);
    return 0;
}

void fstmp_discard(struct fstmp *t, int dir)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->name != NULL) {
        if (dir >= 0 && unlinkat(dir, t->name, 0) != 0 && errno != ENOENT)
            log_warn("cannot remove temporary file %s: %s", t->name, strerror(errno));
        /* Without its directory the name stays journaled for the next worker. */
        if (dir >= 0)
            journal_drop(t);
        free(t->name);
        t->name = NULL;
    }
    free(t->journal);
    t->journal = NULL;
}

/* Removes the temporary file one journal entry names, if it is still one of ours. */
static void sweep_one(const char *entry)
{
    struct strbuf why = STRBUF_INIT;
    struct fsres r = FSRES_INIT;
    struct stat st;
    char *path = xmalloc(PATH_MAX + 1);
    int fd = open(entry, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, path, PATH_MAX) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        goto out;
    path[n] = '\0';
    if (strlen(path) != (size_t)n || fsres_parent(path, "remove", 0, &r, &why) != 0)
        goto out;
    /* Only a regular file with one of our temporary names. */
    if (r.name[0] == '.' && strstr(r.name, ".execd-") != NULL &&
        fstatat(r.dir, r.name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        unlinkat(r.dir, r.name, 0) == 0)
        log_info("removed %s, left by a previous worker", path);
out:
    if (unlink(entry) != 0)
        log_warn("cannot remove %s: %s", entry, strerror(errno));
    fsres_free(&r);
    strbuf_free(&why);
    free(path);
}

void fstmp_sweep(void)
{
    struct strbuf dir = STRBUF_INIT, entry = STRBUF_INIT;
    char mine[32];
    snprintf(mine, sizeof(mine), "%d-", (int)getpid());
    DIR *d = journal_dir(&dir) == 0 ? opendir(dir.data) : NULL;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        /* Our own entries name files of uploads in progress. */
        if (e->d_name[0] == '.' || strncmp(e->d_name, mine, strlen(mine)) == 0)
            continue;
        strbuf_reset(&entry);
        strbuf_printf(&entry, "%s/%s", dir.data, e->d_name);
        sweep_one(entry.data);
    }
    if (d != NULL)
        closedir(d);
    strbuf_free(&dir);
    strbuf_free(&entry);
}
