/* A string-keyed hash map (chained, grows by doubling). Keys are copied; values are borrowed. */
#ifndef EXECD_STRMAP_H
#define EXECD_STRMAP_H

#include <stddef.h>

struct strmap_entry {
    char *key;
    void *value;
    struct strmap_entry *next;
};

struct strmap {
    struct strmap_entry **buckets;
    size_t nbuckets;
    size_t len;
};

void strmap_init(struct strmap *m);
/* Frees the map; free_value (may be NULL) is called on every value. */
void strmap_free(struct strmap *m, void (*free_value)(void *));
/* Inserts or replaces; returns the previous value or NULL. */
void *strmap_put(struct strmap *m, const char *key, void *value);
void *strmap_get(const struct strmap *m, const char *key);
/* Removes key; returns its value or NULL. */
void *strmap_del(struct strmap *m, const char *key);
/* Calls fn for every entry; fn must not modify the map. */
void strmap_each(const struct strmap *m, void (*fn)(const char *key, void *value, void *arg),
                 void *arg);

#endif
