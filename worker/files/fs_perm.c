/*
 * The Permission object of chmod, mkdir and upload metadata: octal-digit modes, owners
 * and groups by name or number (fs_ops.h).
 */
#include "files/fs_ops.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
