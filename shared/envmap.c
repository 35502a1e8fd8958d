#include "envmap.h"

#include <stdlib.h>
#include <string.h>

void envmap_init(struct envmap *env)
{
    env->entries = NULL;
    env->len = 0;
    env->cap = 0;
}

void envmap_free(struct envmap *env)
{
    for (size_t i = 0; i < env->len; i++)
        free(env->entries[i]);
    free(env->entries);
    envmap_init(env);
}

static char *make_entry(const char *key, size_t key_len, const char *value, size_t value_len)
{
    char *e = malloc(key_len + value_len + 2);
    if (e == NULL)
        abort();
    memcpy(e, key, key_len);
    e[key_len] = '=';
    memcpy(e + key_len + 1, value, value_len);
    e[key_len + value_len + 1] = '\0';
    return e;
}

static long find(const struct envmap *env, const char *key, size_t key_len)
{
    for (size_t i = 0; i < env->len; i++) {
        const char *e = env->entries[i];
        if (strncmp(e, key, key_len) == 0 && e[key_len] == '=')
            return (long)i;
    }
    return -1;
}

void envmap_set_n(struct envmap *env, const char *key, size_t key_len, const char *value,
                  size_t value_len)
{
    char *entry = make_entry(key, key_len, value, value_len);
    long at = find(env, key, key_len);
    if (at >= 0) {
        free(env->entries[at]);
        env->entries[at] = entry;
        return;
    }
    if (env->len + 2 > env->cap) {
        size_t cap = env->cap ? env->cap * 2 : 32;
        char **grown = realloc(env->entries, cap * sizeof(char *));
        if (grown == NULL)
            abort();
        env->entries = grown;
        env->cap = cap;
    }
    env->entries[env->len++] = entry;
    env->entries[env->len] = NULL;
}

void envmap_set(struct envmap *env, const char *key, const char *value)
{
    envmap_set_n(env, key, strlen(key), value, strlen(value));
}

void envmap_from_environ(struct envmap *env, char *const *environ_)
{
    for (char *const *e = environ_; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL || eq == *e)
            continue;
        envmap_set_n(env, *e, (size_t)(eq - *e), eq + 1, strlen(eq + 1));
    }
}

const char *envmap_get(const struct envmap *env, const char *key)
{
    long at = find(env, key, strlen(key));
    if (at < 0)
        return NULL;
    return env->entries[at] + strlen(key) + 1;
}

void envmap_merge(struct envmap *env, const struct envmap *src)
{
    for (size_t i = 0; i < src->len; i++) {
        const char *e = src->entries[i];
        const char *eq = strchr(e, '=');
        envmap_set_n(env, e, (size_t)(eq - e), eq + 1, strlen(eq + 1));
    }
}

const char *envmap_lookup(const char *name, void *arg)
{
    return envmap_get(arg, name);
}
