/*
 * One worker process as the rest of the master sees it: its slot, pid and state, its
 * channel (a SOCK_SEQPACKET socketpair, fd 3 in the worker) and the jobs relayed on it.
 * What arrives on the channel goes up through struct pool_hooks, so the pool knows nothing
 * of jobs, the registry or code routing.
 */
#ifndef EXECD_POOL_WORKER_H
#define EXECD_POOL_WORKER_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"
#include "list.h"

enum worker_state {
    WORKER_STARTING, /* spawned, config sent, not ready yet */
    WORKER_READY,    /* takes new jobs */
    WORKER_DRAINING, /* replaced on reload: finishes its jobs, then exits */
    WORKER_STOPPING, /* daemon shutdown */
};

struct worker;
typedef void (*worker_fn)(struct worker *w);

struct worker {
    int slot;
    pid_t pid;
    struct ipc_chan *ch; /* NULL once the channel broke */
    enum worker_state state;
    struct list jobs; /* the nodes of the jobs relayed on this worker (relay/job.c) */
    int load;         /* how many */
    int executions;   /* of them, commands and code runs (relay/job.c) */
    int background;   /* background commands running, as the worker reports them */
    int64_t spawned_ms;
    worker_fn on_drain; /* see worker_on_drain */
    struct list node;   /* in the list of live worker processes (children.c) */
    /* The heartbeat (pool/heartbeat.c): the last ping sent, when, and the last pong. */
    uint64_t ping_seq;
    int64_t ping_ms;
    uint64_t pong_seq;
};

/* What the pool hands to the layers above it (set once by supervisor_start). */
struct pool_hooks {
    /* A frame of job msg->job (not 0) arrived from w. */
    void (*job_message)(struct worker *w, const struct ipc_msg *msg);
    /* w's channel is gone (w exited or broke it): every job on w ends, why says so. */
    void (*worker_lost)(struct worker *w, const char *why);
    /* register {kind, id[, language, default]} on job 0: id lives in w. */
    void (*registered)(struct worker *w, const char *id, const char *kind, const char *language,
                       bool dflt);
    /* unregister {id}: w dropped id. */
    void (*unregistered)(const char *id);
    /* pool {language, ready}: w has ready warm kernels of language. */
    void (*pool_report)(const struct worker *w, const char *language, int ready);
    /* w is configured and takes jobs. */
    void (*worker_ready)(struct worker *w);
};

/* A job-0 message from a worker (control.c handles it). */
typedef void (*worker_control_fn)(struct worker *w, const struct ipc_msg *msg);
/* Where every worker's messages go. */
void worker_init(const struct pool_hooks *hooks, worker_control_fn on_control);

struct worker *worker_new(int slot, pid_t pid);
/* Opens w's channel on fd (taken). Returns 0, or -1 (fd closed). */
int worker_open_channel(struct worker *w, struct event_base *base, int fd);
/* Closes w's channel; its jobs end with why. Idempotent. */
void worker_close_channel(struct worker *w, const char *why);
void worker_free(struct worker *w);

bool worker_connected(const struct worker *w);
/*
 * Sends on w's channel. Returns 0, or -1 when w has no channel or the send failed: the
 * channel's close then ended every job on w (callers do not touch those jobs afterwards).
 */
int worker_send_json(struct worker *w, uint32_t job, json_object *msg);
/* worker_send_json with a descriptor (taken in every case). */
int worker_send_json_fd(struct worker *w, uint32_t job, json_object *msg, int fd);
int worker_send_data(struct worker *w, uint32_t job, const void *data, size_t len);
/* {"op": op} on job 0; a failure is logged. */
void worker_send_op(struct worker *w, const char *op);
/* Bytes queued on w's channel. */
size_t worker_queued(const struct worker *w);
/* fn(w) once w's queue has drained to low (the last fn set wins). */
void worker_on_drain(struct worker *w, worker_fn fn, size_t low);

/* The relay's jobs on w: node is the job's own list node. */
void worker_job_link(struct worker *w, struct list *node);
void worker_job_unlink(struct worker *w, struct list *node);

#endif
