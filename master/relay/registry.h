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
/* Like registry_put, with an attribute of the entry (a context's language); attr may be NULL. */
void registry_put_attr(const char *id, const char *kind, const char *attr, const struct worker *w);
void registry_del(const char *id);
/*
 * Returns the kind of id ("command", ...) or NULL when unknown. *owner is set
 * to the worker that should handle it now, or NULL when its slot has no live
 * worker at the moment.
 */
const char *registry_lookup(const char *id, struct worker **owner);
/* The attribute of id, or NULL (unknown id or none). */
const char *registry_attr(const char *id);
/* Calls fn for every entry of kind, in no particular order; fn must not change the registry. */
typedef void (*registry_fn)(const char *id, const char *attr, void *arg);
void registry_each(const char *kind, registry_fn fn, void *arg);
size_t registry_count(void);
void registry_free(void);

#endif
