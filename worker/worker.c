#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "core/evt.h"
#include "core/out.h"
#include "core/spawn.h"
#include "core/wjob.h"
#include "envfile.h"
#include "executor.h"
#include "log.h"
#include "strbuf.h"

extern char **environ;

/* After a shutdown request, exit at the latest this long after the grace. */
#define EXIT_SLACK_MS 1000

static struct {
    struct event_base *base;
    int slot;
    struct wsettings settings;
    char *state_dir;
    bool draining;
    bool stopping;
    struct event *exit_ev;
    struct out_waiter flushed; /* the last answers reach the master before the exit */
} wk;

struct event_base *worker_base(void)
{
    return wk.base;
}

int worker_slot(void)
{
    return wk.slot;
}

const struct wsettings *worker_settings(void)
{
    return &wk.settings;
}

const char *worker_state_dir(void)
{
    return wk.state_dir;
}

bool worker_draining(void)
{
    return wk.draining;
}

void worker_environment(struct envmap *env)
{
    envmap_init(env);
    envmap_from_environ(env, environ);
    struct strbuf why = STRBUF_INIT;
    if (envfile_load(wk.settings.envs_file, env, &why) < 0 && why.len > 0)
        log_warn("EXECD_ENVS: %s", why.data);
    else if (why.len > 0)
        log_warn("EXECD_ENVS %s", why.data);
    strbuf_free(&why);
}

/* Whether an executor still has what the worker waits for before exiting. */
static bool must_wait(void)
{
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if (wk.stopping ? (*e)->running != NULL && (*e)->running() > 0
                        : (*e)->busy != NULL && (*e)->busy())
            return true;
    }
    return false;
}

void worker_changed(void)
{
    if (!wk.stopping && !wk.draining)
        return;
    if (must_wait())
        return;
    if (out_queued() > 0) {
        out_wait(&wk.flushed); /* let the last answers reach the master */
        return;
    }
    event_base_loopexit(wk.base, NULL);
}

static void on_flushed(void *arg EXECD_UNUSED)
{
    worker_changed();
}

void worker_state_init(struct event_base *base, int slot)
{
    wk.base = base;
    wk.slot = slot;
    /* Until the configuration says otherwise. */
    wk.settings.log_level = LOG_LEVEL_INFO;
    wk.settings.log_format = LOG_FORMAT_TEXT;
    wk.flushed.fn = on_flushed;
}

static void setup_log(const struct wsettings *s)
{
    char proc[32];
    snprintf(proc, sizeof(proc), "worker-%d", wk.slot);
    const char *file = s->log_file != NULL ? s->log_file : "";
    if (log_setup(file, s->log_level, s->log_format, proc) < 0)
        log_error("cannot open log file %s: %s", file, strerror(errno));
}

static int make_state_dir(const char *runtime_dir)
{
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/w%d", runtime_dir, wk.slot);
    if (mkdir(dir.data, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create state directory %s: %s", dir.data, strerror(errno));
        strbuf_free(&dir);
        return -1;
    }
    wk.state_dir = strbuf_detach(&dir);
    return 0;
}

int worker_configure(json_object *msg)
{
    struct strbuf err = STRBUF_INIT;
    int rc = wsettings_from_json(&wk.settings, msg, &err);
    /* The log settings come first in the message: read even when a later key is missing. */
    setup_log(&wk.settings);
    if (rc < 0) {
        log_error("configuration from the master: %s", err.data);
        strbuf_free(&err);
        return -1;
    }
    strbuf_free(&err);
    if (make_state_dir(wk.settings.runtime_dir) < 0)
        return -1;
    spawn_set_oom_score_adj(wk.settings.child_oom_score_adj);
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if ((*e)->init != NULL && (*e)->init(&wk.settings, wk.settings.adopt) < 0) {
            log_error("the %s executor cannot start", (*e)->name);
            return -1;
        }
    }
    return 0;
}

void worker_drain(void)
{
    wk.draining = true;
    worker_changed();
}

static void on_exit_deadline(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                             void *arg EXECD_UNUSED)
{
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        size_t n = (*e)->running != NULL ? (*e)->running() : 0;
        if (n > 0)
            log_warn("exiting with %zu %s process(es) still running", n, (*e)->name);
    }
    event_base_loopexit(wk.base, NULL);
}

void worker_shutdown(int64_t grace_ms)
{
    if (wk.stopping)
        return;
    wk.stopping = true;
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if ((*e)->shutdown != NULL)
            (*e)->shutdown(grace_ms);
    }
    wk.exit_ev = evtimer_new(wk.base, on_exit_deadline, NULL);
    evt_arm_ms(wk.exit_ev, grace_ms + EXIT_SLACK_MS);
    worker_changed();
}

void worker_finish(void)
{
    wjob_free_all();
    size_t n = 0;
    while (executors[n] != NULL)
        n++;
    while (n-- > 0) {
        if (executors[n]->cleanup != NULL)
            executors[n]->cleanup();
    }
    out_cancel_wait(&wk.flushed);
    evt_free(&wk.exit_ev);
    wsettings_free(&wk.settings);
    free(wk.state_dir);
    wk.state_dir = NULL;
}
