/*
 * Which worker owns a long-lived id (command, code context, bash session,
 * PTY). Entries name the worker's slot and process; when that process is
 * gone, the slot's current worker (which re-adopts the slot's objects) is
 * the owner.
 */
#ifndef EXECD_REGISTRY_H
#define EXECD_REGISTRY_H

#include <stddef.h>

struct worker;

void registry_put(const char *id, const char *kind, const struct worker *w);
void registry_del(const char *id);
/*
 * Returns the kind of id ("command", ...) or NULL when unknown. *owner is set
 * to the worker that should handle it now, or NULL when its slot has no live
 * worker at the moment.
 */
const char *registry_lookup(const char *id, struct worker **owner);
size_t registry_count(void);
void registry_free(void);

#endif
