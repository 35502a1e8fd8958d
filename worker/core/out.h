/*
 * Everything a worker sends to the master. Job messages carry the job id of
 * the HTTP request they answer; see docs/architecture.md for the operations.
 */
#ifndef EXECD_OUT_H
#define EXECD_OUT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"
#include "list.h"
#include "strbuf.h"

/* ch NULL: the master is gone; messages are dropped. */
void out_init(struct ipc_chan *ch);
/* Ready-framed events ("<json>\n\n"...) for a stream; the buffer is reset. */
void out_events(uint32_t job, struct strbuf *events);
/* A complete JSON answer; body is consumed (NULL: empty body). */
void out_reply_json(uint32_t job, int status, json_object *body);
void out_reply_error(uint32_t job, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void out_reply_empty(uint32_t job, int status);
/*
 * A body served from fd[offset, offset+length) by the master (zero-copy).
 * headers (consumed, may be NULL) are added to the response. fd is always
 * consumed.
 */
void out_reply_file(uint32_t job, int status, json_object *headers, const char *content_type,
                    int fd, off_t offset, off_t length);
/* End of a stream. */
void out_end(uint32_t job);
/* Tells the master that id (of kind) lives in this worker; job may be 0. */
void out_register(uint32_t job, const char *kind, const char *id);
void out_unregister(const char *id);
/* Raw bytes of a job (IPC_DATA), e.g. a PTY session's frames. */
void out_data(uint32_t job, const void *data, size_t len);
/*
 * keep {owner, key} with fd (always taken): the master holds a duplicate of fd for this
 * slot's next worker (`kept`), until out_drop names it. owner is the executor's name.
 */
void out_keep(const char *owner, const char *key, int fd);
/* drop {owner, prefix}: the master closes what owner kept under keys starting with prefix. */
void out_drop(const char *owner, const char *prefix);
/* A bare job-0 message {"op": op}. */
void out_op(const char *op);
/* Any message ({"op": ..., ...}) for job (0: the channel); msg is consumed. */
void out_msg(uint32_t job, json_object *msg);

/* The channel to the master is backed up: producers should stop reading. */
bool out_congested(void);
/*
 * Calls fn(arg) once when the channel drains. A waiter is one registration;
 * registering an already waiting waiter does nothing.
 */
struct out_waiter {
    void (*fn)(void *arg);
    void *arg;
    struct list node; /* in the waiting list while waiting */
    bool waiting;
};
void out_wait(struct out_waiter *w);
void out_cancel_wait(struct out_waiter *w);
/* Bytes not yet handed to the kernel. */
size_t out_queued(void);

#endif
