#include "notify.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "pool/heartbeat.h"
#include "pool/supervisor.h"
#include "relay/coderoute.h"
#include "relay/registry.h"
#include "sdnotify.h"
#include "strbuf.h"
#include "xalloc.h"

/* The status is compared with the last one sent this often. */
#define STATUS_EVERY_MS 1000
/* The shortest keep-alive period: a zero period would spin the loop. */
#define WATCHDOG_MIN_TICK_US 1000

enum phase { STARTING, RUNNING, RELOADING, STOPPING };

static struct {
    struct sdnotify sd;
    uint64_t watchdog_usec; /* 0: no watchdog */
    enum phase phase;
    char *status; /* the last STATUS= sent */
    struct event *status_ev;
    struct event *watchdog_ev;
} nt = {.sd = {.fd = -1}};

void notify_open(void)
{
    if (sdnotify_open(&nt.sd) < 0)
        log_warn("systemd notifications are off");
    nt.watchdog_usec = sdnotify_watchdog_usec();
    if (nt.watchdog_usec > 0 && !sdnotify_enabled(&nt.sd)) {
        log_warn("WATCHDOG_USEC is set but NOTIFY_SOCKET is not: no watchdog keep-alives");
        nt.watchdog_usec = 0;
    }
}

static void count_one(const char *id EXECD_UNUSED, const char *attr EXECD_UNUSED, void *arg)
{
    (*(size_t *)arg)++;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* "2 workers, 1 running execution, 3 kernels", after the phase when it is not the usual one. */
static void status_text(struct strbuf *out)
{
    static const char *const prefix[] = {"Starting: ", "", "Reloading: ", "Stopping: "};
    int ready = supervisor_ready_count(), slots = supervisor_slot_count();
    size_t executions = (size_t)supervisor_executions_total();
    size_t kernels = (size_t)coderoute_warm_count();
    registry_each("context", count_one, &kernels);
    strbuf_append_str(out, prefix[nt.phase]);
    if (ready == slots)
        strbuf_printf(out, "%d worker%s", ready, plural((size_t)ready));
    else
        strbuf_printf(out, "%d of %d workers ready", ready, slots);
    strbuf_printf(out, ", %zu running execution%s, %zu kernel%s", executions, plural(executions),
                  kernels, plural(kernels));
}

/* Sends the status when it changed since the last one sent, after the lines in head. */
static void send_status(const char *head)
{
    struct strbuf text = STRBUF_INIT;
    status_text(&text);
    if (head == NULL && nt.status != NULL && strcmp(text.data, nt.status) == 0) {
        strbuf_free(&text);
        return;
    }
    if (sdnotify_sendf(&nt.sd, "%sSTATUS=%s", head != NULL ? head : "", text.data) == 0) {
        free(nt.status);
        nt.status = strbuf_detach(&text);
    }
    strbuf_free(&text);
}

static void on_status_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                           void *arg EXECD_UNUSED)
{
    send_status(NULL);
}

/* Runs on the loop, so a stuck loop sends nothing; a silent worker holds the keep-alive too. */
static void on_watchdog_tick(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED,
                             void *arg EXECD_UNUSED)
{
    if (heartbeat_tick())
        sdnotify_send(&nt.sd, "WATCHDOG=1");
}

static struct event *every(struct event_base *base, uint64_t usec, event_callback_fn fn)
{
    struct timeval tv = {(time_t)(usec / 1000000), (suseconds_t)(usec % 1000000)};
    struct event *ev = event_new(base, -1, EV_PERSIST, fn, NULL);
    if (ev != NULL && event_add(ev, &tv) == 0)
        return ev;
    if (ev != NULL)
        event_free(ev);
    return NULL;
}

int notify_start(struct event_base *base)
{
    if (!sdnotify_enabled(&nt.sd))
        return 0;
    nt.status_ev = every(base, STATUS_EVERY_MS * 1000, on_status_tick);
    if (nt.status_ev == NULL) {
        log_error("cannot arm the service status timer");
        return -1;
    }
    if (nt.watchdog_usec == 0)
        return 0;
    uint64_t tick = nt.watchdog_usec / 2;
    nt.watchdog_ev =
        every(base, tick < WATCHDOG_MIN_TICK_US ? WATCHDOG_MIN_TICK_US : tick, on_watchdog_tick);
    if (nt.watchdog_ev == NULL) {
        log_error("cannot arm the watchdog timer");
        return -1;
    }
    log_info("systemd watchdog: keep-alive every %" PRIu64 " ms while every worker answers",
             nt.watchdog_usec / 2000);
    return 0;
}

void notify_ready(void)
{
    if (nt.phase == STOPPING)
        return;
    nt.phase = RUNNING;
    send_status("READY=1\n");
}

void notify_reloading(void)
{
    if (nt.phase == STOPPING)
        return;
    nt.phase = RELOADING;
    if (sdnotify_reloading(&nt.sd) == 0)
        send_status(NULL);
}

void notify_stopping(void)
{
    if (nt.phase == STOPPING)
        return;
    nt.phase = STOPPING;
    send_status("STOPPING=1\n");
}

void notify_free(void)
{
    if (nt.status_ev != NULL)
        event_free(nt.status_ev);
    if (nt.watchdog_ev != NULL)
        event_free(nt.watchdog_ev);
    nt.status_ev = nt.watchdog_ev = NULL;
    free(nt.status);
    nt.status = NULL;
    sdnotify_close(&nt.sd);
}
