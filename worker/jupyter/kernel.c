#include "jupyter/kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/jsonfile.h"
#include "core/spawn.h"
#include "envmap.h"
#include "ids.h"
#include "jsonreq.h"
#include "list.h"
#include "log.h"
#include "procstat.h"
#include "xalloc.h"

extern char **environ;

/* kernel_info_request is repeated this often until the kernel answers on shell and iopub. */
#define INFO_EVERY_MS 300
/* Heartbeat: a ping this often; the kernel is dead after this many unanswered in a row. */
#define HB_EVERY_MS 1500
#define HB_MAX_MISSES 4
/* Messages handled per socket wake-up before yielding to the loop (fairness). */
#define DRAIN_BATCH 64
/* Frames kept per message: identities + 6 + buffers; extra buffers are dropped. */
#define MAX_FRAMES 32
/* How long to wait for a SIGKILLed process to disappear. */
#define KILL_WAIT_MS 1000
/* Without pidfds (Linux < 5.3, valgrind) the process is polled this often. */
#define EXIT_POLL_MS 200
#define ZMQ_RECONNECT_MS 100
#define ZMQ_RECONNECT_MAX_MS 1000
#define NPORTS 5
/*
 * ipykernel sends execute_reply and then idle within microseconds. If only
 * one of them has come this long after, with both sockets quiet, the other
 * was lost (a full iopub queue drops messages) and the run is completed
 * anyway rather than left hanging.
 */
#define HALF_DONE_GRACE_MS 3000

enum kstate {
    KS_STARTING, /* handshake in progress */
    KS_READY,
    KS_STOPPING, /* kernel_shutdown in progress */
    KS_GONE,     /* process gone, files removed: only kernel_free remains */
};

enum port_idx { P_SHELL, P_IOPUB, P_STDIN, P_CONTROL, P_HB };
static const char *const port_keys[NPORTS] = {"shell_port", "iopub_port", "stdin_port",
                                              "control_port", "hb_port"};

struct ksock {
    struct kernel *k;
    void *zs;
    struct event *ev;
    enum kernel_chan chan;
    const char *name;
    bool hb;
};

struct kernel {
    struct event_base *base;
    char *dir, *name; /* name: basename of dir, for log lines */
    char *conn_path, *state_path, *log_path;
    char *language, *spec_name;
    enum kspec_interrupt interrupt_mode;
    json_object *meta;

    /* Connection. */
    char transport[8];
    char *ip; /* tcp: address; ipc: path prefix of the socket files */
    int ports[NPORTS];
    struct jmsg_auth *auth;
    char session[IDS_DASHED_LEN + 1];
    uint64_t seq;

    /* Process. */
    pid_t pid;
    unsigned long long pid_start;
    bool child; /* ours to reap; false when adopted */
    int pidfd;
    struct event *exit_ev;
    bool exited;

    struct ksock shell, control, iopub, hb;

    enum kstate state;
    const struct kernel_cbs *cbs;
    void *arg;

    /* Readiness. */
    struct event *info_ev, *deadline_ev;
    int64_t startup_ms;
    bool got_info_reply, got_iopub;

    /* Heartbeat. */
    struct event *hb_ev;
    bool hb_pending;
    int hb_misses;

    struct kernel_run run;
    struct event *grace_ev; /* see HALF_DONE_GRACE_MS */

    /* Shutdown. */
    struct event *sd_ev;
    int sd_stage;
    int64_t sd_grace_ms;
    bool sd_requested;
    kernel_stopped_fn sd_fn;
    void *sd_arg;

    /* Re-entrancy: callbacks may free the handle; the free waits for the unwind. */
    int depth;
    bool doomed;

    struct list node; /* in all_kernels: every handle, see kernel_cleanup() */
};

static void *zctx;
static struct list all_kernels = LIST_INIT(all_kernels);

static void destroy(struct kernel *k);

/* ---- small helpers ------------------------------------------------------ */

static char *path_in(const char *dir, const char *file)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "%s/%s", dir, file);
    return strbuf_detach(&b);
}

static void enter(struct kernel *k)
{
    k->depth++;
}

static void leave(struct kernel *k)
{
    if (--k->depth == 0 && k->doomed)
        destroy(k);
}

/* Whether the handle may still call the caller back. */
static bool live(const struct kernel *k)
{
    return !k->doomed && !k->sd_requested;
}

static void *zmq_context(void)
{
    /* Created on first use, i.e. in the worker after the fork, never inherited. */
    if (zctx == NULL) {
        zctx = zmq_ctx_new();
        if (zctx == NULL) {
            log_error("zmq_ctx_new: %s", zmq_strerror(errno));
            return NULL;
        }
        /* Closing the context must not wait for unsent messages. */
        zmq_ctx_set(zctx, ZMQ_BLOCKY, 0);
    }
    return zctx;
}

void kernel_cleanup(void)
{
    /* zmq_ctx_term() waits for every socket to be closed: a handle still open
     * here (a caller's bug or an aborted test) must not hang the process. */
    list_each_safe(&all_kernels, it, nx)
    {
        struct kernel *k = list_entry(it, struct kernel, node);
        log_warn("kernel %s: handle still open at cleanup; releasing it", k->name);
        destroy(k);
    }
    if (zctx != NULL) {
        zmq_ctx_term(zctx);
        zctx = NULL;
    }
}

static int write_file(const char *path, const char *data, size_t len, bool excl)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (excl ? O_EXCL : 0), 0600);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        off += (size_t)n;
    }
    return close(fd);
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool jint(json_object *o, const char *key, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

/* The last non-empty line of the kernel's output, for error messages. */
static void log_tail(const struct kernel *k, struct strbuf *out)
{
    char buf[2048];
    int fd = k->log_path != NULL ? open(k->log_path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0) {
        off_t from = st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0;
        n = pread(fd, buf, sizeof(buf) - 1, from);
    }
    close(fd);
    if (n <= 0)
        return;
    size_t end = (size_t)n;
    while (end > 0 && strchr(" \t\r\n", buf[end - 1]) != NULL)
        end--;
    size_t start = end;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    if (end > start)
        strbuf_printf(out, ": %.*s", (int)(end - start), buf + start);
}

/* ---- process ------------------------------------------------------------ */

static int pidfd_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* The state letter of /proc/<pid>/stat ('Z' for a zombie), or 0. */
static char proc_state(pid_t pid)
{
    struct procstat st;
    return procstat_read(pid, &st) == 0 ? st.state : 0;
}

/* Whether the kernel process has exited (a zombie counts as exited). */
static bool proc_exited(const struct kernel *k)
{
    if (k->pidfd >= 0) {
        struct pollfd p = {k->pidfd, POLLIN, 0};
        return poll(&p, 1, 0) > 0;
    }
    if (k->child) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        /* ECHILD: no longer ours to wait for, hence gone. */
        return waitid(P_PID, (id_t)k->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
               si.si_pid == k->pid;
    }
    char st = proc_state(k->pid);
    return !procstat_same(k->pid, k->pid_start) || st == 'Z' || st == 'X' || st == 0;
}

/* A pidfd for the kernel; -1 with errno ENOSYS means "poll instead". */
static int open_pidfd(struct kernel *k, struct strbuf *err)
{
    k->pidfd = spawn_pidfd(k->pid);
    if (k->pidfd >= 0)
        return 0;
    if (errno == ENOSYS) {
        log_warn("kernel %s: no pidfd support, polling pid %d every %d ms", k->name, (int)k->pid,
                 EXIT_POLL_MS);
        return 0;
    }
    strbuf_printf(err, "pidfd_open(%d): %s", (int)k->pid, strerror(errno));
    return -1;
}

/*
 * How the kernel exited ("signal: killed"), read without reaping it: the
 * zombie keeps its pid (and so its process group id) from being reused
 * until the group has been killed. Only our own child has a status to read.
 */
static void describe_exit(const struct kernel *k, struct strbuf *how)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (k->child && waitid(P_PID, (id_t)k->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid == k->pid) {
        int status = si.si_code == CLD_EXITED   ? W_EXITCODE(si.si_status, 0)
                     : si.si_code == CLD_DUMPED ? (si.si_status | WCOREFLAG)
                                                : si.si_status;
        spawn_describe_status(status, how);
        return;
    }
    strbuf_append_str(how, "process exited");
}

static void reap(struct kernel *k)
{
    int status;
    if (k->child && k->pid > 0 && waitpid(k->pid, &status, WNOHANG) == k->pid)
        k->child = false; /* its pid may be reused from now on */
}

/*
 * SIGKILL to the kernel's process group (its children included), then wait
 * a little for the leader to disappear and reap it.
 */
static void kill_kernel(struct kernel *k)
{
    if (k->pid <= 0)
        return;
    if (!k->exited) {
        /* The leader itself, even if it left its group; by pidfd when possible (no pid reuse). */
        int r = k->pidfd >= 0 ? pidfd_signal(k->pidfd, SIGKILL) : -1;
        if (r < 0 && (k->pidfd < 0 || errno == ENOSYS) && procstat_same(k->pid, k->pid_start))
            r = kill(k->pid, SIGKILL);
        if (r < 0 && errno != ESRCH && errno != ENOSYS)
            log_warn("kernel %s: SIGKILL to pid %d: %s", k->name, (int)k->pid, strerror(errno));
    }
    /* setsid made the kernel its group leader: pgid == pid. */
    if (kill(-k->pid, SIGKILL) < 0 && errno != ESRCH)
        log_warn("kernel %s: kill(-%d): %s", k->name, (int)k->pid, strerror(errno));
    if (!k->exited) {
        int64_t until = clock_mono_ms() + KILL_WAIT_MS;
        while (!(k->exited = proc_exited(k)) && clock_mono_ms() < until) {
            if (k->pidfd >= 0) {
                struct pollfd p = {k->pidfd, POLLIN, 0};
                poll(&p, 1, (int)(until - clock_mono_ms()));
            } else {
                usleep(5000);
            }
        }
        if (!k->exited)
            log_warn("kernel %s: pid %d still there after SIGKILL", k->name, (int)k->pid);
    }
    reap(k);
}

/* Removes every file of the directory (it is exclusively the kernel's), then the directory. */
static int remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        log_warn("kernel: cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
            log_warn("kernel: cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT) {
        log_warn("kernel: cannot remove %s: %s", dir, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* ---- sockets ------------------------------------------------------------- */

static void sock_close(struct ksock *ks)
{
    evt_free(&ks->ev);
    if (ks->zs != NULL) {
        zmq_close(ks->zs);
        ks->zs = NULL;
    }
}

static void close_all(struct kernel *k)
{
    sock_close(&k->shell);
    sock_close(&k->control);
    sock_close(&k->iopub);
    sock_close(&k->hb);
    evt_free(&k->info_ev);
    evt_free(&k->deadline_ev);
    evt_free(&k->hb_ev);
    evt_free(&k->exit_ev);
    evt_free(&k->grace_ev);
}

/* Process gone (or killed now), sockets closed, files removed. */
static void terminate(struct kernel *k)
{
    close_all(k);
    kill_kernel(k);
    if (k->pidfd >= 0) {
        close(k->pidfd);
        k->pidfd = -1;
    }
    remove_dir(k->dir);
    k->state = KS_GONE;
}

/*
 * ZMQ_FD is edge-triggered: it only signals a change, so after a wake-up (and
 * after any send, which can consume the signal) the socket must be drained
 * while ZMQ_EVENTS says POLLIN. A send schedules this through event_active.
 */
static void kick(struct ksock *ks)
{
    if (ks->ev != NULL)
        event_active(ks->ev, EV_READ, 0);
}

static void on_message(struct kernel *k, struct ksock *ks, const struct jmsg_frame *f, size_t n);

/* Receives one multipart message. Returns its frame count, 0 when none, -1 on error. */
static int recv_multipart(struct ksock *ks, zmq_msg_t *parts, size_t *nparts)
{
    size_t n = 0;
    bool more = true;
    *nparts = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, ks->zs, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            if (e == EAGAIN && n == 0)
                return 0;
            if (e == EINTR)
                continue;
            log_warn("kernel %s: %s recv: %s", ks->k->name, ks->name, zmq_strerror(e));
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (n < MAX_FRAMES)
            parts[n++] = m;
        else
            zmq_msg_close(&m);
    }
    *nparts = n;
    return (int)n;
}

static void sock_drain(struct ksock *ks)
{
    struct kernel *k = ks->k;
    for (int handled = 0; ks->zs != NULL && !k->doomed; handled++) {
        if (handled == DRAIN_BATCH) {
            kick(ks); /* more next loop iteration */
            return;
        }
        int events = 0;
        size_t sz = sizeof(events);
        if (zmq_getsockopt(ks->zs, ZMQ_EVENTS, &events, &sz) < 0) {
            log_warn("kernel %s: %s ZMQ_EVENTS: %s", k->name, ks->name, zmq_strerror(errno));
            return;
        }
        if (!(events & ZMQ_POLLIN))
            return;
        zmq_msg_t parts[MAX_FRAMES];
        size_t n;
        if (recv_multipart(ks, parts, &n) <= 0)
            return;
        struct jmsg_frame f[MAX_FRAMES];
        for (size_t i = 0; i < n; i++) {
            f[i].data = zmq_msg_data(&parts[i]);
            f[i].len = zmq_msg_size(&parts[i]);
        }
        on_message(k, ks, f, n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}

static void on_sock(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct ksock *ks = arg;
    struct kernel *k = ks->k;
    enter(k);
    sock_drain(ks);
    leave(k);
}

static void endpoint(const struct kernel *k, int port, struct strbuf *out)
{
    if (strcmp(k->transport, "ipc") == 0)
        strbuf_printf(out, "ipc://%s-%d", k->ip, port);
    else
        strbuf_printf(out, "tcp://%s:%d", k->ip, port);
}

static int sock_open(struct kernel *k, struct ksock *ks, int type, int port, const char *name,
                     enum kernel_chan chan, struct strbuf *err)
{
    ks->k = k;
    ks->name = name;
    ks->chan = chan;
    ks->hb = type == ZMQ_REQ;
    void *ctx = zmq_context();
    if (ctx == NULL) {
        strbuf_printf(err, "no ZeroMQ context: %s", zmq_strerror(errno));
        return -1;
    }
    ks->zs = zmq_socket(ctx, type);
    if (ks->zs == NULL) {
        strbuf_printf(err, "%s socket: %s", name, zmq_strerror(errno));
        return -1;
    }
    int zero = 0, one = 1, ivl = ZMQ_RECONNECT_MS, ivl_max = ZMQ_RECONNECT_MAX_MS;
    zmq_setsockopt(ks->zs, ZMQ_LINGER, &zero, sizeof(zero));
    /* Unbounded receive queues: we always read, and a full queue makes the
     * kernel's PUB socket drop messages (an idle among them would be lost). */
    zmq_setsockopt(ks->zs, ZMQ_RCVHWM, &zero, sizeof(zero));
    zmq_setsockopt(ks->zs, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
    zmq_setsockopt(ks->zs, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
    if (type == ZMQ_SUB)
        zmq_setsockopt(ks->zs, ZMQ_SUBSCRIBE, "", 0);
    if (type == ZMQ_REQ) {
        /* A lost ping must not wedge the REQ state machine: allow a new request. */
        zmq_setsockopt(ks->zs, ZMQ_REQ_RELAXED, &one, sizeof(one));
        zmq_setsockopt(ks->zs, ZMQ_REQ_CORRELATE, &one, sizeof(one));
    }
    struct strbuf url = STRBUF_INIT;
    endpoint(k, port, &url);
    if (zmq_connect(ks->zs, url.data) < 0) {
        strbuf_printf(err, "connect %s: %s", url.data, zmq_strerror(errno));
        strbuf_free(&url);
        return -1;
    }
    strbuf_free(&url);
    int fd;
    size_t sz = sizeof(fd);
    if (zmq_getsockopt(ks->zs, ZMQ_FD, &fd, &sz) < 0) {
        strbuf_printf(err, "%s ZMQ_FD: %s", name, zmq_strerror(errno));
        return -1;
    }
    ks->ev = event_new(k->base, fd, EV_READ | EV_PERSIST, on_sock, ks);
    if (ks->ev == NULL || event_add(ks->ev, NULL) < 0) {
        strbuf_printf(err, "cannot watch the %s socket", name);
        return -1;
    }
    return 0;
}

static int open_sockets(struct kernel *k, struct strbuf *err)
{
    if (sock_open(k, &k->shell, ZMQ_DEALER, k->ports[P_SHELL], "shell", KERNEL_CHAN_SHELL, err) <
            0 ||
        sock_open(k, &k->control, ZMQ_DEALER, k->ports[P_CONTROL], "control", KERNEL_CHAN_CONTROL,
                  err) < 0 ||
        sock_open(k, &k->iopub, ZMQ_SUB, k->ports[P_IOPUB], "iopub", KERNEL_CHAN_IOPUB, err) < 0 ||
        sock_open(k, &k->hb, ZMQ_REQ, k->ports[P_HB], "hb", KERNEL_CHAN_CONTROL, err) < 0)
        return -1;
    return 0;
}

/* Sends a signed message; msg_id (80 bytes) receives its id. Returns 0 or -1 (err). */
static int send_msg(struct kernel *k, struct ksock *ks, const char *msg_type, json_object *content,
                    char *msg_id, struct strbuf *err)
{
    char id[80];
    snprintf(id, sizeof(id), "%s_%llu", k->session, (unsigned long long)++k->seq);
    if (msg_id != NULL)
        memcpy(msg_id, id, sizeof(id));
    if (ks->zs == NULL) {
        strbuf_printf(err, "%s socket closed", ks->name);
        return -1;
    }
    struct jmsg_out out;
    if (jmsg_build(&out, k->auth, k->session, id, msg_type, content, NULL, err) < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < JMSG_OUT_FRAMES; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < JMSG_OUT_FRAMES ? ZMQ_SNDMORE : 0);
        /* Frames after the first are queued atomically; only the first can block. */
        if (zmq_send(ks->zs, out.frames[i].data, out.frames[i].len, flags) < 0) {
            strbuf_printf(err, "send %s on %s: %s", msg_type, ks->name, zmq_strerror(errno));
            rc = -1;
            break;
        }
    }
    jmsg_out_free(&out);
    kick(ks);
    return rc;
}

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
    if (send_msg(k, &k->shell, "kernel_info_request", NULL, NULL, &err) < 0 ||
        send_msg(k, &k->control, "kernel_info_request", NULL, NULL, &err) < 0)
        log_debug("kernel %s: %s", k->name, err.data);
    strbuf_free(&err);
}

static void startup_failed(struct kernel *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void startup_failed(struct kernel *k, const char *fmt, ...)
{
    struct strbuf msg = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);
    log_tail(k, &msg);
    log_error("kernel %s (pid %d): %s", k->name, (int)k->pid, msg.data);
    terminate(k);
    if (live(k) && k->cbs != NULL && k->cbs->on_ready != NULL)
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
    k->hb_ev = event_new(k->base, -1, EV_PERSIST, on_hb_tick, k);
    evt_arm_ms(k->hb_ev, HB_EVERY_MS);
    log_info("kernel %s (pid %d, %s) ready", k->name, (int)k->pid, k->spec_name);
    if (live(k) && k->cbs != NULL && k->cbs->on_ready != NULL)
        k->cbs->on_ready(k, k->arg, NULL);
}

static void on_info_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    enter(k);
    if (k->state == KS_STARTING)
        send_info(k);
    leave(k);
}

static void on_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    enter(k);
    if (k->state == KS_STARTING)
        startup_failed(k, "kernel did not become ready within %lld ms", (long long)k->startup_ms);
    leave(k);
}

static void on_grace(evutil_socket_t fd, short what, void *arg);

static int start_handshake(struct kernel *k)
{
    k->info_ev = event_new(k->base, -1, EV_PERSIST, on_info_tick, k);
    k->deadline_ev = evtimer_new(k->base, on_deadline, k);
    k->grace_ev = evtimer_new(k->base, on_grace, k);
    if (k->info_ev == NULL || k->deadline_ev == NULL || k->grace_ev == NULL)
        return -1;
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
    log_tail(k, &tail);
    log_error("kernel %s (pid %d): %s (its last output%s)", k->name, (int)k->pid, msg.data,
              tail.len > 0 ? tail.data : ": none");
    strbuf_free(&tail);
    terminate(k);
    kernel_run_fail(&k->run, KERNEL_ENAME_DEAD, msg.data);
    if (live(k) && k->cbs != NULL && k->cbs->on_dead != NULL)
        k->cbs->on_dead(k, k->arg, msg.data);
    strbuf_free(&msg);
}

static void on_exit_ready(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    enter(k);
    k->exited = true;
    evt_free(&k->exit_ev);
    struct strbuf how = STRBUF_INIT;
    describe_exit(k, &how);
    died(k, how.data);
    strbuf_free(&how);
    leave(k);
}

static void on_hb_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    enter(k);
    /* A reply may be waiting behind a busy loop iteration: read it before judging. */
    if (k->hb.zs != NULL)
        sock_drain(&k->hb);
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
            kick(&k->hb);
        }
    }
    leave(k);
}

static void on_sd_tick(evutil_socket_t fd, short what, void *arg);

static void finish_shutdown(struct kernel *k)
{
    if (k->sd_stage == 2)
        return;
    k->sd_stage = 2;
    evt_free(&k->sd_ev);
    if (k->state != KS_GONE)
        terminate(k);
    log_info("kernel %s (pid %d) shut down", k->name, (int)k->pid);
    if (k->sd_fn != NULL)
        k->sd_fn(k->sd_arg);
    k->doomed = true; /* freed when the current callback unwinds */
}

static void on_sd_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    enter(k);
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
            if (send_msg(k, &k->control, "shutdown_request", content, NULL, &err) < 0) {
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
    leave(k);
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
        enter(k);
        kernel_run_fail(&k->run, KERNEL_ENAME_SHUTDOWN, "kernel was shut down");
        finish_shutdown(k);
        leave(k);
    }
}

/* ---- message dispatch ----------------------------------------------------- */

static void on_message(struct kernel *k, struct ksock *ks, const struct jmsg_frame *f, size_t n)
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
    bool pending = evtimer_pending(k->grace_ev, NULL);
    if (kernel_run_half_done(&k->run) && !pending)
        evt_arm_ms(k->grace_ev, HALF_DONE_GRACE_MS);
    else if (!kernel_run_half_done(&k->run) && pending)
        evtimer_del(k->grace_ev);
}

static bool has_input(struct ksock *ks)
{
    int events = 0;
    size_t sz = sizeof(events);
    return ks->zs != NULL && zmq_getsockopt(ks->zs, ZMQ_EVENTS, &events, &sz) == 0 &&
           (events & ZMQ_POLLIN);
}

static void on_grace(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct kernel *k = arg;
    enter(k);
    if (kernel_run_half_done(&k->run)) {
        if (has_input(&k->iopub) || has_input(&k->shell)) {
            /* Still catching up with a backlog: the missing half may be in it. */
            kick(&k->iopub);
            kick(&k->shell);
            evt_arm_ms(k->grace_ev, HALF_DONE_GRACE_MS);
        } else {
            log_warn("kernel %s: %s never came for %s; completing the execution", k->name,
                     k->run.idle ? "execute_reply" : "status idle", k->run.msg_id);
            kernel_run_force_done(&k->run, clock_mono_ms());
        }
    }
    leave(k);
}

/* ---- connection and state files -------------------------------------------- */

/* Free tcp ports on 127.0.0.1, chosen by the kernel of the OS (as jupyter_client does). */
static int pick_ports(int ports[NPORTS], struct strbuf *err)
{
    int fds[NPORTS];
    int rc = 0, i;
    for (i = 0; i < NPORTS; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &len) < 0) {
            strbuf_printf(err, "cannot pick a tcp port: %s", strerror(errno));
            rc = -1;
            if (fds[i] >= 0)
                close(fds[i]);
            break;
        }
        ports[i] = ntohs(a.sin_port);
    }
    while (--i >= 0)
        close(fds[i]);
    return rc;
}

static int write_connection(struct kernel *k, const char *key, struct strbuf *err)
{
    json_object *c = xjson_object();
    for (int i = 0; i < NPORTS; i++)
        json_object_object_add(c, port_keys[i], xjson_int64(k->ports[i]));
    json_object_object_add(c, "ip", xjson_string(k->ip));
    json_object_object_add(c, "key", xjson_string(key));
    json_object_object_add(c, "transport", xjson_string(k->transport));
    json_object_object_add(c, "signature_scheme", xjson_string("hmac-sha256"));
    json_object_object_add(c, "kernel_name", xjson_string(k->spec_name));
    const char *s =
        json_object_to_json_string_ext(c, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = write_file(k->conn_path, s, strlen(s), true);
    if (rc < 0)
        strbuf_printf(err, "cannot write %s: %s", k->conn_path, strerror(errno));
    json_object_put(c);
    return rc;
}

/* state.json, replaced atomically so an adopting worker never reads half a file. */
static int write_state(struct kernel *k, struct strbuf *err)
{
    json_object *s = xjson_object();
    json_object_object_add(s, "pid", xjson_int64(k->pid));
    json_object_object_add(s, "pid_start", xjson_int64((int64_t)k->pid_start));
    json_object_object_add(s, "language", xjson_string(k->language));
    json_object_object_add(s, "spec", xjson_string(k->spec_name));
    json_object_object_add(s, "connection_file", xjson_string(k->conn_path));
    json_object_object_add(
        s, "interrupt_mode",
        xjson_string(k->interrupt_mode == KSPEC_INTERRUPT_MESSAGE ? "message" : "signal"));
    json_object_object_add(s, "meta", json_object_get(k->meta));
    int rc = jsonfile_save(k->state_path, s, err);
    json_object_put(s);
    return rc;
}

static struct kernel *kernel_new(struct event_base *base, const char *dir,
                                 const struct kernel_cbs *cbs, void *arg)
{
    struct kernel *k = xcalloc(1, sizeof(*k));
    k->base = base;
    k->dir = xstrdup(dir);
    const char *slash = strrchr(dir, '/');
    k->name = xstrdup(slash != NULL && slash[1] != '\0' ? slash + 1 : dir);
    k->conn_path = path_in(dir, KERNEL_CONN_FILE);
    k->state_path = path_in(dir, KERNEL_STATE_FILE);
    k->log_path = path_in(dir, KERNEL_LOG_FILE);
    k->pidfd = -1;
    k->cbs = cbs;
    k->arg = arg;
    ids_uuid_dashed(k->session);
    kernel_run_init(&k->run);
    list_add_head(&all_kernels, &k->node);
    return k;
}

static void destroy(struct kernel *k)
{
    list_del(&k->node);
    close_all(k);
    evt_free(&k->sd_ev);
    if (k->pidfd >= 0)
        close(k->pidfd);
    kernel_run_clear(&k->run);
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
    destroy(k);
}

static void on_exit_poll(evutil_socket_t fd, short what, void *arg)
{
    struct kernel *k = arg;
    if (proc_exited(k))
        on_exit_ready(fd, what, arg);
}

static int watch_exit(struct kernel *k, struct strbuf *err)
{
    if (k->pidfd >= 0) {
        k->exit_ev = event_new(k->base, k->pidfd, EV_READ, on_exit_ready, k);
        if (k->exit_ev != NULL && event_add(k->exit_ev, NULL) == 0)
            return 0;
    } else {
        k->exit_ev = event_new(k->base, -1, EV_PERSIST, on_exit_poll, k);
        struct timeval tv = {0, EXIT_POLL_MS * 1000};
        if (k->exit_ev != NULL && event_add(k->exit_ev, &tv) == 0)
            return 0;
    }
    strbuf_printf(err, "cannot watch the kernel process");
    return -1;
}

/* ---- launch ---------------------------------------------------------------- */

/* The environment for the kernel: base + spec env, minus what would hurt. */
static char **kernel_env(const struct envmap *env)
{
    char **v = xcalloc(env->len + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < env->len; i++) {
        /* ipykernel exits when the pid in JPY_PARENT_PID stops being its
         * parent; its parent is the worker, which the kernel must outlive. */
        if (strncmp(env->entries[i], "JPY_PARENT_PID=", 15) == 0)
            continue;
        v[n++] = env->entries[i];
    }
    return v;
}

static pid_t spawn_kernel(struct kernel *k, const struct kernel_opts *o, struct strbuf *err)
{
    struct envmap env;
    envmap_init(&env);
    envmap_from_environ(&env, o->envp != NULL ? o->envp : environ);
    envmap_merge(&env, &o->spec->env);
    char **argv = kspec_argv(o->spec, k->conn_path, envmap_get(&env, "PATH"), !o->colors, err);
    pid_t pid = -1;
    int logfd = -1;
    char **envp = NULL;
    if (argv == NULL)
        goto out;
    logfd = open(k->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) {
        strbuf_printf(err, "cannot open %s: %s", k->log_path, strerror(errno));
        goto out;
    }
    envp = kernel_env(&env);
    struct spawn_req req;
    spawn_req_init(&req);
    req.path = argv[0];
    req.argv = argv;
    req.envp = envp;
    req.cwd = o->cwd;
    req.stdout_fd = logfd;
    req.stderr_fd = logfd;
    req.new_session = true;
    pid = spawn_process(&req, err);
out:
    if (logfd >= 0)
        close(logfd);
    free(envp);
    kspec_strv_free(argv);
    envmap_free(&env);
    return pid;
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

    /* ipc keeps the kernel off the network; the socket path has a hard length limit. */
    struct strbuf ip = STRBUF_INIT;
    strbuf_printf(&ip, "%s/k", o->dir);
    bool ipc = !o->tcp && ip.len + 8 < sizeof(((struct sockaddr_un *)0)->sun_path);
    if (ipc) {
        snprintf(k->transport, sizeof(k->transport), "ipc");
        k->ip = strbuf_detach(&ip);
        for (int i = 0; i < NPORTS; i++)
            k->ports[i] = i + 1;
    } else {
        strbuf_free(&ip);
        snprintf(k->transport, sizeof(k->transport), "tcp");
        k->ip = xstrdup("127.0.0.1");
        if (pick_ports(k->ports, err) < 0)
            goto fail;
    }

    char key[IDS_HEX_LEN + 1];
    ids_uuid_hex(key);
    k->auth = jmsg_auth_new(key, err);
    if (k->auth == NULL || write_connection(k, key, err) < 0)
        goto fail;

    k->pid = spawn_kernel(k, o, err);
    if (k->pid < 0) {
        k->pid = 0;
        goto fail;
    }
    k->child = true;
    k->pid_start = spawn_proc_start(k->pid);
    if (open_pidfd(k, err) < 0)
        goto fail;
    if (write_state(k, err) < 0 || watch_exit(k, err) < 0 || open_sockets(k, err) < 0 ||
        start_handshake(k) < 0)
        goto fail;
    log_info("kernel %s: started %s (pid %d, %s transport)", k->name, k->spec_name, (int)k->pid,
             k->transport);
    return k;

fail:
    if (err->len == 0)
        strbuf_append_str(err, "cannot start the kernel");
    log_error("kernel %s: %s", k->name, err->data);
    terminate(k);
    destroy(k);
    return NULL;
}

/* ---- adoption -------------------------------------------------------------- */

static int load_connection(struct kernel *k, const char *path, struct strbuf *err)
{
    json_object *c = jsonreq_read_file(path, err);
    if (c == NULL)
        return -1;
    int rc = -1;
    const char *transport = jstr(c, "transport"), *ip = jstr(c, "ip"), *key = jstr(c, "key");
    const char *scheme = jstr(c, "signature_scheme");
    if (transport == NULL || ip == NULL || key == NULL ||
        (strcmp(transport, "ipc") != 0 && strcmp(transport, "tcp") != 0)) {
        strbuf_printf(err, "%s: missing or bad transport, ip or key", path);
        goto out;
    }
    if (key[0] != '\0' && scheme != NULL && strcmp(scheme, "hmac-sha256") != 0) {
        strbuf_printf(err, "%s: unsupported signature scheme '%s'", path, scheme);
        goto out;
    }
    for (int i = 0; i < NPORTS; i++) {
        int64_t p;
        if (!jint(c, port_keys[i], &p) || p <= 0 || p > 65535) {
            strbuf_printf(err, "%s: bad %s", path, port_keys[i]);
            goto out;
        }
        k->ports[i] = (int)p;
    }
    snprintf(k->transport, sizeof(k->transport), "%s", transport);
    k->ip = xstrdup(ip);
    k->auth = jmsg_auth_new(key, err);
    rc = k->auth != NULL ? 0 : -1;
out:
    json_object_put(c);
    return rc;
}

/* Reads state.json into k. Returns 0 or -1 (err). */
static int load_state(struct kernel *k, struct strbuf *err)
{
    json_object *s = jsonreq_read_file(k->state_path, err);
    if (s == NULL)
        return -1;
    int64_t pid = 0, start = 0;
    const char *conn = jstr(s, "connection_file"), *mode = jstr(s, "interrupt_mode");
    int rc = -1;
    if (!jint(s, "pid", &pid) || pid <= 0 || !jint(s, "pid_start", &start) || conn == NULL) {
        strbuf_printf(err, "%s: missing pid, pid_start or connection_file", k->state_path);
        goto out;
    }
    k->pid = (pid_t)pid;
    k->pid_start = (unsigned long long)start;
    const char *language = jstr(s, "language"), *spec = jstr(s, "spec");
    k->language = xstrdup(language != NULL ? language : "");
    k->spec_name = xstrdup(spec != NULL ? spec : "");
    k->interrupt_mode = mode != NULL && strcmp(mode, "message") == 0 ? KSPEC_INTERRUPT_MESSAGE
                                                                     : KSPEC_INTERRUPT_SIGNAL;
    json_object *meta;
    if (json_object_object_get_ex(s, "meta", &meta) && json_object_is_type(meta, json_type_object))
        k->meta = json_object_get(meta);
    else
        k->meta = xjson_object();
    free(k->conn_path);
    k->conn_path = xstrdup(conn);
    rc = 0;
out:
    json_object_put(s);
    return rc;
}

struct kernel *kernel_adopt(struct event_base *base, const char *dir, int64_t startup_ms,
                            const struct kernel_cbs *cbs, void *arg, struct strbuf *err)
{
    struct kernel *k = kernel_new(base, dir, cbs, arg);
    k->startup_ms = startup_ms > 0 ? startup_ms : KERNEL_ADOPT_MS;
    if (load_state(k, err) < 0)
        goto fail;
    if (!procstat_same(k->pid, k->pid_start)) {
        strbuf_printf(err, "kernel process %d is gone", (int)k->pid);
        goto fail;
    }
    /* Not our child: watched through a pidfd only, never waitpid'ed. */
    k->child = false;
    if (open_pidfd(k, err) < 0)
        goto fail;
    /* The pid could have been reused between the check and pidfd_open. */
    if (!procstat_same(k->pid, k->pid_start)) {
        strbuf_printf(err, "kernel process %d is gone", (int)k->pid);
        goto fail;
    }
    if (load_connection(k, k->conn_path, err) < 0 || watch_exit(k, err) < 0 ||
        open_sockets(k, err) < 0 || start_handshake(k) < 0)
        goto fail;
    log_info("kernel %s: adopting %s (pid %d)", k->name, k->spec_name, (int)k->pid);
    return k;

fail:
    log_error("kernel %s: cannot adopt: %s", k->name, err->data);
    destroy(k);
    return NULL;
}

int kernel_remove_dir(const char *dir)
{
    struct kernel *k = kernel_new(NULL, dir, NULL, NULL);
    struct strbuf err = STRBUF_INIT;
    if (load_state(k, &err) == 0 && procstat_same(k->pid, k->pid_start) &&
        open_pidfd(k, &err) == 0 && procstat_same(k->pid, k->pid_start)) {
        log_info("kernel %s: killing leftover pid %d", k->name, (int)k->pid);
        kill_kernel(k);
    }
    strbuf_free(&err);
    int rc = remove_dir(dir);
    destroy(k);
    return rc;
}

/* ---- execution ---------------------------------------------------------------- */

int kernel_execute(struct kernel *k, const char *code, const struct kernel_exec_cbs *cbs, void *arg,
                   struct strbuf *err)
{
    if (k->state != KS_READY || !live(k)) {
        strbuf_append_str(err, k->state == KS_STARTING ? "kernel is starting" : "kernel is gone");
        return -1;
    }
    if (k->run.active) {
        strbuf_append_str(err, "session is busy");
        return -1;
    }
    json_object *c = xjson_object();
    json_object_object_add(c, "code", xjson_string(code));
    json_object_object_add(c, "silent", xjson_bool(0));
    json_object_object_add(c, "store_history", xjson_bool(1));
    json_object_object_add(c, "user_expressions", xjson_object());
    json_object_object_add(c, "allow_stdin", xjson_bool(0));
    json_object_object_add(c, "stop_on_error", xjson_bool(1));
    char id[80];
    int64_t now = clock_mono_ms();
    int rc = send_msg(k, &k->shell, "execute_request", c, id, err);
    json_object_put(c);
    if (rc < 0) {
        log_error("kernel %s: %s", k->name, err->data);
        return -1;
    }
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
    if (k->interrupt_mode == KSPEC_INTERRUPT_MESSAGE)
        return send_msg(k, &k->control, "interrupt_request", NULL, NULL, err);
    /* Like jupyter_client: the whole group, so a cell's subprocesses see ^C too. */
    if (kill(-k->pid, SIGINT) < 0) {
        strbuf_printf(err, "kill(-%d, SIGINT): %s", (int)k->pid, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- queries ------------------------------------------------------------------ */

bool kernel_ready(const struct kernel *k)
{
    return k->state == KS_READY && live(k);
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

enum kspec_interrupt kernel_interrupt_mode(const struct kernel *k)
{
    return k->interrupt_mode;
}

json_object *kernel_meta(const struct kernel *k)
{
    return k->meta;
}
