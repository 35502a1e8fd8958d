/*
 * File operations that may take long (search, list, replace, rm -rf: a walk of / takes
 * seconds) run on a thread of their own, so the worker's loop keeps serving its streams
 * and kernels meanwhile. The thread only computes an answer (struct fs_result); the loop
 * sends it when the thread is done, which it learns through a pipe. At most
 * FSTHREAD_MAX run at once in a worker; more wait in line.
 *
 * A job whose client went away, or a worker that exits, asks its thread to stop: the
 * walks check fsthread_stopping() between entries.
 */
#ifndef EXECD_FS_THREAD_H
#define EXECD_FS_THREAD_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "files/fs.h"

#define FSTHREAD_MAX 16

/* Runs fn(msg) on a thread; the loop answers job with its result (fs_reply_result). */
void fsthread_run(uint32_t job, json_object *msg, fs_work_fn fn);
/* On an operation's thread: its client went away or the worker exits; false elsewhere. */
bool fsthread_stopping(void);
/* Operations not answered yet. */
bool fsthread_busy(void);
/* Stops every operation, waits for the threads and drops their answers (worker exit). */
void fsthread_cleanup(void);

#endif
