/*
 * Control messages from workers (job 0): ready, register, unregister, pool, background, pong,
 * keep and drop (descriptors kept in the master, pool/fdstore.h).
 * What they say about pinned objects and warm kernels goes to the pool's hooks; the count
 * of running background commands is kept on the worker; "ready" concerns the worker's own
 * lifecycle and is left to the caller (the supervisor).
 */
#ifndef EXECD_POOL_CONTROL_H
#define EXECD_POOL_CONTROL_H

#include "ipc.h"

struct pool_hooks;
struct worker;

enum control_result {
    CONTROL_HANDLED, /* done (a malformed or unknown message is logged) */
    CONTROL_READY,   /* the worker is configured and takes jobs */
};

enum control_result control_handle(struct worker *w, const struct ipc_msg *msg,
                                   const struct pool_hooks *hooks);

#endif
