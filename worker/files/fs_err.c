#include "files/fs_err.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "jsonesc.h"

void fs_err_init(struct fs_err *e)
{
    e->status = 0;
    e->code = NULL;
    strbuf_init(&e->msg);
}

void fs_err_free(struct fs_err *e)
{
    strbuf_free(&e->msg);
    e->status = 0;
    e->code = NULL;
}

void fs_err_set(struct fs_err *e, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    e->code = code;
    strbuf_reset(&e->msg);
    va_start(ap, fmt);
    strbuf_vprintf(&e->msg, fmt, ap);
    va_end(ap);
}

const char *fs_strerror(int errnum, char *buf)
{
    /* A local buffer: with sanitizers GCC 12 wrongly sees buf as possibly null. */
    char tmp[128];
    /* GNU strerror_r: returns a string that may or may not be tmp. */
    const char *s = strerror_r(errnum, tmp, sizeof(tmp));
    size_t n = strnlen(s, 127);
    memcpy(buf, s, n);
    buf[n] = '\0';
    buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

void fs_err_file(struct fs_err *e, int errnum, const char *fmt, ...)
{
    va_list ap;

    strbuf_reset(&e->msg);
    if (errnum == ENOENT) {
        e->status = 404;
        e->code = FS_ERR_FILE_NOT_FOUND;
        strbuf_append_str(&e->msg, "file not found. ");
    } else {
        e->status = 500;
        e->code = FS_ERR_RUNTIME;
        strbuf_append_str(&e->msg, "error accessing file: ");
    }
    va_start(ap, fmt);
    strbuf_vprintf(&e->msg, fmt, ap);
    va_end(ap);
}

void fs_err_json(const struct fs_err *e, struct strbuf *out)
{
    const char *code = e->code != NULL ? e->code : FS_ERR_RUNTIME;
    const char *msg = e->msg.data != NULL ? e->msg.data : "";
    strbuf_append_str(out, "{\"code\":");
    jsonesc_append(out, code, strlen(code));
    strbuf_append_str(out, ",\"message\":");
    jsonesc_append(out, msg, e->msg.len);
    strbuf_append_char(out, '}');
}
