/*
 * The Permission object of chmod, mkdir and upload metadata: octal-digit modes, owners
 * and groups by name or number (fs_ops.h).
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

#include "files/fs_resolve.h"
#include "files/nss.h"

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
    int rc = nss_id(s, is_user, id);
    if (rc == 0)
        return 0;

    /* No such name: a number is taken as the id itself (chown(1) does the same). */
    if (all_digits(s) && strlen(s) <= 10) {
        unsigned long long v = strtoull(s, NULL, 10);
        if (v < 0xffffffffull) { /* (uid_t)-1 means "unchanged" to chown(2) */
            *id = (unsigned)v;
            return 0;
        }
    }
    if (rc > 0) {
        char ebuf[128];
        strbuf_printf(why, "cannot look up %s %s: %s", is_user ? "user" : "group", s,
                      fs_strerror(rc, ebuf));
    } else {
        strbuf_printf(why, "unknown %s %s", is_user ? "user" : "group", s);
    }
    return -1;
}

/* A Permission checked and turned into a mode (0: unchanged) and ids ((unsigned)-1: unchanged). */
struct perm_ids {
    mode_t mode;
    unsigned uid, gid;
    bool chown;
};

/* Everything is validated before anything changes. Returns 0, or -1 (errno 0) with why. */
static int perm_check(const struct fsops_perm *perm, struct perm_ids *ids, struct strbuf *why)
{
    bool has_owner = perm->owner != NULL && perm->owner[0] != '\0';
    bool has_group = perm->group != NULL && perm->group[0] != '\0';
    ids->mode = 0;
    ids->uid = ids->gid = (unsigned)-1;
    ids->chown = has_owner || has_group;
    if (perm->mode != 0 && fsops_mode_parse(perm->mode, &ids->mode) != 0) {
        strbuf_printf(why, "invalid mode %lld: expected octal digits like 755",
                      (long long)perm->mode);
        errno = 0;
        return -1;
    }
    if ((has_owner && resolve_id(perm->owner, true, &ids->uid, why) != 0) ||
        (has_group && resolve_id(perm->group, false, &ids->gid, why) != 0)) {
        errno = 0;
        return -1;
    }
    return 0;
}

static int perm_fail(struct strbuf *why, const char *op, const char *path, int e)
{
    char ebuf[128];
    strbuf_printf(why, "%s %s: %s", op, path, fs_strerror(e, ebuf));
    errno = e;
    return -1;
}

/* chmod, then chown (Go's order) of the file open as fd, O_PATH descriptors included. */
static int perm_apply(int fd, const char *path, const struct perm_ids *ids, struct strbuf *why)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return perm_fail(why, "chmod", path, errno);
    /* Swapped for a symlink since it was resolved: the link is not followed. */
    if (S_ISLNK(st.st_mode) && ids->mode != 0)
        return perm_fail(why, "chmod", path, ELOOP);
    if (ids->mode != 0) {
        /* chmod through the descriptor's /proc link (fchmod refuses O_PATH descriptors). */
        char proc[32];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, ids->mode) != 0)
            return perm_fail(why, "chmod", path, errno);
    }
    if (ids->chown && fchownat(fd, "", (uid_t)ids->uid, (gid_t)ids->gid, AT_EMPTY_PATH) != 0)
        return perm_fail(why, "chown", path, errno);
    return 0;
}

int fsops_apply_perm_fd(int fd, const char *path, const struct fsops_perm *perm, struct strbuf *why)
{
    struct perm_ids ids;
    if (perm_check(perm, &ids, why) != 0)
        return -1;
    return perm_apply(fd, path, &ids, why);
}

int fsops_open_final(const char *path, const char *op, struct strbuf *why)
{
    struct fsres r = FSRES_INIT;
    int fd = -1;
    if (fsres_parent(path, op, 0, &r, why) == 0 && fsres_follow(&r, op, path, why) == 0) {
        fd = r.dangling ? -1 : openat(r.dir, r.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            perm_fail(why, op, path, r.dangling ? ENOENT : errno);
    }
    int e = errno;
    fsres_free(&r);
    errno = e;
    return fd;
}

int fsops_apply_perm(const char *path, const struct fsops_perm *perm, struct strbuf *why)
{
    struct perm_ids ids;
    if (perm_check(perm, &ids, why) != 0)
        return -1;
    int fd = fsops_open_final(path, "chmod", why);
    if (fd < 0)
        return -1;
    int rc = perm_apply(fd, path, &ids, why);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}
