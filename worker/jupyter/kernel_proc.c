/*
 * A kernel's process: started in its own session (it outlives its worker), watched
 * through a pidfd (polled where there is none), described, killed and reaped.
 */
#include "jupyter/kernel_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "core/spawn.h"
#include "envmap.h"
#include "log.h"
#include "procstat.h"
#include "xalloc.h"

extern char **environ;

/* How long to wait for a SIGKILLed process to disappear. */
#define KILL_WAIT_MS 1000
/* Without pidfds (Linux < 5.3, valgrind) the process is polled this often. */
#define EXIT_POLL_MS 200

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

pid_t kproc_spawn(struct kernel *k, const struct kernel_opts *o, struct strbuf *err)
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
bool kproc_exited(const struct kernel *k)
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
int kproc_open_pidfd(struct kernel *k, struct strbuf *err)
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
void kproc_describe_exit(const struct kernel *k, struct strbuf *how)
{
    int status;
    if (k->child && spawn_peek_exit(k->pid, &status) == 1) {
        spawn_describe_status(status, how);
        return;
    }
    strbuf_append_str(how, "process exited");
}

int kproc_signal_group(struct kernel *k, int sig)
{
    if (k->pid <= 0 || (!k->child && kproc_exited(k))) {
        errno = ESRCH;
        return -1;
    }
    /* setsid made the kernel its group leader: pgid == pid. */
    return kill(-k->pid, sig);
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
void kproc_kill(struct kernel *k)
{
    if (k->pid <= 0)
        return;
    /* The group first, while its leader still holds the pgid. */
    if (kproc_signal_group(k, SIGKILL) < 0 && errno != ESRCH)
        log_warn("kernel %s: kill(-%d): %s", k->name, (int)k->pid, strerror(errno));
    if (!k->exited) {
        /* The leader itself, even if it left its group; by pidfd when possible (no pid reuse). */
        int r = k->pidfd >= 0 ? pidfd_signal(k->pidfd, SIGKILL) : -1;
        if (r < 0 && (k->pidfd < 0 || errno == ENOSYS) && procstat_same(k->pid, k->pid_start))
            r = kill(k->pid, SIGKILL);
        if (r < 0 && errno != ESRCH && errno != ENOSYS)
            log_warn("kernel %s: SIGKILL to pid %d: %s", k->name, (int)k->pid, strerror(errno));
    }
    if (!k->exited) {
        int64_t until = clock_mono_ms() + KILL_WAIT_MS;
        while (!(k->exited = kproc_exited(k)) && clock_mono_ms() < until) {
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

static void on_exit_poll(evutil_socket_t fd, short what, void *arg)
{
    struct kernel *k = arg;
    if (kproc_exited(k))
        klife_on_exit(fd, what, arg);
}

int kproc_watch_exit(struct kernel *k, struct strbuf *err)
{
    if (k->pidfd >= 0) {
        k->exit_ev = event_new(k->base, k->pidfd, EV_READ, klife_on_exit, k);
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
