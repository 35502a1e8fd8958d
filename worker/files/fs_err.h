/*
 * The error of a filesystem operation, ready to be sent as the contract's
 * error body {"code": ..., "message": ...} with its HTTP status.
 */
#ifndef EXECD_FS_ERR_H
#define EXECD_FS_ERR_H

#include "strbuf.h"

/* Error codes of the contract (api-contract §1.6) used by the file API. */
#define FS_ERR_FILE_NOT_FOUND "FILE_NOT_FOUND"
#define FS_ERR_RUNTIME "RUNTIME_ERROR"
#define FS_ERR_INVALID_REQUEST "INVALID_REQUEST_BODY"

struct fs_err {
    int status;       /* HTTP status; 0 while no error was set */
    const char *code; /* one of the FS_ERR_* strings */
    struct strbuf msg;
};

#define FS_ERR_INIT                                                                                \
    {                                                                                              \
        0, NULL, STRBUF_INIT                                                                       \
    }

void fs_err_init(struct fs_err *e);
void fs_err_free(struct fs_err *e);

/* Sets status, code and message (replacing an earlier error). */
void fs_err_set(struct fs_err *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The Go daemon's handleFileError: errnum ENOENT gives 404 FILE_NOT_FOUND
 * "file not found. <detail>", anything else (0 included: not a system
 * call's failure) 500 RUNTIME_ERROR "error accessing file: <detail>", where
 * detail is fmt's text, e.g. "lstat /x: no such file or directory".
 */
void fs_err_file(struct fs_err *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The error text of errnum as Go prints it (glibc's text with a lowercase
 * first letter: "no such file or directory"). buf must hold 128 bytes.
 */
const char *fs_strerror(int errnum, char *buf);

/* Appends {"code":"...","message":"..."}. */
void fs_err_json(const struct fs_err *e, struct strbuf *out);

#endif
