#include "jupyter/context.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "core/evt.h"
#include "core/jsonfile.h"
#include "core/out.h"
#include "envmap.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "jupyter/kspec.h"
#include "jupyter/pool.h"
#include "log.h"
#include "pathexp.h"
#include "strmap.h"
#include "worker.h"
#include "xalloc.h"

/* A missing kernelspec is looked for again this often until spec_wait_ms. */
#define SPEC_RETRY_MS 200
/* Delete: after shutdown_request the kernel gets this long to exit before SIGKILL. */
#define DELETE_GRACE_MS 2000

static struct {
    char *kernels_dir, *records_dir;
    struct strmap all; /* every context, pool kernels included, by id */
    bool adopted;
    bool stopping;
    size_t n_stopping; /* kernels being shut down */
} cs;

static void start_kernel(struct context *c);

/* ---- helpers ---------------------------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- the store ------------------------------------------------------------------ */

static struct context *context_new(const char *id, const char *language)
{
    struct context *c = xcalloc(1, sizeof(*c));
    if (id != NULL)
        snprintf(c->id, sizeof(c->id), "%s", id);
    else
        ids_uuid_dashed(c->id);
    c->language = xstrdup(language);
    c->cwd = xstrdup("");
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/%s", cs.kernels_dir, c->id);
    c->dir = strbuf_detach(&dir);
    list_init(&c->waiters);
    list_init(&c->on_gone);
    c->state = CONTEXT_STARTING;
    strmap_put(&cs.all, c->id, c);
    return c;
}

static void free_cbs(struct list *cbs)
{
    list_each_safe(cbs, it, nx)
    {
        list_del(it);
        free(list_entry(it, struct context_cb, node));
    }
}

/* Removes c from the store and frees it; its kernel must be gone or let go of. */
static void destroy(struct context *c)
{
    strmap_del(&cs.all, c->id);
    evt_free(&c->start_ev);
    free_cbs(&c->waiters);
    free_cbs(&c->on_gone);
    free(c->language);
    free(c->cwd);
    free(c->kcwd);
    free(c->dir);
    free(c);
}

static struct context_cb *new_cb(context_fn fn, void *arg)
{
    struct context_cb *cb = xmalloc(sizeof(*cb));
    cb->fn = fn;
    cb->arg = arg;
    list_init(&cb->node);
    return cb;
}

/* Calls and drops the callbacks in cbs, in order; those added meanwhile stay. */
static void call_cbs(struct context *c, struct list *cbs, const char *err)
{
    struct list now = LIST_HEAD_INIT(now);
    list_splice_tail(&now, cbs);
    list_each_safe(&now, it, nx)
    {
        struct context_cb *cb = list_entry(it, struct context_cb, node);
        list_del(it);
        cb->fn(c, cb->arg, err);
        free(cb);
    }
}

/* Calls and drops every waiter (in arrival order). */
static void wake(struct context *c, const char *err)
{
    call_cbs(c, &c->waiters, err);
}

struct context *context_get(const char *id)
{
    struct context *c = strmap_get(&cs.all, id);
    return c != NULL && !c->pooled ? c : NULL;
}

struct collect {
    struct context **v;
    size_t n;
};

static void collect_one(const char *key EXECD_UNUSED, void *value, void *arg)
{
    struct collect *col = arg;
    col->v[col->n++] = value;
}

struct context **context_snapshot(size_t *n)
{
    struct collect col = {xcalloc(cs.all.len + 1, sizeof(struct context *)), 0};
    strmap_each(&cs.all, collect_one, &col);
    *n = col.n;
    return col.v;
}

void context_each(void (*fn)(struct context *c, void *arg), void *arg)
{
    size_t n;
    struct context **v = context_snapshot(&n);
    for (size_t i = 0; i < n; i++) {
        /* Deleted by an earlier callback? (Deletion is asynchronous: it is still there.) */
        if (strmap_get(&cs.all, v[i]->id) == v[i] && !v[i]->pooled)
            fn(v[i], arg);
    }
    free(v);
}

struct context *context_default(const char *language)
{
    size_t n;
    struct context **v = context_snapshot(&n);
    struct context *found = NULL;
    for (size_t i = 0; i < n && found == NULL; i++) {
        struct context *c = v[i];
        if (!c->pooled && c->dflt && c->state != CONTEXT_STOPPING &&
            strcmp(c->language, language) == 0)
            found = c;
    }
    free(v);
    return found;
}

/* ---- records --------------------------------------------------------------------- */

static void record_path(const struct context *c, struct strbuf *out)
{
    strbuf_printf(out, "%s/%s.json", cs.records_dir, c->id);
}

/* Writes contexts/<id>.json atomically. Returns 0 or -1 (logged). */
static int record_save(const struct context *c)
{
    json_object *o = xjson_object();
    json_object_object_add(o, "id", xjson_string(c->id));
    json_object_object_add(o, "language", xjson_string(c->language));
    json_object_object_add(o, "cwd", xjson_string(c->cwd));
    if (c->kcwd != NULL)
        json_object_object_add(o, "kernel_cwd", xjson_string(c->kcwd));
    json_object_object_add(o, "default", xjson_bool(c->dflt));
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    record_path(c, &path);
    int rc = jsonfile_save(path.data, o, &err);
    if (rc < 0)
        log_error("context %s: %s", c->id, err.data);
    strbuf_free(&path);
    strbuf_free(&err);
    json_object_put(o);
    return rc;
}

static void record_remove(const struct context *c)
{
    struct strbuf path = STRBUF_INIT;
    record_path(c, &path);
    if (unlink(path.data) < 0 && errno != ENOENT)
        log_warn("context %s: cannot remove %s: %s", c->id, path.data, strerror(errno));
    strbuf_free(&path);
}

static void send_register(const struct context *c)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("register"));
    json_object_object_add(msg, "kind", xjson_string("context"));
    json_object_object_add(msg, "id", xjson_string(c->id));
    json_object_object_add(msg, "language", xjson_string(c->language));
    json_object_object_add(msg, "default", xjson_bool(c->dflt));
    out_msg(0, msg);
}

/* Hands c out: recorded on disk (for adoption), then known to the master. */
static void hand_out(struct context *c)
{
    if (c->registered)
        return;
    c->registered = true;
    record_save(c);
    send_register(c);
}

/* ---- kernel callbacks ---------------------------------------------------------- */

/* A kernel could not be started (or restarted) for c. */
static void start_failed(struct context *c, const char *err)
{
    if (c->pooled) {
        log_warn("warm pool: a %s kernel failed to start: %s", c->language, err);
        pool_failed(c->language);
        destroy(c);
        pool_fill();
        return;
    }
    if (c->registered) {
        /* Known to the client: it stays, and the next run tries again. */
        c->state = CONTEXT_DEAD;
        wake(c, err);
        return;
    }
    wake(c, err);
    destroy(c);
}

static void on_kernel_ready(struct kernel *k, void *arg, const char *err)
{
    struct context *c = arg;
    if (err != NULL) {
        kernel_free(k);
        c->k = NULL;
        start_failed(c, err);
        return;
    }
    c->state = CONTEXT_READY;
    if (c->pooled) {
        pool_ready(c->language);
        return;
    }
    hand_out(c);
    wake(c, NULL);
}

static void on_kernel_dead(struct kernel *k, void *arg, const char *reason)
{
    struct context *c = arg;
    kernel_free(k);
    c->k = NULL;
    if (c->pooled) {
        log_warn("warm pool: a %s kernel died: %s", c->language, reason);
        pool_failed(c->language);
        char *language = xstrdup(c->language);
        destroy(c);
        pool_report(language);
        free(language);
        pool_fill();
        return;
    }
    /* The running cell already ended with an error; the next run restarts the kernel. */
    log_warn("context %s: %s; the next run starts a new kernel", c->id, reason);
    c->state = CONTEXT_DEAD;
}

static const struct kernel_cbs kernel_cbs = {on_kernel_ready, on_kernel_dead};

/* ---- starting kernels ------------------------------------------------------------ */

static void launch(struct context *c)
{
    struct strbuf err = STRBUF_INIT;
    struct kspec *spec = kspec_find(c->language, &err);
    if (spec == NULL) {
        if (clock_mono_ms() < c->spec_deadline) {
            evt_arm_ms(c->start_ev, SPEC_RETRY_MS); /* it may be being installed */
            strbuf_free(&err);
            return;
        }
        start_failed(c, err.data);
        strbuf_free(&err);
        return;
    }
    struct envmap env;
    worker_environment(&env);
    struct kernel_opts o = {0};
    o.spec = spec;
    o.dir = c->dir;
    o.cwd = c->kcwd;
    o.envp = env.entries;
    o.startup_ms = worker_settings()->kernel_startup_ms;
    if (kspec_transport_parse(worker_settings()->kernel_transport, &o.transport) < 0)
        log_warn("kernel transport '%s' unknown; using auto", worker_settings()->kernel_transport);
    o.cbs = &kernel_cbs;
    o.arg = c;
    c->k = kernel_launch(worker_base(), &o, &err);
    envmap_free(&env);
    kspec_free(spec);
    if (c->k == NULL)
        start_failed(c, err.data);
    strbuf_free(&err);
}

static void on_start(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct context *c = arg;
    if (c->state == CONTEXT_STARTING && c->k == NULL)
        launch(c);
}

/* Starts a kernel for c from the event loop, so waiters can be attached first. */
static void start_kernel(struct context *c)
{
    c->state = CONTEXT_STARTING;
    c->spec_deadline = clock_mono_ms() + worker_settings()->kernelspec_wait_ms;
    if (c->start_ev == NULL)
        c->start_ev = evtimer_new(worker_base(), on_start, c);
    evt_arm_ms(c->start_ev, 0);
}

/* ---- creation, readiness, deletion ------------------------------------------------- */

static int expand_cwd(const char *cwd, struct strbuf *out, struct strbuf *err)
{
    struct strbuf why = STRBUF_INIT;
    if (pathexp_expand_abs(cwd, pathexp_getenv, NULL, out, &why) < 0) {
        strbuf_printf(err, "invalid cwd %s: %s", cwd, why.data);
        strbuf_free(&why);
        return -1;
    }
    strbuf_free(&why);
    if (fsutil_mkdir_p(out->data, 0755) < 0 || !is_dir(out->data)) {
        strbuf_printf(err, "cannot create the working directory %s: %s", out->data,
                      strerror(errno));
        return -1;
    }
    return 0;
}

struct context *context_create(const char *language, const char *cwd, bool dflt, struct strbuf *err)
{
    struct strbuf kcwd = STRBUF_INIT;
    if (cwd != NULL && cwd[0] != '\0' && expand_cwd(cwd, &kcwd, err) < 0) {
        strbuf_free(&kcwd);
        return NULL;
    }
    struct context *c = NULL;
    if (kcwd.len == 0)
        c = pool_take(language);
    if (c != NULL) {
        c->dflt = dflt;
        log_info("context %s: %s from the warm pool%s", c->id, language, dflt ? " (default)" : "");
        if (c->state == CONTEXT_READY)
            hand_out(c);
        pool_fill(); /* replace it */
        pool_report(language);
    } else {
        c = context_new(NULL, language);
        free(c->cwd);
        c->cwd = xstrdup(cwd != NULL ? cwd : "");
        if (kcwd.len > 0)
            c->kcwd = strbuf_detach(&kcwd);
        c->dflt = dflt;
        log_info("context %s: starting a %s kernel%s", c->id, language, dflt ? " (default)" : "");
        start_kernel(c);
    }
    strbuf_free(&kcwd);
    return c;
}

void context_when_ready(struct context *c, context_fn fn, void *arg)
{
    switch (c->state) {
    case CONTEXT_READY:
        fn(c, arg, NULL);
        return;
    case CONTEXT_STOPPING:
        fn(c, arg, "the context is being deleted");
        return;
    case CONTEXT_DEAD:
        log_info("context %s: starting a new %s kernel", c->id, c->language);
        start_kernel(c);
        break;
    case CONTEXT_STARTING:
        break;
    }
    list_add_tail(&c->waiters, &new_cb(fn, arg)->node);
}

static void gone(struct context *c)
{
    call_cbs(c, &c->on_gone, NULL);
    destroy(c);
    worker_changed();
}

static void on_kernel_stopped(void *arg)
{
    struct context *c = arg;
    cs.n_stopping--;
    gone(c);
}

/* Moves c to STOPPING and shuts its kernel down (or finishes at once without one). */
static void stop(struct context *c, int64_t grace_ms, const char *why)
{
    c->state = CONTEXT_STOPPING;
    if (c->start_ev != NULL)
        event_del(c->start_ev);
    wake(c, why);
    if (c->k != NULL) {
        struct kernel *k = c->k;
        c->k = NULL;
        cs.n_stopping++;
        kernel_shutdown(k, grace_ms, on_kernel_stopped, c);
    } else {
        gone(c);
    }
}

void context_start_pooled(const char *language)
{
    struct context *c = context_new(NULL, language);
    c->pooled = true;
    start_kernel(c);
    /* No waiting for a kernelspec: a failed pool launch is retried with backoff. */
    c->spec_deadline = 0;
}

void context_stop_pooled(struct context *c)
{
    stop(c, DELETE_GRACE_MS, "the warm pool shrank");
}

void context_delete(struct context *c, context_fn fn, void *arg)
{
    list_add_head(&c->on_gone, &new_cb(fn, arg)->node);
    if (c->state == CONTEXT_STOPPING)
        return; /* already going: answered together */
    if (c->registered) {
        c->registered = false;
        out_unregister(c->id);
        record_remove(c);
    }
    log_info("context %s: deleting", c->id);
    stop(c, DELETE_GRACE_MS, "the context was deleted");
}

/* ---- adoption ----------------------------------------------------------------------- */

/* Re-attaches c to the kernel in its directory, if any and alive. */
static void adopt_kernel(struct context *c)
{
    struct strbuf err = STRBUF_INIT;
    c->k = is_dir(c->dir) ? kernel_adopt(worker_base(), c->dir, 0, &kernel_cbs, c, &err) : NULL;
    if (c->k != NULL) {
        c->state = CONTEXT_STARTING;
        c->maybe_busy = true;
    } else {
        if (is_dir(c->dir)) {
            log_warn("context %s: its kernel cannot be adopted (%s)", c->id, err.data);
            kernel_remove_dir(c->dir);
        }
        c->state = CONTEXT_DEAD;
    }
    strbuf_free(&err);
}

static void adopt_record(const char *name)
{
    struct strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/%s", cs.records_dir, name);
    struct strbuf err = STRBUF_INIT;
    json_object *o = jsonreq_read_file(path.data, &err);
    const char *id = NULL, *language = NULL, *cwd = "", *kcwd = NULL;
    bool dflt = false;
    if (o == NULL || jsonreq_string(o, "id", &id) != JSONREQ_OK ||
        jsonreq_string(o, "language", &language) != JSONREQ_OK || strlen(id) > IDS_DASHED_LEN ||
        strchr(id, '/') != NULL || id[0] == '.' || strmap_get(&cs.all, id) != NULL) {
        log_warn("context record %s is unusable%s%s; removed", path.data, err.len > 0 ? ": " : "",
                 err.len > 0 ? err.data : "");
        if (unlink(path.data) < 0)
            log_warn("cannot remove %s: %s", path.data, strerror(errno));
        json_object_put(o);
        strbuf_free(&err);
        strbuf_free(&path);
        return;
    }
    jsonreq_string(o, "cwd", &cwd);
    jsonreq_string(o, "kernel_cwd", &kcwd);
    jsonreq_bool(o, "default", &dflt);
    strbuf_free(&err);
    struct context *c = context_new(id, language);
    free(c->cwd);
    c->cwd = xstrdup(cwd);
    c->kcwd = kcwd != NULL ? xstrdup(kcwd) : NULL;
    c->dflt = dflt;
    c->registered = true;
    adopt_kernel(c);
    log_info("context %s: adopted (%s%s, %s)", c->id, c->language, c->dflt ? ", default" : "",
             c->state == CONTEXT_DEAD ? "its kernel is gone" : "kernel attached");
    /* The master may know it from the previous worker: this refreshes the owner. */
    send_register(c);
    json_object_put(o);
    strbuf_free(&path);
}

static void adopt_pool_kernel(const char *name)
{
    /* Beside the kernels' directories: <spec>.log files of kernels that did not start. */
    if (strmap_get(&cs.all, name) != NULL || strlen(name) > IDS_DASHED_LEN ||
        strchr(name, '.') != NULL)
        return;
    struct context *c = context_new(name, "");
    c->pooled = true;
    adopt_kernel(c);
    if (c->k == NULL) {
        destroy(c);
        return;
    }
    free(c->language);
    c->language = xstrdup(kernel_language(c->k));
    pool_adopted(c->language);
    log_info("warm pool: adopted a %s kernel", c->language);
}

/* Calls fn for each entry of dir (not starting with '.'). */
static void scan(const char *dir, void (*fn)(const char *name))
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_error("cannot read %s: %s", dir, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            fn(e->d_name);
    }
    closedir(d);
}

static void adopt_record_entry(const char *name)
{
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".json") == 0)
        adopt_record(name);
}

void context_adopt(void)
{
    if (cs.adopted)
        return;
    cs.adopted = true;
    scan(cs.records_dir, adopt_record_entry);
    scan(cs.kernels_dir, adopt_pool_kernel);
    pool_fill();
}

bool context_adopted(void)
{
    return cs.adopted;
}

int context_init(const struct wsettings *s, bool adopt)
{
    strmap_init(&cs.all);
    struct strbuf k = STRBUF_INIT, r = STRBUF_INIT;
    strbuf_printf(&k, "%s/kernels", worker_state_dir());
    strbuf_printf(&r, "%s/contexts", worker_state_dir());
    cs.kernels_dir = strbuf_detach(&k);
    cs.records_dir = strbuf_detach(&r);
    if ((mkdir(cs.kernels_dir, 0700) < 0 && errno != EEXIST) ||
        (mkdir(cs.records_dir, 0700) < 0 && errno != EEXIST)) {
        log_error("cannot create %s or %s: %s", cs.kernels_dir, cs.records_dir, strerror(errno));
        return -1;
    }
    pool_configure(s->kernel_pool);
    if (adopt)
        context_adopt();
    return 0;
}

/* ---- shutdown ---------------------------------------------------------------------------- */

static void shutdown_one(struct context *c, int64_t grace_ms)
{
    if (c->state == CONTEXT_STOPPING)
        return;
    stop(c, grace_ms, "the daemon is shutting down");
}

void context_shutdown(int64_t grace_ms)
{
    if (cs.stopping)
        return;
    cs.stopping = true;
    pool_shutdown();
    size_t n;
    struct context **v = context_snapshot(&n);
    for (size_t i = 0; i < n; i++) {
        if (strmap_get(&cs.all, v[i]->id) == v[i])
            shutdown_one(v[i], grace_ms);
    }
    free(v);
}

size_t context_stopping(void)
{
    return cs.n_stopping;
}

void context_cleanup(void)
{
    size_t n;
    struct context **v = context_snapshot(&n);
    for (size_t i = 0; i < n; i++) {
        struct context *c = v[i];
        if (c->state == CONTEXT_STOPPING && c->k == NULL) {
            /* Its shutdown did not finish in time. No callback can come any more (the
             * loop is over); the handle belongs to the kernel module and is abandoned. */
            log_warn("context %s: kernel still stopping at exit; killing it", c->id);
            kernel_remove_dir(c->dir);
        } else if (c->k != NULL) {
            kernel_free(c->k);
            c->k = NULL;
            if (cs.stopping)
                kernel_remove_dir(c->dir);
        }
        destroy(c);
    }
    free(v);
    strmap_free(&cs.all, NULL);
    pool_cleanup();
    free(cs.kernels_dir);
    free(cs.records_dir);
    cs.kernels_dir = cs.records_dir = NULL;
}
