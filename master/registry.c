#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "strmap.h"
#include "supervisor.h"

struct entry {
    char kind[16];
    int slot;
    pid_t pid;
};

static struct strmap ids;

void registry_put(const char *id, const char *kind, const struct worker *w)
{
    struct entry *e = malloc(sizeof(*e));
    if (e == NULL)
        abort();
    snprintf(e->kind, sizeof(e->kind), "%s", kind);
    e->slot = w->slot;
    e->pid = w->pid;
    free(strmap_put(&ids, id, e));
}

void registry_del(const char *id)
{
    free(strmap_del(&ids, id));
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

size_t registry_count(void)
{
    return ids.len;
}

void registry_free(void)
{
    strmap_free(&ids, free);
}
