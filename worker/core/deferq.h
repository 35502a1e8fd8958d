/*
 * Jobs that arrive before the worker can answer them: a worker replacing another
 * (reload) learns the slot's long-lived objects (contexts, sessions) only on "adopt",
 * and a job naming one of them waits here until then, in arrival order.
 */
#ifndef EXECD_DEFERQ_H
#define EXECD_DEFERQ_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "list.h"

typedef void (*deferq_fn)(uint32_t job, json_object *msg);

struct deferq {
    struct list items;
};

#define DEFERQ_INIT(q)                                                                             \
    {                                                                                              \
        LIST_HEAD_INIT((q).items)                                                                  \
    }

/* Keeps fn(job, msg) for later (msg gets a reference). */
void deferq_add(struct deferq *q, uint32_t job, deferq_fn fn, json_object *msg);
/* Runs what was kept, in order; fn may defer again (into a later replay). */
void deferq_replay(struct deferq *q);
bool deferq_empty(const struct deferq *q);
/* Drops what was kept. */
void deferq_clear(struct deferq *q);

#endif
