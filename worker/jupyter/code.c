/*
 * The jupyter executor: POST /code on a kernel language (an execution, exec.c), the
 * /code/context(s) operations and the interrupt of a context. Jobs naming a context
 * that a worker replacing another has not adopted yet wait for the adoption. See
 * docs/architecture.md for the IPC operations.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "core/deferq.h"
#include "core/out.h"
#include "executor.h"
#include "jsonreq.h"
#include "jupyter/context.h"
#include "jupyter/exec.h"
#include "jupyter/kspec.h"
#include "worker.h"
#include "xalloc.h"

/* DELETE /code/contexts?language=: answered when every matching context is gone. */
struct bulk {
    uint32_t job;
    int pending;
};

static struct {
    struct deferq deferred; /* jobs naming a context not adopted yet */
    int pending;            /* create/delete answers outstanding */
} code = {.deferred = DEFERQ_INIT(code.deferred)};

/*
 * Language bash without a bash kernelspec: bash code contexts are session shells, served by
 * the session executor's op, so the code-interpreter SDKs' bash contexts work without a
 * Jupyter bash kernel. An installed bash kernelspec wins. Returns true when handed over.
 */
static bool to_sessions(uint32_t job, json_object *msg, const char *language, const char *op)
{
    if (strcmp(language, "bash") != 0)
        return false;
    struct strbuf err = STRBUF_INIT;
    struct kspec *spec = kspec_find(language, &err);
    strbuf_free(&err);
    const struct executor_op *o = spec == NULL ? executor_op(op) : NULL;
    kspec_free(spec);
    if (o == NULL)
        return false;
    o->run(job, msg);
    return true;
}

/* ---- POST /code ------------------------------------------------------------------------ */

/*
 * The context named by msg's id. NULL when this worker does not have it:
 * the job was deferred (*deferred) when adoption is still to come, else the
 * caller answers "not found" and the id, stale in the master's registry, is
 * unregistered.
 */
static struct context *find(uint32_t job, json_object *msg,
                            void (*again)(uint32_t job, json_object *msg), const char **id,
                            bool *deferred)
{
    *id = "";
    *deferred = false;
    jsonreq_string(msg, "id", id);
    struct context *c = context_get(*id);
    if (c != NULL)
        return c;
    if (!context_adopted()) {
        deferq_add(&code.deferred, job, again, msg);
        *deferred = true;
        return NULL;
    }
    if ((*id)[0] != '\0')
        out_unregister(*id);
    return NULL;
}

static void run(uint32_t job, json_object *msg)
{
    const char *src = "", *id = NULL, *language = "";
    jsonreq_string(msg, "code", &src);
    jsonreq_string(msg, "language", &language);
    struct context *c;
    if (jsonreq_string(msg, "id", &id) == JSONREQ_OK && id[0] != '\0') {
        bool deferred;
        c = find(job, msg, run, &id, &deferred);
        if (c == NULL) {
            if (!deferred)
                out_reply_error(job, 500, "RUNTIME_ERROR", "error running codes context not found");
            return;
        }
    } else {
        c = context_default(language);
        if (c == NULL && to_sessions(job, msg, language, "session.code.run"))
            return;
        if (c == NULL) {
            struct strbuf err = STRBUF_INIT;
            c = context_create(language, "", true, &err);
            if (c == NULL) {
                out_reply_error(job, 500, "RUNTIME_ERROR", "error running codes %s", err.data);
                strbuf_free(&err);
                return;
            }
            strbuf_free(&err);
        }
    }
    context_when_ready(c, exec_on_ready, exec_new(job, src));
}

/* ---- contexts ------------------------------------------------------------------------------ */

static void on_created(struct context *c, void *arg, const char *err)
{
    uint32_t job = (uint32_t)(uintptr_t)arg;
    code.pending--;
    if (err != NULL) {
        out_reply_error(job, 500, "RUNTIME_ERROR", "error creating code context. %s", err);
    } else {
        json_object *o = xjson_object();
        json_object_object_add(o, "id", xjson_string(c->id));
        json_object_object_add(o, "language", xjson_string(c->language));
        if (c->cwd[0] != '\0')
            json_object_object_add(o, "cwd", xjson_string(c->cwd));
        out_reply_json(job, 200, o);
    }
    worker_changed();
}

static void create(uint32_t job, json_object *msg)
{
    const char *language = "", *cwd = "";
    jsonreq_string(msg, "language", &language);
    jsonreq_string(msg, "cwd", &cwd);
    if (to_sessions(job, msg, language, "session.context.create"))
        return;
    struct strbuf err = STRBUF_INIT;
    struct context *c = context_create(language, cwd, false, &err);
    if (c == NULL) {
        out_reply_error(job, 500, "RUNTIME_ERROR", "error creating code context. %s", err.data);
        strbuf_free(&err);
        return;
    }
    strbuf_free(&err);
    code.pending++;
    context_when_ready(c, on_created, (void *)(uintptr_t)job);
}

static void on_deleted(struct context *c EXECD_UNUSED, void *arg, const char *err EXECD_UNUSED)
{
    code.pending--;
    out_reply_empty((uint32_t)(uintptr_t)arg, 200);
    worker_changed();
}

static void delete_one(uint32_t job, json_object *msg)
{
    const char *id;
    bool deferred;
    struct context *c = find(job, msg, delete_one, &id, &deferred);
    if (c == NULL) {
        if (!deferred)
            out_reply_error(job, 404, "CONTEXT_NOT_FOUND", "context %s not found", id);
        return;
    }
    code.pending++;
    context_delete(c, on_deleted, (void *)(uintptr_t)job);
}

static void bulk_step(struct bulk *b)
{
    if (--b->pending > 0)
        return;
    out_reply_empty(b->job, 200);
    code.pending--;
    free(b);
    worker_changed();
}

static void on_bulk_deleted(struct context *c EXECD_UNUSED, void *arg, const char *err EXECD_UNUSED)
{
    bulk_step(arg);
}

struct bulk_match {
    const char *language;
    struct bulk *b;
};

static void bulk_one(struct context *c, void *arg)
{
    struct bulk_match *m = arg;
    if (strcmp(c->language, m->language) != 0)
        return;
    m->b->pending++;
    context_delete(c, on_bulk_deleted, m->b);
}

static void delete_language(uint32_t job, json_object *msg)
{
    struct bulk *b = xmalloc(sizeof(*b));
    b->job = job;
    b->pending = 1; /* held until every deletion has started, as some finish at once */
    code.pending++;
    struct bulk_match m = {"", b};
    jsonreq_string(msg, "language", &m.language);
    context_each(bulk_one, &m);
    bulk_step(b);
}

/* ---- interrupt ------------------------------------------------------------------------------- */

static void interrupt(uint32_t job, json_object *msg)
{
    const char *id;
    bool deferred;
    struct context *c = find(job, msg, interrupt, &id, &deferred);
    if (c == NULL) {
        if (!deferred)
            out_reply_error(job, 500, "RUNTIME_ERROR",
                            "error interruptting code context. no such session");
        return;
    }
    struct strbuf err = STRBUF_INIT;
    /* Idle kernels are left alone: SIGINT would hit the background processes of its group. */
    bool running = c->exec != NULL || c->maybe_busy;
    if (running && c->k != NULL && c->state == CONTEXT_READY && kernel_interrupt(c->k, &err) < 0)
        out_reply_error(job, 500, "RUNTIME_ERROR", "error interruptting code context. %s",
                        err.data);
    else
        out_reply_empty(job, 200);
    strbuf_free(&err);
}

/* ---- the executor ------------------------------------------------------------------- */

static void code_interrupt(uint32_t job, const char *id EXECD_UNUSED, json_object *msg)
{
    interrupt(job, msg);
}

/* Adoption is done: replays the jobs that named contexts not adopted yet. */
static void code_adopt(void)
{
    context_adopt();
    deferq_replay(&code.deferred);
}

/* Streams or answers in progress (a draining worker waits for them). */
static bool code_busy(void)
{
    return code.pending > 0 || !deferq_empty(&code.deferred) || exec_busy();
}

static void code_cleanup(void)
{
    exec_cleanup();
    deferq_clear(&code.deferred);
    context_cleanup();
    kernel_cleanup();
}

static const struct executor_op ops[] = {
    {"code.run", run},
    {"code.context.create", create},
    {"code.context.delete", delete_one},
    {"code.contexts.delete", delete_language},
    {NULL, NULL},
};

const struct executor jupyter_executor = {
    .name = "jupyter",
    .ops = ops,
    .interrupt_kind = "context",
    .init = context_init,
    .interrupt = code_interrupt,
    .adopt = code_adopt,
    .busy = code_busy,
    .running = context_stopping,
    .shutdown = context_shutdown,
    .cleanup = code_cleanup,
};
