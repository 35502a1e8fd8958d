/*
 * The files executor: the /files/... and /directories... routes
 * (api-contract §7-§8). The master forwards each request as an "fs.*" job
 * with the raw path strings; here they are expanded (~, $VAR, absolute where
 * the contract says so), the blocking operations of fs_ops.h run, and the
 * answer goes back as one reply. Uploads and downloads live in upload.c and
 * download.c.
 *
 * Operations (docs/architecture.md): fs.info {paths}, fs.delete {paths},
 * fs.chmod {items: [{path, mode, owner, group}]}, fs.mv {items: [{src,
 * dest}]}, fs.search {path, pattern}, fs.replace {items: [{path, old, new}],
 * verbose}, fs.list {path, depth}, fs.mkdir {items}, fs.rmdir {paths},
 * fs.download {path, range, if_modified_since, if_unmodified_since},
 * fs.upload {content_type} followed by the body as IPC_DATA.
 */
#ifndef EXECD_FS_H
#define EXECD_FS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "files/fs_err.h"
#include "strbuf.h"

#define FS_JSON_TYPE "application/json; charset=utf-8"

/*
 * A path argument as the contract reads it: $VAR/${VAR} and ~ expanded,
 * then (absolute) made absolute against the cwd and cleaned. Returns 0, or
 * -1 with the reason in err ("path references undefined environment
 * variables: A,B").
 */
int fs_expand(const char *in, bool absolute, struct strbuf *out, struct strbuf *err);
/* The answer of a file operation: err when it failed, else json (a 200), else an empty 200. */
struct fs_result {
    struct fs_err err;
    struct strbuf json;
    bool has_json;
};

void fs_result_init(struct fs_result *res);
void fs_result_free(struct fs_result *res);
/* Sends res as the job's answer (a big JSON answer as a file the master sends). */
void fs_reply_result(uint32_t job, const struct fs_result *res);
/* Computes the answer to msg (no loop, no IPC, no worker state: it may run on a thread). */
typedef void (*fs_work_fn)(json_object *msg, struct fs_result *res);
/* Computes and sends the answer here, on the loop (a quick operation). */
void fs_run_here(uint32_t job, json_object *msg, fs_work_fn fn);
/* Sends e as the job's answer. */
void fs_reply_error(uint32_t job, const struct fs_err *e);
/*
 * An unlinked temporary file in the worker's state directory (read/write).
 * Returns the descriptor, or -1 with errno.
 */
int fs_anon_file(void);

#endif
