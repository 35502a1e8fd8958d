#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void strmap_init(struct strmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->len = 0;
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e != NULL) {
            struct strmap_entry *next = e->next;
            if (free_value != NULL)
                free_value(e->value);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    strmap_init(m);
}

static void grow(struct strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    struct strmap_entry **b = calloc(n, sizeof(*b));
    if (b == NULL)
        abort();
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e != NULL) {
            struct strmap_entry *next = e->next;
            size_t at = hash(e->key) % n;
            e->next = b[at];
            b[at] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

static struct strmap_entry **find(const struct strmap *m, const char *key)
{
    if (m->nbuckets == 0)
        return NULL;
    struct strmap_entry **pp = &m->buckets[hash(key) % m->nbuckets];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

void *strmap_put(struct strmap *m, const char *key, void *value)
{
    struct strmap_entry **pp = find(m, key);
    if (pp != NULL && *pp != NULL) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    if (m->len + 1 > m->nbuckets * 3 / 4)
        grow(m);
    struct strmap_entry *e = malloc(sizeof(*e));
    if (e == NULL || (e->key = strdup(key)) == NULL)
        abort();
    size_t at = hash(key) % m->nbuckets;
    e->value = value;
    e->next = m->buckets[at];
    m->buckets[at] = e;
    m->len++;
    return NULL;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_entry **pp = find(m, key);
    return pp != NULL && *pp != NULL ? (*pp)->value : NULL;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct strmap_entry **pp = find(m, key);
    if (pp == NULL || *pp == NULL)
        return NULL;
    struct strmap_entry *e = *pp;
    void *value = e->value;
    *pp = e->next;
    free(e->key);
    free(e);
    m->len--;
    return value;
}

void strmap_each(const struct strmap *m, void (*fn)(const char *key, void *value, void *arg),
                 void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct strmap_entry *e = m->buckets[i]; e != NULL; e = e->next)
            fn(e->key, e->value, arg);
    }
}
