/*
 * An environment as an ordered list of KEY=VALUE strings: built from the
 * process environment, overlaid by the EXECD_ENVS file and request envs, then
 * handed to execve.
 */
#ifndef EXECD_ENVMAP_H
#define EXECD_ENVMAP_H

#include <stddef.h>

struct envmap {
    char **entries; /* "KEY=VALUE", NULL-terminated, owned */
    size_t len;
    size_t cap;
};

void envmap_init(struct envmap *env);
void envmap_free(struct envmap *env);
/* Copies a NULL-terminated KEY=VALUE array (e.g. environ). */
void envmap_from_environ(struct envmap *env, char *const *environ_);
/* Adds or replaces key. */
void envmap_set(struct envmap *env, const char *key, const char *value);
void envmap_set_n(struct envmap *env, const char *key, size_t key_len, const char *value,
                  size_t value_len);
/* Returns the value of key or NULL. */
const char *envmap_get(const struct envmap *env, const char *key);
/* Overlays every entry of src onto env. */
void envmap_merge(struct envmap *env, const struct envmap *src);
/* Lookup function shaped for pathexp. arg is a struct envmap. */
const char *envmap_lookup(const char *name, void *arg);

#endif
