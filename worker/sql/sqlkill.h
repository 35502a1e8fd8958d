/*
 * Stopping a running statement: `KILL QUERY <thread>` sent over a connection of its
 * own (the statement's connection is busy waiting for it). The statement then fails on
 * the server with "Query execution was interrupted" and its connection stays usable.
 */
#ifndef EXECD_SQLKILL_H
#define EXECD_SQLKILL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Asks the server to stop the statement of connection thread. done(owner, ok) follows,
 * possibly before this returns: ok when the server took the kill (or the thread was
 * gone already), false when it could not be asked. owner is copied: the one who asked
 * is found by it, so it may be gone by then.
 */
void sqlkill_start(unsigned long thread, const char *owner,
                   void (*done)(const char *owner, bool ok));
/* Kills not finished yet (a stopping worker waits for them). */
size_t sqlkill_count(void);
void sqlkill_free_all(void);

#endif
