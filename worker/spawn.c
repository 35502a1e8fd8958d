#include "spawn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum stage {
    STAGE_SETUP,
    STAGE_IDS,
    STAGE_CHDIR,
    STAGE_EXEC,
};

struct child_error {
    int stage;
    int err;
};

void spawn_req_init(struct spawn_req *req)
{
    memset(req, 0, sizeof(*req));
    req->stdin_fd = req->stdout_fd = req->stderr_fd = -1;
}

void spawn_set_identity(struct spawn_req *req, uint32_t uid, bool has_gid, uint32_t gid)
{
    struct passwd *pw = getpwuid((uid_t)uid);
    req->set_ids = true;
    req->uid = (uid_t)uid;
    req->ngroups = 0;
    if (pw != NULL) {
        req->gid = pw->pw_gid;
        int n = SPAWN_MAX_GROUPS;
        if (getgrouplist(pw->pw_name, pw->pw_gid, req->groups, &n) >= 0)
            req->ngroups = n;
    } else {
        req->gid = (gid_t)uid;
    }
    if (has_gid)
        req->gid = (gid_t)gid;
}

static void report(int fd, int stage)
{
    struct child_error ce = {stage, errno};
    if (write(fd, &ce, sizeof(ce)) != (ssize_t)sizeof(ce))
        _exit(126); /* the parent then reports a generic setup failure */
    _exit(127);
}

static int open_null(int flags)
{
    return open("/dev/null", flags | O_CLOEXEC);
}

static void child(const struct spawn_req *req, int errfd)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if ((req->new_session ? setsid() : setpgid(0, 0)) < 0)
        report(errfd, STAGE_SETUP);

    int fds[3] = {req->stdin_fd, req->stdout_fd, req->stderr_fd};
    for (int i = 0; i < 3; i++) {
        int fd = fds[i] >= 0 ? fds[i] : open_null(i == 0 ? O_RDONLY : O_WRONLY);
        if (fd < 0 || dup2(fd, i) < 0)
            report(errfd, STAGE_SETUP);
    }
    if (req->set_ids) {
        if (setgroups((size_t)req->ngroups, req->groups) < 0 || setgid(req->gid) < 0 ||
            setuid(req->uid) < 0)
            report(errfd, STAGE_IDS);
    }
    if (req->cwd != NULL && chdir(req->cwd) < 0)
        report(errfd, STAGE_CHDIR);
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        report(errfd, STAGE_SETUP);
    execve(req->path, req->argv, req->envp);
    report(errfd, STAGE_EXEC);
}

/* strerror in Go's style: lower-case first letter. */
static void go_errno(int err, struct strbuf *out)
{
    const char *s = strerror(err);
    strbuf_append_char(out, (char)tolower((unsigned char)s[0]));
    strbuf_append_str(out, s + 1);
}

static void describe_failure(const struct spawn_req *req, const struct child_error *ce,
                             struct strbuf *err)
{
    strbuf_reset(err);
    if (ce->stage == STAGE_CHDIR)
        strbuf_printf(err, "chdir %s: ", req->cwd);
    else
        strbuf_printf(err, "fork/exec %s: ", req->path);
    go_errno(ce->err, err);
}

pid_t spawn_process(const struct spawn_req *req, struct strbuf *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        strbuf_printf(err, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        strbuf_printf(err, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        child(req, p[1]);
    }
    close(p[1]);

    struct child_error ce;
    ssize_t n;
    do {
        n = read(p[0], &ce, sizeof(ce));
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == 0)
        return pid; /* the pipe closed on exec: success */

    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(ce)) {
        strbuf_printf(err, "fork/exec %s: child setup failed", req->path);
        return -1;
    }
    describe_failure(req, &ce, err);
    return -1;
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
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* Field 22 (starttime); the command name in field 2 may contain spaces. */
    const char *p = strrchr(buf, ')');
    for (int field = 2; p != NULL && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p != NULL ? strtoull(p + 1, NULL, 10) : 0;
}

int spawn_exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
