#include "jupyter/kernel.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "core/evt.h"
#include "core/spawn.h"
#include "ids.h"
#include "jupyter/kernel_impl.h"
#include "list.h"
#include "log.h"
#include "procstat.h"
#include "xalloc.h"

static struct list all_kernels = LIST_HEAD_INIT(all_kernels);

/* ---- the handle -------------------------------------------------------------- */

void kernel_enter(struct kernel *k)
{
    k->depth++;
}

void kernel_leave(struct kernel *k)
{
    if (--k->depth == 0 && k->doomed)
        kernel_destroy(k);
}

bool kernel_live(const struct kernel *k)
{
    return !k->doomed && !k->sd_requested;
}

void kernel_cleanup(void)
{
    /* zmq_ctx_term() waits for every socket to be closed: a handle still open
     * here (a caller's bug or an aborted test) must not hang the process. */
    list_each_safe(&all_kernels, it, nx)
    {
        struct kernel *k = list_entry(it, struct kernel, node);
        log_warn("kernel %s: handle still open at cleanup; releasing it", k->name);
        kernel_destroy(k);
    }
    ksock_term();
}

static struct kernel *kernel_new(struct event_base *base, const char *dir,
                                 const struct kernel_cbs *cbs, void *arg)
{
    struct kernel *k = xcalloc(1, sizeof(*k));
    k->base = base;
    k->dir = xstrdup(dir);
    const char *slash = strrchr(dir, '/');
    k->name = xstrdup(slash != NULL && slash[1] != '\0' ? slash + 1 : dir);
    k->conn_path = kfiles_path(dir, KERNEL_CONN_FILE);
    k->state_path = kfiles_path(dir, KERNEL_STATE_FILE);
    k->log_path = kfiles_path(dir, KERNEL_LOG_FILE);
    k->pidfd = -1;
    for (int i = 0; i < NPORTS; i++)
        k->port_fds[i] = -1;
    k->cbs = cbs;
    k->arg = arg;
    ids_uuid_dashed(k->session);
    kernel_run_init(&k->run);
    list_add_head(&all_kernels, &k->node);
    return k;
}

void kernel_destroy(struct kernel *k)
{
    list_del(&k->node);
    kernel_release(k);
    evt_free(&k->sd_ev);
    if (k->pidfd >= 0)
        close(k->pidfd);
    kernel_run_clear(&k->run);
    free(k->code);
    jmsg_auth_free(k->auth);
    json_object_put(k->meta);
    free(k->dir);
    free(k->name);
    free(k->conn_path);
    free(k->state_path);
    free(k->log_path);
    free(k->language);
    free(k->spec_name);
    free(k->ip);
    free(k);
}

void kernel_free(struct kernel *k)
{
    if (k == NULL)
        return;
    kernel_run_forget(&k->run);
    k->cbs = NULL;
    if (k->depth > 0) {
        k->doomed = true;
        return;
    }
    kernel_destroy(k);
}

void kernel_release(struct kernel *k)
{
    ksock_close_all(k);
    kports_release(k->port_fds, NPORTS);
    evt_free(&k->info_ev);
    evt_free(&k->deadline_ev);
    evt_free(&k->hb_ev);
    evt_free(&k->exit_ev);
    evt_free(&k->grace_ev);
    evt_free(&k->resend_ev);
    evt_free(&k->idle_ev);
}

void kernel_terminate(struct kernel *k)
{
    kernel_release(k);
    kproc_kill(k);
    if (k->pidfd >= 0) {
        close(k->pidfd);
        k->pidfd = -1;
    }
    kfiles_remove_dir(k->dir);
    k->state = KS_GONE;
}

/* ---- launch ---------------------------------------------------------------- */

/* ipc where the kernel serves it and the socket paths fit (108 bytes), else tcp on 127.0.0.1. */
static int choose_transport(struct kernel *k, const struct kernel_opts *o, struct strbuf *err)
{
    struct strbuf ip = STRBUF_INIT;
    strbuf_printf(&ip, "%s/k", k->dir);
    if (kspec_pick_transport(o->spec, o->transport) == KSPEC_TRANSPORT_IPC) {
        if (ip.len + 8 < sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(k->transport, sizeof(k->transport), "ipc");
            k->ip = strbuf_detach(&ip);
            for (int i = 0; i < NPORTS; i++)
                k->ports[i] = i + 1;
            return 0;
        }
        log_warn("kernel %s: %s is too long for ipc socket paths; using tcp", k->name, ip.data);
    }
    strbuf_free(&ip);
    snprintf(k->transport, sizeof(k->transport), "tcp");
    k->ip = xstrdup("127.0.0.1");
    return kports_reserve(k->ports, k->port_fds, err);
}

/* A new key, and the connection file that hands it to the kernel. */
static int write_connection(struct kernel *k, struct strbuf *err)
{
    char key[IDS_HEX_LEN + 1];
    ids_uuid_hex(key);
    k->auth = jmsg_auth_new(key, err);
    return k->auth != NULL ? kfiles_write_connection(k, key, err) : -1;
}

struct kernel *kernel_launch(struct event_base *base, const struct kernel_opts *o,
                             struct strbuf *err)
{
    if (mkdir(o->dir, 0700) < 0) {
        strbuf_printf(err, "cannot create %s: %s", o->dir, strerror(errno));
        return NULL;
    }
    struct kernel *k = kernel_new(base, o->dir, o->cbs, o->arg);
    k->language = xstrdup(o->spec->language);
    k->spec_name = xstrdup(o->spec->name);
    k->interrupt_mode = o->spec->interrupt_mode;
    k->meta = o->meta != NULL ? json_object_get(o->meta) : xjson_object();
    k->startup_ms = o->startup_ms > 0 ? o->startup_ms : KERNEL_STARTUP_MS;
    if (choose_transport(k, o, err) < 0 || write_connection(k, err) < 0)
        goto fail;

    k->pid = kproc_spawn(k, o, err);
    if (k->pid < 0) {
        k->pid = 0;
        goto fail;
    }
    k->child = true;
    k->pid_start = spawn_proc_start(k->pid);
    k->spawned_ms = clock_mono_ms();
    if (kproc_open_pidfd(k, err) < 0)
        goto fail;
    if (kfiles_write_state(k, err) < 0 || kproc_watch_exit(k, err) < 0 ||
        ksock_open_all(k, err) < 0 || klife_start(k) < 0)
        goto fail;
    log_info("kernel %s: started %s (pid %d, %s transport)", k->name, k->spec_name, (int)k->pid,
             k->transport);
    return k;

fail:
    if (err->len == 0)
        strbuf_append_str(err, "cannot start the kernel");
    log_error("kernel %s: %s", k->name, err->data);
    kernel_terminate(k);
    kernel_destroy(k);
    return NULL;
}

/* ---- adoption -------------------------------------------------------------- */

struct kernel *kernel_adopt(struct event_base *base, const char *dir, int64_t startup_ms,
                            const struct kernel_cbs *cbs, void *arg, struct strbuf *err)
{
    struct kernel *k = kernel_new(base, dir, cbs, arg);
    k->startup_ms = startup_ms > 0 ? startup_ms : KERNEL_ADOPT_MS;
    if (kfiles_load_state(k, err) < 0)
        goto fail;
    if (!procstat_same(k->pid, k->pid_start)) {
        strbuf_printf(err, "kernel process %d is gone", (int)k->pid);
        goto fail;
    }
    /* Not our child: watched through a pidfd only, never waitpid'ed. */
    k->child = false;
    if (kproc_open_pidfd(k, err) < 0)
        goto fail;
    /* The pid could have been reused between the check and pidfd_open. */
    if (!procstat_same(k->pid, k->pid_start)) {
        strbuf_printf(err, "kernel process %d is gone", (int)k->pid);
        goto fail;
    }
    if (kfiles_load_connection(k, k->conn_path, err) < 0 || kproc_watch_exit(k, err) < 0 ||
        ksock_open_all(k, err) < 0 || klife_start(k) < 0)
        goto fail;
    log_info("kernel %s: adopting %s (pid %d)", k->name, k->spec_name, (int)k->pid);
    return k;

fail:
    log_error("kernel %s: cannot adopt: %s", k->name, err->data);
    kernel_destroy(k);
    return NULL;
}

int kernel_remove_dir(const char *dir)
{
    struct kernel *k = kernel_new(NULL, dir, NULL, NULL);
    struct strbuf err = STRBUF_INIT;
    if (kfiles_load_state(k, &err) == 0 && procstat_same(k->pid, k->pid_start) &&
        kproc_open_pidfd(k, &err) == 0 && procstat_same(k->pid, k->pid_start)) {
        log_info("kernel %s: killing leftover pid %d", k->name, (int)k->pid);
        kproc_kill(k);
    }
    strbuf_free(&err);
    int rc = kfiles_remove_dir(dir);
    kernel_destroy(k);
    return rc;
}

/* ---- execution ---------------------------------------------------------------- */

int kernel_send_execute(struct kernel *k, const char *code, char *id, struct strbuf *err)
{
    json_object *c = xjson_object();
    json_object_object_add(c, "code", xjson_string(code));
    json_object_object_add(c, "silent", xjson_bool(0));
    json_object_object_add(c, "store_history", xjson_bool(1));
    json_object_object_add(c, "user_expressions", xjson_object());
    json_object_object_add(c, "allow_stdin", xjson_bool(0));
    /* One cell at a time, so there is never a queue to abort. With stop_on_error, ipykernel
     * aborts the execute requests that reach it before its "stop aborting" callback runs
     * after an error: a cell sent right after a failed or interrupted one was then answered
     * "aborted" without running. (tslab aborts anyway: see kernel_run.h.) */
    json_object_object_add(c, "stop_on_error", xjson_bool(0));
    int rc = ksock_send(k, &k->shell, "execute_request", c, id, err);
    json_object_put(c);
    if (rc < 0)
        log_error("kernel %s: %s", k->name, err->data);
    return rc;
}

int kernel_execute(struct kernel *k, const char *code, const struct kernel_exec_cbs *cbs, void *arg,
                   struct strbuf *err)
{
    if (k->state != KS_READY || !kernel_live(k)) {
        strbuf_append_str(err, k->state == KS_STARTING ? "kernel is starting" : "kernel is gone");
        return -1;
    }
    if (k->run.active) {
        strbuf_append_str(err, "session is busy");
        return -1;
    }
    char id[80];
    int64_t now = clock_mono_ms();
    if (kernel_send_execute(k, code, id, err) < 0)
        return -1;
    free(k->code);
    k->code = xstrdup(code);
    kernel_run_start(&k->run, id, now, cbs, arg);
    if (k->grace_ev != NULL)
        evtimer_del(k->grace_ev);
    return 0;
}

void kernel_exec_forget(struct kernel *k)
{
    kernel_run_forget(&k->run);
}

int kernel_interrupt(struct kernel *k, struct strbuf *err)
{
    if (k->state != KS_READY) {
        strbuf_append_str(err, "kernel is not running");
        return -1;
    }
    if (kernel_run_resend_due(&k->run)) {
        /* The kernel aborted the cell and it waits to be sent again: it never ran. */
        evtimer_del(k->resend_ev);
        kernel_run_fail(&k->run, KERNEL_RUN_ENAME_ABORTED, "interrupted before the kernel ran it");
        return 0;
    }
    if (k->interrupt_mode == KSPEC_INTERRUPT_MESSAGE)
        return ksock_send(k, &k->control, "interrupt_request", NULL, NULL, err);
    /* Like jupyter_client: the whole group, so a cell's subprocesses see ^C too. */
    if (kproc_signal_group(k, SIGINT) < 0) {
        strbuf_printf(err, "kill(-%d, SIGINT): %s", (int)k->pid, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- queries ------------------------------------------------------------------ */

bool kernel_ready(const struct kernel *k)
{
    return k->state == KS_READY && kernel_live(k);
}

bool kernel_busy(const struct kernel *k)
{
    return k->run.active;
}

pid_t kernel_pid(const struct kernel *k)
{
    return k->pid;
}

const char *kernel_dir(const struct kernel *k)
{
    return k->dir;
}

const char *kernel_language(const struct kernel *k)
{
    return k->language;
}

const char *kernel_spec_name(const struct kernel *k)
{
    return k->spec_name;
}

const char *kernel_transport(const struct kernel *k)
{
    return k->transport;
}

enum kspec_interrupt kernel_interrupt_mode(const struct kernel *k)
{
    return k->interrupt_mode;
}

json_object *kernel_meta(const struct kernel *k)
{
    return k->meta;
}
