/*
 * One execution of code on a context's kernel, streamed to the client (exec.c). A run
 * job creates it, waits for its context (context_when_ready with exec_on_ready) and
 * the execution ends the stream itself; the master's cancel, pause and resume reach it
 * through core/wjob.h.
 */
#ifndef EXECD_EXEC_H
#define EXECD_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "jupyter/context.h"

struct exec;

/* An execution of code for job, registered for the master's stream control. */
struct exec *exec_new(uint32_t job, const char *code);
/*
 * A context_fn for context_when_ready (arg: the exec): runs the code on c once ready,
 * or answers the failure (a busy context: init, then an error event).
 */
void exec_on_ready(struct context *c, void *arg, const char *err);
/* Executions whose client is still there (a draining worker waits for them). */
bool exec_busy(void);
void exec_cleanup(void);

#endif
