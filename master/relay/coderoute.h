/*
 * Where code-interpreting work goes. Workers report their warm kernels
 * ("pool {language, ready}"), so context creation and the first stateless
 * run prefer a worker that has one. Each language's default context (the one
 * /code without a context id uses) is found by id once a worker registered
 * it; until then every stateless run of that language goes to one
 * designated worker slot, which creates it exactly once.
 */
#ifndef EXECD_CODEROUTE_H
#define EXECD_CODEROUTE_H

#include <stdbool.h>

struct worker;

/* A worker reported how many warm kernels of language it has ready. */
void coderoute_pool(const struct worker *w, const char *language, int ready);
/* A context was registered (by its worker); dflt: it is language's default context. */
void coderoute_registered(const char *id, const char *language, bool dflt);
/* id left the registry. */
void coderoute_unregistered(const char *id);

/*
 * A worker to create a context of language on: the one with the most warm
 * kernels of it (counted as taken), else the one with the fewest contexts.
 * NULL when no worker is ready.
 */
struct worker *coderoute_pick(const char *language);
/*
 * Where a run of language without a context id goes. When the default
 * context exists, *id is set to it and its owner returned (NULL while that
 * worker restarts). Else *id is NULL and the worker designated to create it
 * is returned (NULL when no worker is ready).
 */
struct worker *coderoute_default(const char *language, const char **id);

/* Warm kernels ready in all workers, as last reported. */
int coderoute_warm_count(void);

void coderoute_free(void);

#endif
