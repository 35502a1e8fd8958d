#include "files/download.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/out.h"
#include "files/disposition.h"
#include "files/fs.h"
#include "files/fs_err.h"
#include "files/httpdate.h"
#include "files/httprange.h"
#include "jsonreq.h"
#include "xalloc.h"

#define OCTET_STREAM "application/octet-stream"

static void add_header(json_object *headers, const char *name, const char *value)
{
    json_object_object_add(headers, name, xjson_string(value));
}

/* A reply without a file: headers (consumed), then text with its type, or no body. */
static void reply_plain(uint32_t job, int status, json_object *headers, const char *content_type,
                        const char *text)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("reply"));
    json_object_object_add(msg, "status", xjson_int64(status));
    json_object_object_add(msg, "headers", headers);
    if (text != NULL) {
        json_object_object_add(msg, "content_type", xjson_string(content_type));
        json_object_object_add(msg, "text", xjson_string(text));
    }
    out_msg(job, msg);
}

/* A conditional header's date; absent or unparsable is "no condition", as in Go. */
static bool header_time(json_object *msg, const char *key, time_t *out)
{
    const char *v = NULL;
    return jsonreq_string(msg, key, &v) == JSONREQ_OK && httpdate_parse(v, out) == 0;
}

/*
 * Go's http.ServeContent preconditions (no ETag here): If-Unmodified-Since
 * older than the file -> 412; else If-Modified-Since not older -> 304.
 * Returns the status to answer, or 0 to go on. Times compare in whole seconds.
 */
static int preconditions(json_object *msg, time_t mtime)
{
    time_t t;
    if (mtime <= 0)
        return 0; /* Go treats a zero modification time as unknown */
    if (header_time(msg, "if_unmodified_since", &t) && mtime > t)
        return 412;
    if (header_time(msg, "if_modified_since", &t) && mtime <= t)
        return 304;
    return 0;
}

/* Opens the regular file msg names. Returns the descriptor, or -1 with e set. */
static int open_file(json_object *msg, struct strbuf *path, struct stat *st, struct fs_err *e)
{
    const char *raw = "";
    struct strbuf why = STRBUF_INIT;
    char ebuf[128];
    jsonreq_string(msg, "path", &raw);
    int rc = fs_expand(raw, false, path, &why);
    if (rc != 0)
        fs_err_file(e, 0, "%s", why.data);
    strbuf_free(&why);
    if (rc != 0)
        return -1;
    const char *p = path->data != NULL ? path->data : "";
    /* Non-blocking: opening a FIFO for reading would wait for a writer. */
    int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) != 0) {
        int err = errno;
        fs_err_file(e, err, "%s %s: %s", fd < 0 ? "open" : "stat", p, fs_strerror(err, ebuf));
    } else if (S_ISDIR(st->st_mode)) {
        fs_err_set(e, 400, FS_ERR_INVALID_REQUEST, "path is a directory: %s", p);
    } else if (!S_ISREG(st->st_mode)) {
        fs_err_set(e, 400, FS_ERR_INVALID_REQUEST, "path is not a regular file: %s", p);
    } else {
        return fd;
    }
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The headers of every answer about the file: its name and its modification time. */
static json_object *file_headers(const char *path, const struct stat *st)
{
    json_object *headers = xjson_object();
    struct strbuf value = STRBUF_INIT;
    disposition_for_path(&value, path);
    add_header(headers, "Content-Disposition", value.data);
    strbuf_free(&value);
    char date[HTTPDATE_LEN];
    httpdate_format(st->st_mtim.tv_sec, date);
    add_header(headers, "Last-Modified", date);
    return headers;
}

/* A range outside the file: 412 or 304 when a precondition says so, else 416. */
static void reply_unsatisfiable(uint32_t job, json_object *msg, const struct stat *st,
                                json_object *headers)
{
    int status = preconditions(msg, st->st_mtim.tv_sec);
    if (status != 0) {
        reply_plain(job, status, headers, NULL, NULL);
        return;
    }
    struct strbuf value = STRBUF_INIT;
    httprange_unsatisfied(&value, st->st_size);
    add_header(headers, "Content-Range", value.data);
    add_header(headers, "X-Content-Type-Options", "nosniff");
    reply_plain(job, 416, headers, "text/plain; charset=utf-8",
                "invalid range: failed to overlap\n");
    strbuf_free(&value);
}

/* Answers for the open file fd (consumed) with headers (consumed), as the Range asks. */
static void reply_file(uint32_t job, json_object *msg, int fd, const struct stat *st,
                       json_object *headers)
{
    const char *range = NULL;
    jsonreq_string(msg, "range", &range);
    struct httprange rg;
    struct strbuf value = STRBUF_INIT;
    int status;
    switch (httprange_parse(range, st->st_size, &rg)) {
    case HTTPRANGE_MALFORMED:
        json_object_put(headers);
        close(fd);
        out_reply_error(job, 416, "UNKNOWN", "invalid range");
        break;
    case HTTPRANGE_OK:
        httprange_content_range(&value, &rg, st->st_size);
        add_header(headers, "Content-Range", value.data);
        add_header(headers, "Accept-Ranges", "bytes");
        out_reply_file(job, 206, headers, OCTET_STREAM, fd, rg.start, rg.length);
        break;
    case HTTPRANGE_UNSATISFIABLE:
        close(fd);
        reply_unsatisfiable(job, msg, st, headers);
        break;
    case HTTPRANGE_NONE:
        status = preconditions(msg, st->st_mtim.tv_sec);
        if (status != 0) {
            close(fd);
            reply_plain(job, status, headers, NULL, NULL);
            break;
        }
        add_header(headers, "Accept-Ranges", "bytes");
        out_reply_file(job, 200, headers, OCTET_STREAM, fd, 0, st->st_size);
        break;
    }
    strbuf_free(&value);
}

void download_run(uint32_t job, json_object *msg)
{
    struct strbuf path = STRBUF_INIT;
    struct fs_err e = FS_ERR_INIT;
    struct stat st;
    int fd = open_file(msg, &path, &st, &e);
    if (fd < 0)
        fs_reply_error(job, &e);
    else
        reply_file(job, msg, fd, &st, file_headers(path.data, &st));
    strbuf_free(&path);
    fs_err_free(&e);
}
