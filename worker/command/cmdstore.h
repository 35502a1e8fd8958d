/*
 * Command records: every command this worker slot ran, in memory and on disk
 * (<state_dir>/commands/<id>.json, plus <id>.output for background output),
 * so a respawned or replacing worker can answer for them. Retention drops
 * finished records older than the configured age, the oldest logs first when
 * their total size passes the limit, and the oldest records beyond a count.
 */
#ifndef EXECD_CMDSTORE_H
#define EXECD_CMDSTORE_H

#include <stdint.h>

#include "command/command.h"
#include "strbuf.h"

/* Finished records kept at most, whatever their age. */
#define CMDSTORE_MAX_FINISHED 10000

int cmdstore_init(const char *state_dir, int64_t retention_ms, uint64_t retention_bytes);
struct command *cmdstore_get(const char *id);
/*
 * What a record keeps of a command's text (a copy): at most 4 KiB, cut on a
 * character boundary and marked with an ellipsis (U+2026) when longer.
 */
char *cmdstore_content(const char *command);
/* Takes ownership of c. */
void cmdstore_add(struct command *c);
/* Writes c's record file (atomically). Returns 0 or -1 (logged). */
int cmdstore_save(const struct command *c);
/* Path of the background output file of id, into out. */
void cmdstore_output_path(const char *id, struct strbuf *out);
/*
 * Loads records on disk that are not in memory; calls fn for each new one
 * (to re-attach running processes).
 */
void cmdstore_load(void (*fn)(struct command *c));
/* Applies retention at wall-clock time now_ms; returns how many records were dropped. */
int cmdstore_sweep(int64_t now_ms);
void cmdstore_each(void (*fn)(struct command *c, void *arg), void *arg);
void cmdstore_free(void);

#endif
