/*
 * One code execution on a kernel, as a pure state machine over parsed
 * messages (kernel_life.c does the I/O): messages are matched by
 * parent_header.msg_id, outputs are passed on in arrival order, and the run
 * is done when BOTH the iopub `status: idle` and the shell `execute_reply`
 * for our request have arrived, in either order (iopub and shell are
 * independent channels). Exactly one terminal callback ends a run: on_done,
 * or on_fail when the kernel died or went away.
 */
#ifndef EXECD_KERNEL_RUN_H
#define EXECD_KERNEL_RUN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jupyter/jmsg.h"
#include "strbuf.h"

#define KERNEL_RUN_ENAME_ABORTED "ExecutionAborted"
/*
 * A kernel aborts execute requests that arrive right after a failed cell without running
 * them (stop_on_error: ipykernel briefly, tslab for 200 ms). Our client sent the cell after
 * the failure had completed, so it asked for it to run: it is sent again this many times.
 */
#define KERNEL_RUN_MAX_RESENDS 3
/* How much of a run's stderr is kept for an error the kernel reports only there. */
#define KERNEL_RUN_STDERR_KEEP (16 * 1024)

enum kernel_chan {
    KERNEL_CHAN_SHELL,
    KERNEL_CHAN_IOPUB,
    KERNEL_CHAN_CONTROL,
};

/*
 * The caller's callbacks; any may be NULL. Borrowed pointers are valid only
 * during the call. arg must stay valid until on_done or on_fail.
 */
struct kernel_exec_cbs {
    /* stream: name is "stdout" or "stderr"; text is the raw chunk. */
    void (*on_stream)(void *arg, const char *name, const char *text, size_t len);
    /* execute_result: execution_count (0 if absent) and the MIME bundle. */
    void (*on_result)(void *arg, int64_t execution_count, json_object *data);
    /* display_data (update = false) and update_display_data (update = true). */
    void (*on_display)(void *arg, json_object *data, bool update);
    /*
     * error: traceback lines (tb NULL when the message had none). Not
     * terminal: on_done follows. Also synthesized when no iopub error
     * arrived: from an execute_reply with status "error" (kernels such as
     * tslab only print their error on stderr: its ename is then "Error", its
     * evalue and traceback the cell's stderr, when the reply names none), and
     * from status "abort" (ename KERNEL_RUN_ENAME_ABORTED: the kernel did not
     * run the cell; tslab aborts requests that arrive within 200 ms of a
     * failed cell).
     */
    void (*on_error)(void *arg, const char *ename, const char *evalue, const char *const *tb,
                     size_t ntb);
    /* Terminal: execution_count from the reply, elapsed_ms = send -> idle. */
    void (*on_done)(void *arg, int64_t execution_count, int64_t elapsed_ms);
    /* Terminal: the run cannot finish (kernel died, shut down). */
    void (*on_fail)(void *arg, const char *ename, const char *evalue);
};

struct kernel_run {
    bool active;
    char msg_id[80];
    int64_t sent_ms;    /* monotonic */
    int64_t elapsed_ms; /* send -> idle */
    int64_t count;
    bool idle, replied, saw_error;
    bool resend; /* aborted by the kernel: to be sent again (kernel_run_resend_due) */
    int resends;
    json_object *reply;                /* the execute_reply content, kept until done */
    struct strbuf err_text;            /* the last KERNEL_RUN_STDERR_KEEP bytes of stderr */
    const struct kernel_exec_cbs *cbs; /* NULL: forgotten, outputs dropped */
    void *arg;
};

void kernel_run_init(struct kernel_run *r);
/* Starts tracking the request msg_id, sent at now_ms (monotonic). */
void kernel_run_start(struct kernel_run *r, const char *msg_id, int64_t now_ms,
                      const struct kernel_exec_cbs *cbs, void *arg);
/*
 * Feeds one received message. Messages for other requests are ignored.
 * Calls at most one output callback, or the completion callbacks. The run is
 * inactive before on_done is called, so the callback may start a new run.
 */
void kernel_run_feed(struct kernel_run *r, enum kernel_chan ch, const struct jmsg *m,
                     int64_t now_ms);
/* The kernel aborted the request without running it: send it again, then kernel_run_resent. */
bool kernel_run_resend_due(const struct kernel_run *r);
/* The request went out again as msg_id: tracking restarts (outputs, callbacks, start time kept). */
void kernel_run_resent(struct kernel_run *r, const char *msg_id);
/* Exactly one of idle and execute_reply has arrived. */
bool kernel_run_half_done(const struct kernel_run *r);
/*
 * Completes a half-done run whose other half was lost (iopub is PUB/SUB: a
 * full queue drops messages): on_done with what is known; elapsed_ms is
 * measured to now_ms when idle never came, execution_count is 0 when the
 * reply never came.
 */
void kernel_run_force_done(struct kernel_run *r, int64_t now_ms);
/* Ends an active run with on_fail. */
void kernel_run_fail(struct kernel_run *r, const char *ename, const char *evalue);
/* Drops the callbacks; the run is still tracked until it completes. */
void kernel_run_forget(struct kernel_run *r);
/* Releases what the run holds (it becomes inactive without callbacks). */
void kernel_run_clear(struct kernel_run *r);

#endif
