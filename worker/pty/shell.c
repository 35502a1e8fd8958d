/*
 * A session's shell: `bash --norc --noprofile [-c command]` in a new session with the PTY
 * as its controlling terminal (80x24), or with three pipes in its own process group. Its
 * output goes into the ring and to the attached client; while the client reads too slowly
 * (the master said pause) or the channel to the master is full, the output is not read, so
 * the shell blocks instead of anything growing. After it exits, the output left is drained
 * (until EOF, or 100 ms without data, 2 s at most), then the client gets the exit frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/spawn.h"
#include "envmap.h"
#include "log.h"
#include "pty/ptyframe.h"
#include "pty/session.h"
#include "worker.h"
#include "xalloc.h"

/* The terminal a shell starts with. */
#define INITIAL_COLS 80
#define INITIAL_ROWS 24
/* After the exit: output is read until EOF, or DRAIN_IDLE_MS without data, DRAIN_MAX_MS. */
#define DRAIN_IDLE_MS 100
#define DRAIN_MAX_MS 2000
/* An adopted shell that exited: how long to wait for the master's wait status. */
#define UNKNOWN_STATUS_MS 1000
/* Stdin the shell has not taken yet: above HIGH the client is held until below LOW. */
#define STDIN_HIGH (256 * 1024)
#define STDIN_LOW (64 * 1024)

/* Killed shells this worker still has to reap. */
static struct list dying = LIST_HEAD_INIT(dying);
/* Shells started or adopted and not reaped. */
static size_t unreaped;

static void drain_over(struct pty_shell *sh);

size_t pty_shell_count(void)
{
    return unreaped;
}

bool pty_shell_running(const struct pty_session *s)
{
    return s->shell != NULL && !s->shell->exited;
}

/* ---- descriptors ------------------------------------------------------------------------ */

static void keep(const struct pty_session *s, const char *what, int fd)
{
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
        log_error("pty session %s: its shell will not survive this worker (%s)", s->id,
                  strerror(errno));
        return;
    }
    struct strbuf key = STRBUF_INIT;
    strbuf_printf(&key, "%s/shell/%s", s->id, what);
    out_keep(PTY_OWNER, key.data, dup);
    strbuf_free(&key);
}

static void source_close(struct pty_source *src)
{
    evt_free(&src->ev);
    if (src->fd >= 0 && src->fd != src->sh->in_fd)
        close(src->fd);
    src->fd = -1;
    src->eof = true;
}

/* The shell's descriptors here (the master's copies are dropped separately). */
static void close_io(struct pty_shell *sh)
{
    source_close(&sh->out);
    source_close(&sh->err);
    evt_free(&sh->in_ev);
    if (sh->in_fd >= 0)
        close(sh->in_fd);
    sh->in_fd = -1;
    strbuf_free(&sh->in_queue);
}

static void drop_kept(const struct pty_session *s)
{
    struct strbuf key = STRBUF_INIT;
    strbuf_printf(&key, "%s/shell/", s->id);
    out_drop(PTY_OWNER, key.data);
    strbuf_free(&key);
}

static void shell_free(struct pty_shell *sh)
{
    close_io(sh);
    evt_free(&sh->exit_ev);
    evt_free(&sh->unknown_ev);
    evt_free(&sh->drain_ev);
    if (sh->pidfd >= 0)
        close(sh->pidfd);
    free(sh);
}

/* ---- output ----------------------------------------------------------------------------- */

static bool all_eof(const struct pty_shell *sh)
{
    return sh->out.eof && sh->err.eof;
}

static bool may_read(struct pty_session *s)
{
    if (s->client == NULL)
        return true; /* into the ring only: output keeps accumulating */
    if (!pty_attach_wants_output(s->client))
        return false;
    if (out_congested()) {
        out_wait(&s->congestion);
        return false;
    }
    return true;
}

void pty_shell_update_reading(struct pty_session *s)
{
    struct pty_shell *sh = s->shell;
    if (sh == NULL)
        return;
    bool on = may_read(s);
    struct pty_source *srcs[2] = {&sh->out, &sh->err};
    for (int i = 0; i < 2; i++) {
        struct pty_source *src = srcs[i];
        if (src->ev == NULL || src->eof)
            continue;
        if (on && !event_pending(src->ev, EV_READ, NULL) && event_add(src->ev, NULL) < 0)
            log_error("pty session %s: cannot watch the shell's output", s->id);
        else if (!on)
            event_del(src->ev);
    }
}

/*
 * What src has now, up to one frame: a terminal hands out at most 4 KiB per read, so reads
 * go on until the frame is full or nothing is left, and the frame goes to the ring and the
 * client at once. Returns the bytes read, 0 at EOF (nothing read), -1 when none was there.
 */
static ssize_t read_source(struct pty_source *src)
{
    struct pty_shell *sh = src->sh;
    struct pty_session *s = sh->s;
    unsigned char buf[2 + PTY_READ_MAX];
    size_t got = 0;
    bool eof = false;
    while (got < PTY_READ_MAX) {
        ssize_t n = read(src->fd, buf + 2 + got, PTY_READ_MAX - got);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            /* EIO: every process closed the terminal's other side. */
            if (n < 0 && errno != EIO)
                log_warn("pty session %s: reading the shell's output: %s", s->id, strerror(errno));
            eof = true;
            break;
        }
    }
    if (got > 0) {
        ring_append(&s->ring, buf + 2, got);
        if (s->client != NULL)
            pty_attach_output(s->client, src->channel, buf, got);
    }
    if (eof) {
        event_del(src->ev);
        src->eof = true;
    }
    return got > 0 ? (ssize_t)got : eof ? 0 : -1;
}

static void on_output(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pty_source *src = arg;
    struct pty_shell *sh = src->sh;
    ssize_t n = read_source(src);
    if (!sh->exited)
        return;
    if (all_eof(sh))
        drain_over(sh);
    else if (n > 0)
        evt_arm_ms(sh->drain_ev, DRAIN_IDLE_MS); /* data came: the idle wait starts again */
}

static int source_open(struct pty_shell *sh, struct pty_source *src, int fd, int channel)
{
    src->sh = sh;
    src->fd = fd;
    src->channel = channel;
    src->eof = false;
    src->ev = event_new(worker_base(), fd, EV_READ | EV_PERSIST, on_output, src);
    return src->ev != NULL ? 0 : -1;
}

/* ---- stdin ------------------------------------------------------------------------------ */

static int write_queued(struct pty_shell *sh, struct strbuf *err)
{
    while (sh->in_queue.len > 0) {
        ssize_t n = write(sh->in_fd, sh->in_queue.data, sh->in_queue.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            strbuf_printf(err, "write to the shell: %s", strerror(errno));
            return -1;
        }
        strbuf_consume(&sh->in_queue, (size_t)n);
    }
    return 0;
}

/* Watches stdin for room while input waits; holds or releases the client. */
static void stdin_changed(struct pty_shell *sh)
{
    size_t queued = sh->in_queue.len;
    if (queued > 0 && !event_pending(sh->in_ev, EV_WRITE, NULL) && event_add(sh->in_ev, NULL) < 0)
        log_error("pty session %s: cannot watch the shell's input", sh->s->id);
    if (queued == 0)
        event_del(sh->in_ev);
    if (sh->s->client == NULL)
        return;
    if (queued > STDIN_HIGH)
        pty_attach_input_full(sh->s->client, true);
    else if (queued <= STDIN_LOW)
        pty_attach_input_full(sh->s->client, false);
}

static void on_stdin_room(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pty_shell *sh = arg;
    struct strbuf err = STRBUF_INIT;
    if (write_queued(sh, &err) < 0) {
        log_info("pty session %s: %s", sh->s->id, err.data);
        strbuf_reset(&sh->in_queue); /* the shell is going: its output ends the session */
    }
    stdin_changed(sh);
    strbuf_free(&err);
}

int pty_shell_write(struct pty_session *s, const char *data, size_t len, struct strbuf *err)
{
    struct pty_shell *sh = s->shell;
    if (sh == NULL || sh->exited || sh->in_fd < 0 || len == 0)
        return 0; /* nobody to read it */
    strbuf_append(&sh->in_queue, data, len);
    int rc = write_queued(sh, err);
    if (rc < 0)
        strbuf_reset(&sh->in_queue);
    stdin_changed(sh);
    return rc;
}

/* ---- the process -------------------------------------------------------------------------- */

static void finish(struct pty_shell *sh)
{
    struct pty_session *s = sh->s;
    int code = spawn_exit_code(sh->status);
    struct strbuf how = STRBUF_INIT;
    spawn_describe_status(sh->status, &how);
    log_info("pty session %s: shell ended (%s)", s->id, how.data);
    strbuf_free(&how);
    drop_kept(s);
    s->shell = NULL;
    shell_free(sh);
    pty_session_save(s);
    if (s->client != NULL)
        pty_attach_exited(s->client, code);
    worker_changed();
}

/* The last output: one more read of whatever is there, then the exit frame. */
static void drain_over(struct pty_shell *sh)
{
    struct pty_source *srcs[2] = {&sh->out, &sh->err};
    for (int i = 0; i < 2; i++) {
        for (int reads = 0; !srcs[i]->eof && srcs[i]->fd >= 0 && reads < 32; reads++) {
            if (read_source(srcs[i]) <= 0)
                break;
        }
    }
    finish(sh);
}

static void on_drain(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pty_shell *sh = arg;
    int64_t left = DRAIN_MAX_MS - (clock_mono_ms() - sh->drain_started_ms);
    if (left > 0 && !may_read(sh->s))
        evt_arm_ms(sh->drain_ev, left < DRAIN_IDLE_MS ? left : DRAIN_IDLE_MS);
    else
        drain_over(sh);
}

static void exited(struct pty_shell *sh, int status)
{
    sh->exited = true;
    sh->status = status;
    sh->pid = 0;
    unreaped--;
    evt_free(&sh->exit_ev);
    evt_free(&sh->unknown_ev);
    if (sh->pidfd >= 0)
        close(sh->pidfd);
    sh->pidfd = -1;
    if (sh->s == NULL) { /* killed: nothing more to say */
        list_del(&sh->dying);
        shell_free(sh);
        worker_changed();
        return;
    }
    pty_session_save(sh->s);
    if (all_eof(sh)) {
        finish(sh);
        return;
    }
    sh->drain_started_ms = clock_mono_ms();
    sh->drain_ev = evtimer_new(worker_base(), on_drain, sh);
    evt_arm_ms(sh->drain_ev, DRAIN_IDLE_MS);
    pty_shell_update_reading(sh->s);
}

static void on_unknown_status(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pty_shell *sh = arg;
    log_warn("pty: shell %d: exit status unknown (started by a previous worker)", (int)sh->pid);
    exited(sh, W_EXITCODE(0, SIGKILL)); /* reported as -1, like a signal */
}

static void on_exit_ready(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pty_shell *sh = arg;
    if (!sh->child) {
        /* The master reaps it and tells us (reaped). */
        event_del(sh->exit_ev);
        sh->unknown_ev = evtimer_new(worker_base(), on_unknown_status, sh);
        evt_arm_ms(sh->unknown_ev, UNKNOWN_STATUS_MS);
        return;
    }
    int status = 0;
    pid_t r = waitpid(sh->pid, &status, WNOHANG);
    if (r == 0)
        return;
    if (r < 0) {
        log_error("pty: waiting for shell %d: %s", (int)sh->pid, strerror(errno));
        status = W_EXITCODE(0, SIGKILL);
    }
    exited(sh, status);
}

static int watch_exit(struct pty_shell *sh)
{
    sh->pidfd = spawn_pidfd(sh->pid);
    if (sh->pidfd < 0)
        return -1;
    sh->exit_ev = event_new(worker_base(), sh->pidfd, EV_READ | EV_PERSIST, on_exit_ready, sh);
    return sh->exit_ev != NULL && event_add(sh->exit_ev, NULL) == 0 ? 0 : -1;
}

void pty_shell_reaped(struct pty_session *s, pid_t pid, int status)
{
    struct pty_shell *sh = s->shell;
    if (sh != NULL && !sh->child && sh->pid == pid && !sh->exited)
        exited(sh, status);
}

static struct pty_shell *shell_new(struct pty_session *s, bool pipe_mode)
{
    struct pty_shell *sh = xcalloc(1, sizeof(*sh));
    sh->s = s;
    sh->pipe_mode = pipe_mode;
    sh->pidfd = -1;
    sh->in_fd = -1;
    sh->out.fd = sh->err.fd = -1;
    sh->out.sh = sh->err.sh = sh;
    sh->out.eof = true;
    sh->err.eof = true;
    list_init(&sh->dying);
    return sh;
}

/* The terminal: its master side (non-blocking, ours) and its slave side (the shell's). */
static int open_terminal(int *master, int *slave, struct strbuf *err)
{
    char name[128];
    struct winsize size = {.ws_row = INITIAL_ROWS, .ws_col = INITIAL_COLS};
    *slave = -1;
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (*master < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0 ||
        ptsname_r(*master, name, sizeof(name)) != 0 ||
        (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 ||
        ioctl(*master, TIOCSWINSZ, &size) < 0) {
        strbuf_printf(err, "open pty: %s", strerror(errno));
        if (*master >= 0)
            close(*master);
        if (*slave >= 0)
            close(*slave);
        return -1;
    }
    return 0;
}

/* Three pipes: ours[i] is the end the worker keeps, theirs[i] the shell's stdin/out/err. */
static int open_pipes(int ours[3], int theirs[3], struct strbuf *err)
{
    for (int i = 0; i < 3; i++)
        ours[i] = theirs[i] = -1;
    for (int i = 0; i < 3; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            strbuf_printf(err, "pipe: %s", strerror(errno));
            for (int j = 0; j < i; j++) {
                close(ours[j]);
                close(theirs[j]);
            }
            return -1;
        }
        ours[i] = i == 0 ? p[1] : p[0];
        theirs[i] = i == 0 ? p[0] : p[1];
        if (fcntl(ours[i], F_SETFL, O_NONBLOCK) < 0)
            log_warn("pty: cannot make a pipe non-blocking: %s", strerror(errno));
    }
    return 0;
}

static pid_t spawn_shell_process(const struct pty_session *s, bool terminal, const int fds[3],
                                 struct strbuf *err)
{
    const char *path = spawn_shell();
    char *copy = xstrdup(path);
    bool bash = strcmp(basename(copy), "bash") == 0;
    free(copy);
    char *argv[7];
    int n = 0;
    argv[n++] = (char *)path;
    if (bash) {
        argv[n++] = "--norc";
        argv[n++] = "--noprofile";
    }
    if (s->command != NULL) {
        argv[n++] = "-c";
        argv[n++] = s->command;
    }
    argv[n] = NULL;
    struct envmap env;
    worker_environment(&env);
    struct spawn_req req;
    spawn_req_init(&req);
    req.path = path;
    req.argv = argv;
    req.envp = env.entries;
    req.cwd = s->cwd;
    req.stdin_fd = fds[0];
    req.stdout_fd = fds[1];
    req.stderr_fd = fds[2];
    req.new_session = terminal;
    req.terminal = terminal;
    pid_t pid = spawn_process(&req, err);
    envmap_free(&env);
    return pid;
}

int pty_shell_start(struct pty_session *s, bool pipe_mode, struct strbuf *err)
{
    int ours[3], theirs[3];
    if (pipe_mode) {
        if (open_pipes(ours, theirs, err) < 0)
            return -1;
    } else {
        int master, slave;
        if (open_terminal(&master, &slave, err) < 0)
            return -1;
        ours[0] = ours[1] = master;
        ours[2] = -1;
        theirs[0] = theirs[1] = theirs[2] = slave;
    }
    /* Our ends belong to the shell struct from here: shell_free closes them. */
    struct pty_shell *sh = shell_new(s, pipe_mode);
    sh->in_fd = ours[0];
    sh->out.fd = ours[1];
    sh->err.fd = ours[2];
    pid_t pid = -1;
    if (source_open(sh, &sh->out, ours[1], PTY_CH_STDOUT) < 0 ||
        (pipe_mode && source_open(sh, &sh->err, ours[2], PTY_CH_STDERR) < 0) ||
        (sh->in_ev =
             event_new(worker_base(), sh->in_fd, EV_WRITE | EV_PERSIST, on_stdin_room, sh)) == NULL)
        strbuf_append_str(err, "cannot watch the shell");
    else
        pid = spawn_shell_process(s, !pipe_mode, theirs, err);
    for (int i = 0; i < (pipe_mode ? 3 : 1); i++)
        close(theirs[i]);
    if (pid < 0) {
        shell_free(sh);
        return -1;
    }
    sh->pid = pid;
    sh->child = true;
    sh->pid_start = spawn_proc_start(pid);
    unreaped++;
    if (watch_exit(sh) < 0)
        log_error("pty session %s: cannot watch shell %d: %s", s->id, (int)pid, strerror(errno));
    if (pipe_mode) {
        keep(s, "stdin", ours[0]);
        keep(s, "stdout", ours[1]);
        keep(s, "stderr", ours[2]);
    } else {
        keep(s, "pty", ours[0]);
    }
    s->shell = sh;
    pty_session_save(s);
    log_info("pty session %s: shell %d started (%s mode)", s->id, (int)pid,
             pipe_mode ? "pipe" : "pty");
    pty_shell_update_reading(s);
    return 0;
}

void pty_shell_settle(struct pty_session *s)
{
    if (s->shell != NULL && s->shell->exited)
        drain_over(s->shell);
}

void pty_shell_adopt(struct pty_session *s, bool pipe_mode, pid_t pid, unsigned long long start)
{
    struct pty_shell *sh = shell_new(s, pipe_mode);
    sh->pid = pid;
    sh->pid_start = start;
    sh->child = false;
    s->shell = sh;
    unreaped++;
    if (watch_exit(sh) < 0)
        log_error("pty session %s: cannot watch adopted shell %d: %s", s->id, (int)pid,
                  strerror(errno));
}

/* Where an adopted shell's kept descriptor goes: its stdin, an output source, or both. */
static bool kept_slot(struct pty_shell *sh, const char *what, bool *in, struct pty_source **src)
{
    bool term = strcmp(what, "pty") == 0;
    *in = term || strcmp(what, "stdin") == 0;
    *src = term || strcmp(what, "stdout") == 0 ? &sh->out
           : strcmp(what, "stderr") == 0       ? &sh->err
                                               : NULL;
    if (sh->exited || term == sh->pipe_mode || (!*in && *src == NULL))
        return false;
    return !(*in && sh->in_fd >= 0) && !(*src != NULL && (*src)->fd >= 0);
}

void pty_shell_kept(struct pty_session *s, const char *what, int fd)
{
    struct pty_shell *sh = s->shell;
    bool in;
    struct pty_source *src;
    if (sh == NULL || !kept_slot(sh, what, &in, &src)) {
        close(fd);
        return;
    }
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        log_warn("pty session %s: cannot make its %s non-blocking", s->id, what);
    if (in) {
        sh->in_fd = fd;
        sh->in_ev = event_new(worker_base(), fd, EV_WRITE | EV_PERSIST, on_stdin_room, sh);
    }
    if (src != NULL &&
        source_open(sh, src, fd, src == &sh->err ? PTY_CH_STDERR : PTY_CH_STDOUT) < 0)
        log_error("pty session %s: cannot watch its %s", s->id, what);
    pty_shell_update_reading(s);
}

void pty_shell_resize(struct pty_session *s, int cols, int rows)
{
    struct pty_shell *sh = s->shell;
    if (sh == NULL || sh->pipe_mode || sh->in_fd < 0)
        return;
    struct winsize size = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    if (ioctl(sh->in_fd, TIOCSWINSZ, &size) < 0)
        log_warn("pty session %s: resize to %dx%d: %s", s->id, cols, rows, strerror(errno));
}

/*
 * To the shell's process group; in PTY mode also to the terminal's foreground group, the
 * job running at the prompt (what ^C reaches), which job control keeps out of the shell's.
 */
static void signal_groups(struct pty_shell *sh, int signo)
{
    if (sh->pid <= 0)
        return;
    if (kill(-sh->pid, signo) < 0 && errno != ESRCH)
        log_warn("pty: signal %d to group %d: %s", signo, (int)sh->pid, strerror(errno));
    pid_t fg = !sh->pipe_mode && sh->in_fd >= 0 ? tcgetpgrp(sh->in_fd) : -1;
    if (fg > 0 && fg != sh->pid && kill(-fg, signo) < 0 && errno != ESRCH)
        log_warn("pty: signal %d to group %d: %s", signo, (int)fg, strerror(errno));
}

void pty_shell_signal(struct pty_session *s, int signo)
{
    if (s->shell != NULL && !s->shell->exited)
        signal_groups(s->shell, signo);
}

void pty_shell_kill(struct pty_session *s)
{
    struct pty_shell *sh = s->shell;
    if (sh == NULL)
        return;
    s->shell = NULL;
    drop_kept(s);
    if (!sh->exited)
        signal_groups(sh, SIGKILL);
    close_io(sh);
    evt_free(&sh->drain_ev);
    sh->s = NULL;
    if (sh->exited || !sh->child) {
        if (!sh->exited)
            unreaped--; /* the master reaps it */
        shell_free(sh);
        return;
    }
    list_add_tail(&dying, &sh->dying); /* reaped when its pidfd says so */
}

void pty_shell_release(struct pty_session *s)
{
    struct pty_shell *sh = s->shell;
    if (sh == NULL)
        return;
    s->shell = NULL;
    shell_free(sh);
}

void pty_shell_forget_dying(void)
{
    while (!list_empty(&dying)) {
        struct pty_shell *sh = list_first(&dying, struct pty_shell, dying);
        list_del(&sh->dying);
        shell_free(sh);
    }
}
