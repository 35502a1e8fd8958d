#include "http/listener.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "clock.h"
#include "common.h"
#include "config.h"
#include "fdlimit.h"
#include "http/evhtp_glue.h"
#include "log.h"

/* After a failed accept, accepting resumes this much later. */
#define BACKOFF_MS 100
/* Connections are capped by default at this ... */
#define DEFAULT_CAP 4096
/* ... or what the descriptor limit leaves: a few for the master itself, one per worker
 * channel (two while one respawns), and two per connection (its socket, a file it sends). */
#define RESERVED_FDS 32

/* A repeated condition is logged at most this often. */
#define LOG_EVERY_MS 1000

static struct {
    struct event_base *base;
    evhtp_t *htp;
    int cap;
    int open;
    bool ready;       /* the workers are ready */
    bool stopped;     /* shutdown or drain */
    bool backing_off; /* an accept failed a moment ago */
    bool accepting;   /* the listener is enabled */
    struct event *backoff_ev;
    int64_t cap_logged_ms;
    int64_t error_logged_ms;
    unsigned errors_unlogged;
} lst;

/* Enables or disables the listener as the conditions say. */
static void update(void)
{
    bool want = lst.ready && !lst.stopped && !lst.backing_off && lst.open < lst.cap;
    if (want == lst.accepting)
        return;
    if (glue_listen(lst.htp, want) < 0) {
        log_error("cannot %s accepting connections", want ? "resume" : "pause");
        return;
    }
    lst.accepting = want;
}

static bool due(int64_t *last_ms)
{
    int64_t now = clock_mono_ms();
    if (*last_ms != 0 && now - *last_ms < LOG_EVERY_MS)
        return false;
    *last_ms = now;
    return true;
}

static void on_backoff_end(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                           void *arg EXECD_UNUSED)
{
    lst.backing_off = false;
    update();
}

/* accept() failed with err (libevent retries EINTR, EAGAIN and ECONNABORTED itself). */
static void on_accept_error(int err, void *arg EXECD_UNUSED)
{
    lst.errors_unlogged++;
    if (due(&lst.error_logged_ms)) {
        bool exhausted = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
        log_error("cannot accept connections: %s (%d open%s; %u failure(s) since the last "
                  "report); pausing accepts for %d ms",
                  strerror(err), lst.open, exhausted ? ", out of descriptors or memory" : "",
                  lst.errors_unlogged, BACKOFF_MS);
        lst.errors_unlogged = 0;
    }
    lst.backing_off = true;
    update();
    struct timeval tv = {0, BACKOFF_MS * 1000};
    if (evtimer_add(lst.backoff_ev, &tv) < 0) {
        log_error("cannot arm the accept back-off timer");
        lst.backing_off = false;
        update();
    }
}

/* The connections the descriptor limit leaves room for beside this many workers. */
static int fd_cap(long limit, int workers)
{
    long cap = (limit - RESERVED_FDS - 2L * workers) / 2;
    return cap < 1 ? 1 : cap > DEFAULT_CAP ? DEFAULT_CAP : (int)cap;
}

void listener_configure(const struct config *cfg)
{
    if (lst.htp == NULL)
        return; /* not started yet */
    long limit = fdlimit_raise();
    int allowed = fd_cap(limit, config_worker_count(cfg));
    lst.cap = cfg->max_connections > 0 ? cfg->max_connections : allowed;
    if (cfg->max_connections > allowed)
        log_warn("max-connections %d is more than the descriptor limit (%ld) comfortably allows "
                 "(%d): accepts may fail for lack of descriptors",
                 cfg->max_connections, limit, allowed);
    log_info("at most %d client connections (descriptor limit %ld)", lst.cap, limit);
    update();
}

int listener_start(struct event_base *base, evhtp_t *htp, const struct config *cfg)
{
    lst.base = base;
    lst.htp = htp;
    lst.accepting = true; /* as evhtp_bind_socket left it */
    lst.backoff_ev = evtimer_new(base, on_backoff_end, NULL);
    if (lst.backoff_ev == NULL) {
        log_error("cannot create the accept back-off timer");
        return -1;
    }
    glue_on_accept_error(htp, on_accept_error, NULL);
    listener_configure(cfg);
    return 0;
}

void listener_ready(void)
{
    lst.ready = true;
    update();
}

void listener_opened(void)
{
    lst.open++;
    if (lst.open >= lst.cap && !lst.stopped && due(&lst.cap_logged_ms))
        log_warn("connection limit reached (%d open, max-connections): new connections wait "
                 "until one closes",
                 lst.open);
    update();
}

void listener_closed(void)
{
    lst.open--;
    update();
}

int listener_open_count(void)
{
    return lst.open;
}

void listener_stop(void)
{
    lst.stopped = true;
    update();
}

void listener_free(void)
{
    if (lst.backoff_ev != NULL)
        event_free(lst.backoff_ev);
    lst.backoff_ev = NULL;
}
