/*
 * The worker pool: N slots, each with one live worker process (plus, during
 * a reload, the previous one draining). Workers are fork+exec'd copies of
 * this binary in worker mode talking over a SOCK_SEQPACKET socketpair (fd 3
 * in the worker). A worker that dies is respawned with backoff and jitter; a
 * slot that keeps crashing trips a breaker that slows retries and logs loudly.
 * The master is the child subreaper: orphans reaped here are reported to the
 * workers so they can finish records of processes they adopted.
 */
#ifndef EXECD_SUPERVISOR_H
#define EXECD_SUPERVISOR_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct job;
struct ipc_chan;

enum worker_state {
    WORKER_STARTING, /* spawned, config sent, not ready yet */
    WORKER_READY,    /* takes new jobs */
    WORKER_DRAINING, /* replaced on reload: finishes its jobs, then exits */
    WORKER_STOPPING, /* daemon shutdown */
};

struct worker {
    int slot;
    pid_t pid;
    struct ipc_chan *ch; /* NULL once the channel broke */
    enum worker_state state;
    struct job *jobs;
    int load;
    int64_t spawned_ms;
    struct worker *next;
};

int supervisor_start(struct event_base *base, const struct config *cfg);
/* Least loaded ready worker, or NULL. */
struct worker *supervisor_pick(void);
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
/* Number of worker slots. */
int supervisor_slot_count(void);
void supervisor_free(void);

int worker_send_json(struct worker *w, uint32_t job, json_object *msg);
void worker_job_link(struct worker *w, struct job *j);
void worker_job_unlink(struct worker *w, struct job *j);
struct job *worker_first_job(struct worker *w);

#endif
