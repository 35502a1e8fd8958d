#include "master.h"

#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "http/server.h"
#include "log.h"
#include "notify.h"
#include "pool/supervisor.h"
#include "relay/job.h"
#include "relay/ptylink.h"
#include "relay/relay.h"
#include "runtime.h"
#include "sdnotify.h"
#include "xalloc.h"

/* Signals the daemon does not act on itself: forwarded to every running
 * foreground command's process group (the Go daemon forwards all signals
 * except SIGCHLD/SIGURG; TERM, INT, QUIT, HUP and USR1 are ours). */
static const int forwarded_signals[] = {SIGUSR2, SIGWINCH, SIGCONT, SIGALRM,  SIGTSTP,
                                        SIGTTIN, SIGTTOU,  SIGPWR,  SIGVTALRM};

/* After the workers are gone, give clients this long to receive the last bytes. */
#define FINAL_FLUSH_MS 200

static struct {
    struct event_base *base;
    struct config *cfg;
    int argc;
    char **argv;
    char **envp;
    enum { RUNNING, DRAINING, STOPPING } state;
    struct event *signals[32];
    int n_signals;
    struct event *drain_ev;
    struct event *trim_ev;
    struct event *log_ev; /* writes the log lines of one loop turn together */
    bool announced;       /* the startup line was logged */
} m;

static void on_log_flush(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                         void *arg EXECD_UNUSED)
{
    log_flush();
}

/* Runs once the callbacks already due in this loop turn are done: under load, one write for
 * the access log lines of many requests instead of one each. */
static void schedule_log_flush(void *arg EXECD_UNUSED)
{
    event_active(m.log_ev, EV_TIMEOUT, 0);
}

/* How often an idle daemon gives freed heap back to the system. */
#define TRIM_EVERY_S 10

/*
 * Bursts (a large stream, an upload) leave freed memory in the heap, which
 * glibc keeps (the upload path raises the trim threshold for speed): give it
 * back once nothing is running.
 */
static void on_trim_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                         void *arg EXECD_UNUSED)
{
    if (job_count() == 0)
        malloc_trim(0);
}

static void on_final_flush(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                           void *arg EXECD_UNUSED)
{
    event_base_loopexit(m.base, NULL);
}

static void on_workers_stopped(void)
{
    int strays = runtime_kill_descendants();
    if (strays > 0)
        log_warn("shutdown: killed %d leftover process(es)", strays);
    job_free_all();
    struct timeval tv = {0, FINAL_FLUSH_MS * 1000};
    if (event_base_once(m.base, -1, EV_TIMEOUT, on_final_flush, NULL, &tv) < 0)
        event_base_loopexit(m.base, NULL);
}

static void begin_shutdown(const char *why)
{
    if (m.state == STOPPING)
        return;
    m.state = STOPPING;
    notify_stopping();
    log_info("%s: stopping (running work gets %lld ms, then SIGKILL)", why,
             (long long)m.cfg->shutdown_ms);
    http_stop_accepting();
    ptylink_shutdown();
    supervisor_shutdown(m.cfg->shutdown_ms, on_workers_stopped);
}

static void on_drain_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                          void *arg EXECD_UNUSED)
{
    if (m.state == DRAINING && job_count() == 0)
        begin_shutdown("drained");
}

static void begin_drain(void)
{
    if (m.state != RUNNING)
        return;
    m.state = DRAINING;
    notify_stopping();
    log_info("SIGQUIT: no longer accepting connections; waiting for %zu request(s) to finish",
             job_count());
    http_stop_accepting();
    struct timeval every = {0, 100 * 1000};
    m.drain_ev = event_new(m.base, -1, EV_PERSIST, on_drain_tick, NULL);
    if (m.drain_ev == NULL || event_add(m.drain_ev, &every) < 0)
        begin_shutdown("drain timer failed");
}

static void reload(void)
{
    struct config fresh;
    struct strbuf err = STRBUF_INIT;
    notify_reloading();
    if (config_load(&fresh, m.argc, m.argv, m.envp, &err) != CONFIG_OK) {
        log_error("SIGHUP: configuration not reloaded: %s", err.data ? err.data : "");
        strbuf_free(&err);
        config_free(&fresh);
        notify_ready();
        return;
    }
    strbuf_free(&err);
    if (fresh.port != m.cfg->port || strcmp(fresh.listen_addr, m.cfg->listen_addr) != 0 ||
        strcmp(fresh.runtime_dir, m.cfg->runtime_dir) != 0)
        log_warn("SIGHUP: listen address, port and runtime dir change only at restart");
    free(fresh.listen_addr);
    fresh.listen_addr = xstrdup(m.cfg->listen_addr);
    fresh.port = m.cfg->port;
    free(fresh.runtime_dir);
    fresh.runtime_dir = xstrdup(m.cfg->runtime_dir);

    if (log_setup(fresh.log_file, fresh.log_level, fresh.log_format, "master") < 0)
        log_error("SIGHUP: cannot open log file %s: %s", fresh.log_file, strerror(errno));
    config_free(m.cfg);
    *m.cfg = fresh;
    http_reconfigure(m.cfg);
    struct strbuf conf = STRBUF_INIT;
    config_describe(m.cfg, &conf);
    log_info("SIGHUP: configuration reloaded (%s); replacing workers one at a time", conf.data);
    strbuf_free(&conf);
    supervisor_reload(m.cfg);
}

/* Every worker slot is ready: at start (the startup line) and after each reload. */
static void on_settled(void)
{
    if (!m.announced) {
        m.announced = true;
        struct strbuf conf = STRBUF_INIT;
        config_describe(m.cfg, &conf);
        log_info("execd %s ready (pid %d, %d workers, listening on %s): %s", PACKAGE_VERSION,
                 (int)getpid(), supervisor_slot_count(), http_listen_address(), conf.data);
        strbuf_free(&conf);
    }
    notify_ready();
}

static void forward(int signo)
{
    json_object *msg = xjson_object();
    json_object_object_add(msg, "op", xjson_string("signal"));
    json_object_object_add(msg, "signo", xjson_int64(signo));
    supervisor_broadcast(msg);
    json_object_put(msg);
}

static void on_signal(evutil_socket_t signo, short what EXECD_UNUSED, void *arg EXECD_UNUSED)
{
    switch (signo) {
    case SIGCHLD:
        supervisor_reap();
        break;
    case SIGTERM:
    case SIGINT:
        if (m.state == STOPPING) {
            log_warn("second stop signal: killing everything now");
            runtime_kill_descendants();
            event_base_loopexit(m.base, NULL);
        } else {
            begin_shutdown(signo == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        break;
    case SIGQUIT:
        begin_drain();
        break;
    case SIGHUP:
        reload();
        break;
    case SIGUSR1: {
        log_reopen();
        json_object *msg = xjson_object();
        json_object_object_add(msg, "op", xjson_string("reopen_log"));
        supervisor_broadcast(msg);
        json_object_put(msg);
        log_info("SIGUSR1: log file reopened");
        break;
    }
    default:
        forward(signo);
        break;
    }
}

static int watch_signal(int signo)
{
    struct event *ev = evsignal_new(m.base, signo, on_signal, NULL);
    if (ev == NULL || evsignal_add(ev, NULL) < 0) {
        log_error("cannot handle signal %d", signo);
        return -1;
    }
    m.signals[m.n_signals++] = ev;
    return 0;
}

static int watch_signals(void)
{
    static const int own[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
    for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
        if (watch_signal(own[i]) < 0)
            return -1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++) {
        if (watch_signal(forwarded_signals[i]) < 0)
            return -1;
    }
    return 0;
}

static void cleanup(void)
{
    notify_free();
    http_free();
    job_free_all();
    ptylink_free();
    supervisor_free();
    relay_free();
    for (int i = 0; i < m.n_signals; i++)
        event_free(m.signals[i]);
    if (m.drain_ev != NULL)
        event_free(m.drain_ev);
    if (m.trim_ev != NULL)
        event_free(m.trim_ev);
    if (m.log_ev != NULL) {
        log_defer(NULL, NULL);
        event_free(m.log_ev);
    }
    event_base_free(m.base);
}

int master_run(struct config *cfg, int argc, char **argv, char **envp)
{
    m.cfg = cfg;
    m.argc = argc;
    m.argv = argv;
    m.envp = envp;

    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_warn("cannot become child subreaper: %s", strerror(errno));
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        log_warn("cannot ignore SIGPIPE: %s", strerror(errno));
    log_info("execd %s starting (pid %d, %d workers, runtime dir %s)", PACKAGE_VERSION,
             (int)getpid(), config_worker_count(cfg), cfg->runtime_dir);
    if (runtime_prepare(cfg->runtime_dir) < 0)
        return 1;

    m.base = event_base_new();
    if (m.base == NULL) {
        log_error("cannot create the event loop");
        return 1;
    }
    /* The service manager's variables, read and removed before any worker starts. */
    notify_open();
    int inherited = sdnotify_listen_fds();
    if (inherited > 1)
        log_warn("socket activation: %d sockets passed; serving on the first (fd %d) only",
                 inherited, SDNOTIFY_LISTEN_FDS_START);
    supervisor_on_settled(on_settled);
    if (inherited < 0 || watch_signals() < 0 || notify_start(m.base) < 0 ||
        http_start(m.base, cfg, inherited > 0 ? SDNOTIFY_LISTEN_FDS_START : -1) < 0 ||
        supervisor_start(m.base, cfg, &relay_pool_hooks, http_serve) < 0) {
        runtime_kill_descendants();
        cleanup();
        return 1;
    }
    struct timeval every = {TRIM_EVERY_S, 0};
    m.trim_ev = event_new(m.base, -1, EV_PERSIST, on_trim_tick, NULL);
    if (m.trim_ev == NULL || event_add(m.trim_ev, &every) < 0)
        log_warn("cannot arm the heap trim timer");
    m.log_ev = event_new(m.base, -1, 0, on_log_flush, NULL);
    if (m.log_ev != NULL)
        log_defer(schedule_log_flush, NULL);
    else
        log_warn("cannot batch log lines: each is written on its own");

    event_base_dispatch(m.base);

    cleanup();
    log_info("execd stopped");
    return 0;
}
