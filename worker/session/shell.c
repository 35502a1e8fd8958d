/*
 * A session's shell: bash with the driver (driver.c) in its own session, its three fifos,
 * its exit (a pidfd; the wait status from waitpid, or from the master for a shell adopted
 * from a previous worker), and the state.json that lets the next worker adopt it.
 */
#include "session/session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "core/evt.h"
#include "core/fdread.h"
#include "core/jsonfile.h"
#include "core/spawn.h"
#include "envmap.h"
#include "jsonreq.h"
#include "log.h"
#include "procstat.h"
#include "worker.h"
#include "xalloc.h"

/* Reads of the output fifo per wake-up, so one chatty shell cannot starve the others. */
#define READS_PER_WAKEUP 4
/* An adopted shell that exited: wait this long for the master's wait status. */
#define UNKNOWN_STATUS_MS 1000

static void path_of(const struct session *s, const char *name, struct strbuf *out)
{
    strbuf_reset(out);
    strbuf_printf(out, "%s/%s", s->dir, name);
}

/* Opens the fifo name of s (created when missing). Returns the fd, or -1 with err. */
static int open_fifo(const struct session *s, const char *name, int flags, struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT;
    path_of(s, name, &path);
    if (mkfifo(path.data, 0600) < 0 && errno != EEXIST) {
        strbuf_printf(err, "mkfifo %s: %s", path.data, strerror(errno));
        strbuf_free(&path);
        return -1;
    }
    int fd = open(path.data, flags | O_CLOEXEC);
    if (fd < 0)
        strbuf_printf(err, "open %s: %s", path.data, strerror(errno));
    strbuf_free(&path);
    return fd;
}

/* Releases descriptors and events (the process is left alone). */
static void shell_close(struct shell *sh)
{
    evt_free(&sh->exit_ev);
    evt_free(&sh->out_ev);
    evt_free(&sh->st_ev);
    evt_free(&sh->unknown_ev);
    int *fds[] = {&sh->pidfd, &sh->ctl, &sh->out, &sh->st};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    strbuf_free(&sh->st_line);
}

void shell_init(struct shell *sh)
{
    memset(sh, 0, sizeof(*sh));
    sh->pidfd = sh->ctl = sh->out = sh->st = -1;
}

void shell_reset(struct shell *sh)
{
    shell_close(sh);
    shell_init(sh);
}

bool shell_alive(const struct session *s)
{
    return s->sh.pid > 0 && !s->sh.exited;
}

void shell_kill(struct session *s, int sig)
{
    if (!shell_alive(s))
        return;
    if (kill(-s->sh.pid, sig) < 0 && errno != ESRCH)
        log_warn("session %s: signal %d to group %d: %s", s->id, sig, (int)s->sh.pid,
                 strerror(errno));
}

void shell_save_state(const struct session *s)
{
    json_object *o = xjson_object();
    json_object_object_add(o, "id", xjson_string(s->id));
    if (s->language != NULL)
        json_object_object_add(o, "language", xjson_string(s->language));
    json_object_object_add(o, "default", xjson_bool(s->dflt));
    if (s->cwd != NULL)
        json_object_object_add(o, "cwd", xjson_string(s->cwd));
    if (s->envs != NULL)
        json_object_object_add(o, "envs", json_object_get(s->envs));
    if (shell_alive(s)) {
        json_object_object_add(o, "pid", xjson_int64(s->sh.pid));
        json_object_object_add(o, "pid_start", xjson_int64((int64_t)s->sh.pid_start));
    }
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    path_of(s, "state.json", &path);
    if (jsonfile_save(path.data, o, &err) < 0)
        log_error("session %s: %s", s->id, err.data);
    strbuf_free(&path);
    strbuf_free(&err);
    json_object_put(o);
}

/* ---- output and status ------------------------------------------------------------------ */

void shell_watch_output(struct session *s, bool on)
{
    if (s->sh.out_ev == NULL)
        return;
    if (on)
        event_add(s->sh.out_ev, NULL);
    else
        event_del(s->sh.out_ev);
}

static void feed(void *arg, const char *data, size_t len)
{
    run_output(arg, data, len);
}

void shell_read_output(struct session *s, int max_reads)
{
    if (s->sh.out < 0 || fdread_chunks(s->sh.out, max_reads, feed, s) == FDREAD_AGAIN)
        return;
    if (errno != 0)
        log_warn("session %s: reading output: %s", s->id, strerror(errno));
    /* Nobody holds the fifo open for writing any more: nothing until a new shell. */
    evt_free(&s->sh.out_ev);
}

static void on_output(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct session *s = arg;
    shell_read_output(s, READS_PER_WAKEUP);
    run_output_done(s);
}

/* Reads the status fifo once and hands over the complete lines. */
static void read_status(struct session *s)
{
    char buf[4096];
    ssize_t n = s->sh.st >= 0 ? read(s->sh.st, buf, sizeof(buf)) : -1;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        evt_free(&s->sh.st_ev); /* no writer left: nothing until a new shell */
    if (n <= 0)
        return;
    strbuf_append(&s->sh.st_line, buf, (size_t)n);
    char *nl;
    while (s->sh.st_line.len > 0 &&
           (nl = memchr(s->sh.st_line.data, '\n', s->sh.st_line.len)) != NULL) {
        *nl = '\0';
        char *line = xstrdup(s->sh.st_line.data);
        strbuf_consume(&s->sh.st_line, (size_t)(nl - s->sh.st_line.data) + 1);
        run_status_line(s, line);
        free(line);
    }
}

static void on_status(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct session *s = arg;
    read_status(s);
    run_next(s);
}

/* ---- exit ------------------------------------------------------------------------------ */

static void exited(struct session *s, int status)
{
    s->sh.exited = true;
    s->sh.status = status;
    evt_free(&s->sh.exit_ev);
    evt_free(&s->sh.unknown_ev);
    /* What the shell wrote before it ended is in the fifos. */
    shell_read_output(s, SESSION_READS_AT_END);
    read_status(s);
    run_shell_exited(s);
    session_shell_gone(s);
}

static void on_unknown_status(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct session *s = arg;
    log_warn("session %s: exit status of shell %d unknown (started by a previous worker)", s->id,
             (int)s->sh.pid);
    exited(s, W_EXITCODE(255, 0));
}

static void on_shell_exit(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct session *s = arg;
    if (!s->sh.child) {
        /* The master reaps it (it is the subreaper) and sends its status. */
        evt_free(&s->sh.exit_ev);
        s->sh.unknown_ev = evtimer_new(worker_base(), on_unknown_status, s);
        evt_arm_ms(s->sh.unknown_ev, UNKNOWN_STATUS_MS);
        return;
    }
    int status;
    pid_t r = waitpid(s->sh.pid, &status, WNOHANG);
    if (r == 0)
        return;
    if (r < 0) {
        log_error("session %s: waitpid(%d): %s", s->id, (int)s->sh.pid, strerror(errno));
        status = W_EXITCODE(255, 0);
    }
    exited(s, status);
}

bool shell_reaped(struct session *s, pid_t pid, int status)
{
    if (s->sh.child || s->sh.pid != pid || s->sh.exited)
        return false;
    exited(s, status);
    return true;
}

/* Events on the shell's descriptors and its exit. Returns 0, or -1 with err. */
static int watch(struct session *s, struct strbuf *err)
{
    s->sh.pidfd = spawn_pidfd(s->sh.pid);
    if (s->sh.pidfd < 0) {
        strbuf_printf(err, "pidfd_open(%d): %s", (int)s->sh.pid, strerror(errno));
        return -1;
    }
    struct event_base *base = worker_base();
    s->sh.exit_ev = event_new(base, s->sh.pidfd, EV_READ | EV_PERSIST, on_shell_exit, s);
    s->sh.out_ev = event_new(base, s->sh.out, EV_READ | EV_PERSIST, on_output, s);
    s->sh.st_ev = event_new(base, s->sh.st, EV_READ | EV_PERSIST, on_status, s);
    if (s->sh.exit_ev == NULL || s->sh.out_ev == NULL || s->sh.st_ev == NULL ||
        event_add(s->sh.exit_ev, NULL) < 0 || event_add(s->sh.st_ev, NULL) < 0) {
        strbuf_append_str(err, "cannot watch the shell");
        return -1;
    }
    shell_watch_output(s, run_output_allowed(s));
    return 0;
}

/* Our ends of the fifos: output and status read, control read-write (never blocks). */
static int open_ends(struct session *s, struct strbuf *err)
{
    s->sh.out = open_fifo(s, "out", O_RDONLY | O_NONBLOCK, err);
    s->sh.st = s->sh.out < 0 ? -1 : open_fifo(s, "st", O_RDONLY | O_NONBLOCK, err);
    s->sh.ctl = s->sh.st < 0 ? -1 : open_fifo(s, "ctl", O_RDWR | O_NONBLOCK, err);
    strbuf_init(&s->sh.st_line);
    return s->sh.ctl < 0 ? -1 : 0;
}

/* ---- start ---------------------------------------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat st;
    return path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The first shell starts with the daemon's environment, EXECD_ENVS and the creation's
 * envs; a later one with nothing, the snapshot restoring every variable (so one the user
 * unset stays unset).
 */
static void shell_environment(const struct session *s, bool restoring, struct envmap *env)
{
    if (restoring) {
        envmap_init(env);
        return;
    }
    worker_environment(env);
    if (s->envs == NULL)
        return;
    json_object_object_foreach(s->envs, key, value)
    {
        if (value != NULL && json_object_is_type(value, json_type_string))
            envmap_set(env, key, json_object_get_string(value));
    }
}

int shell_start(struct session *s, struct strbuf *err)
{
    const char *bash = spawn_shell();
    if (strstr(bash, "bash") == NULL) {
        strbuf_printf(err, "sessions need bash, and there is only %s", bash);
        return -1;
    }
    shell_reset(&s->sh);
    int child_out = -1;
    if (open_ends(s, err) < 0 || (child_out = open_fifo(s, "out", O_RDWR, err)) < 0) {
        shell_reset(&s->sh);
        return -1;
    }
    /* A record that a shell which died never read must not reach the new one. */
    char junk[512];
    while (read(s->sh.ctl, junk, sizeof(junk)) > 0)
        ;
    struct strbuf snap = STRBUF_INIT;
    path_of(s, "snap", &snap);
    bool restoring = access(snap.data, R_OK) == 0;
    strbuf_free(&snap);

    struct envmap env;
    shell_environment(s, restoring, &env);
    char *argv[] = {(char *)bash,           "--noprofile", "--norc", "-c",
                    (char *)session_driver, "bash",        s->dir,   NULL};
    struct spawn_req req;
    spawn_req_init(&req);
    req.path = bash;
    req.argv = argv;
    req.envp = env.entries;
    req.cwd = is_dir(s->cwd) ? s->cwd : NULL;
    req.stdout_fd = child_out;
    req.stderr_fd = child_out;
    req.new_session = true; /* survives this worker; its pid is its process group */
    pid_t pid = spawn_process(&req, err);
    close(child_out);
    envmap_free(&env);
    if (pid < 0) {
        shell_reset(&s->sh);
        return -1;
    }
    s->sh.pid = pid;
    s->sh.pid_start = spawn_proc_start(pid);
    s->sh.child = true;
    if (watch(s, err) < 0) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        shell_reset(&s->sh);
        return -1;
    }
    shell_save_state(s);
    log_debug("session %s: shell %d started%s", s->id, (int)pid,
              restoring ? " from the last snapshot" : "");
    return 0;
}

void shell_adopt(struct session *s, json_object *state)
{
    shell_reset(&s->sh);
    int64_t pid = 0, start = 0;
    struct procstat st;
    if (jsonreq_int64(state, "pid", &pid) != JSONREQ_OK ||
        jsonreq_int64(state, "pid_start", &start) != JSONREQ_OK || pid <= 0 || pid > INT32_MAX ||
        !procstat_same((pid_t)pid, (unsigned long long)start) ||
        procstat_read((pid_t)pid, &st) < 0 || st.state == 'Z')
        return; /* no shell: the next run starts one */
    struct strbuf err = STRBUF_INIT;
    s->sh.pid = (pid_t)pid;
    s->sh.pid_start = (unsigned long long)start;
    s->sh.child = false;
    if (open_ends(s, &err) < 0 || watch(s, &err) < 0) {
        log_warn("session %s: cannot adopt shell %d (%s); killing it", s->id, (int)pid, err.data);
        kill(-(pid_t)pid, SIGKILL);
        shell_reset(&s->sh);
    }
    strbuf_free(&err);
}
