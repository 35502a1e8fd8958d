/*
 * Code interpreting jobs of a worker: POST /code on a kernel language, the
 * /code/context(s) operations and the interrupt of a context. An execution
 * turns the kernel's callbacks into the contract's events (init, stdout,
 * stderr, execution_count, result, status + error, execution_complete) and
 * relays them through a spool (spool.c), so a slow client costs disk rather
 * than memory; output beyond the configured limit is dropped after an
 * explicit marker. See docs/architecture.md for the IPC operations.
 */
#ifndef EXECD_CODE_H
#define EXECD_CODE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Handles the job operations code.run {id | language + default, code},
 * code.context.create {language, cwd}, code.context.delete {id} and
 * code.contexts.delete {language}. Returns false when op is none of them.
 */
bool code_job(uint32_t job, const char *op, json_object *msg);
/* interrupt {id, kind "context"}. */
void code_interrupt(uint32_t job, json_object *msg);
/* Adoption is done: replays the jobs that named contexts not adopted yet. */
void code_adopted(void);
/* Streams or answers in progress (a draining worker waits for them). */
bool code_busy(void);
void code_cleanup(void);

#endif
