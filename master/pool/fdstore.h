/*
 * Descriptors a worker keeps in the master so that they outlive it, as systemd's file
 * descriptor store does for services: a PTY's master side (its shell gets SIGHUP once no
 * process holds it) and the PTY session's replay ring. A worker sends `keep {owner, key}`
 * with the descriptor (replacing one kept under the same key) and `drop {owner, prefix}`.
 * When a worker takes its slot's state over (config with adopt after a crash, or adopt
 * after a reload), it gets `kept {owner, key}` with a duplicate of each descriptor of its
 * slot, in the order they were kept; the master keeps its own until they are dropped.
 */
#ifndef EXECD_POOL_FDSTORE_H
#define EXECD_POOL_FDSTORE_H

#include <stddef.h>

struct worker;

/* fd (taken) is kept for slot under owner and key. */
void fdstore_keep(int slot, const char *owner, const char *key, int fd);
/* Every descriptor of slot kept by owner under a key starting with prefix is closed. */
void fdstore_drop(int slot, const char *owner, const char *prefix);
/* Sends w (taking its slot over) a duplicate of each descriptor kept for its slot. */
void fdstore_send(struct worker *w);
size_t fdstore_count(void);
void fdstore_free(void);

#endif
