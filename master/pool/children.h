/*
 * Worker processes, as php-fpm's fpm_children: N slots, each with one live worker (plus,
 * during a reload, the previous one draining). A worker is a fork + exec of this binary in
 * worker mode whose first message is its configuration. One that dies is respawned with
 * backoff and jitter; a slot that keeps crashing trips a breaker that slows retries and
 * logs loudly. When to replace or stop workers is the supervisor's.
 */
#ifndef EXECD_POOL_CHILDREN_H
#define EXECD_POOL_CHILDREN_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"

struct config;
struct worker;

/* Prepares n slots (no worker yet) with cfg's worker settings. Returns 0 or -1. */
int children_start(struct event_base *base, int n, const struct config *cfg);
/* Settings for the workers spawned from now on (reload). */
void children_configure(const struct config *cfg);
/* Starts a new worker for slot, which becomes the slot's current one. */
void children_spawn(int slot);
/*
 * pid exited with status. Returns its worker, unlinked from the live list with its channel
 * closed (and a respawn scheduled when it died), for the caller to act on and free; NULL
 * when pid was no worker (an orphan).
 */
struct worker *children_exited(pid_t pid, int status);
/* No more respawns (shutdown). */
void children_stop(void);

int children_slot_count(void);
/* Workers started again after one died. */
uint64_t children_respawns(void);
/* The current worker of slot, or NULL (none, or respawn pending). */
struct worker *children_current(int slot);
/* Every live worker process (struct worker.node); iterate, do not modify. */
const struct list *children_live(void);
void children_free(void);

#endif
