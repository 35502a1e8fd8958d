#include "files/fs_info.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "files/nss.h"
#include "jsonesc.h"

void fsinfo_names_init(struct fsinfo_names *names)
{
    memset(names, 0, sizeof(*names));
}

void fsinfo_names_free(struct fsinfo_names *names)
{
    for (unsigned i = 0; i < names->n_users; i++)
        free(names->users[i].name);
    for (unsigned i = 0; i < names->n_groups; i++)
        free(names->groups[i].name);
    fsinfo_names_init(names);
}

const char *fsinfo_type(mode_t mode)
{
    if (S_ISLNK(mode))
        return "symlink";
    if (S_ISDIR(mode))
        return "directory";
    if (S_ISREG(mode))
        return "file";
    return "other";
}

int64_t fsinfo_mode_digits(mode_t mode)
{
    mode &= 0777;
    return (int64_t)((mode >> 6) & 7) * 100 + ((mode >> 3) & 7) * 10 + (mode & 7);
}

/* The name of id, from the memo or the database (then remembered, oldest slot reused). */
static void append_name(struct fsinfo_names *names, unsigned id, int is_user, struct strbuf *out)
{
    struct strbuf name = STRBUF_INIT;

    if (names != NULL) {
        unsigned n = is_user ? names->n_users : names->n_groups;
        for (unsigned i = 0; i < n; i++) {
            if (is_user && names->users[i].id == id) {
                jsonesc_append(out, names->users[i].name, strlen(names->users[i].name));
                return;
            }
            if (!is_user && names->groups[i].id == id) {
                jsonesc_append(out, names->groups[i].name, strlen(names->groups[i].name));
                return;
            }
        }
    }
    if (nss_name(id, is_user != 0, &name) < 0)
        strbuf_printf(&name, "%u", id);
    jsonesc_append(out, name.data, name.len);
    if (names == NULL) {
        strbuf_free(&name);
        return;
    }
    unsigned *count = is_user ? &names->n_users : &names->n_groups;
    unsigned *next = is_user ? &names->next_user : &names->next_group;
    unsigned slot = *count < FSINFO_NAMES_SLOTS ? (*count)++ : (*next)++ % FSINFO_NAMES_SLOTS;
    if (is_user) {
        free(names->users[slot].name);
        names->users[slot].id = id;
        names->users[slot].name = strbuf_detach(&name);
    } else {
        free(names->groups[slot].name);
        names->groups[slot].id = id;
        names->groups[slot].name = strbuf_detach(&name);
    }
}

void fsinfo_append(struct strbuf *out, const char *path, const struct stat *st,
                   struct fsinfo_names *names)
{
    char when[CLOCK_RFC3339_MAX];

    strbuf_append_str(out, "{\"path\":");
    jsonesc_append(out, path, strlen(path));
    strbuf_append_str(out, ",\"type\":\"");
    strbuf_append_str(out, fsinfo_type(st->st_mode));
    strbuf_append_str(out, "\",\"size\":");
    strbuf_append_int64(out, (int64_t)st->st_size);
    strbuf_append_str(out, ",\"modified_at\":\"");
    strbuf_append_str(out, clock_rfc3339(&st->st_mtim, when));
    strbuf_append_str(out, "\",\"created_at\":\"");
    strbuf_append_str(out, clock_rfc3339(&st->st_ctim, when));
    strbuf_append_str(out, "\",\"owner\":");
    append_name(names, (unsigned)st->st_uid, 1, out);
    strbuf_append_str(out, ",\"group\":");
    append_name(names, (unsigned)st->st_gid, 0, out);
    strbuf_append_str(out, ",\"mode\":");
    strbuf_append_int64(out, fsinfo_mode_digits(st->st_mode));
    strbuf_append_char(out, '}');
}

void fsinfo_lstat_error(struct fs_err *err, int errnum, const char *path)
{
    char ebuf[128];
    /* Go wraps the lstat error once more, hence the repetition. */
    fs_err_file(err, errnum, "%s %s: lstat %s: %s",
                errnum == ENOENT ? "file not found:" : "error accessing file", path, path,
                fs_strerror(errnum, ebuf));
}

int fsinfo_lstat(const char *path, struct strbuf *out, struct fsinfo_names *names,
                 struct fs_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        fsinfo_lstat_error(err, errno, path);
        return -1;
    }
    fsinfo_append(out, path, &st, names);
    return 0;
}
