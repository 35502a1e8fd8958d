/*
 * A started kernel's life: the readiness handshake, the messages it sends (dispatched
 * to the running execution), the heartbeat, its death and its shutdown.
 */
#include "jupyter/kernel_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "log.h"
#include "procstat.h"
#include "xalloc.h"

/* kernel_info_request is repeated this often until the kernel answers on shell and iopub. */
#define INFO_EVERY_MS 300
/* A launched kernel that has not answered yet is sampled this often for CPU use. */
#define IDLE_CHECK_MS 500
/* Heartbeat: a ping this often; the kernel is dead after this many unanswered in a row. */
#define HB_EVERY_MS 1500
#define HB_MAX_MISSES 4
/*
 * ipykernel sends execute_reply and then idle within microseconds. If only
 * one of them has come this long after, with both sockets quiet, the other
 * was lost (a full iopub queue drops messages) and the run is completed
 * anyway rather than left hanging.
 */
#define HALF_DONE_GRACE_MS 3000
/* An aborted execution is sent again after this (tslab aborts for 200 ms after a failure). */
#define RESEND_AFTER_MS 250

/* ---- readiness ----------------------------------------------------------- */

/*
 * Asked on shell and on control: a kernel adopted in the middle of a long
 * cell answers shell only when the cell ends, but ipykernel serves control
 * from its own thread (and publishes busy/idle for it on iopub).
 */
static void send_info(struct kernel *k)
{
    struct strbuf err = STRBUF_INIT;
    /* Failing before the first connection is normal: the next tick retries. */
    if (ksock_send(k, &k->shell, "kernel_info_request", NULL, NULL, &err) < 0 ||
        ksock_send(k, &k->control, "kernel_info_request", NULL, NULL, &err) < 0)
        log_debug("kernel %s: %s", k->name, err.data);
    strbuf_free(&err);
}

static void startup_failed(struct kernel *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The failure names the kernel, its transport and its log, kept beside the directory. */
static void startup_failed(struct kernel *k, const char *fmt, ...)
{
    struct strbuf msg = STRBUF_INIT;
    strbuf_printf(&msg, "kernel %s (%s) over %s: ", k->spec_name, k->language, k->transport);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);
    kfiles_keep_log(k);
    strbuf_printf(&msg, "; its log: %s", k->log_path);
    kfiles_log_tail(k, &msg);
    log_error("kernel %s (pid %d): %s", k->name, (int)k->pid, msg.data);
    kernel_terminate(k);
    if (kernel_live(k) && k->cbs != NULL && k->cbs->on_ready != NULL)
        k->cbs->on_ready(k, k->arg, msg.data);
    strbuf_free(&msg);
}

static void on_hb_tick(evutil_socket_t fd, short what, void *arg);

static void check_ready(struct kernel *k)
{
    if (k->state != KS_STARTING || !k->got_info_reply || !k->got_iopub)
        return;
    k->state = KS_READY;
    evt_free(&k->info_ev);
    evt_free(&k->deadline_ev);
    evt_free(&k->idle_ev);
    /* It answered on shell and iopub, so it listens: nobody else can bind its ports now. */
    kports_release(k->port_fds, NPORTS);
    k->hb_ev = event_new(k->base, -1, EV_PERSIST, on_hb_tick, k);
    evt_arm_ms(k->hb_ev, HB_EVERY_MS);
    log_info("kernel %s (pid %d, %s) ready", k->name, (int)k->pid, k->spec_name);
    if (kernel_live(k) && k->cbs != NULL && k->cbs->on_ready != NULL)
        k->cbs->on_ready(k, k->arg, NULL);
}

static void on_info_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    if (k->state == KS_STARTING)
        send_info(k);
    kernel_leave(k);
}

static void on_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    if (k->state == KS_STARTING)
        startup_failed(k, "kernel did not become ready within %lld ms", (long long)k->startup_ms);
    kernel_leave(k);
}

/*
 * A kernel still starting uses CPU (an interpreter loading, a JVM warming up). One that
 * has bound its sockets and waits for requests uses none. A launched kernel that has not
 * said a word yet and whose whole session used no CPU for KERNEL_IDLE_MS is waiting on
 * endpoints we do not connect to (tslab binds ipc://path:1 where Jupyter's spelling is
 * ipc://path-1; JeroMQ has no ipc): it fails now rather than at the startup deadline.
 */
static void on_idle_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    int64_t now = clock_mono_ms();
    unsigned long long cpu = 0;
    if (k->state != KS_STARTING || k->heard) {
        evt_free(&k->idle_ev);
    } else if ((cpu = procstat_session_cpu(k->pid)) != k->cpu) {
        k->cpu = cpu;
        k->cpu_changed_ms = now;
    } else if (now - k->cpu_changed_ms >= KERNEL_IDLE_MS) {
        startup_failed(k,
                       "no answer to kernel_info_request after %lld ms, and idle for %lld ms: "
                       "it does not seem to serve %s endpoints (choose the transport with "
                       "-kernel-transport or the kernelspec's metadata.execd.transport)",
                       (long long)(now - k->spawned_ms), (long long)(now - k->cpu_changed_ms),
                       k->transport);
    }
    kernel_leave(k);
}

static void on_grace(evutil_socket_t fd, short what, void *arg);
static void on_resend(evutil_socket_t fd, short what, void *arg);

int klife_start(struct kernel *k)
{
    k->info_ev = event_new(k->base, -1, EV_PERSIST, on_info_tick, k);
    k->deadline_ev = evtimer_new(k->base, on_deadline, k);
    k->grace_ev = evtimer_new(k->base, on_grace, k);
    k->resend_ev = evtimer_new(k->base, on_resend, k);
    if (k->info_ev == NULL || k->deadline_ev == NULL || k->grace_ev == NULL || k->resend_ev == NULL)
        return -1;
    if (k->child) {
        /* Launched by us (an adopted kernel served its transport before). */
        k->idle_ev = event_new(k->base, -1, EV_PERSIST, on_idle_tick, k);
        if (k->idle_ev == NULL)
            return -1;
        k->cpu = procstat_session_cpu(k->pid);
        k->cpu_changed_ms = clock_mono_ms();
        evt_arm_ms(k->idle_ev, IDLE_CHECK_MS);
    }
    evt_arm_ms(k->info_ev, INFO_EVERY_MS);
    evt_arm_ms(k->deadline_ev, k->startup_ms);
    send_info(k);
    return 0;
}

/* ---- death, heartbeat, shutdown ------------------------------------------ */

static void finish_shutdown(struct kernel *k);

static void died(struct kernel *k, const char *reason)
{
    if (k->state == KS_STOPPING) {
        finish_shutdown(k);
        return;
    }
    if (k->state == KS_STARTING) {
        startup_failed(k, "kernel exited during startup (%s)", reason);
        return;
    }
    if (k->state != KS_READY)
        return;
    struct strbuf msg = STRBUF_INIT, tail = STRBUF_INIT;
    strbuf_printf(&msg, "kernel died: %s", reason);
    kfiles_log_tail(k, &tail);
    log_error("kernel %s (pid %d): %s (its last output%s)", k->name, (int)k->pid, msg.data,
              tail.len > 0 ? tail.data : ": none");
    strbuf_free(&tail);
    kernel_terminate(k);
    kernel_run_fail(&k->run, KERNEL_ENAME_DEAD, msg.data);
    if (kernel_live(k) && k->cbs != NULL && k->cbs->on_dead != NULL)
        k->cbs->on_dead(k, k->arg, msg.data);
    strbuf_free(&msg);
}

void klife_on_exit(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    k->exited = true;
    evt_free(&k->exit_ev);
    struct strbuf how = STRBUF_INIT;
    kproc_describe_exit(k, &how);
    died(k, how.data);
    strbuf_free(&how);
    kernel_leave(k);
}

static void on_hb_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    /* A reply may be waiting behind a busy loop iteration: read it before judging. */
    if (k->hb.zs != NULL)
        ksock_drain(&k->hb);
    if (k->state == KS_READY && k->hb.zs != NULL && !k->doomed) {
        if (k->hb_pending && ++k->hb_misses >= HB_MAX_MISSES) {
            char why[64];
            snprintf(why, sizeof(why), "no heartbeat for %d ms", HB_MAX_MISSES * HB_EVERY_MS);
            died(k, why);
        } else {
            if (!k->hb_pending)
                k->hb_misses = 0;
            if (zmq_send(k->hb.zs, "ping", 4, ZMQ_DONTWAIT) < 0 && errno != EAGAIN)
                log_warn("kernel %s: heartbeat send: %s", k->name, zmq_strerror(errno));
            k->hb_pending = true;
            ksock_kick(&k->hb);
        }
    }
    kernel_leave(k);
}

static void on_sd_tick(evutil_socket_t fd, short what, void *arg);

static void finish_shutdown(struct kernel *k)
{
    if (k->sd_stage == 2)
        return;
    k->sd_stage = 2;
    evt_free(&k->sd_ev);
    if (k->state != KS_GONE)
        kernel_terminate(k);
    log_info("kernel %s (pid %d) shut down", k->name, (int)k->pid);
    if (k->sd_fn != NULL)
        k->sd_fn(k->sd_arg);
    k->doomed = true; /* freed when the current callback unwinds */
}

static void on_sd_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    if (k->sd_stage == 0) {
        k->sd_stage = 1;
        enum kstate prev = k->state;
        evt_free(&k->info_ev);
        evt_free(&k->deadline_ev);
        evt_free(&k->hb_ev);
        kernel_run_fail(&k->run, KERNEL_ENAME_SHUTDOWN, "kernel was shut down");
        if (prev == KS_GONE || k->exited) {
            finish_shutdown(k);
        } else {
            k->state = KS_STOPPING;
            struct strbuf err = STRBUF_INIT;
            json_object *content = xjson_object();
            json_object_object_add(content, "restart", xjson_bool(0));
            if (ksock_send(k, &k->control, "shutdown_request", content, NULL, &err) < 0) {
                log_warn("kernel %s: %s", k->name, err.data);
                finish_shutdown(k);
            } else {
                evt_arm_ms(k->sd_ev, k->sd_grace_ms);
            }
            json_object_put(content);
            strbuf_free(&err);
        }
    } else {
        log_info("kernel %s: still running %lld ms after shutdown_request, killing", k->name,
                 (long long)k->sd_grace_ms);
        finish_shutdown(k);
    }
    kernel_leave(k);
}

void kernel_shutdown(struct kernel *k, int64_t grace_ms, kernel_stopped_fn fn, void *arg)
{
    if (k->sd_requested) {
        log_warn("kernel %s: shutdown requested twice", k->name);
        return;
    }
    k->sd_requested = true;
    k->sd_fn = fn;
    k->sd_arg = arg;
    k->sd_grace_ms = grace_ms > 0 ? grace_ms : 0;
    k->sd_ev = evtimer_new(k->base, on_sd_tick, k);
    evt_arm_ms(k->sd_ev, 0);
    if (k->sd_ev == NULL) {
        /* Cannot even wait: do it now (the caller asked for it and owns no more handle). */
        kernel_enter(k);
        kernel_run_fail(&k->run, KERNEL_ENAME_SHUTDOWN, "kernel was shut down");
        finish_shutdown(k);
        kernel_leave(k);
    }
}

/* ---- message dispatch ----------------------------------------------------- */

void klife_on_message(struct kernel *k, struct ksock *ks, const struct jmsg_frame *f, size_t n)
{
    if (ks->hb) {
        k->hb_pending = false;
        k->hb_misses = 0;
        return;
    }
    struct jmsg m;
    struct strbuf err = STRBUF_INIT;
    if (jmsg_parse(&m, k->auth, f, n, &err) < 0) {
        log_warn("kernel %s: dropped a message on %s: %s", k->name, ks->name, err.data);
        strbuf_free(&err);
        return;
    }
    strbuf_free(&err);
    log_debug("kernel %s: %s %s (parent %s)", k->name, ks->name, m.msg_type, m.parent_id);
    k->heard = true;

    if (k->state == KS_STARTING) {
        if (ks->chan == KERNEL_CHAN_IOPUB)
            k->got_iopub = true;
        if (ks->chan != KERNEL_CHAN_IOPUB && strcmp(m.msg_type, "kernel_info_reply") == 0) {
            /* Ask again at once: its busy/idle on iopub completes the handshake. */
            if (!k->got_info_reply && !k->got_iopub)
                send_info(k);
            k->got_info_reply = true;
        }
        check_ready(k);
    }
    kernel_run_feed(&k->run, ks->chan, &m, clock_mono_ms());
    jmsg_free(&m);
    if (k->doomed || k->grace_ev == NULL)
        return;
    if (kernel_run_resend_due(&k->run) && !evtimer_pending(k->resend_ev, NULL)) {
        log_info("kernel %s: it aborted %s without running it (a failed cell just before); "
                 "sending it again in %d ms",
                 k->name, k->run.msg_id, RESEND_AFTER_MS);
        evt_arm_ms(k->resend_ev, RESEND_AFTER_MS);
    }
    bool pending = evtimer_pending(k->grace_ev, NULL);
    if (kernel_run_half_done(&k->run) && !pending)
        evt_arm_ms(k->grace_ev, HALF_DONE_GRACE_MS);
    else if (!kernel_run_half_done(&k->run) && pending)
        evtimer_del(k->grace_ev);
}

static void on_resend(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    if (kernel_run_resend_due(&k->run) && k->state == KS_READY) {
        char id[80];
        struct strbuf err = STRBUF_INIT;
        if (kernel_send_execute(k, k->code, id, &err) == 0)
            kernel_run_resent(&k->run, id);
        else
            kernel_run_fail(&k->run, KERNEL_RUN_ENAME_ABORTED, err.data);
        strbuf_free(&err);
    }
    kernel_leave(k);
}

static void on_grace(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    kernel_enter(k);
    if (kernel_run_half_done(&k->run)) {
        if (ksock_has_input(&k->iopub) || ksock_has_input(&k->shell)) {
            /* Still catching up with a backlog: the missing half may be in it. */
            ksock_kick(&k->iopub);
            ksock_kick(&k->shell);
            evt_arm_ms(k->grace_ev, HALF_DONE_GRACE_MS);
        } else {
            log_warn("kernel %s: %s never came for %s; completing the execution", k->name,
                     k->run.idle ? "execute_reply" : "status idle", k->run.msg_id);
            kernel_run_force_done(&k->run, clock_mono_ms());
        }
    }
    kernel_leave(k);
}
