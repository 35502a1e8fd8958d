#include "relay/coderoute.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common.h"
#include "log.h"
#include "pool/supervisor.h"
#include "relay/registry.h"

/* What one worker (slot, pid) last said about its warm kernels of a language. */
struct pool_rep {
    int slot;
    pid_t pid;
    char *language;
    int ready;
    struct pool_rep *next;
};

struct lang {
    char *language;
    char *default_id; /* the registered default context, NULL: none yet */
    int creator_slot; /* slot creating the default context, -1: none chosen */
    struct lang *next;
};

static struct {
    struct pool_rep *pools;
    struct lang *langs;
} cr;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static struct lang *lang_get(const char *language, bool create)
{
    for (struct lang *l = cr.langs; l != NULL; l = l->next) {
        if (strcmp(l->language, language) == 0)
            return l;
    }
    if (!create)
        return NULL;
    struct lang *l = calloc(1, sizeof(*l));
    if (l == NULL)
        abort();
    l->language = xstrdup(language);
    l->creator_slot = -1;
    l->next = cr.langs;
    cr.langs = l;
    return l;
}

void coderoute_pool(const struct worker *w, const char *language, int ready)
{
    struct pool_rep *p = cr.pools;
    while (p != NULL && (p->slot != w->slot || strcmp(p->language, language) != 0))
        p = p->next;
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            abort();
        p->slot = w->slot;
        p->language = xstrdup(language);
        p->next = cr.pools;
        cr.pools = p;
    }
    p->pid = w->pid;
    p->ready = ready;
}

void coderoute_registered(const char *id, const char *language, bool dflt)
{
    if (!dflt)
        return;
    struct lang *l = lang_get(language, true);
    struct worker *owner;
    if (l->default_id != NULL && strcmp(l->default_id, id) != 0 &&
        registry_lookup(l->default_id, &owner) != NULL) {
        log_warn("%s: context %s is registered as default, but %s already is; keeping %s", language,
                 id, l->default_id, l->default_id);
        return;
    }
    free(l->default_id);
    l->default_id = xstrdup(id);
}

void coderoute_unregistered(const char *id)
{
    for (struct lang *l = cr.langs; l != NULL; l = l->next) {
        if (l->default_id != NULL && strcmp(l->default_id, id) == 0) {
            free(l->default_id);
            l->default_id = NULL;
            /* The next default may be created where a warm kernel is. */
            l->creator_slot = -1;
        }
    }
}

struct ctx_count {
    int *per_slot;
    int n;
};

static void count_one(const char *id, const char *attr EXECD_UNUSED, void *arg)
{
    struct ctx_count *c = arg;
    struct worker *w;
    registry_lookup(id, &w);
    if (w != NULL && w->slot < c->n)
        c->per_slot[w->slot]++;
}

/* The ready worker with the fewest contexts (then the least loaded): kernels spread out. */
static struct worker *fewest_contexts(void)
{
    struct ctx_count c = {calloc((size_t)supervisor_slot_count() + 1, sizeof(int)),
                          supervisor_slot_count()};
    if (c.per_slot == NULL)
        abort();
    registry_each("context", count_one, &c);
    struct worker *best = NULL;
    for (int slot = 0; slot < c.n; slot++) {
        struct worker *w = supervisor_resolve(slot, 0);
        if (w == NULL || w->state != WORKER_READY)
            continue;
        if (best == NULL || c.per_slot[slot] < c.per_slot[best->slot] ||
            (c.per_slot[slot] == c.per_slot[best->slot] && w->load < best->load))
            best = w;
    }
    free(c.per_slot);
    return best;
}

struct worker *coderoute_pick(const char *language)
{
    struct pool_rep *best = NULL;
    struct worker *best_w = NULL;
    for (struct pool_rep *p = cr.pools; p != NULL; p = p->next) {
        if (p->ready <= 0 || strcmp(p->language, language) != 0)
            continue;
        struct worker *w = supervisor_resolve(p->slot, p->pid);
        /* A report of a previous worker of the slot says nothing about this one. */
        if (w == NULL || w->pid != p->pid || w->state != WORKER_READY)
            continue;
        if (best == NULL || p->ready > best->ready ||
            (p->ready == best->ready && w->load < best_w->load)) {
            best = p;
            best_w = w;
        }
    }
    if (best == NULL)
        return fewest_contexts();
    best->ready--; /* until the worker reports again: spreads concurrent creations */
    return best_w;
}

struct worker *coderoute_default(const char *language, const char **id)
{
    *id = NULL;
    struct lang *l = lang_get(language, true);
    if (l->default_id != NULL) {
        struct worker *owner;
        if (registry_lookup(l->default_id, &owner) != NULL) {
            *id = l->default_id;
            return owner;
        }
        free(l->default_id);
        l->default_id = NULL;
    }
    if (l->creator_slot >= 0) {
        /* pid 0 matches no worker: the slot's current one. */
        struct worker *w = supervisor_resolve(l->creator_slot, 0);
        if (w != NULL && (w->state == WORKER_READY || w->state == WORKER_STARTING))
            return w;
    }
    struct worker *w = coderoute_pick(language);
    l->creator_slot = w != NULL ? w->slot : -1;
    return w;
}

void coderoute_free(void)
{
    while (cr.pools != NULL) {
        struct pool_rep *p = cr.pools;
        cr.pools = p->next;
        free(p->language);
        free(p);
    }
    while (cr.langs != NULL) {
        struct lang *l = cr.langs;
        cr.langs = l->next;
        free(l->language);
        free(l->default_id);
        free(l);
    }
}
