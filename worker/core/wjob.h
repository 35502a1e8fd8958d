/*
 * Jobs in flight in this worker that the master may steer: cancel (client
 * gone), pause and resume (client reading slowly). Each executor registers
 * the jobs it streams with its own operations.
 */
#ifndef EXECD_WJOB_H
#define EXECD_WJOB_H

#include <stdint.h>

struct wjob_ops {
    void (*cancel)(void *obj);
    void (*pause)(void *obj);
    void (*resume)(void *obj);
};

void wjob_add(uint32_t job, const struct wjob_ops *ops, void *obj);
void wjob_remove(uint32_t job);
/* Applies "cancel", "pause" or "resume" to job; unknown jobs are ignored. */
void wjob_control(uint32_t job, const char *op);
void wjob_free_all(void);

#endif
