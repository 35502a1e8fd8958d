/*
 * What an executor is to the worker: a struct of operations. Each executor (a folder:
 * command/, jupyter/, files/, sql/) defines one `const struct executor`, and executors.c lists
 * them in one table. main.c knows nothing else about them: it hands each job operation
 * to the executor that lists it, an interrupt to the executor owning its kind, and the
 * worker's control messages (signal, reaped, adopt, drain, shutdown) to every executor, and a
 * kept descriptor to the executor named as its owner.
 *
 * Per-job traffic after the start (cancel, pause, resume and IPC_DATA body frames) goes
 * to the object that registered the job with core/wjob.h, not through this table: the
 * job, not its executor, knows what to do with it.
 *
 * Only name and ops are required; any other member may be NULL.
 */
#ifndef EXECD_EXECUTOR_H
#define EXECD_EXECUTOR_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wsettings.h"

/* A job operation and what runs it: start a stream, or answer with one reply. */
struct executor_op {
    const char *name; /* "command.run", ... */
    void (*run)(uint32_t job, json_object *msg);
};

struct executor {
    const char *name;
    /* The job operations it handles; the last one has name NULL. */
    const struct executor_op *ops;
    /* The registry kind whose `interrupt {id, kind}` it handles, or NULL. */
    const char *interrupt_kind;

    /*
     * The worker is configured (s stays valid for the worker's life). adopt: take over
     * the slot's state left by a previous worker now. Returns 0, or -1 (logged) when the
     * worker cannot work.
     */
    int (*init)(const struct wsettings *s, bool adopt);
    /* interrupt {id, kind} of interrupt_kind; answered with one reply when done. */
    void (*interrupt)(uint32_t job, const char *id, json_object *msg);
    /* A signal the master forwards to running foreground work. */
    void (*signal)(int signo);
    /* The master reaped pid, an orphan re-parented to it. */
    void (*reaped)(pid_t pid, int status);
    /* The previous worker of this slot is gone (reload): take over its state. */
    void (*adopt)(void);
    /*
     * A descriptor this executor kept in the master (core/out.h out_keep) under key, handed
     * to this worker as it takes the slot over (after init with adopt, or adopt); fd is
     * taken. A key it already holds itself (kept by this very worker) is just closed.
     */
    void (*kept)(const char *key, int fd);
    /* Foreground work in progress: a draining worker waits until none is. */
    bool (*busy)(void);
    /* Processes not finished yet: a stopping worker waits (at most the grace) for them. */
    size_t (*running)(void);
    /* The worker stops: terminate everything, kill what is left after grace_ms. */
    void (*shutdown)(int64_t grace_ms);
    /* The loop is over: release everything (called in reverse table order). */
    void (*cleanup)(void);
};

/* The table, NULL-terminated, in the order executors are initialized. */
extern const struct executor *const executors[];

/* The job operation named op, or NULL. */
const struct executor_op *executor_op(const char *op);
/* The executor called name, or NULL. */
const struct executor *executor_named(const char *name);
/* The executor handling interrupts of kind, or NULL. */
const struct executor *executor_for_kind(const char *kind);

#endif
