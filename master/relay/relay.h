/* The relay layer as the worker pool sees it: where what workers say goes (jobs, pinned ids, warm
 * kernels). */
#ifndef EXECD_RELAY_RELAY_H
#define EXECD_RELAY_RELAY_H

#include "pool/worker.h"

extern const struct pool_hooks relay_pool_hooks;

/* Frees the registry and code routing (at exit, after the pool). */
void relay_free(void);

#endif
