#include "pool/fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "list.h"
#include "log.h"
#include "pool/worker.h"
#include "xalloc.h"

/* Beyond this many descriptors in all, keeping more is refused (logged). */
#define FDSTORE_MAX 8192

struct kept {
    struct list node;
    int slot;
    char *owner;
    char *key;
    int fd;
};

static struct {
    struct list all; /* in the order kept */
    size_t count;
} store = {.all = LIST_HEAD_INIT(store.all)};

static void kept_free(struct kept *k)
{
    list_del(&k->node);
    store.count--;
    if (close(k->fd) < 0)
        log_debug("fdstore: closing %s %s: %s", k->owner, k->key, strerror(errno));
    free(k->owner);
    free(k->key);
    free(k);
}

void fdstore_keep(int slot, const char *owner, const char *key, int fd)
{
    fdstore_drop(slot, owner, key); /* the key's previous descriptor, if any */
    if (store.count >= FDSTORE_MAX) {
        log_error("fdstore: %zu descriptors kept already; not keeping %s %s of worker %d",
                  store.count, owner, key, slot);
        close(fd);
        return;
    }
    struct kept *k = xcalloc(1, sizeof(*k));
    k->slot = slot;
    k->owner = xstrdup(owner);
    k->key = xstrdup(key);
    k->fd = fd;
    list_add_tail(&store.all, &k->node);
    store.count++;
}

void fdstore_drop(int slot, const char *owner, const char *prefix)
{
    size_t plen = strlen(prefix);
    list_each_safe(&store.all, it, nx)
    {
        struct kept *k = list_entry(it, struct kept, node);
        if (k->slot == slot && strcmp(k->owner, owner) == 0 && strncmp(k->key, prefix, plen) == 0)
            kept_free(k);
    }
}

void fdstore_send(struct worker *w)
{
    list_each_safe(&store.all, it, nx)
    {
        struct kept *k = list_entry(it, struct kept, node);
        if (k->slot != w->slot)
            continue;
        int fd = fcntl(k->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            log_error("fdstore: cannot duplicate %s %s for worker %d: %s", k->owner, k->key,
                      w->slot, strerror(errno));
            continue;
        }
        json_object *msg = xjson_object();
        json_object_object_add(msg, "op", xjson_string("kept"));
        json_object_object_add(msg, "owner", xjson_string(k->owner));
        json_object_object_add(msg, "key", xjson_string(k->key));
        int rc = worker_send_json_fd(w, 0, msg, fd);
        json_object_put(msg);
        if (rc < 0) {
            log_error("fdstore: cannot hand %s %s to worker %d", k->owner, k->key, w->slot);
            return; /* the channel is gone */
        }
    }
}

size_t fdstore_count(void)
{
    return store.count;
}

void fdstore_free(void)
{
    while (!list_empty(&store.all))
        kept_free(list_first(&store.all, struct kept, node));
}
