/*
 * A worker process: its own event loop, the executors listed in executors.c (commands,
 * Jupyter kernels, the file API) and one channel to the master. Workers never see HTTP:
 * requests arrive as IPC jobs that main.c hands to an executor, and answers leave
 * through core/out.c.
 *
 * This header is the worker as its executors see it: the loop, the settings, the state
 * directory, the environment commands and kernels start with, and worker_changed() to
 * call when work a draining or stopping worker waits for has ended.
 */
#ifndef EXECD_WORKER_H
#define EXECD_WORKER_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "envmap.h"
#include "wsettings.h"

struct event_base *worker_base(void);
/* This worker's slot: its place among the workers (0 ... workers-1). */
int worker_slot(void);
/* The settings of the master's config message (valid once the worker is configured). */
const struct wsettings *worker_settings(void);
/* <runtime_dir>/w<slot>: this slot's records, kernels and overflow files. */
const char *worker_state_dir(void);
/* Reload: the worker finishes its foreground work and exits; start nothing new ahead. */
bool worker_draining(void);
/*
 * Fills env (initialized here) with the daemon's environment plus the EXECD_ENVS file,
 * what commands and kernels start with.
 */
void worker_environment(struct envmap *env);
/* Work a draining or stopping worker may wait for has ended: it exits if nothing is left. */
void worker_changed(void);

/* For main.c: the worker's lifecycle. */

/* The worker of slot runs on base (which main.c owns). */
void worker_state_init(struct event_base *base, int slot);
/* Applies the config message: log, state directory, executors. Returns 0 or -1 (logged). */
int worker_configure(json_object *msg);
/* drain: exit once no executor is busy. */
void worker_drain(void);
/* shutdown: every executor stops, the worker exits when they are done or after the grace. */
void worker_shutdown(int64_t grace_ms);
/* After the loop: executors cleaned up, everything but the loop released. */
void worker_finish(void);

#endif
