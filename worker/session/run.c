/*
 * Runs of a session, one at a time in arrival order: a run gets `init` at once, waits
 * for the runs before it, then its command goes to the shell. Output lines become
 * `stdout` events (stderr is merged); the shell's status line ends the run with the
 * contract's terminal event, and so does the shell's exit (exit, exec, killed) or the
 * run's timeout (the shell's whole process group is killed).
 */
#include "session/session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/spawn.h"
#include "event.h"
#include "fsutil.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

/* Events are handed to the master once this much is batched. */
#define BATCH_FLUSH (256 * 1024)
/* A run without a timeout is killed after a day, as in the Go daemon. */
#define DEFAULT_TIMEOUT_MS (24LL * 3600 * 1000)

struct run *run_current(const struct session *s)
{
    struct run *r = list_first(&s->runs, struct run, node);
    return r != NULL && r->started ? r : NULL;
}

bool run_output_allowed(const struct session *s)
{
    const struct run *r = run_current(s);
    return r == NULL || r->job == 0 || (!r->paused && !r->waiter.waiting);
}

void run_free(struct run *r)
{
    evt_free(&r->timeout_ev);
    out_cancel_wait(&r->waiter);
    linesplit_free(&r->ls);
    strbuf_free(&r->batch);
    free(r->command);
    free(r->cwd);
    free(r);
}

/* Tokens tell runs apart on the status fifo, also from a previous worker's. */
static void new_token(char tok[static 24])
{
    static uint64_t next;
    if (next == 0 && getrandom(&next, sizeof(next), 0) != sizeof(next))
        next = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
    snprintf(tok, 24, "%016" PRIx64, next++);
}

static void flush(struct run *r)
{
    if (r->job == 0)
        strbuf_reset(&r->batch);
    else
        out_events(r->job, &r->batch);
}

static void emit_line(void *arg, const char *text, size_t len)
{
    struct run *r = arg;
    if (r->job == 0)
        return;
    event_text(&r->batch, "stdout", text, len, clock_wall_ms());
    if (r->batch.len >= BATCH_FLUSH)
        flush(r);
}

void run_output(struct session *s, const char *data, size_t len)
{
    struct run *r = run_current(s);
    if (r != NULL)
        linesplit_feed(&r->ls, data, len, emit_line, r);
}

void run_output_done(struct session *s)
{
    struct run *r = run_current(s);
    if (r == NULL)
        return;
    flush(r);
    if (r->job != 0 && out_congested()) {
        out_wait(&r->waiter);
        shell_watch_output(s, false);
    }
}

static void on_drained(void *arg)
{
    struct run *r = arg;
    shell_watch_output(r->s, run_output_allowed(r->s));
}

/* ---- the end of a run -------------------------------------------------------------- */

/* Takes r out of its session: the next run may start (run_next). */
static void detach(struct run *r)
{
    list_del(&r->node);
    if (r->job != 0)
        wjob_remove(r->job);
    shell_watch_output(r->s, run_output_allowed(r->s));
    worker_changed();
}

/* Ends r with an error event (a RUNTIME_ERROR reply after `init`). */
static void end_error(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void end_error(struct run *r, const char *fmt, ...)
{
    if (r->job != 0) {
        struct strbuf msg = STRBUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        strbuf_vprintf(&msg, fmt, ap);
        va_end(ap);
        linesplit_finish(&r->ls, emit_line, r);
        flush(r);
        out_reply_error(r->job, 500, "RUNTIME_ERROR", "%s", msg.data);
        strbuf_free(&msg);
    }
    detach(r);
    run_free(r);
}

/* Ends r with its exit status: execution_complete for 0, else CommandExecError. */
static void end_status(struct run *r, int status)
{
    if (r->job != 0) {
        linesplit_finish(&r->ls, emit_line, r);
        int64_t now = clock_wall_ms();
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            event_complete(&r->batch, clock_mono_ms() - r->start_ms, now);
        } else {
            struct strbuf how = STRBUF_INIT;
            spawn_describe_status(status, &how);
            char code[16];
            snprintf(code, sizeof(code), "%d", spawn_exit_code(status));
            const char *tb[1] = {how.data};
            event_error(&r->batch, "CommandExecError", code, tb, 1, now);
            strbuf_free(&how);
        }
        flush(r);
        out_end(r->job);
    }
    detach(r);
    run_free(r);
}

/* Go's time.Duration text of whole milliseconds ("5s", "1.5s", "100ms", "1m30s"). */
static void go_duration(int64_t ms, struct strbuf *out)
{
    if (ms < 1000) {
        strbuf_printf(out, "%" PRId64 "ms", ms);
        return;
    }
    if (ms >= 3600 * 1000)
        strbuf_printf(out, "%" PRId64 "h", ms / (3600 * 1000));
    if (ms >= 60 * 1000)
        strbuf_printf(out, "%" PRId64 "m", ms / (60 * 1000) % 60);
    int64_t frac = ms % 1000;
    strbuf_printf(out, "%" PRId64, ms / 1000 % 60);
    if (frac != 0) {
        char f[8];
        snprintf(f, sizeof(f), "%03" PRId64, frac);
        for (size_t n = strlen(f); n > 0 && f[n - 1] == '0'; n--)
            f[n - 1] = '\0';
        strbuf_printf(out, ".%s", f);
    }
    strbuf_append_char(out, 's');
}

/* The timeout's error text, with Go's duration ("timeout after 5s"). */
static void end_timeout(struct run *r)
{
    struct strbuf d = STRBUF_INIT;
    go_duration(r->timeout_ms, &d);
    end_error(r, "error running in session. timeout after %s", d.data);
    strbuf_free(&d);
}

void run_shell_exited(struct session *s)
{
    struct run *r = run_current(s);
    if (r == NULL)
        return;
    if (r->timed_out) {
        end_timeout(r);
    } else {
        end_status(r, s->sh.status);
    }
}

void run_fail_queued(struct session *s, const char *why)
{
    list_each_safe(&s->runs, it, nx)
    {
        struct run *r = list_entry(it, struct run, node);
        if (!r->started)
            end_error(r, "error running in session. %s", why);
    }
}

/* "<tok> <code>": the current run's command is done. "<tok> saved <k>": snap.k is complete. */
void run_status_line(struct session *s, const char *line)
{
    const char *sp = strchr(line, ' ');
    if (sp == NULL) {
        log_warn("session %s: unexpected status line from the shell: %s", s->id, line);
        return;
    }
    int k;
    if (sscanf(sp + 1, "saved %d", &k) == 1) {
        struct strbuf from = STRBUF_INIT, to = STRBUF_INIT;
        strbuf_printf(&from, "%s/snap.%d", s->dir, k);
        strbuf_printf(&to, "%s/snap", s->dir);
        if (rename(from.data, to.data) < 0 && errno != ENOENT)
            log_warn("session %s: rename %s: %s", s->id, from.data, strerror(errno));
        strbuf_free(&from);
        strbuf_free(&to);
        return;
    }
    struct run *r = run_current(s);
    char *end;
    long code = strtol(sp + 1, &end, 10);
    if (r == NULL || (size_t)(sp - line) != strlen(r->tok) ||
        strncmp(line, r->tok, strlen(r->tok)) != 0 || *end != '\0')
        return; /* a run of a previous worker, or one that already ended */
    shell_read_output(s, SESSION_READS_AT_END);
    end_status(r, W_EXITCODE((int)(code & 0xff), 0));
}

/* ---- starting ------------------------------------------------------------------------ */

/* The timeout counts from the run's arrival: a run still queued just ends. */
static void on_timeout(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct run *r = arg;
    if (!r->started) {
        log_info("session %s: a queued run timed out after %" PRId64 " ms", r->s->id,
                 r->timeout_ms);
        end_timeout(r);
        return;
    }
    log_info("session %s: run timed out after %" PRId64 " ms; killing the shell's group %d",
             r->s->id, r->timeout_ms, (int)r->s->sh.pid);
    r->timed_out = true;
    shell_kill(r->s, SIGKILL);
}

/* The cmd file: the run's working directory, NUL, its command. Returns 0, or -1 with err. */
static int write_command(struct run *r, struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/cmd", r->s->dir);
    int fd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -1 : fsutil_write_all(fd, r->cwd, strlen(r->cwd) + 1);
    if (rc == 0)
        rc = fsutil_write_all(fd, r->command, strlen(r->command));
    if (fd >= 0 && close(fd) < 0)
        rc = -1;
    if (rc < 0)
        strbuf_printf(err, "write %s: %s", path.data, strerror(errno));
    strbuf_free(&path);
    return rc;
}

/* Hands r to the shell. Returns 0, or -1 with err. */
static int start(struct run *r, struct strbuf *err)
{
    struct session *s = r->s;
    if (!shell_alive(s) && shell_start(s, err) < 0)
        return -1;
    if (write_command(r, err) < 0)
        return -1;
    char line[32];
    int n = snprintf(line, sizeof(line), "%s\n", r->tok);
    if (write(s->sh.ctl, line, (size_t)n) != n) {
        strbuf_printf(err, "cannot write to the shell: %s", strerror(errno));
        return -1;
    }
    r->started = true;
    r->start_ms = clock_mono_ms();
    shell_watch_output(s, run_output_allowed(s));
    return 0;
}

void run_next(struct session *s)
{
    struct run *r;
    while (!s->deleting && (r = list_first(&s->runs, struct run, node)) != NULL && !r->started) {
        struct strbuf err = STRBUF_INIT;
        int rc = start(r, &err);
        if (rc < 0) {
            log_error("session %s: %s", s->id, err.data);
            end_error(r, "error running in session. %s", err.data);
        }
        strbuf_free(&err);
        if (rc == 0)
            return;
    }
}

void run_new(struct session *s, uint32_t job, const char *command, const char *cwd,
             int64_t timeout_ms)
{
    struct run *r = xcalloc(1, sizeof(*r));
    r->s = s;
    r->job = job;
    new_token(r->tok);
    r->command = xstrdup(command);
    r->cwd = xstrdup(cwd != NULL ? cwd : "");
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
    linesplit_init_session(&r->ls, worker_settings()->max_line);
    strbuf_init(&r->batch);
    r->waiter.fn = on_drained;
    r->waiter.arg = r;
    list_add_tail(&s->runs, &r->node);
    r->timeout_ev = evtimer_new(worker_base(), on_timeout, r);
    evt_arm_ms(r->timeout_ev, r->timeout_ms);
    if (job != 0) {
        wjob_add(job, &run_stream_ops, r);
        event_text(&r->batch, "init", s->id, strlen(s->id), clock_wall_ms());
        out_events(job, &r->batch);
    }
    run_next(s);
}

/* ---- stream control from the master ----------------------------------------------- */

static void on_cancel(void *obj)
{
    struct run *r = obj;
    wjob_remove(r->job);
    r->job = 0;
    out_cancel_wait(&r->waiter);
    strbuf_reset(&r->batch);
    if (!r->started) {
        list_del(&r->node);
        run_free(r);
        worker_changed();
        return;
    }
    /* As the Go daemon, a session's run dies with its client; a code context's cell runs on. */
    if (r->s->language == NULL)
        shell_kill(r->s, SIGKILL);
    shell_watch_output(r->s, run_output_allowed(r->s));
}

static void on_pause(void *obj)
{
    struct run *r = obj;
    r->paused = true;
    shell_watch_output(r->s, run_output_allowed(r->s));
}

static void on_resume(void *obj)
{
    struct run *r = obj;
    r->paused = false;
    shell_watch_output(r->s, run_output_allowed(r->s));
}

const struct wjob_ops run_stream_ops = {
    .cancel = on_cancel, .pause = on_pause, .resume = on_resume};
