#include "files/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/out.h"
#include "executor.h"
#include "files/download.h"
#include "files/fs_ops.h"
#include "files/fs_thread.h"
#include "files/fs_tmp.h"
#include "files/upload.h"
#include "fsutil.h"
#include "jsonesc.h"
#include "jsonreq.h"
#include "log.h"
#include "pathexp.h"
#include "worker.h"
#include "xalloc.h"

/* JSON answers up to this size travel inline; bigger ones as a file the master sendfiles. */
#define INLINE_MAX (256 * 1024)

int fs_expand(const char *in, bool absolute, struct strbuf *out, struct strbuf *err)
{
    if (absolute)
        return pathexp_expand_abs(in, pathexp_getenv, NULL, out, err);
    return pathexp_expand(in, pathexp_getenv, NULL, out, err);
}

/* The expanded path as a C string ("" when the expansion was empty). */
static const char *str(const struct strbuf *sb)
{
    return sb->data != NULL ? sb->data : "";
}

void fs_reply_error(uint32_t job, const struct fs_err *e)
{
    out_reply_error(job, e->status != 0 ? e->status : 500,
                    e->code != NULL ? e->code : FS_ERR_RUNTIME, "%s", str(&e->msg));
}

int fs_anon_file(void)
{
    const char *dir = worker_state_dir() != NULL ? worker_state_dir() : "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    /* No O_TMPFILE on this filesystem: a named file, unlinked at once. */
    struct strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/fs-XXXXXX", dir);
    fd = mkostemp(path.data, O_CLOEXEC);
    if (fd >= 0 && unlink(path.data) != 0)
        log_warn("cannot unlink temporary file %s: %s", path.data, strerror(errno));
    strbuf_free(&path);
    return fd;
}

void fs_result_init(struct fs_result *res)
{
    fs_err_init(&res->err);
    strbuf_init(&res->json);
    res->has_json = false;
}

void fs_result_free(struct fs_result *res)
{
    fs_err_free(&res->err);
    strbuf_free(&res->json);
}

/* A 200 with a JSON body rendered by fs_ops. */
static void reply_rendered(uint32_t job, const struct strbuf *json)
{
    if (json->len <= INLINE_MAX) {
        json_object *msg = xjson_object();
        json_object_object_add(msg, "op", xjson_string("reply"));
        json_object_object_add(msg, "status", xjson_int64(200));
        json_object_object_add(msg, "content_type", xjson_string(FS_JSON_TYPE));
        json_object_object_add(msg, "text", xjson_string_len(json->data, json->len));
        out_msg(job, msg);
        return;
    }
    /* A big listing would make a big IPC message and a big copy in the
     * master: it goes through a file instead, sent with sendfile. */
    int fd = fs_anon_file();
    if (fd < 0 || fsutil_write_all(fd, json->data, json->len) != 0) {
        int e = errno;
        log_error("job %u: cannot buffer a %zu-byte answer: %s", job, json->len, strerror(e));
        if (fd >= 0)
            close(fd);
        out_reply_error(job, 500, FS_ERR_RUNTIME, "cannot buffer the answer: %s", strerror(e));
        return;
    }
    out_reply_file(job, 200, NULL, FS_JSON_TYPE, fd, 0, (off_t)json->len);
}

void fs_reply_result(uint32_t job, const struct fs_result *res)
{
    if (res->err.status != 0)
        fs_reply_error(job, &res->err);
    else if (res->has_json)
        reply_rendered(job, &res->json);
    else
        out_reply_empty(job, 200);
}

/* Sets res to a JSON answer, or to the failure of rc != 0. */
static void set_result(struct fs_result *res, int rc, struct fs_err *e, struct strbuf *json)
{
    if (rc != 0) {
        fs_err_set(&res->err, e->status, e->code, "%s", str(&e->msg));
    } else if (json != NULL) {
        strbuf_append(&res->json, json->data, json->len);
        res->has_json = true;
    }
}

/* The strings of msg[key] (an array of strings) as a C array; NULL entries for non-strings. */
static const char **string_array(json_object *msg, const char *key, size_t *n)
{
    json_object *arr = NULL;
    *n = 0;
    if (!json_object_object_get_ex(msg, key, &arr) || !json_object_is_type(arr, json_type_array))
        return NULL;
    *n = json_object_array_length(arr);
    const char **out = xcalloc(*n, sizeof(*out));
    for (size_t i = 0; i < *n; i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        out[i] = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    }
    return out;
}

static json_object *item_array(json_object *msg, size_t *n)
{
    json_object *arr = NULL;
    *n = 0;
    if (!json_object_object_get_ex(msg, "items", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return NULL;
    *n = json_object_array_length(arr);
    return arr;
}

static const char *item_string(json_object *item, const char *key)
{
    const char *v = "";
    jsonreq_string(item, key, &v);
    return v;
}

/* GET /files/info: keyed by the path strings as requested. */
static void info_work(json_object *msg, struct fs_result *res)
{
    size_t n;
    const char **keys = string_array(msg, "paths", &n);
    struct strbuf *exp = xcalloc(n, sizeof(*exp));
    const char **paths = xcalloc(n, sizeof(*paths));
    struct fs_err e = FS_ERR_INIT;
    struct strbuf why = STRBUF_INIT, out = STRBUF_INIT;

    size_t done = 0;
    int rc = 0;
    for (; done < n && rc == 0; done++) {
        strbuf_init(&exp[done]);
        if (fs_expand(keys[done], true, &exp[done], &why) != 0) {
            fs_err_file(&e, 0, "%s", why.data);
            rc = -1;
        }
        paths[done] = str(&exp[done]);
    }
    if (rc == 0)
        rc = fsops_info(keys, paths, n, &out, &e);
    set_result(res, rc, &e, &out);
    for (size_t i = 0; i < done; i++)
        strbuf_free(&exp[i]);
    free(exp);
    free(paths);
    free(keys);
    strbuf_free(&why);
    strbuf_free(&out);
    fs_err_free(&e);
}

/* DELETE /files and DELETE /directories: in order, the first failure stops. */
static void delete_paths(json_object *msg, struct fs_result *res, bool dirs)
{
    size_t n;
    const char **paths = string_array(msg, "paths", &n);
    struct strbuf p = STRBUF_INIT, why = STRBUF_INIT;
    struct fs_err e = FS_ERR_INIT;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        /* DELETE /files makes the path absolute; DELETE /directories uses it as expanded. */
        if (fs_expand(paths[i], !dirs, &p, &why) != 0) {
            fs_err_set(&e, 500, FS_ERR_RUNTIME, "error removing %s %s. %s",
                       dirs ? "directory" : "file", paths[i], why.data);
            rc = -1;
        } else {
            rc = dirs ? fsops_rmrf(str(&p), &e) : fsops_delete_file(str(&p), &e);
        }
    }
    set_result(res, rc, &e, NULL);
    free(paths);
    strbuf_free(&p);
    strbuf_free(&why);
    fs_err_free(&e);
}

/* POST /files/permissions and POST /directories. */
static void set_perms(json_object *msg, struct fs_result *res, bool mkdir)
{
    size_t n;
    json_object *items = item_array(msg, &n);
    struct strbuf p = STRBUF_INIT, why = STRBUF_INIT;
    struct fs_err e = FS_ERR_INIT;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *item = json_object_array_get_idx(items, i);
        const char *path = item_string(item, "path");
        struct fsops_perm perm = {0, NULL, NULL};
        jsonreq_int64(item, "mode", &perm.mode);
        jsonreq_string(item, "owner", &perm.owner);
        jsonreq_string(item, "group", &perm.group);
        if (fs_expand(path, true, &p, &why) != 0) {
            if (mkdir)
                fs_err_file(&e, 0, "%s", why.data);
            else
                fs_err_set(&e, 500, FS_ERR_RUNTIME, "error changing permissions for %s. %s", path,
                           why.data);
            rc = -1;
        } else {
            rc = mkdir ? fsops_mkdir(str(&p), &perm, &e) : fsops_chmod(str(&p), &perm, &e);
        }
    }
    set_result(res, rc, &e, NULL);
    strbuf_free(&p);
    strbuf_free(&why);
    fs_err_free(&e);
}

/* POST /files/mv. */
static void mv_work(json_object *msg, struct fs_result *res)
{
    size_t n;
    json_object *items = item_array(msg, &n);
    struct strbuf src = STRBUF_INIT, dest = STRBUF_INIT, why = STRBUF_INIT;
    struct fs_err e = FS_ERR_INIT;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *item = json_object_array_get_idx(items, i);
        if (fs_expand(item_string(item, "src"), true, &src, &why) != 0 ||
            fs_expand(item_string(item, "dest"), true, &dest, &why) != 0) {
            fs_err_file(&e, 0, "%s", why.data);
            rc = -1;
        } else {
            rc = fsops_mv(str(&src), str(&dest), &e);
        }
    }
    set_result(res, rc, &e, NULL);
    strbuf_free(&src);
    strbuf_free(&dest);
    strbuf_free(&why);
    fs_err_free(&e);
}

/* GET /files/search and GET /directories/list. */
static void walk(json_object *msg, struct fs_result *res, bool search)
{
    const char *path = "", *pattern = NULL;
    int64_t depth = 1;
    struct strbuf p = STRBUF_INIT, why = STRBUF_INIT, out = STRBUF_INIT;
    struct fs_err e = FS_ERR_INIT;
    int rc;

    jsonreq_string(msg, "path", &path);
    jsonreq_string(msg, "pattern", &pattern);
    jsonreq_int64(msg, "depth", &depth);
    if (fs_expand(path, true, &p, &why) != 0) {
        fs_err_file(&e, 0, "%s", why.data);
        rc = -1;
    } else if (search) {
        rc = fsops_search(str(&p), pattern, &out, &e);
    } else {
        rc = fsops_list(str(&p), depth > INT32_MAX ? INT32_MAX : (int)depth, &out, &e);
    }
    set_result(res, rc, &e, &out);
    strbuf_free(&p);
    strbuf_free(&why);
    strbuf_free(&out);
    fs_err_free(&e);
}

struct replaced {
    const char *key;
    size_t index; /* in the request: the last of repeated keys wins */
    int64_t count;
};

static int cmp_replaced(const void *a, const void *b)
{
    const struct replaced *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* {"<path as given>":{"replacedCount":n},...}, keys sorted and once (Go's map encoding). */
static void render_counts(struct replaced *res, size_t n, struct strbuf *out)
{
    qsort(res, n, sizeof(*res), cmp_replaced);
    strbuf_append_char(out, '{');
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        /* A repeated key is one map entry: its last value. */
        if (i + 1 < n && strcmp(res[i].key, res[i + 1].key) == 0)
            continue;
        if (shown++ > 0)
            strbuf_append_char(out, ',');
        jsonesc_append(out, res[i].key, strlen(res[i].key));
        strbuf_append_str(out, ":{\"replacedCount\":");
        strbuf_append_int64(out, res[i].count);
        strbuf_append_char(out, '}');
    }
    strbuf_append_char(out, '}');
}

/* POST /files/replace[?verbose=true]. */
static void replace_work(json_object *msg, struct fs_result *out)
{
    size_t n;
    json_object *items = item_array(msg, &n);
    bool verbose = false;
    struct strbuf p = STRBUF_INIT, why = STRBUF_INIT;
    struct fs_err e = FS_ERR_INIT;
    struct replaced *res = xcalloc(n, sizeof(*res));
    int rc = 0;

    jsonreq_bool(msg, "verbose", &verbose);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *item = json_object_array_get_idx(items, i);
        json_object *old = json_object_object_get(item, "old");
        json_object *repl = json_object_object_get(item, "new");
        res[i].key = item_string(item, "path");
        res[i].index = i;
        if (fs_expand(res[i].key, true, &p, &why) != 0) {
            fs_err_file(&e, 0, "%s", why.data);
            rc = -1;
        } else {
            rc =
                fsops_replace(str(&p), json_object_get_string(old),
                              (size_t)json_object_get_string_len(old), json_object_get_string(repl),
                              (size_t)json_object_get_string_len(repl), &res[i].count, &e);
        }
    }
    if (rc != 0) {
        set_result(out, rc, &e, NULL);
    } else if (verbose) {
        render_counts(res, n, &out->json);
        out->has_json = true;
    }
    free(res);
    strbuf_free(&p);
    strbuf_free(&why);
    fs_err_free(&e);
}

static void delete_work(json_object *msg, struct fs_result *res)
{
    delete_paths(msg, res, false);
}

static void rmdir_work(json_object *msg, struct fs_result *res)
{
    delete_paths(msg, res, true);
}

static void chmod_work(json_object *msg, struct fs_result *res)
{
    set_perms(msg, res, false);
}

static void mkdir_work(json_object *msg, struct fs_result *res)
{
    set_perms(msg, res, true);
}

static void search_work(json_object *msg, struct fs_result *res)
{
    walk(msg, res, true);
}

static void list_work(json_object *msg, struct fs_result *res)
{
    walk(msg, res, false);
}

void fs_run_here(uint32_t job, json_object *msg, fs_work_fn fn)
{
    struct fs_result res;
    fs_result_init(&res);
    fn(msg, &res);
    fs_reply_result(job, &res);
    fs_result_free(&res);
}

static void info_op(uint32_t job, json_object *msg)
{
    fs_run_here(job, msg, info_work);
}

static void delete_op(uint32_t job, json_object *msg)
{
    fs_run_here(job, msg, delete_work);
}

static void chmod_op(uint32_t job, json_object *msg)
{
    fs_run_here(job, msg, chmod_work);
}

static void mkdir_op(uint32_t job, json_object *msg)
{
    fs_run_here(job, msg, mkdir_work);
}

static void mv_op(uint32_t job, json_object *msg)
{
    fs_run_here(job, msg, mv_work);
}

/* Walks and whole-file rewrites take as long as the tree or the file: on a thread. */
static void rmdir_op(uint32_t job, json_object *msg)
{
    fsthread_run(job, msg, rmdir_work);
}

static void search_op(uint32_t job, json_object *msg)
{
    fsthread_run(job, msg, search_work);
}

static void list_op(uint32_t job, json_object *msg)
{
    fsthread_run(job, msg, list_work);
}

static void replace_op(uint32_t job, json_object *msg)
{
    fsthread_run(job, msg, replace_work);
}

static const struct executor_op ops[] = {
    {"fs.info", info_op},          {"fs.delete", delete_op},    {"fs.rmdir", rmdir_op},
    {"fs.chmod", chmod_op},        {"fs.mkdir", mkdir_op},      {"fs.mv", mv_op},
    {"fs.search", search_op},      {"fs.list", list_op},        {"fs.replace", replace_op},
    {"fs.download", download_run}, {"fs.upload", upload_start}, {NULL, NULL},
};

static int files_init(const struct wsettings *s EXECD_UNUSED, bool adopt)
{
    upload_init();
    if (adopt)
        fstmp_sweep();
    return 0;
}

static bool files_busy(void)
{
    return upload_busy() || fsthread_busy();
}

static void files_cleanup(void)
{
    upload_cleanup();
    fsthread_cleanup();
}

const struct executor files_executor = {
    .name = "files",
    .ops = ops,
    .init = files_init,
    .adopt = fstmp_sweep,
    .busy = files_busy,
    .cleanup = files_cleanup,
};
