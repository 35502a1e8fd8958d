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

void download_run(uint32_t job, json_object *msg)
{
    const char *raw = "", *range = NULL;
    struct strbuf path = STRBUF_INIT, why = STRBUF_INIT, value = STRBUF_INIT;
    struct fs_err e = FS_ERR_INIT;
    char ebuf[128];
    struct stat st;
    int fd = -1;

    jsonreq_string(msg, "path", &raw);
    jsonreq_string(msg, "range", &range);
    if (fs_expand(raw, false, &path, &why) != 0) {
        fs_err_file(&e, 0, "%s", why.data);
        goto fail;
    }
    const char *p = path.data != NULL ? path.data : "";
    /* Non-blocking: opening a FIFO for reading would wait for a writer. */
    fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        fs_err_file(&e, err, "open %s: %s", p, fs_strerror(err, ebuf));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        fs_err_file(&e, err, "stat %s: %s", p, fs_strerror(err, ebuf));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        fs_err_set(&e, 400, FS_ERR_INVALID_REQUEST, "path is a directory: %s", p);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        fs_err_set(&e, 400, FS_ERR_INVALID_REQUEST, "path is not a regular file: %s", p);
        goto fail;
    }

    json_object *headers = xjson_object();
    disposition_for_path(&value, p);
    add_header(headers, "Content-Disposition", value.data);
    char date[HTTPDATE_LEN];
    httpdate_format(st.st_mtim.tv_sec, date);
    add_header(headers, "Last-Modified", date);

    struct httprange rg;
    int status;
    switch (httprange_parse(range, st.st_size, &rg)) {
    case HTTPRANGE_MALFORMED:
        json_object_put(headers);
        close(fd);
        out_reply_error(job, 416, "UNKNOWN", "invalid range");
        break;
    case HTTPRANGE_OK:
        strbuf_reset(&value);
        httprange_content_range(&value, &rg, st.st_size);
        add_header(headers, "Content-Range", value.data);
        add_header(headers, "Accept-Ranges", "bytes");
        out_reply_file(job, 206, headers, OCTET_STREAM, fd, rg.start, rg.length);
        break;
    case HTTPRANGE_UNSATISFIABLE:
        status = preconditions(msg, st.st_mtim.tv_sec);
        close(fd);
        if (status != 0) {
            reply_plain(job, status, headers, NULL, NULL);
            break;
        }
        strbuf_reset(&value);
        httprange_unsatisfied(&value, st.st_size);
        add_header(headers, "Content-Range", value.data);
        add_header(headers, "X-Content-Type-Options", "nosniff");
        reply_plain(job, 416, headers, "text/plain; charset=utf-8",
                    "invalid range: failed to overlap\n");
        break;
    case HTTPRANGE_NONE:
        status = preconditions(msg, st.st_mtim.tv_sec);
        if (status != 0) {
            close(fd);
            reply_plain(job, status, headers, NULL, NULL);
            break;
        }
        add_header(headers, "Accept-Ranges", "bytes");
        out_reply_file(job, 200, headers, OCTET_STREAM, fd, 0, st.st_size);
        break;
    }
    fd = -1;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    fs_reply_error(job, &e);
out:
    strbuf_free(&path);
    strbuf_free(&why);
    strbuf_free(&value);
    fs_err_free(&e);
}
