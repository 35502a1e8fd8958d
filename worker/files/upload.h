/*
 * POST /files/upload in a worker (api-contract §7.7). The master relays the
 * multipart body as it arrives (IPC_DATA frames, an empty frame at the end);
 * it is parsed incrementally (multipart.c) and memory stays bounded whatever
 * the size.
 *
 * Parts named "metadata" (JSON {"path","owner","group","mode"}) and "file"
 * pair by index: the n-th metadata describes the n-th file. Either may be a
 * file part or a plain field (the Go daemon only saw file parts). A file
 * whose metadata came first (what the SDKs send) is written straight to a
 * temporary file beside its target; a file that comes before its metadata
 * is spooled to an unlinked file in the worker's state directory and copied
 * beside its target at the end.
 *
 * The temporary file (fs_tmp.h) has no name until it is put in place, and
 * nothing is put in place before the whole body has been read and checked
 * (counts, metadata): then, pair by pair in order, the target's path is
 * resolved again (fs_resolve.h; it must lead to the same directory), the
 * temporary file gets its mode and owner on its descriptor (those of the
 * file it replaces, else 0777 & ~umask, then the metadata's Permission) and
 * replaces the target in one rename, and the directory is fsync'd. A failed,
 * malformed or interrupted upload therefore never leaves a partly written
 * target; temporary files are removed on every failure and when the client
 * goes away, before the answer is sent. An upload holds at most 400 files
 * (each keeps a descriptor until the end of the body).
 */
#ifndef EXECD_UPLOAD_H
#define EXECD_UPLOAD_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads the umask: call once, before any thread of the worker creates files. */
void upload_init(void);
/* fs.upload {content_type}: the body follows as the job's data (core/wjob.h). */
void upload_start(uint32_t job, json_object *msg);
/* Uploads in progress (a draining worker waits for them). */
bool upload_busy(void);
/* Abandons every upload (worker exit): temporary files are removed. */
void upload_cleanup(void);

#endif
