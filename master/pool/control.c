#include "pool/control.h"

#include <string.h>
#include <unistd.h>

#include "jsonreq.h"
#include "log.h"
#include "pool/fdstore.h"
#include "pool/heartbeat.h"
#include "pool/worker.h"
#include "strbuf.h"

/* register {kind, id[, language, default]} */
static void on_register(struct worker *w, json_object *msg, const struct pool_hooks *hooks)
{
    const char *id = NULL, *kind = NULL, *language = NULL;
    bool dflt = false;
    jsonreq_string(msg, "language", &language);
    jsonreq_bool(msg, "default", &dflt);
    if (jsonreq_string(msg, "id", &id) == JSONREQ_OK &&
        jsonreq_string(msg, "kind", &kind) == JSONREQ_OK)
        hooks->registered(w, id, kind, language, dflt);
}

static void on_unregister(json_object *msg, const struct pool_hooks *hooks)
{
    const char *id = NULL;
    if (jsonreq_string(msg, "id", &id) == JSONREQ_OK)
        hooks->unregistered(id);
}

/* background {running}: the worker's running background commands (execution limits). */
static void on_background(struct worker *w, json_object *msg)
{
    int64_t running = 0;
    if (jsonreq_int64(msg, "running", &running) == JSONREQ_OK && running >= 0)
        w->background = (int)running;
}

/* pool {language, ready} */
static void on_pool(struct worker *w, json_object *msg, const struct pool_hooks *hooks)
{
    const char *language = NULL;
    int64_t ready = 0;
    if (jsonreq_string(msg, "language", &language) == JSONREQ_OK &&
        jsonreq_int64(msg, "ready", &ready) == JSONREQ_OK)
        hooks->pool_report(w, language, (int)ready);
}

/* keep {owner, key} + fd: the descriptor outlives the worker (pool/fdstore.h). */
static void on_keep(struct worker *w, json_object *msg, int fd)
{
    const char *owner = NULL, *key = NULL;
    if (fd < 0 || jsonreq_string(msg, "owner", &owner) != JSONREQ_OK ||
        jsonreq_string(msg, "key", &key) != JSONREQ_OK) {
        log_error("worker %d: keep without a descriptor, owner or key", w->slot);
        if (fd >= 0)
            close(fd);
        return;
    }
    fdstore_keep(w->slot, owner, key, fd);
}

/* drop {owner, prefix} */
static void on_drop(struct worker *w, json_object *msg)
{
    const char *owner = NULL, *prefix = NULL;
    if (jsonreq_string(msg, "owner", &owner) == JSONREQ_OK &&
        jsonreq_string(msg, "prefix", &prefix) == JSONREQ_OK)
        fdstore_drop(w->slot, owner, prefix);
}

enum control_result control_handle(struct worker *w, const struct ipc_msg *msg,
                                   const struct pool_hooks *hooks)
{
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse(msg->data, msg->len, &err);
    const char *op = NULL;
    enum control_result res = CONTROL_HANDLED;

    int fd = msg->fd; /* only keep takes a descriptor */
    if (obj == NULL || jsonreq_string(obj, "op", &op) != JSONREQ_OK)
        log_error("worker %d: malformed control message: %s", w->slot, err.data ? err.data : "");
    else if (strcmp(op, "keep") == 0) {
        on_keep(w, obj, fd);
        fd = -1;
    } else if (strcmp(op, "drop") == 0)
        on_drop(w, obj);
    else if (strcmp(op, "ready") == 0)
        res = CONTROL_READY;
    else if (strcmp(op, "register") == 0)
        on_register(w, obj, hooks);
    else if (strcmp(op, "unregister") == 0)
        on_unregister(obj, hooks);
    else if (strcmp(op, "pool") == 0)
        on_pool(w, obj, hooks);
    else if (strcmp(op, "pong") == 0)
        heartbeat_pong(w, obj);
    else if (strcmp(op, "background") == 0)
        on_background(w, obj);
    else
        log_warn("worker %d: unknown control op '%s'", w->slot, op);
    if (fd >= 0)
        close(fd);
    json_object_put(obj);
    strbuf_free(&err);
    return res;
}
