#include "core/spawn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "procstat.h"

enum stage {
    STAGE_SETUP,
    STAGE_IDS,
    STAGE_CHDIR,
    STAGE_EXEC,
};

/* What children write to /proc/self/oom_score_adj; nothing when len is 0. */
static struct {
    char text[16];
    size_t len;
    bool warned; /* a child could not set it: said once */
} oom;

static int read_oom_score_adj(int *out)
{
    FILE *f = fopen("/proc/self/oom_score_adj", "re");
    if (f == NULL)
        return -1;
    errno = 0;
    int rc = fscanf(f, "%d", out) == 1 ? 0 : -1;
    if (rc < 0 && errno == 0)
        errno = EINVAL;
    int saved = errno;
    fclose(f);
    errno = saved;
    return rc;
}

void spawn_set_oom_score_adj(int adj)
{
    int own;
    oom.len = 0;
    if (read_oom_score_adj(&own) < 0) {
        log_warn("cannot read /proc/self/oom_score_adj (%s): commands and kernels keep the "
                 "daemon's OOM score",
                 strerror(errno));
        return;
    }
    if (adj < own)
        log_info("child_oom_score_adj %d is below the daemon's own OOM score %d: commands and "
                 "kernels keep %d",
                 adj, own, own);
    if (adj > own)
        oom.len = (size_t)snprintf(oom.text, sizeof(oom.text), "%d\n", adj);
}

void spawn_req_init(struct spawn_req *req)
{
    memset(req, 0, sizeof(*req));
    req->stdin_fd = req->stdout_fd = req->stderr_fd = -1;
}

void spawn_set_identity(struct spawn_req *req, uint32_t uid, bool has_gid, uint32_t gid)
{
    req->set_ids = true;
    req->uid = (uid_t)uid;
    req->ngroups = 0;
    if (has_gid) {
        /* The Go daemon clears the supplementary groups when a gid is given (setgroups(0)). */
        req->gid = (gid_t)gid;
        return;
    }
    struct passwd *pw = getpwuid((uid_t)uid);
    if (pw != NULL) {
        req->gid = pw->pw_gid;
        int n = SPAWN_MAX_GROUPS;
        if (getgrouplist(pw->pw_name, pw->pw_gid, req->groups, &n) >= 0)
            req->ngroups = n;
    } else {
        req->gid = (gid_t)uid;
    }
}

/*
 * The child runs on its own stack but in the parent's memory (CLONE_VM), and the
 * parent is suspended until it execs or exits (CLONE_VFORK): no page tables to
 * copy, no copy-on-write faults afterwards, and failures are reported by writing
 * into this struct. Only raw system calls are made in the child: glibc's
 * set*id() would try to change the credentials of the parent's other threads
 * (ZeroMQ's), and the child must not take any lock the parent may hold.
 */
struct child_ctx {
    const struct spawn_req *req;
    int stage; /* -1 while nothing failed */
    int err;
    int oom_err; /* the OOM score could not be set (the child runs anyway) */
};

#define CHILD_STACK_SIZE (64 * 1024)

static int fail(struct child_ctx *ctx, int stage)
{
    ctx->stage = stage;
    ctx->err = errno;
    _exit(127);
}

static int child_main(void *arg)
{
    struct child_ctx *ctx = arg;
    const struct spawn_req *req = ctx->req;

    /* Handlers are not shared (no CLONE_SIGHAND): reset ours, then unblock all. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if ((req->new_session ? setsid() : setpgid(0, 0)) < 0)
        return fail(ctx, STAGE_SETUP);
    int fds[3] = {req->stdin_fd, req->stdout_fd, req->stderr_fd};
    for (int i = 0; i < 3; i++) {
        int fd =
            fds[i] >= 0 ? fds[i] : open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
        if (fd < 0 || dup2(fd, i) < 0)
            return fail(ctx, STAGE_SETUP);
    }
    if (req->terminal && ioctl(0, TIOCSCTTY, 0) < 0)
        return fail(ctx, STAGE_SETUP);
    /* Before the credentials change: the file then still belongs to this process's user. */
    if (oom.len > 0) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, oom.text, oom.len) != (ssize_t)oom.len)
            ctx->oom_err = errno != 0 ? errno : EIO;
        if (fd >= 0)
            close(fd);
    }
    if (req->set_ids && (syscall(SYS_setgroups, (size_t)req->ngroups, req->groups) < 0 ||
                         syscall(SYS_setresgid, req->gid, req->gid, req->gid) < 0 ||
                         syscall(SYS_setresuid, req->uid, req->uid, req->uid) < 0))
        return fail(ctx, STAGE_IDS);
    if (req->cwd != NULL && chdir(req->cwd) < 0)
        return fail(ctx, STAGE_CHDIR);
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return fail(ctx, STAGE_SETUP);
    execve(req->path, req->argv, req->envp);
    return fail(ctx, STAGE_EXEC);
}

/* strerror in Go's style: lower-case first letter. */
static void go_errno(int err, struct strbuf *out)
{
    const char *s = strerror(err);
    strbuf_append_char(out, (char)tolower((unsigned char)s[0]));
    strbuf_append_str(out, s + 1);
}

static void describe_failure(const struct spawn_req *req, const struct child_ctx *ctx,
                             struct strbuf *err)
{
    strbuf_reset(err);
    if (ctx->stage == STAGE_CHDIR)
        strbuf_printf(err, "chdir %s: ", req->cwd);
    else
        strbuf_printf(err, "fork/exec %s: ", req->path);
    go_errno(ctx->err, err);
}

pid_t spawn_process(const struct spawn_req *req, struct strbuf *err)
{
    static char *stack;
    if (stack == NULL) {
        stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            stack = NULL;
            strbuf_printf(err, "mmap: %s", strerror(errno));
            return -1;
        }
    }
    /* No signal handler of ours may run in the child before it resets them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    struct child_ctx ctx = {req, -1, 0, 0};
    pid_t pid = clone(child_main, stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &ctx);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (pid < 0) {
        strbuf_printf(err, "fork/exec %s: clone: %s", req->path, strerror(clone_errno));
        return -1;
    }
    if (ctx.oom_err != 0 && !oom.warned) {
        oom.warned = true;
        log_warn("cannot set the OOM score of children to %.*s: %s (said once)", (int)oom.len - 1,
                 oom.text, strerror(ctx.oom_err));
    }
    if (ctx.stage < 0)
        return pid; /* the child is running the new program */
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    describe_failure(req, &ctx, err);
    return -1;
}

int spawn_peek_exit(pid_t pid, int *status)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return -1;
    if (si.si_pid != pid)
        return 0;
    *status = si.si_code == CLD_EXITED   ? W_EXITCODE(si.si_status, 0)
              : si.si_code == CLD_DUMPED ? (si.si_status | WCOREFLAG)
                                         : si.si_status;
    return 1;
}

int spawn_pidfd(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

const char *spawn_shell(void)
{
    static char found[4096];
    if (found[0] != '\0')
        return found;
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    const char *names[] = {"bash", "sh"};
    for (int n = 0; n < 2; n++) {
        for (const char *dir = path; dir != NULL && *dir != '\0';) {
            const char *colon = strchr(dir, ':');
            size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
            char cand[4096];
            snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, dir, names[n]);
            if (len > 0 && access(cand, X_OK) == 0) {
                snprintf(found, sizeof(found), "%s", cand);
                return found;
            }
            dir = colon ? colon + 1 : NULL;
        }
    }
    snprintf(found, sizeof(found), "/bin/sh");
    return found;
}

void spawn_describe_status(int status, struct strbuf *out)
{
    if (WIFEXITED(status)) {
        strbuf_printf(out, "exit status %d", WEXITSTATUS(status));
        return;
    }
    if (WIFSIGNALED(status)) {
        const char *name = strsignal(WTERMSIG(status));
        strbuf_append_str(out, "signal: ");
        strbuf_append_char(out, (char)tolower((unsigned char)name[0]));
        strbuf_append_str(out, name + 1);
        if (WCOREDUMP(status))
            strbuf_append_str(out, " (core dumped)");
        return;
    }
    strbuf_printf(out, "wait status 0x%x", status);
}

unsigned long long spawn_proc_start(pid_t pid)
{
    struct procstat st;
    return procstat_read(pid, &st) == 0 ? st.start : 0;
}

int spawn_exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
