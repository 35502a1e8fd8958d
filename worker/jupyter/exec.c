/*
 * One execution of code on a kernel (POST /code), as a stream: the kernel's callbacks
 * become the contract's events (init, stdout, stderr, execution_count, result, status +
 * error, execution_complete), relayed through a spool (core/spool.c), so a slow client
 * costs disk rather than memory; output beyond the configured limit is dropped after an
 * explicit marker.
 */
#include "jupyter/exec.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/out.h"
#include "core/spool.h"
#include "core/wjob.h"
#include "event.h"
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
    struct list node;  /* in execs */
};

static struct list execs = LIST_HEAD_INIT(execs);

static void pump(struct exec *e);

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

/* ---- executions ----------------------------------------------------------------- */

static void on_flush(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    pump(arg);
}

static void on_out_drained(void *arg)
{
    pump(arg);
}

struct exec *exec_new(uint32_t job, const char *src)
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
    list_add_head(&execs, &e->node);
    wjob_add(job, &exec_ops, e);
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

/* ---- starting ---------------------------------------------------------------------- */

static void send_init(struct exec *e, const char *id)
{
    struct strbuf init = STRBUF_INIT;
    event_text(&init, "init", id, strlen(id), clock_wall_ms());
    out_events(e->job, &init);
    strbuf_free(&init);
}

void exec_on_ready(struct context *c, void *arg, const char *err)
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

bool exec_busy(void)
{
    list_each_safe(&execs, it, nx)
    {
        if (!list_entry(it, struct exec, node)->detached)
            return true;
    }
    return false;
}

void exec_cleanup(void)
{
    list_each_safe(&execs, it, nx) exec_free(list_entry(it, struct exec, node));
}
