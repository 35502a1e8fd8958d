#include "relay/relay.h"

#include "common.h"
#include "relay/coderoute.h"
#include "relay/job.h"
#include "relay/registry.h"
#include "relay/waitq.h"

/*
 * A code context registers with its language (a kernel's context, or a session serving a
 * bash context): code routing learns its default contexts.
 */
static void on_registered(struct worker *w, const char *id, const char *kind, const char *language,
                          bool dflt)
{
    registry_put_attr(id, kind, language, w);
    if (language != NULL)
        coderoute_registered(id, language, dflt);
}

/* Requests that found no worker may find one now. */
static void on_worker_ready(struct worker *w EXECD_UNUSED)
{
    waitq_retry();
}

static void on_unregistered(const char *id)
{
    coderoute_unregistered(id);
    registry_del(id);
}

const struct pool_hooks relay_pool_hooks = {
    .job_message = job_on_message,
    .worker_lost = job_worker_lost,
    .registered = on_registered,
    .unregistered = on_unregistered,
    .pool_report = coderoute_pool,
    .worker_ready = on_worker_ready,
};

void relay_free(void)
{
    coderoute_free();
    registry_free();
}
