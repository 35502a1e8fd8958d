/*
 * The worker pool as the master drives it (php-fpm's fpm_process_ctl): start, reload
 * (replace the workers one at a time), shutdown, reaping, and the queries the relay layer
 * asks (which worker takes a job, which process owns an id). Processes are children.c's,
 * channels worker.c's, control messages control.c's. The master is the child subreaper:
 * orphans reaped here are reported to the workers so they can finish records of processes
 * they adopted.
 */
#ifndef EXECD_POOL_SUPERVISOR_H
#define EXECD_POOL_SUPERVISOR_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool/worker.h"

struct config;

/*
 * Spawns the workers; what they say goes to hooks (which must outlive the pool).
 * on_all_ready runs once every worker is ready for the first time (or, should some not
 * start, after a few seconds).
 */
int supervisor_start(struct event_base *base, const struct config *cfg,
                     const struct pool_hooks *hooks, void (*on_all_ready)(void));
/*
 * Least loaded ready worker, or NULL. With max_executions > 0 only a worker running fewer
 * executions (commands and code runs) than that qualifies.
 */
struct worker *supervisor_pick(int max_executions);
/* Executions running on w: relayed ones and background commands. */
int supervisor_executions(const struct worker *w);
/* ... on every live worker (a draining one included). */
int supervisor_executions_total(void);
/* Background commands running, as the workers report them. */
int supervisor_background_total(void);
/* Workers started again after one died, since the start. */
uint64_t supervisor_respawns(void);
/* The worker process pid if it is alive, else the current worker of slot. */
struct worker *supervisor_resolve(int slot, pid_t pid);
/* Reaps exited children (SIGCHLD). */
void supervisor_reap(void);
/* Sends msg to every live worker. */
void supervisor_broadcast(json_object *msg);
/* Re-reads settings for new workers and replaces workers one at a time. */
void supervisor_reload(const struct config *cfg);
/*
 * Asks every worker to stop its work (TERM, grace, KILL) and exit; done runs
 * once all workers are gone (or after a hard deadline, having killed them).
 */
void supervisor_shutdown(int64_t grace_ms, void (*done)(void));
int supervisor_worker_count(void);
/* Slots whose current worker is ready. */
int supervisor_ready_count(void);
/*
 * fn runs once every slot has a ready worker after supervisor_start, and again once each
 * supervisor_reload has replaced every slot (the service is ready again).
 */
void supervisor_on_settled(void (*fn)(void));
/* Number of worker slots. */
int supervisor_slot_count(void);
void supervisor_free(void);

#endif
