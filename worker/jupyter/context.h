/*
 * Code contexts of this worker: each is one Jupyter kernel (kernel.h) with
 * an id the client sees, a language, an optional working directory and a
 * "default" mark (the language's stateless context). The warm pool's kernels
 * (pool.c) are contexts too, not handed out yet.
 *
 * State on disk, under the worker's state dir, so a worker that replaces
 * this one (crash, reload) adopts everything:
 *
 *   kernels/<id>/     the kernel's directory (see kernel.h)
 *   contexts/<id>.json  {"id","language","cwd","kernel_cwd","default"}: a
 *                     context handed out; a kernel directory without a
 *                     record is a pool kernel
 *
 * A context whose kernel died stays (state CONTEXT_DEAD): the next run
 * starts a new kernel for it. Contexts are known to the master through
 * "register" (kind "context", with language and default) once they are
 * handed out, and "unregister" when deleted.
 */
#ifndef EXECD_CONTEXT_H
#define EXECD_CONTEXT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "list.h"
#include "jupyter/kernel.h"
#include "strbuf.h"
#include "wsettings.h"

enum context_state {
    CONTEXT_STARTING, /* waiting for a kernelspec, launching or adopting */
    CONTEXT_READY,
    CONTEXT_DEAD,     /* no kernel: the next run starts one */
    CONTEXT_STOPPING, /* being deleted or shut down */
};

struct context;

/* err NULL: the context is ready; else why it cannot be used. */
typedef void (*context_fn)(struct context *c, void *arg, const char *err);

struct context_cb {
    context_fn fn;
    void *arg;
    struct list node;
};

struct context {
    char id[IDS_DASHED_LEN + 1];
    char *language;
    char *cwd;  /* as the client gave it, "" when none */
    char *kcwd; /* the kernel's working directory, NULL: the daemon's */
    char *dir;  /* kernels/<id> */
    bool dflt;
    bool pooled;     /* a warm kernel nobody has asked for yet */
    bool registered; /* handed out: the master routes its id here */
    enum context_state state;
    struct kernel *k; /* NULL while there is no kernel (or it is being shut down) */
    struct event *start_ev;
    /* Monotonic ms after which a missing kernelspec fails the start. */
    int64_t spec_deadline;
    struct list waiters; /* context_cb of context_when_ready, in order */
    struct list on_gone; /* context_cb of context_delete */

    void *exec;      /* the execution running on it (exec.c), NULL when idle */
    bool maybe_busy; /* adopted: may still run a cell of the previous worker */
};

/* Sets up the directories; adopt: take over a previous worker's kernels now. Returns 0 or -1. */
int context_init(const struct wsettings *s, bool adopt);
/* Adopts the kernels of the previous worker of this slot (once). */
void context_adopt(void);
/* Whether adoption happened (ids unknown before it may still arrive). */
bool context_adopted(void);

/* A handed-out context by id, or NULL. */
struct context *context_get(const char *id);
/* The default context of language (in any state but stopping), or NULL. */
struct context *context_default(const char *language);
/*
 * A new context of language: a warm kernel when cwd is empty and the pool
 * has one, else a kernel launched for it (kernelspec lookup included). NULL
 * with a reason in err only for a bad cwd; later failures reach the waiters
 * of context_when_ready, after which an unregistered context is gone.
 */
struct context *context_create(const char *language, const char *cwd, bool dflt,
                               struct strbuf *err);
/*
 * Calls fn(c, arg, NULL) once c is ready (at once when it is), or with the
 * reason it cannot be; a dead context gets a new kernel first.
 */
void context_when_ready(struct context *c, context_fn fn, void *arg);
/*
 * Deletes c: it is unregistered at once, pending waiters fail, a running
 * cell ends (KERNEL_ENAME_SHUTDOWN), the kernel gets shutdown_request and is
 * killed after the grace. fn(c, arg, NULL) runs when it is gone.
 */
void context_delete(struct context *c, context_fn fn, void *arg);
/* Handed-out contexts, in no particular order. The callback may delete its context. */
void context_each(void (*fn)(struct context *c, void *arg), void *arg);

/* For the warm pool (pool.c). */

/* Every context, pool kernels included, as an array to free(): callers may change the store. */
struct context **context_snapshot(size_t *n);
/* Starts a pool kernel of language. */
void context_start_pooled(const char *language);
/* Stops a pool kernel nobody took (the pool shrank). */
void context_stop_pooled(struct context *c);

/* Worker shutdown: every kernel, pool included, is shut down (grace, then SIGKILL). */
void context_shutdown(int64_t grace_ms);
/* Kernels still shutting down. */
size_t context_stopping(void);
/*
 * Worker exit: handles are released. Kernels keep running for the next
 * worker, except after context_shutdown, when stragglers are killed.
 */
void context_cleanup(void);

#endif
