/*
 * The master's side of systemd's service protocols (shared/sdnotify.h): READY=1 once the
 * listener and every worker slot are up; STATUS= with the workers, running executions and
 * kernels whenever that changes (looked at every second); WATCHDOG=1 every half of the
 * watchdog period while the loop runs and every worker answers its heartbeat
 * (pool/heartbeat.h); RELOADING=1 and READY=1 around a reload; STOPPING=1. Without
 * $NOTIFY_SOCKET every call is a no-op.
 */
#ifndef EXECD_NOTIFY_H
#define EXECD_NOTIFY_H

#include <event2/event.h>

/*
 * Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and removes them from the
 * environment: call it before any worker starts, so no worker, command or kernel can speak
 * for the daemon.
 */
void notify_open(void);
/* Arms the status and watchdog timers on base. Returns 0 or -1 (logged). */
int notify_start(struct event_base *base);
/* Started, or reloaded: READY=1 with the status. */
void notify_ready(void);
/* SIGHUP: RELOADING=1; notify_ready follows once the workers are replaced. */
void notify_reloading(void);
/* Shutdown or drain: STOPPING=1 (once). */
void notify_stopping(void);
void notify_free(void);

#endif
