/*
 * Jobs in flight in this worker that the master may steer: cancel (client
 * gone), pause and resume (client reading slowly), and the body frames of a
 * request (IPC_DATA). Each executor registers the jobs it keeps running with
 * its own operations; any of them may be NULL.
 */
#ifndef EXECD_WJOB_H
#define EXECD_WJOB_H

#include <stddef.h>
#include <stdint.h>

struct wjob_ops {
    void (*cancel)(void *obj);
    void (*pause)(void *obj);
    void (*resume)(void *obj);
    /* A piece of the request's body; len 0 is its end. */
    void (*data)(void *obj, const char *data, size_t len);
};

void wjob_add(uint32_t job, const struct wjob_ops *ops, void *obj);
void wjob_remove(uint32_t job);
/* Applies "cancel", "pause" or "resume" to job; unknown jobs are ignored. */
void wjob_control(uint32_t job, const char *op);
/* Hands body bytes to job; data for an unknown job is dropped. */
void wjob_data(uint32_t job, const char *data, size_t len);
void wjob_free_all(void);

#endif
