#include "relay/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "pool/supervisor.h"
#include "strmap.h"
#include "xalloc.h"

struct entry {
    char kind[16];
    int slot;
    pid_t pid;
    char *attr; /* NULL: none */
};

static struct strmap ids;

static void entry_free(void *p)
{
    struct entry *e = p;
    if (e != NULL)
        free(e->attr);
    free(e);
}

void registry_put_attr(const char *id, const char *kind, const char *attr, const struct worker *w)
{
    struct entry *e = xmalloc(sizeof(*e));
    snprintf(e->kind, sizeof(e->kind), "%s", kind);
    e->slot = w->slot;
    e->pid = w->pid;
    e->attr = attr != NULL ? xstrdup(attr) : NULL;
    entry_free(strmap_put(&ids, id, e));
}

void registry_put(const char *id, const char *kind, const struct worker *w)
{
    registry_put_attr(id, kind, NULL, w);
}

void registry_del(const char *id)
{
    entry_free(strmap_del(&ids, id));
}

const char *registry_lookup(const char *id, struct worker **owner)
{
    struct entry *e = strmap_get(&ids, id);
    if (e == NULL) {
        *owner = NULL;
        return NULL;
    }
    *owner = supervisor_resolve(e->slot, e->pid);
    return e->kind;
}

const char *registry_attr(const char *id)
{
    struct entry *e = strmap_get(&ids, id);
    return e != NULL ? e->attr : NULL;
}

struct each_arg {
    const char *kind;
    registry_fn fn;
    void *arg;
};

static void each_one(const char *id, void *value, void *arg)
{
    struct entry *e = value;
    struct each_arg *a = arg;
    if (strcmp(e->kind, a->kind) == 0)
        a->fn(id, e->attr, a->arg);
}

void registry_each(const char *kind, registry_fn fn, void *arg)
{
    struct each_arg a = {kind, fn, arg};
    strmap_each(&ids, each_one, &a);
}

size_t registry_count(void)
{
    return ids.len;
}

void registry_free(void)
{
    strmap_free(&ids, entry_free);
}
