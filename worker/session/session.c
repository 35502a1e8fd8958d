/*
 * The session executor: the /session operations, the bash code contexts (/code with
 * language bash when no bash kernelspec is installed: the jupyter executor hands those
 * operations here), interrupts of kind "session", adoption of a previous worker's
 * sessions and their shells, shutdown. See session.h for the design.
 */
#include "session/session.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "core/deferq.h"
#include "core/evt.h"
#include "envmap.h"
#include "executor.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "log.h"
#include "pathexp.h"
#include "strmap.h"
#include "worker.h"
#include "xalloc.h"

static struct {
    char *dir; /* <state>/sessions */
    struct strmap by_id;
    bool adopted;  /* a previous worker's sessions are known (ids before that may be theirs) */
    bool stopping; /* no new shell from now on */
    struct deferq deferred;
    struct event *kill_ev;
} ss = {.deferred = DEFERQ_INIT(ss.deferred)};

/* ---- sessions ------------------------------------------------------------------------ */

/* Calls fn for every session; fn may free its session. */
static void each(void (*fn)(struct session *s, void *arg), void *arg)
{
    size_t n = 0;
    struct session **all = xcalloc(ss.by_id.len + 1, sizeof(*all));
    for (size_t b = 0; b < ss.by_id.nbuckets; b++) {
        for (struct strmap_entry *e = ss.by_id.buckets[b]; e != NULL; e = e->next)
            all[n++] = e->value;
    }
    for (size_t i = 0; i < n; i++)
        fn(all[i], arg);
    free(all);
}

static void send_register(const struct session *s)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("register"));
    json_object_object_add(msg, "kind", xjson_string("session"));
    json_object_object_add(msg, "id", xjson_string(s->id));
    if (s->language != NULL) {
        json_object_object_add(msg, "language", xjson_string(s->language));
        json_object_object_add(msg, "default", xjson_bool(s->dflt));
    }
    out_msg(0, msg);
}

static struct session *session_alloc(const char *id)
{
    struct session *s = xcalloc(1, sizeof(*s));
    if (id != NULL)
        snprintf(s->id, sizeof(s->id), "%s", id);
    else
        ids_uuid_dashed(s->id);
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/%s", ss.dir, s->id);
    s->dir = strbuf_detach(&dir);
    shell_init(&s->sh);
    list_init(&s->runs);
    list_init(&s->waiters);
    strmap_put(&ss.by_id, s->id, s);
    return s;
}

static void session_free(struct session *s)
{
    list_each_safe(&s->runs, it, nx)
    {
        struct run *r = list_entry(it, struct run, node);
        list_del(it);
        if (r->job != 0)
            wjob_remove(r->job);
        run_free(r);
    }
    list_each_safe(&s->waiters, it, nx)
    {
        struct session_waiter *w = list_entry(it, struct session_waiter, node);
        list_del(it);
        if (w->pending != NULL && --*w->pending == 0)
            free(w->pending);
        free(w);
    }
    shell_reset(&s->sh);
    strmap_del(&ss.by_id, s->id);
    json_object_put(s->envs);
    free(s->language);
    free(s->cwd);
    free(s->dir);
    free(s);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (unlinkat(dirfd(d), e->d_name, 0) < 0)
                log_warn("cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
        }
        closedir(d);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", dir, strerror(errno));
}

/*
 * A new session with a running shell, registered with the master. cwd: expanded, created
 * if missing. Returns NULL with the reason in err.
 */
static struct session *session_create(const char *language, bool dflt, const char *cwd,
                                      json_object *envs, struct strbuf *err)
{
    if (ss.stopping) {
        strbuf_append_str(err, "the daemon is stopping");
        return NULL;
    }
    if (cwd != NULL && fsutil_mkdir_p(cwd, 0777) < 0) {
        strbuf_printf(err, "mkdir %s: %s", cwd, strerror(errno));
        return NULL;
    }
    struct session *s = session_alloc(NULL);
    s->language = language != NULL ? xstrdup(language) : NULL;
    s->dflt = dflt;
    s->cwd = cwd != NULL ? xstrdup(cwd) : NULL;
    s->envs = envs != NULL ? json_object_get(envs) : NULL;
    if (mkdir(s->dir, 0700) < 0) {
        strbuf_printf(err, "mkdir %s: %s", s->dir, strerror(errno));
        session_free(s);
        return NULL;
    }
    if (shell_start(s, err) < 0) {
        remove_dir(s->dir);
        session_free(s);
        return NULL;
    }
    send_register(s);
    return s;
}

bool session_busy(const struct session *s)
{
    if (!list_empty(&s->waiters))
        return true;
    /* A run nobody listens to (the adoption's empty run, a code run whose client left)
     * does not hold a draining worker: its shell survives and the next worker adopts it. */
    list_each_safe(&s->runs, it, nx)
    {
        if (list_entry(it, struct run, node)->job != 0)
            return true;
    }
    return false;
}

void session_shell_gone(struct session *s)
{
    list_each_safe(&s->waiters, it, nx)
    {
        struct session_waiter *w = list_entry(it, struct session_waiter, node);
        list_del(it);
        if (w->pending == NULL || --*w->pending == 0) {
            out_reply_empty(w->job, 200);
            free(w->pending);
        }
        free(w);
    }
    s->interrupting = false;
    if (s->deleting) {
        remove_dir(s->dir);
        session_free(s);
    } else if (ss.stopping) {
        run_fail_queued(s, "the daemon is stopping");
    } else {
        shell_save_state(s);
        run_next(s);
    }
    worker_changed();
}

/*
 * Kills the shell of s; job (0: none) is answered once it is gone, or once *pending
 * (allocated, shared by several sessions) counts down to 0.
 */
static void kill_shell(struct session *s, uint32_t job, int *pending)
{
    if (job != 0) {
        struct session_waiter *w = xmalloc(sizeof(*w));
        w->job = job;
        w->pending = pending;
        list_add_tail(&s->waiters, &w->node);
    }
    if (shell_alive(s))
        shell_kill(s, SIGKILL);
    else
        session_shell_gone(s);
}

/* Deletes s: unregistered now, its shell's group killed, answered (job) when it is gone. */
static void session_delete(struct session *s, uint32_t job, int *pending)
{
    if (!s->deleting) {
        s->deleting = true;
        out_unregister(s->id);
        run_fail_queued(s, "the session was deleted");
    }
    kill_shell(s, job, pending);
}

/*
 * The session msg's id names. NULL when this worker does not have it: the job was deferred
 * (*deferred) when a previous worker's sessions are still to be adopted, else the id, stale
 * in the master's registry, is unregistered and the caller answers "not found".
 */
static struct session *find(uint32_t job, json_object *msg, deferq_fn again, const char **id,
                            bool *deferred)
{
    *id = "";
    *deferred = false;
    jsonreq_string(msg, "id", id);
    struct session *s = strmap_get(&ss.by_id, *id);
    if (s != NULL && !s->deleting)
        return s;
    if (!ss.adopted) {
        deferq_add(&ss.deferred, job, again, msg);
        *deferred = true;
        return NULL;
    }
    if (s == NULL && (*id)[0] != '\0')
        out_unregister(*id);
    return NULL;
}

/* A path argument expanded as the daemon's paths are, absolute. Returns NULL with err. */
static char *expand_path(const char *path, struct strbuf *err)
{
    struct envmap env;
    worker_environment(&env);
    struct strbuf out = STRBUF_INIT;
    char *res = NULL;
    if (pathexp_expand_abs(path, envmap_lookup, &env, &out, err) == 0)
        res = strbuf_detach(&out);
    strbuf_free(&out);
    envmap_free(&env);
    return res;
}

/* ---- POST /session, DELETE /session/{id} ------------------------------------------------ */

/*
 * A session created for job with cwd as the client gave it ("": none). NULL after
 * answering 500 "<what>. <reason>".
 */
static struct session *create_for(uint32_t job, const char *language, const char *cwd,
                                  json_object *envs, const char *what)
{
    struct strbuf err = STRBUF_INIT;
    char *dir = cwd[0] != '\0' ? expand_path(cwd, &err) : NULL;
    struct session *s = NULL;
    if (cwd[0] == '\0' || dir != NULL)
        s = session_create(language, false, dir, envs, &err);
    if (s == NULL)
        out_reply_error(job, 500, "RUNTIME_ERROR", "%s. %s", what, err.data);
    free(dir);
    strbuf_free(&err);
    return s;
}

static void create_op(uint32_t job, json_object *msg)
{
    json_object *req = NULL, *envs = NULL;
    const char *cwd = "";
    jsonreq_object(msg, "request", &req);
    jsonreq_string(req, "cwd", &cwd);
    jsonreq_object(req, "envs", &envs);
    struct session *s = create_for(job, NULL, cwd, envs, "error creating session");
    if (s != NULL) {
        json_object *o = xjson_object();
        json_object_object_add(o, "session_id", xjson_string(s->id));
        out_reply_json(job, 200, o);
    }
}

static void delete_op(uint32_t job, json_object *msg)
{
    const char *id;
    bool deferred;
    struct session *s = find(job, msg, delete_op, &id, &deferred);
    if (s != NULL)
        session_delete(s, job, NULL);
    else if (!deferred)
        out_reply_error(job, 404, "CONTEXT_NOT_FOUND", "session %s not found", id);
}

/* ---- POST /session/{id}/run --------------------------------------------------------------- */

/* The run's working directory: expanded, absolute, an existing directory. NULL with err. */
static char *run_cwd(const char *cwd, struct strbuf *err)
{
    char *dir = expand_path(cwd, err);
    struct stat st;
    if (dir != NULL && stat(dir, &st) < 0) {
        strbuf_printf(err, "working directory does not exist: %s: stat %s: %s", cwd, dir,
                      strerror(errno));
    } else if (dir != NULL && !S_ISDIR(st.st_mode)) {
        strbuf_printf(err, "working directory path is not a directory: %s", cwd);
    } else {
        return dir;
    }
    free(dir);
    return NULL;
}

static void run_op(uint32_t job, json_object *msg)
{
    const char *id;
    bool deferred;
    struct session *s = find(job, msg, run_op, &id, &deferred);
    if (s == NULL) {
        if (!deferred)
            out_reply_error(job, 500, "RUNTIME_ERROR",
                            "error running in session. context not found");
        return;
    }
    json_object *req = NULL;
    const char *command = "", *cwd = "";
    int64_t timeout = 0;
    jsonreq_object(msg, "request", &req);
    jsonreq_string(req, "command", &command);
    jsonreq_string(req, "cwd", &cwd);
    jsonreq_int64(req, "timeout", &timeout);
    struct strbuf err = STRBUF_INIT;
    char *dir = NULL;
    if (cwd[0] != '\0' && (dir = run_cwd(cwd, &err)) == NULL)
        out_reply_error(job, 400, "INVALID_REQUEST_BODY", "invalid request. %s", err.data);
    else
        run_new(s, job, command, dir, timeout);
    free(dir);
    strbuf_free(&err);
}

/* ---- bash code contexts ---------------------------------------------------------------- */

struct match {
    const char *language;
    bool dflt_only;
    struct session **found;
    size_t n;
};

static void match_one(struct session *s, void *arg)
{
    struct match *m = arg;
    if (s->deleting || s->language == NULL || strcmp(s->language, m->language) != 0 ||
        (m->dflt_only && !s->dflt))
        return;
    m->found = xrealloc(m->found, (m->n + 1) * sizeof(*m->found));
    m->found[m->n++] = s;
}

/* This worker's default context of language, or NULL. */
static struct session *default_context(const char *language)
{
    struct match m = {language, true, NULL, 0};
    each(match_one, &m);
    struct session *s = m.n > 0 ? m.found[0] : NULL;
    free(m.found);
    return s;
}

/* code.run handed over: {id, code}, or {language, default, code} for the default context. */
static void code_run_op(uint32_t job, json_object *msg)
{
    const char *code = "", *id = NULL, *language = "bash";
    jsonreq_string(msg, "code", &code);
    jsonreq_string(msg, "language", &language);
    struct session *s;
    if (jsonreq_string(msg, "id", &id) == JSONREQ_OK && id[0] != '\0') {
        bool deferred;
        s = find(job, msg, code_run_op, &id, &deferred);
        if (s == NULL && !deferred)
            out_reply_error(job, 500, "RUNTIME_ERROR", "error running codes context not found");
    } else if ((s = default_context(language)) == NULL) {
        struct strbuf err = STRBUF_INIT;
        s = session_create(language, true, NULL, NULL, &err);
        if (s == NULL)
            out_reply_error(job, 500, "RUNTIME_ERROR", "error running codes %s", err.data);
        strbuf_free(&err);
    }
    if (s != NULL)
        run_new(s, job, code, NULL, 0);
}

/* code.context.create handed over: {language, cwd}. */
static void context_create_op(uint32_t job, json_object *msg)
{
    const char *language = "bash", *cwd = "";
    jsonreq_string(msg, "language", &language);
    jsonreq_string(msg, "cwd", &cwd);
    struct session *s = create_for(job, language, cwd, NULL, "error creating code context");
    if (s != NULL) {
        json_object *o = xjson_object();
        json_object_object_add(o, "id", xjson_string(s->id));
        json_object_object_add(o, "language", xjson_string(s->language));
        if (cwd[0] != '\0')
            json_object_object_add(o, "cwd", xjson_string(cwd));
        out_reply_json(job, 200, o);
    }
}

static void context_delete_op(uint32_t job, json_object *msg)
{
    const char *id;
    bool deferred;
    struct session *s = find(job, msg, context_delete_op, &id, &deferred);
    if (s != NULL && s->language != NULL)
        session_delete(s, job, NULL);
    else if (!deferred)
        out_reply_error(job, 404, "CONTEXT_NOT_FOUND", "context %s not found", id);
}

/* DELETE /code/contexts?language=: every bash context of this worker; answered when gone. */
static void contexts_delete_op(uint32_t job, json_object *msg)
{
    struct match m = {"", false, NULL, 0};
    jsonreq_string(msg, "language", &m.language);
    each(match_one, &m);
    if (m.n == 0) {
        out_reply_empty(job, 200);
    } else {
        int *pending = xmalloc(sizeof(*pending));
        *pending = (int)m.n;
        for (size_t i = 0; i < m.n; i++)
            session_delete(m.found[i], job, pending);
    }
    free(m.found);
}

/* ---- interrupt ---------------------------------------------------------------------------- */

/*
 * DELETE /command?id= or /code?id= with a session's id: a /session session is closed
 * (deleted), as in the Go daemon; a bash code context stays, its running command is killed
 * (the next run gets a fresh shell with the last snapshot), as a kernel interrupt would.
 */
static void interrupt_op(uint32_t job, json_object *msg)
{
    const char *id;
    bool deferred;
    struct session *s = find(job, msg, interrupt_op, &id, &deferred);
    if (deferred)
        return;
    if (s == NULL) {
        out_reply_error(job, 500, "RUNTIME_ERROR",
                        "error interruptting code context. no such session");
    } else if (s->language == NULL) {
        session_delete(s, job, NULL);
    } else if (run_current(s) != NULL || s->interrupting) {
        s->interrupting = true;
        kill_shell(s, job, NULL);
    } else {
        out_reply_empty(job, 200);
    }
}

static void session_interrupt(uint32_t job, const char *id EXECD_UNUSED, json_object *msg)
{
    interrupt_op(job, msg);
}

/* ---- adoption --------------------------------------------------------------------------- */

static void adopt_one(const char *name)
{
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&path, "%s/%s/state.json", ss.dir, name);
    json_object *state = jsonreq_read_file(path.data, &err);
    const char *id = NULL, *language = NULL, *cwd = NULL;
    json_object *envs = NULL;
    if (state == NULL || jsonreq_string(state, "id", &id) != JSONREQ_OK || strcmp(id, name) != 0 ||
        strlen(id) > IDS_DASHED_LEN || strmap_get(&ss.by_id, id) != NULL) {
        log_warn("session %s: not adopted: %s", name, state == NULL ? err.data : "bad state");
    } else {
        struct session *s = session_alloc(id);
        jsonreq_string(state, "language", &language);
        jsonreq_bool(state, "default", &s->dflt);
        jsonreq_string(state, "cwd", &cwd);
        jsonreq_object(state, "envs", &envs);
        s->language = language != NULL ? xstrdup(language) : NULL;
        s->cwd = cwd != NULL ? xstrdup(cwd) : NULL;
        s->envs = envs != NULL ? json_object_get(envs) : NULL;
        shell_adopt(s, state);
        send_register(s);
        log_info("session %s: adopted (%s)", s->id,
                 shell_alive(s) ? "shell attached" : "no shell: the next run starts one");
        /* A run of the previous worker may still be going: its status and output are
         * skipped until this empty run's status comes back. */
        if (shell_alive(s))
            run_new(s, 0, ":", NULL, 0);
    }
    json_object_put(state);
    strbuf_free(&path);
    strbuf_free(&err);
}

static void session_adopt(void)
{
    if (ss.adopted)
        return;
    ss.adopted = true;
    DIR *d = opendir(ss.dir);
    if (d == NULL) {
        log_error("cannot read %s: %s", ss.dir, strerror(errno));
    } else {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.')
                adopt_one(e->d_name);
        }
        closedir(d);
    }
    deferq_replay(&ss.deferred);
}

static int session_init(const struct wsettings *s EXECD_UNUSED, bool adopt)
{
    strmap_init(&ss.by_id);
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/sessions", worker_state_dir());
    ss.dir = strbuf_detach(&dir);
    if (mkdir(ss.dir, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", ss.dir, strerror(errno));
        return -1;
    }
    if (adopt)
        session_adopt();
    return 0;
}

/* ---- the worker's lifecycle ---------------------------------------------------------- */

struct reaped_arg {
    pid_t pid;
    int status;
    bool done;
};

static void reaped_one(struct session *s, void *arg)
{
    struct reaped_arg *r = arg;
    if (!r->done)
        r->done = shell_reaped(s, r->pid, r->status);
}

static void session_reaped(pid_t pid, int status)
{
    struct reaped_arg r = {pid, status, false};
    each(reaped_one, &r);
}

static void busy_one(struct session *s, void *arg)
{
    *(bool *)arg = *(bool *)arg || session_busy(s);
}

static bool executor_busy(void)
{
    bool busy = !deferq_empty(&ss.deferred);
    each(busy_one, &busy);
    return busy;
}

static void alive_one(struct session *s, void *arg)
{
    if (shell_alive(s))
        (*(size_t *)arg)++;
}

static size_t session_running(void)
{
    size_t n = 0;
    each(alive_one, &n);
    return n;
}

static void signal_one(struct session *s, void *arg)
{
    shell_kill(s, *(int *)arg);
}

static void on_kill_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                             void *arg EXECD_UNUSED)
{
    int sig = SIGKILL;
    each(signal_one, &sig);
}

static void session_shutdown(int64_t grace_ms)
{
    ss.stopping = true;
    int sig = SIGTERM;
    each(signal_one, &sig);
    if (ss.kill_ev == NULL)
        ss.kill_ev = evtimer_new(worker_base(), on_kill_deadline, NULL);
    evt_arm_ms(ss.kill_ev, grace_ms);
}

static void free_one(struct session *s, void *arg EXECD_UNUSED)
{
    /* Shells outlive the worker (the next one adopts them), unless the daemon stops. */
    if (ss.stopping)
        shell_kill(s, SIGKILL);
    session_free(s);
}

static void session_cleanup(void)
{
    each(free_one, NULL);
    strmap_free(&ss.by_id, NULL);
    deferq_clear(&ss.deferred);
    evt_free(&ss.kill_ev);
    free(ss.dir);
    ss.dir = NULL;
}

static const struct executor_op ops[] = {
    {"session.create", create_op},
    {"session.run", run_op},
    {"session.delete", delete_op},
    {"session.code.run", code_run_op},
    {"session.context.create", context_create_op},
    {"session.context.delete", context_delete_op},
    {"session.contexts.delete", contexts_delete_op},
    {NULL, NULL},
};

const struct executor session_executor = {
    .name = "session",
    .ops = ops,
    .interrupt_kind = "session",
    .init = session_init,
    .interrupt = session_interrupt,
    .reaped = session_reaped,
    .adopt = session_adopt,
    .busy = executor_busy,
    .running = session_running,
    .shutdown = session_shutdown,
    .cleanup = session_cleanup,
};
