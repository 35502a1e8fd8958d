/*
 * A running foreground command's output: its stdout and stderr pipes, read on the event
 * loop and split into lines (core/linesplit.c), become events batched for the stream;
 * reading pauses while the client or the channel to the master is slow, and stops
 * when the client went away (the command runs on).
 */
#include "command/command.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/fdread.h"
#include "core/out.h"
#include "core/wjob.h"
#include "event.h"
#include "log.h"
#include "worker.h"

/* Reads per wake-up and pipe, so one chatty command cannot starve the others. */
#define READS_PER_WAKEUP 4
/* Events are handed to the master once this much is batched. */
#define BATCH_FLUSH (256 * 1024)

void cmd_output_close(struct pipe_src *p)
{
    evt_free(&p->ev);
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

void cmd_output_flush(struct command *c)
{
    if (c->job == 0 || c->detached)
        strbuf_reset(&c->batch);
    else
        out_events(c->job, &c->batch);
}

/* One line of p's output (a linesplit_emit_fn) as an event. */
static void output_line(void *arg, const char *text, size_t len)
{
    struct pipe_src *p = arg;
    struct command *c = p->cmd;
    if (c->detached)
        return;
    event_text_stamped(&c->batch, p->type, text, len, &p->stamp);
    if (c->batch.len >= BATCH_FLUSH)
        cmd_output_flush(c);
}

void cmd_output_finish(struct pipe_src *p)
{
    event_stamp_set(&p->stamp, clock_wall_ms());
    linesplit_finish(&p->ls, output_line, p);
}

bool cmd_output_allowed(const struct command *c)
{
    return c->detached || (!c->paused && !c->waiter.waiting);
}

void cmd_output_update(struct command *c)
{
    struct pipe_src *ps[2] = {&c->out, &c->err};
    bool on = cmd_output_allowed(c);
    for (int i = 0; i < 2; i++) {
        if (ps[i]->ev == NULL)
            continue;
        if (on)
            event_add(ps[i]->ev, NULL);
        else
            event_del(ps[i]->ev);
    }
    if (c->exited && (c->out.fd >= 0 || c->err.fd >= 0)) {
        if (!on && c->drain_ev != NULL) {
            event_del(c->drain_ev);
        } else if (on) {
            /* Time spent paused by a slow client does not count against the drain. */
            c->drain_started_ms = clock_mono_ms();
            cmd_schedule_drain(c);
        }
    }
}

void cmd_output_drained(void *arg)
{
    cmd_output_update(arg);
}

static void feed(void *arg, const char *data, size_t len)
{
    struct pipe_src *p = arg;
    /* One clock read and one rendered timestamp for all the lines of a read. */
    event_stamp_set(&p->stamp, clock_wall_ms());
    linesplit_feed(&p->ls, data, len, output_line, p);
}

/* Reads what is available; returns false once the pipe is closed. */
bool cmd_output_read(struct pipe_src *p, int max_reads)
{
    if (p->fd >= 0 && fdread_chunks(p->fd, max_reads, feed, p) == FDREAD_CLOSED) {
        if (errno != 0)
            log_warn("command %s: reading %s failed: %s", p->cmd->id, p->type, strerror(errno));
        cmd_output_close(p);
    }
    return p->fd >= 0;
}

static void on_pipe(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pipe_src *p = arg;
    struct command *c = p->cmd;

    cmd_output_read(p, READS_PER_WAKEUP);
    cmd_output_flush(c);
    if (!c->detached && out_congested()) {
        out_wait(&c->waiter);
        cmd_output_update(c);
    }
    if (c->exited) {
        if (c->out.fd < 0 && c->err.fd < 0)
            cmd_finish(c);
        else if (cmd_output_allowed(c))
            cmd_schedule_drain(c);
    }
}

void cmd_output_attach(struct command *c, struct pipe_src *p, int fd)
{
    p->fd = fd;
    linesplit_init(&p->ls, worker_settings()->max_line);
    p->ev = event_new(worker_base(), fd, EV_READ | EV_PERSIST, on_pipe, p);
    if (p->ev == NULL || event_add(p->ev, NULL) < 0)
        log_error("command %s: cannot watch %s", c->id, p->type);
}

/* ---- stream control from the master ----------------------------------- */

static void on_cancel(void *obj)
{
    struct command *c = obj;
    /* The Go daemon lets a foreground command run on when its client leaves. */
    c->detached = true;
    c->paused = false;
    out_cancel_wait(&c->waiter);
    strbuf_reset(&c->batch);
    cmd_output_update(c);
}

static void on_pause(void *obj)
{
    struct command *c = obj;
    c->paused = true;
    cmd_output_update(c);
}

static void on_resume(void *obj)
{
    struct command *c = obj;
    c->paused = false;
    cmd_output_update(c);
}

const struct wjob_ops cmd_stream_ops = {
    .cancel = on_cancel, .pause = on_pause, .resume = on_resume};
