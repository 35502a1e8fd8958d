#include "files/upload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/out.h"
#include "core/wjob.h"
#include "files/fs.h"
#include "files/fs_err.h"
#include "files/fs_ops.h"
#include "files/fs_resolve.h"
#include "files/fs_tmp.h"
#include "files/multipart.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "list.h"
#include "log.h"
#include "xalloc.h"

/* Error codes of the upload's 400s (api-contract §1.6). */
#define CODE_FILE "INVALID_FILE"
#define CODE_META "INVALID_FILE_METADATA"
#define CODE_CONTENT "INVALID_FILE_CONTENT"

/* Writeback of a file being uploaded is started every this many bytes. */
#define WRITEBACK_STEP (8 * 1024 * 1024)
/* A metadata part is a small JSON object; anything bigger is refused. */
#define META_MAX (1024 * 1024)
/* File data is written in blocks of this size (the parser hands out small pieces). */
#define WBUF_SIZE (256 * 1024)
/* The Go daemon retries the permission step once after this long. */
#define PERM_RETRY_US 20000
/*
 * File (and metadata) parts of one upload: each file part keeps a descriptor open
 * until the whole body is in, so this also bounds the descriptors one upload holds.
 */
#define UPLOAD_MAX_FILES 400

struct meta {
    char *target; /* expanded path; NULL when this metadata is invalid */
    char *owner, *group;
    int64_t mode;
};

struct ufile {
    struct fstmp tmp; /* the data beside its target, unnamed until the commit */
    int spool;        /* data that came before its metadata, or -1 */
    dev_t dir_dev;    /* the target's directory when tmp was created: the commit */
    ino_t dir_ino;    /* resolves the path again and must find the same one */
};

enum part_kind { PART_SKIP, PART_META, PART_FILE };

struct upload {
    uint32_t job;
    struct list node;     /* in uploads */
    struct multipart *mp; /* NULL when the Content-Type was refused */
    struct strbuf type_err;
    enum part_kind cur;
    struct strbuf meta_text;
    bool meta_too_big;
    struct meta *metas;
    size_t n_meta, cap_meta;
    struct ufile *files;
    size_t n_file, cap_file;
    int fd; /* the file part being written (its ufile's temporary file or spool), or -1 */
    char *wbuf;
    size_t wlen;
    off_t written;          /* bytes of the current file part written so far */
    off_t flushed;          /* ... of which writeback was started */
    struct fs_err meta_err; /* the first invalid metadata */
    struct fs_err io_err;   /* the first failure to store a file */
    bool too_many;          /* more than UPLOAD_MAX_FILES pairs */
};

static struct list uploads = LIST_HEAD_INIT(uploads);
/* 0777 & ~umask: what a new file gets before the metadata's Permission. */
static mode_t new_file_mode;

static void cancel(void *obj);
static void on_data(void *obj, const char *data, size_t len);
static const struct wjob_ops upload_ops = {.cancel = cancel, .data = on_data};

void upload_init(void)
{
    /* The umask can only be read by setting it: done once, before any thread runs. */
    mode_t mask = umask(0);
    umask(mask);
    new_file_mode = 0777 & ~mask;
}

/*
 * Resolves an upload's target: its directory (created if missing) and its name, a
 * symlink followed as fs_resolve.h allows (a dangling one is replaced itself). f's
 * directory is recorded the first time and must be the same afterwards. Returns 0,
 * or -1 with why.
 */
static int locate(struct ufile *f, const char *target, struct fsres *r, struct strbuf *why)
{
    struct stat st;
    if (fsres_parent(target, "open", 0777, r, why) != 0 ||
        fsres_follow(r, "open", target, why) != 0)
        return -1;
    if (fstat(r->dir, &st) != 0) {
        strbuf_printf(why, "stat the directory of %s: %s", target, strerror(errno));
        return -1;
    }
    if (f->tmp.fd < 0) {
        f->dir_dev = st.st_dev;
        f->dir_ino = st.st_ino;
    } else if (st.st_dev != f->dir_dev || st.st_ino != f->dir_ino) {
        strbuf_printf(why, "the directory of %s was replaced during the upload", target);
        return -1;
    }
    return 0;
}

/* Drops f's temporary file (its directory is looked up again only if it has a name). */
static void remove_tmp(struct ufile *f, const char *target)
{
    struct fsres r = FSRES_INIT;
    struct strbuf why = STRBUF_INIT;
    if (f->tmp.name != NULL && (target == NULL || locate(f, target, &r, &why) != 0))
        log_warn("temporary file %s left for the next worker: %s", f->tmp.name,
                 why.len > 0 ? why.data : "no target");
    fstmp_discard(&f->tmp, r.dir);
    fsres_free(&r);
    strbuf_free(&why);
}

static void destroy(struct upload *u)
{
    list_del(&u->node);
    wjob_remove(u->job);
    for (size_t i = 0; i < u->n_file; i++) {
        remove_tmp(&u->files[i], i < u->n_meta ? u->metas[i].target : NULL);
        if (u->files[i].spool >= 0)
            close(u->files[i].spool);
    }
    for (size_t i = 0; i < u->n_meta; i++) {
        free(u->metas[i].target);
        free(u->metas[i].owner);
        free(u->metas[i].group);
    }
    free(u->files);
    free(u->metas);
    multipart_free(u->mp);
    strbuf_free(&u->type_err);
    strbuf_free(&u->meta_text);
    fs_err_free(&u->meta_err);
    fs_err_free(&u->io_err);
    free(u->wbuf);
    free(u);
}

/* The client went away: nothing is put in place. The master still waits for an answer. */
static void cancel(void *obj)
{
    struct upload *u = obj;
    uint32_t job = u->job;
    log_info("upload job %u: cancelled by the client; temporary files removed", job);
    destroy(u);
    out_reply_error(job, 400, CODE_FILE, "the upload was cancelled: the client went away");
}

/* Records the first failure to store a file (reported after the body's own errors). */
static void store_failed(struct upload *u, const char *target, const char *what, int err)
{
    char ebuf[128];
    if (u->io_err.status != 0)
        return;
    if (err != 0)
        fs_err_set(&u->io_err, 500, FS_ERR_RUNTIME, "error writing file %s. %s: %s", target, what,
                   fs_strerror(err, ebuf));
    else
        fs_err_set(&u->io_err, 500, FS_ERR_RUNTIME, "error writing file %s. %s", target, what);
}

/*
 * Creates f's temporary file beside its target (a symlinked target is written
 * through as Go's open(2) would, where fs_resolve.h allows), creating the missing
 * parent directories. Returns the descriptor, or -1 with the failure recorded.
 */
static int open_beside(struct upload *u, struct ufile *f, const char *target)
{
    struct stat st;
    struct strbuf why = STRBUF_INIT;
    struct fsres r = FSRES_INIT;

    if (locate(f, target, &r, &why) != 0) {
        store_failed(u, target, why.data, 0);
    } else if (!r.dangling && fstatat(r.dir, r.name, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
        store_failed(u, target, "open: is a directory", 0);
    } else if (fstmp_open(&f->tmp, r.dir, r.name, "upload") != 0) {
        int e = errno;
        strbuf_printf(&why, "create a temporary file beside %s", target);
        store_failed(u, target, why.data, e);
    }
    fsres_free(&r);
    strbuf_free(&why);
    return f->tmp.fd;
}

/* Writing the current file part failed: drop what was stored of it. */
static void file_part_failed(struct upload *u, const char *what, int err)
{
    size_t k = u->n_file - 1;
    struct ufile *f = &u->files[k];
    const char *target = k < u->n_meta ? u->metas[k].target : NULL;
    store_failed(u, target != NULL ? target : "(spool)", what, err);
    if (f->spool >= 0) {
        close(f->spool);
        f->spool = -1;
    }
    u->fd = -1;
    remove_tmp(f, target);
}

/*
 * Starts writing back what was written so far: the fsync at the end of the
 * part then has little left to do, the disk works while the body arrives,
 * and the page cache does not fill up with one upload's dirty pages.
 */
static void start_writeback(struct upload *u)
{
    if (u->written - u->flushed < WRITEBACK_STEP)
        return;
    if (sync_file_range(u->fd, u->flushed, u->written - u->flushed, SYNC_FILE_RANGE_WRITE) != 0)
        log_debug("upload job %u: sync_file_range: %s (the final fsync still applies)", u->job,
                  strerror(errno));
    u->flushed = u->written;
}

static void write_data(struct upload *u, const char *data, size_t len)
{
    if (fsutil_write_all(u->fd, data, len) != 0) {
        file_part_failed(u, "write", errno);
        return;
    }
    u->written += (off_t)len;
    start_writeback(u);
}

static void flush_wbuf(struct upload *u)
{
    if (u->wlen > 0 && u->fd >= 0)
        write_data(u, u->wbuf, u->wlen);
    u->wlen = 0;
}

static void *grow(void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap != 0 ? *cap * 2 : 4;
    void *p = xrealloc(arr, ncap * size);
    *cap = ncap;
    return p;
}

static int on_part_begin(void *arg, const struct multipart_part *part)
{
    struct upload *u = arg;

    u->cur = PART_SKIP;
    if (!part->form_data || part->name == NULL)
        return 0;
    if (strcmp(part->name, "metadata") == 0) {
        if (u->n_meta >= UPLOAD_MAX_FILES) {
            u->too_many = true;
            return 0;
        }
        u->cur = PART_META;
        strbuf_reset(&u->meta_text);
        u->meta_too_big = false;
        return 0;
    }
    if (strcmp(part->name, "file") != 0)
        return 0;
    if (u->n_file >= UPLOAD_MAX_FILES) {
        u->too_many = true;
        return 0;
    }

    u->files = grow(u->files, u->n_file, &u->cap_file, sizeof(*u->files));
    size_t k = u->n_file++;
    struct ufile *f = &u->files[k];
    *f = (struct ufile){.tmp = FSTMP_INIT, .spool = -1};
    u->cur = PART_FILE;
    u->wlen = 0;
    u->written = u->flushed = 0;
    /* Once the upload is known to fail, file data is only counted, not stored. */
    if (u->meta_err.status != 0 || u->io_err.status != 0 || u->too_many)
        return 0;
    if (k < u->n_meta) {
        u->fd = open_beside(u, f, u->metas[k].target);
    } else {
        f->spool = fs_anon_file();
        if (f->spool < 0)
            store_failed(u, "(spool)", "create a spool file", errno);
        u->fd = f->spool;
    }
    return 0;
}

static int on_part_data(void *arg, const char *data, size_t len)
{
    struct upload *u = arg;

    if (u->cur == PART_META) {
        if (u->meta_text.len + len > META_MAX)
            u->meta_too_big = true;
        else
            strbuf_append(&u->meta_text, data, len);
    } else if (u->cur == PART_FILE && u->fd >= 0) {
        if (u->wlen + len > WBUF_SIZE)
            flush_wbuf(u);
        if (u->fd < 0)
            return 0;
        if (len >= WBUF_SIZE) {
            write_data(u, data, len);
        } else {
            memcpy(u->wbuf + u->wlen, data, len);
            u->wlen += len;
        }
    }
    return 0;
}

/* A user or group of the metadata: a string, a numeric id, or null/absent (NULL). */
static int meta_id(json_object *obj, const char *key, char **out)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        *out = xstrdup(json_object_get_string(v));
    } else if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0) {
        struct strbuf s = STRBUF_INIT;
        strbuf_append_int64(&s, json_object_get_int64(v));
        *out = strbuf_detach(&s);
    } else {
        return -1;
    }
    return 0;
}

/* Parses the metadata part just completed into the next struct meta. */
static void take_metadata(struct upload *u)
{
    struct strbuf err = STRBUF_INIT, path = STRBUF_INIT;
    const char *raw = NULL;
    json_object *obj = NULL;

    u->metas = grow(u->metas, u->n_meta, &u->cap_meta, sizeof(*u->metas));
    struct meta *m = &u->metas[u->n_meta++];
    memset(m, 0, sizeof(*m));

    /* Only the first invalid metadata is reported (the Go daemon stops there too). */
    struct fs_err *e = u->meta_err.status == 0 ? &u->meta_err : NULL;
    struct fs_err ignored = FS_ERR_INIT;
    if (e == NULL)
        e = &ignored;

    if (u->meta_too_big) {
        fs_err_set(e, 400, CODE_META, "invalid metadata format. metadata larger than %d bytes",
                   META_MAX);
        goto out;
    }
    obj = u->meta_text.len > 0 ? jsonreq_parse(u->meta_text.data, u->meta_text.len, &err) : NULL;
    if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
        fs_err_set(e, 400, CODE_META, "invalid metadata format. %s",
                   u->meta_text.len == 0 ? "unexpected end of JSON input"
                   : obj == NULL         ? err.data
                                         : "metadata must be a JSON object");
        goto out;
    }
    enum jsonreq_rc rc = jsonreq_string(obj, "path", &raw);
    if (rc == JSONREQ_BADTYPE) {
        fs_err_set(e, 400, CODE_META, "invalid metadata format. field 'path' must be a string");
        goto out;
    }
    if (rc == JSONREQ_ABSENT || raw[0] == '\0') {
        fs_err_set(e, 400, CODE_META, "metadata path is empty");
        goto out;
    }
    if (jsonreq_int64(obj, "mode", &m->mode) == JSONREQ_BADTYPE) {
        fs_err_set(e, 400, CODE_META, "invalid metadata format. field 'mode' must be an integer");
        goto out;
    }
    if (meta_id(obj, "owner", &m->owner) != 0 || meta_id(obj, "group", &m->group) != 0) {
        fs_err_set(e, 400, CODE_META,
                   "invalid metadata format. 'owner' and 'group' must be names or numeric ids");
        goto out;
    }
    if (fs_expand(raw, false, &path, &err) != 0) {
        fs_err_file(e, 0, "%s", err.data);
        goto out;
    }
    if (path.len == 0) {
        fs_err_set(e, 400, CODE_META, "metadata path is empty");
        goto out;
    }
    m->target = strbuf_detach(&path);
out:
    json_object_put(obj);
    fs_err_free(&ignored);
    strbuf_free(&err);
    strbuf_free(&path);
}

static int on_part_end(void *arg)
{
    struct upload *u = arg;

    if (u->cur == PART_META) {
        take_metadata(u);
    } else if (u->cur == PART_FILE && u->fd >= 0) {
        flush_wbuf(u);
        /* Complete: a spool waits for its metadata, a temporary file (still unnamed)
         * for the end of the body. */
        if (u->fd >= 0 && fsync(u->fd) != 0)
            file_part_failed(u, "fsync", errno);
        u->fd = -1;
    }
    u->cur = PART_SKIP;
    return 0;
}

static const struct multipart_callbacks callbacks = {on_part_begin, on_part_data, on_part_end};

/* Moves spooled data into a temporary file beside the target. Returns 0 or -1 (recorded). */
static int unspool(struct upload *u, struct ufile *f, const char *target)
{
    int spool = f->spool;
    f->spool = -1;
    int fd = open_beside(u, f, target);
    int rc = -1;
    if (fd < 0)
        goto out;
    if (lseek(spool, 0, SEEK_SET) != 0) {
        store_failed(u, target, "rewind the spool", errno);
        goto out;
    }
    for (;;) {
        ssize_t n = read(spool, u->wbuf, WBUF_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            store_failed(u, target, "read the spool", errno);
            goto out;
        }
        if (n == 0)
            break;
        if (fsutil_write_all(fd, u->wbuf, (size_t)n) != 0) {
            store_failed(u, target, "write", errno);
            goto out;
        }
    }
    if (fsync(fd) != 0) {
        store_failed(u, target, "fsync", errno);
        goto out;
    }
    rc = 0;
out:
    close(spool);
    return rc;
}

/*
 * Puts pair k in place: mode and owner on the temporary file's descriptor first (so
 * the target never shows up with the wrong ones), then the rename. Returns 0 or -1
 * with the failure recorded.
 */
static int commit(struct upload *u, size_t k)
{
    struct meta *m = &u->metas[k];
    struct ufile *f = &u->files[k];
    struct strbuf why = STRBUF_INIT;
    struct fsres r = FSRES_INIT;
    struct stat st;
    int rc = -1;

    if (f->spool >= 0 && unspool(u, f, m->target) != 0)
        goto out;
    const char *target = m->target;
    int fd = f->tmp.fd;
    if (locate(f, target, &r, &why) != 0) {
        store_failed(u, target, why.data, 0);
        goto out;
    }
    /* Replacing a file keeps its mode and owner (Go truncated it in place). */
    if (!r.dangling && fstatat(r.dir, r.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode)) {
        if (fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) {
            store_failed(u, target, "chown", errno);
            goto out;
        }
        if (fchmod(fd, st.st_mode & 07777) != 0) {
            store_failed(u, target, "chmod", errno);
            goto out;
        }
    } else if (fchmod(fd, new_file_mode) != 0) {
        store_failed(u, target, "chmod", errno);
        goto out;
    }
    struct fsops_perm perm = {m->mode, m->owner, m->group};
    if (fsops_apply_perm_fd(fd, target, &perm, &why) != 0) {
        strbuf_reset(&why);
        usleep(PERM_RETRY_US);
        if (fsops_apply_perm_fd(fd, target, &perm, &why) != 0) {
            fs_err_set(&u->io_err, 500, FS_ERR_RUNTIME, "error chmoding file %s. %s", target,
                       why.data);
            goto out;
        }
    }
    if (fstmp_commit(&f->tmp, r.dir, r.name) != 0) {
        store_failed(u, target, "rename", errno);
        goto out;
    }
    fstmp_discard(&f->tmp, r.dir); /* in place: only its descriptor is left to close */
    rc = 0;
out:
    fsres_free(&r);
    strbuf_free(&why);
    return rc;
}

/* What the complete body says, before anything is stored: 0, or an error in e. */
static int check_body(struct upload *u, struct fs_err *e)
{
    int rc = u->mp != NULL ? multipart_finish(u->mp) : MULTIPART_EBADTYPE;

    /* Not multipart, or no boundary at all (an empty body): Go's "empty form". */
    if (rc == MULTIPART_EBADTYPE || (rc == MULTIPART_ETRUNC && multipart_parts(u->mp) == 0)) {
        log_debug("upload job %u: %s", u->job,
                  u->mp != NULL ? multipart_error(u->mp) : u->type_err.data);
        fs_err_set(e, 400, CODE_FILE, "multipart form is empty");
    } else if (rc != MULTIPART_OK) {
        fs_err_set(e, 400, CODE_FILE, "invalid multipart form: %s", multipart_error(u->mp));
    } else if (u->too_many) {
        fs_err_set(e, 400, CODE_FILE,
                   "too many files in one upload: at most %d; send the rest in another request",
                   UPLOAD_MAX_FILES);
    } else if (u->n_meta == 0) {
        fs_err_set(e, 400, CODE_META, "metadata file is missing");
    } else if (u->n_file == 0) {
        fs_err_set(e, 400, CODE_CONTENT, "file is missing");
    } else if (u->n_meta != u->n_file) {
        fs_err_set(e, 400, CODE_FILE, "metadata and file count mismatch: %zu vs %zu", u->n_meta,
                   u->n_file);
    } else if (u->meta_err.status != 0) {
        fs_err_set(e, u->meta_err.status, u->meta_err.code, "%s", u->meta_err.msg.data);
    } else if (u->io_err.status != 0) {
        log_warn("upload job %u: %s", u->job, u->io_err.msg.data);
        fs_err_set(e, u->io_err.status, u->io_err.code, "%s", u->io_err.msg.data);
    } else {
        return 0;
    }
    return -1;
}

/*
 * The body is complete: check it, put every file in place, answer. The answer goes
 * out only once every temporary file is gone: a client that looks right after it
 * finds nothing left.
 */
static void finish(struct upload *u)
{
    uint32_t job = u->job;
    struct fs_err e = FS_ERR_INIT;
    if (check_body(u, &e) == 0) {
        size_t k = 0;
        while (k < u->n_file && commit(u, k) == 0)
            k++;
        if (k < u->n_file) {
            log_warn("upload job %u: %s (%zu of %zu file(s) stored)", job, u->io_err.msg.data, k,
                     u->n_file);
            fs_err_set(&e, u->io_err.status, u->io_err.code, "%s", u->io_err.msg.data);
        } else {
            log_debug("upload job %u: %zu file(s) stored", job, k);
        }
    }
    destroy(u);
    if (e.status != 0)
        fs_reply_error(job, &e);
    else
        out_reply_empty(job, 200);
    fs_err_free(&e);
}

void upload_start(uint32_t job, json_object *msg)
{
    const char *ctype = "";
    struct upload *u = xcalloc(1, sizeof(*u));
    u->job = job;
    u->fd = -1;
    u->cur = PART_SKIP;
    strbuf_init(&u->type_err);
    strbuf_init(&u->meta_text);
    fs_err_init(&u->meta_err);
    fs_err_init(&u->io_err);
    u->wbuf = xmalloc(WBUF_SIZE);
    jsonreq_string(msg, "content_type", &ctype);
    u->mp = multipart_new(ctype, &callbacks, u, &u->type_err);
    list_add_head(&uploads, &u->node);
    wjob_add(job, &upload_ops, u);
}

/* A piece of the body; len 0 is its end, and the upload is answered. */
static void on_data(void *obj, const char *data, size_t len)
{
    struct upload *u = obj;
    if (len == 0)
        finish(u);
    else if (u->mp != NULL)
        multipart_feed(u->mp, data, len); /* errors stick and are answered at the end */
}

bool upload_busy(void)
{
    return !list_empty(&uploads);
}

void upload_cleanup(void)
{
    list_each_safe(&uploads, it, nx) destroy(list_entry(it, struct upload, node));
}
