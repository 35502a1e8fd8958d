#include "files/nss.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>

#include "xalloc.h"

/* Largest passwd/group record buffer tried. */
#define NSS_BUF_MAX (1024 * 1024)

/* One lookup: by name or by id, of a user or a group; what it found. */
struct query {
    bool is_user;
    const char *name; /* NULL: by id */
    unsigned id;
    struct strbuf *name_out;
    bool found;
};

static int lookup_once(struct query *q, char *buf, size_t size)
{
    struct passwd pw, *pwr = NULL;
    struct group gr, *grr = NULL;
    int rc;
    if (q->is_user)
        rc = q->name != NULL ? getpwnam_r(q->name, &pw, buf, size, &pwr)
                             : getpwuid_r((uid_t)q->id, &pw, buf, size, &pwr);
    else
        rc = q->name != NULL ? getgrnam_r(q->name, &gr, buf, size, &grr)
                             : getgrgid_r((gid_t)q->id, &gr, buf, size, &grr);
    if (rc != 0 || (pwr == NULL && grr == NULL))
        return rc;
    q->found = true;
    if (q->name != NULL)
        q->id = pwr != NULL ? (unsigned)pwr->pw_uid : (unsigned)grr->gr_gid;
    else
        strbuf_append_str(q->name_out, pwr != NULL ? pwr->pw_name : grr->gr_name);
    return 0;
}

/* Runs q with a buffer that grows while the call wants more. Returns the call's error. */
static int lookup(struct query *q)
{
    size_t size = 1024;
    char *buf = NULL;
    int rc;
    for (;;) {
        buf = xrealloc(buf, size);
        rc = lookup_once(q, buf, size);
        if (rc != ERANGE || size >= NSS_BUF_MAX)
            break;
        size *= 2;
    }
    free(buf);
    return rc;
}

int nss_name(unsigned id, bool is_user, struct strbuf *out)
{
    struct query q = {.is_user = is_user, .id = id, .name_out = out};
    lookup(&q);
    return q.found ? 0 : -1;
}

int nss_id(const char *name, bool is_user, unsigned *id)
{
    struct query q = {.is_user = is_user, .name = name};
    int rc = lookup(&q);
    if (!q.found)
        return rc != 0 ? rc : -1;
    *id = q.id;
    return 0;
}
