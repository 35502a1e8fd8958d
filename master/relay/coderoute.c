#include "relay/coderoute.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common.h"
#include "log.h"
#include "pool/supervisor.h"
#include "relay/registry.h"
#include "strmap.h"
#include "xalloc.h"

/* What the worker of a slot (by pid) last said about its warm kernels of a language. */
struct pool_rep {
    pid_t pid; /* 0: no report */
    int ready;
};

struct lang {
    char *default_id;      /* the registered default context, NULL: none yet */
    int creator_slot;      /* slot creating the default context, -1: none chosen */
    struct pool_rep *reps; /* one per slot */
    int n_slots;
};

static struct strmap langs; /* language -> struct lang */

static void lang_free(void *p)
{
    struct lang *l = p;
    free(l->default_id);
    free(l->reps);
    free(l);
}

static struct lang *lang_get(const char *language)
{
    struct lang *l = strmap_get(&langs, language);
    if (l != NULL)
        return l;
    l = xcalloc(1, sizeof(*l));
    l->creator_slot = -1;
    l->n_slots = supervisor_slot_count();
    l->reps = xcalloc((size_t)l->n_slots + 1, sizeof(*l->reps));
    strmap_put(&langs, language, l);
    return l;
}

void coderoute_pool(const struct worker *w, const char *language, int ready)
{
    struct lang *l = lang_get(language);
    if (w->slot >= l->n_slots) {
        log_warn("%s: a pool report of worker slot %d, beyond the %d slots", language, w->slot,
                 l->n_slots);
        return;
    }
    l->reps[w->slot].pid = w->pid;
    l->reps[w->slot].ready = ready;
}

static void set_default(struct lang *l, const char *id)
{
    free(l->default_id);
    l->default_id = id != NULL ? xstrdup(id) : NULL;
}

void coderoute_registered(const char *id, const char *language, bool dflt)
{
    if (!dflt)
        return;
    struct lang *l = lang_get(language);
    struct worker *owner;
    if (l->default_id != NULL && strcmp(l->default_id, id) != 0 &&
        registry_lookup(l->default_id, &owner) != NULL) {
        log_warn("%s: context %s is registered as default, but %s already is; keeping %s", language,
                 id, l->default_id, l->default_id);
        return;
    }
    set_default(l, id);
}

static void forget_default(const char *language EXECD_UNUSED, void *value, void *arg)
{
    struct lang *l = value;
    if (l->default_id != NULL && strcmp(l->default_id, arg) == 0) {
        set_default(l, NULL);
        /* The next default may be created where a warm kernel is. */
        l->creator_slot = -1;
    }
}

void coderoute_unregistered(const char *id)
{
    strmap_each(&langs, forget_default, (void *)id);
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
    struct ctx_count c = {xcalloc((size_t)supervisor_slot_count() + 1, sizeof(int)),
                          supervisor_slot_count()};
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
    struct lang *l = strmap_get(&langs, language);
    struct pool_rep *best = NULL;
    struct worker *best_w = NULL;
    for (int slot = 0; l != NULL && slot < l->n_slots; slot++) {
        struct pool_rep *p = &l->reps[slot];
        if (p->ready <= 0)
            continue;
        struct worker *w = supervisor_resolve(slot, p->pid);
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
    struct lang *l = lang_get(language);
    if (l->default_id != NULL) {
        struct worker *owner;
        if (registry_lookup(l->default_id, &owner) != NULL) {
            *id = l->default_id;
            return owner;
        }
        set_default(l, NULL);
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

static void add_warm(const char *language EXECD_UNUSED, void *value, void *arg)
{
    const struct lang *l = value;
    for (int i = 0; i < l->n_slots; i++)
        *(int *)arg += l->reps[i].ready;
}

int coderoute_warm_count(void)
{
    int n = 0;
    strmap_each(&langs, add_warm, &n);
    return n;
}

void coderoute_free(void)
{
    strmap_free(&langs, lang_free);
}
