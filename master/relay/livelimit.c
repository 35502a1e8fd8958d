#include "relay/livelimit.h"

#include <string.h>

#include "common.h"
#include "http/reply.h"
#include "http/request.h"
#include "log.h"
#include "relay/registry.h"

/*
 * The master counts, not the workers. It sees every request that may start an interpreter
 * before any worker does, and knows what lives: the registry holds every code context
 * (kind "context", or "session" with a language for bash contexts served by session
 * shells) and every /session session (kind "session" without one), and the warm pool never
 * holds more than its configured size (a creation that takes a warm kernel starts a
 * replacement, so the pool's size counts, ready or not). One total for the daemon, with no
 * share per worker: creations go to the worker with a warm kernel or the fewest contexts,
 * not to one with room, so a per-worker share would refuse while other workers had room.
 * Workers need not know the limit. A request sent but not answered yet counts too, so
 * concurrent creations cannot overshoot; the worker registers what it started before it
 * answers on the same channel, so nothing is uncounted in between.
 *
 * Counted more than once for a moment, so refused early only near the limit: a context
 * between its registration and its creation's answer; concurrent first runs of a language
 * before its default context exists (one kernel is started for all, each counts until its
 * first event). Counted though not running: a context whose kernel died (its next run
 * starts one, never refused), a warm kernel that failed and waits to be retried. Not
 * counted: a deleted context's kernel during its shutdown grace (2 s; its slot is free at
 * once). Each check walks the registry (commands included): creations are rare next to the
 * kernel start each costs.
 */
static int max_kernels, max_sessions, pool_kernels;
static int pending[LIVE_SESSION + 1]; /* jobs sent, not answered yet */

void livelimit_configure(int kernels, int sessions, int pool)
{
    max_kernels = kernels;
    max_sessions = sessions;
    pool_kernels = pool;
}

enum live_kind livelimit_kind_of(const char *op, json_object *args)
{
    if (strcmp(op, "code.context.create") == 0)
        return LIVE_KERNEL;
    /* A run without a context id creates the language's default context if there is none. */
    json_object *dflt;
    if (strcmp(op, "code.run") == 0 && json_object_object_get_ex(args, "default", &dflt) &&
        json_object_get_boolean(dflt))
        return LIVE_KERNEL;
    if (strcmp(op, "session.create") == 0)
        return LIVE_SESSION;
    return LIVE_NONE;
}

struct live_count {
    int kernels, sessions;
};

static void count_context(const char *id EXECD_UNUSED, const char *attr EXECD_UNUSED, void *arg)
{
    ((struct live_count *)arg)->kernels++;
}

/* A session with a language serves a code context. */
static void count_session(const char *id EXECD_UNUSED, const char *attr, void *arg)
{
    struct live_count *c = arg;
    if (attr != NULL)
        c->kernels++;
    else
        c->sessions++;
}

bool livelimit_allowed(struct http_req *r, enum live_kind kind)
{
    int max = kind == LIVE_KERNEL ? max_kernels : kind == LIVE_SESSION ? max_sessions : 0;
    if (max <= 0)
        return true;
    struct live_count c = {pool_kernels, 0};
    registry_each("context", count_context, &c);
    registry_each("session", count_session, &c);
    int live = (kind == LIVE_KERNEL ? c.kernels : c.sessions) + pending[kind];
    if (live < max)
        return true;
    if (kind == LIVE_KERNEL) {
        log_warn("%s %s: kernel limit reached (%d live or starting, %d of them warm, "
                 "-max-kernels %d)",
                 http_method_name(r), http_path(r), live, pool_kernels, max);
        reply_unavailable(r, ERR_TOO_MANY_REQUESTS,
                          "too many kernels (%d code contexts and warm kernels, at most %d: "
                          "-max-kernels); delete a context or try again later",
                          live, max);
    } else {
        log_warn("%s %s: session limit reached (%d live or starting, -max-sessions %d)",
                 http_method_name(r), http_path(r), live, max);
        reply_unavailable(r, ERR_TOO_MANY_REQUESTS,
                          "too many sessions (%d, at most %d: -max-sessions); delete a session "
                          "or try again later",
                          live, max);
    }
    return false;
}

void livelimit_starting(enum live_kind kind)
{
    if (kind != LIVE_NONE)
        pending[kind]++;
}

void livelimit_answered(enum live_kind kind)
{
    if (kind != LIVE_NONE)
        pending[kind]--;
}
