/*
 * Code interpreting jobs of a worker: POST /code on a kernel language, the
 * /code/context(s) operations and the interrupt of a context. An execution
 * turns the kernel's callbacks into the contract's events (init, stdout,
 * stderr, execution_count, result, status + error, execution_complete) and
 * relays them through a spool (spool.c), so a slow client costs disk rather
 * than memory; output beyond the configured limit is dropped after an
 * explicit marker. See docs/architecture.md for the IPC operations.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/out.h"
#include "core/spool.h"
#include "core/wjob.h"
#include "event.h"
#include "executor.h"
#include "jsonreq.h"
#include "jupyter/context.h"
#include "jupyter/kernel_mime.h"
#include "list.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

/* Events are handed on once this much is batched (else at the end of the loop iteration). */
#define BATCH_FLUSH (256 * 1024)
/* Spooled events are sent in pieces of about this size. */
#define POP_CHUNK (256 * 1024)
/* Output parked while the client reads slowly stays in memory up to this, then goes to disk. */
#define SPOOL_MEM (1024 * 1024)

struct exec {
    uint32_t job;
    struct context *ctx; /* while the cell runs */
    char *code;
    bool finished; /* the terminal event is queued */
    bool detached; /* the client went away: output is dropped */
    bool paused;   /* the client reads slowly */
    struct strbuf batch;
    struct spool spool;
    struct out_waiter waiter;
    struct event *flush_ev;
    uint64_t produced; /* output bytes, against the limit */
    bool truncated;    /* over the limit (or output lost): output is dropped */
    struct list node;  /* in code.execs */
};

/* A job that arrived before adoption and names a context not adopted yet. */
struct deferred {
    uint32_t job;
    void (*fn)(uint32_t job, json_object *msg);
    json_object *msg;
    struct list node; /* in code.deferred, in arrival order */
};

/* DELETE /code/contexts?language=: answered when every matching context is gone. */
struct bulk {
    uint32_t job;
    int pending;
};

static struct {
    struct list execs;
    struct list deferred;
    int pending; /* create/delete answers outstanding */
} code = {.execs = LIST_INIT(code.execs), .deferred = LIST_INIT(code.deferred)};

static void pump(struct exec *e);

/* ---- executions ----------------------------------------------------------------- */

static void on_flush(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    pump(arg);
}

static void on_out_drained(void *arg)
{
    pump(arg);
}

static struct exec *exec_new(uint32_t job, const char *src)
{
    struct exec *e = xcalloc(1, sizeof(*e));
    e->job = job;
    e->code = xstrdup(src);
    strbuf_init(&e->batch);
    spool_init(&e->spool, worker_state_dir(), SPOOL_MEM);
    e->waiter.fn = on_out_drained;
    e->waiter.arg = e;
    e->flush_ev = event_new(worker_base(), -1, 0, on_flush, e);
    if (e->flush_ev == NULL)
        log_error("job %u: cannot create the flush event", job);
    list_add_head(&code.execs, &e->node);
    return e;
}

static void exec_free(struct exec *e)
{
    list_del(&e->node);
    evt_free(&e->flush_ev);
    out_cancel_wait(&e->waiter);
    spool_free(&e->spool);
    strbuf_free(&e->batch);
    free(e->code);
    free(e);
}

/* The stream is over: the master ends the response. */
static void exec_end(struct exec *e)
{
    out_end(e->job);
    wjob_remove(e->job);
    exec_free(e);
    worker_changed();
}

/* Answers before the stream started (or right after init): a JSON error or an error event. */
static void exec_reject(struct exec *e, const char *why)
{
    out_reply_error(e->job, 500, "RUNTIME_ERROR", "error running codes %s", why);
    wjob_remove(e->job);
    exec_free(e);
    worker_changed();
}

/*
 * Moves batched events on: straight to the master when nothing is parked
 * and it can take them, else into the spool; then empties the spool as far
 * as the client and the channel allow. Ends the stream once the terminal
 * event is out.
 */
static void pump(struct exec *e)
{
    struct strbuf err = STRBUF_INIT;
    if (e->detached) {
        strbuf_reset(&e->batch);
        spool_clear(&e->spool);
    } else if (e->batch.len > 0) {
        if (spool_empty(&e->spool) && !e->paused && !out_congested()) {
            out_events(e->job, &e->batch);
        } else if (spool_push(&e->spool, e->batch.data, e->batch.len, &err) < 0) {
            /* Never silently: the client gets a marker now (ahead of what is parked), and
             * the rest of this execution's output is dropped. */
            log_error("job %u: %zu bytes of output lost: %s", e->job, e->batch.len, err.data);
            strbuf_reset(&e->batch);
            struct strbuf msg = STRBUF_INIT;
            strbuf_printf(&msg, "\n[execd] output lost: it could not be buffered (%s)\n", err.data);
            event_text(&e->batch, "stderr", msg.data, msg.len, clock_wall_ms());
            out_events(e->job, &e->batch);
            strbuf_free(&msg);
            e->truncated = true;
        } else {
            strbuf_reset(&e->batch);
        }
    }
    struct strbuf piece = STRBUF_INIT;
    while (!e->detached && !e->paused && !spool_empty(&e->spool)) {
        if (out_congested()) {
            out_wait(&e->waiter);
            break;
        }
        strbuf_reset(&err);
        if (spool_pop(&e->spool, &piece, POP_CHUNK, &err) < 0) {
            log_error("job %u: spooled output lost: %s", e->job, err.data);
            spool_clear(&e->spool);
            break;
        }
        out_events(e->job, &piece);
    }
    strbuf_free(&piece);
    strbuf_free(&err);
    if (e->finished && e->batch.len == 0 && spool_empty(&e->spool))
        exec_end(e);
}

/* New events were batched: hand them on now if there are many, else at the loop turn's end. */
static void queued(struct exec *e)
{
    if (e->batch.len >= BATCH_FLUSH || e->flush_ev == NULL)
        pump(e);
    else
        event_active(e->flush_ev, EV_TIMEOUT, 0);
}

/*
 * Charges len output bytes to e. Returns how many of them may be emitted:
 * all while under the limit; then, for splittable text, what fits (cut on
 * a UTF-8 boundary), and nothing after that. Adds the marker once.
 */
static size_t admit(struct exec *e, const char *text, size_t len, bool splittable)
{
    uint64_t limit = worker_settings()->code_output_limit;
    if (e->truncated)
        return 0;
    if (limit == 0)
        return len;
    if (e->produced + len <= limit) {
        e->produced += len;
        return len;
    }
    size_t keep = splittable ? (size_t)(limit - e->produced) : 0;
    while (keep > 0 && ((unsigned char)text[keep] & 0xC0) == 0x80)
        keep--;
    e->produced = limit;
    e->truncated = true;
    return keep;
}

static void truncation_marker(struct exec *e)
{
    struct strbuf msg = STRBUF_INIT;
    strbuf_printf(&msg,
                  "\n[execd] output truncated: this execution produced more than %llu bytes "
                  "of output (code-output-limit); the rest is dropped\n",
                  (unsigned long long)worker_settings()->code_output_limit);
    event_text(&e->batch, "stderr", msg.data, msg.len, clock_wall_ms());
    strbuf_free(&msg);
    log_warn("job %u: output truncated at %llu bytes", e->job,
             (unsigned long long)worker_settings()->code_output_limit);
}

static void x_stream(void *arg, const char *name, const char *text, size_t len)
{
    struct exec *e = arg;
    if (len == 0 || e->detached)
        return;
    bool was_truncated = e->truncated;
    size_t keep = admit(e, text, len, true);
    const char *type = strcmp(name, "stderr") == 0 ? "stderr" : "stdout";
    /* ipykernel sends what accumulated in 0.2 s, megabytes from a print loop: events
     * stay within max_line (cut on UTF-8 boundaries) so no single one is huge. */
    size_t max = worker_settings()->max_line > 0 ? (size_t)worker_settings()->max_line : keep;
    for (size_t off = 0; off < keep;) {
        size_t n = keep - off;
        if (n > max) {
            n = max;
            while (n > 0 && ((unsigned char)text[off + n] & 0xC0) == 0x80)
                n--;
            if (n == 0)
                n = max;
        }
        event_text(&e->batch, type, text + off, n, clock_wall_ms());
        off += n;
        if (e->batch.len >= BATCH_FLUSH)
            pump(e);
    }
    if (e->truncated && !was_truncated)
        truncation_marker(e);
    queued(e);
}

static void emit_bundle(struct exec *e, json_object *data)
{
    struct strbuf bundle = STRBUF_INIT;
    kernel_mime_render(data, &bundle);
    bool was_truncated = e->truncated;
    if (admit(e, bundle.data, bundle.len, false) > 0)
        event_result(&e->batch, bundle.data, clock_wall_ms());
    if (e->truncated && !was_truncated)
        truncation_marker(e);
    strbuf_free(&bundle);
    queued(e);
}

static void x_result(void *arg, int64_t count, json_object *data)
{
    struct exec *e = arg;
    if (e->detached)
        return;
    if (count > 0)
        event_count(&e->batch, count, clock_wall_ms());
    emit_bundle(e, data);
}

static void x_display(void *arg, json_object *data, bool update EXECD_UNUSED)
{
    struct exec *e = arg;
    if (!e->detached)
        emit_bundle(e, data);
}

static void x_error(void *arg, const char *ename, const char *evalue, const char *const *tb,
                    size_t ntb)
{
    struct exec *e = arg;
    if (e->detached)
        return;
    int64_t now = clock_wall_ms();
    event_text(&e->batch, "status", "error", 5, now);
    event_error(&e->batch, ename, evalue, tb, ntb, now);
    queued(e);
}

/* The cell is over: the context takes the next run while the stream drains. */
static void finished(struct exec *e)
{
    e->finished = true;
    if (e->ctx != NULL) {
        e->ctx->exec = NULL;
        e->ctx->maybe_busy = false; /* cells run in order: whatever ran before is over */
        e->ctx = NULL;
    }
    pump(e);
}

static void x_done(void *arg, int64_t count EXECD_UNUSED, int64_t elapsed_ms)
{
    struct exec *e = arg;
    if (!e->detached)
        event_complete(&e->batch, elapsed_ms, clock_wall_ms());
    finished(e);
}

static void x_fail(void *arg, const char *ename, const char *evalue)
{
    struct exec *e = arg;
    if (!e->detached)
        event_error(&e->batch, ename, evalue, NULL, 0, clock_wall_ms());
    finished(e);
}

static const struct kernel_exec_cbs exec_cbs = {x_stream, x_result, x_display,
                                                x_error,  x_done,   x_fail};

/* ---- stream control from the master ------------------------------------------------ */

static void on_cancel(void *obj)
{
    struct exec *e = obj;
    /* As the Go daemon: the cell runs on (the context stays busy until it ends). */
    e->detached = true;
    e->paused = false;
    out_cancel_wait(&e->waiter);
    pump(e);
}

static void on_pause(void *obj)
{
    struct exec *e = obj;
    e->paused = true;
}

static void on_resume(void *obj)
{
    struct exec *e = obj;
    e->paused = false;
    pump(e);
}

static const struct wjob_ops exec_ops = {
    .cancel = on_cancel, .pause = on_pause, .resume = on_resume};

/* ---- POST /code ------------------------------------------------------------------------ */

static void send_init(struct exec *e, const char *id)
{
    struct strbuf init = STRBUF_INIT;
    event_text(&init, "init", id, strlen(id), clock_wall_ms());
    out_events(e->job, &init);
    strbuf_free(&init);
}

static void on_context_ready(struct context *c, void *arg, const char *err)
{
    struct exec *e = arg;
    if (err != NULL) {
        exec_reject(e, err);
        return;
    }
    if (c->exec != NULL) {
        /* One execution per context: rejected, not queued (as the Go daemon). */
        send_init(e, c->id);
        exec_reject(e, "session is busy");
        return;
    }
    struct strbuf why = STRBUF_INIT;
    send_init(e, c->id);
    if (kernel_execute(c->k, e->code, &exec_cbs, e, &why) < 0) {
        exec_reject(e, why.data);
        strbuf_free(&why);
        return;
    }
    strbuf_free(&why);
    c->exec = e;
    e->ctx = c;
}

static void defer(uint32_t job, void (*fn)(uint32_t job, json_object *msg), json_object *msg)
{
    struct deferred *d = xmalloc(sizeof(*d));
    d->job = job;
    d->fn = fn;
    d->msg = json_object_get(msg);
    list_add_tail(&code.deferred, &d->node);
}

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
        defer(job, again, msg);
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
    struct exec *e = exec_new(job, src);
    wjob_add(job, &exec_ops, e);
    context_when_ready(c, on_context_ready, e);
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
    struct list todo = LIST_INIT(todo);
    list_splice_tail(&todo, &code.deferred);
    list_each_safe(&todo, it, nx)
    {
        struct deferred *d = list_entry(it, struct deferred, node);
        list_del(it);
        d->fn(d->job, d->msg);
        json_object_put(d->msg);
        free(d);
    }
}

/* Streams or answers in progress (a draining worker waits for them). */
static bool code_busy(void)
{
    if (code.pending > 0 || !list_empty(&code.deferred))
        return true;
    list_each_safe(&code.execs, it, nx)
    {
        if (!list_entry(it, struct exec, node)->detached)
            return true;
    }
    return false;
}

static void code_cleanup(void)
{
    list_each_safe(&code.execs, it, nx) exec_free(list_entry(it, struct exec, node));
    list_each_safe(&code.deferred, it, nx)
    {
        struct deferred *d = list_entry(it, struct deferred, node);
        list_del(it);
        json_object_put(d->msg);
        free(d);
    }
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
