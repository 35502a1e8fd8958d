/*
 * Requests that found no worker to take them: before the workers are ready, or while the
 * worker owning their object (a command, a context) respawns. Such a request waits, paused,
 * for a worker to become ready; then its route's handler runs again, as if it had just
 * arrived. Only past -worker-wait (counted from its first wait) does it get 503 with
 * Retry-After: a respawn takes a few hundred milliseconds, and clients that wait for /ping
 * and then send at once should not see it.
 */
#ifndef EXECD_RELAY_WAITQ_H
#define EXECD_RELAY_WAITQ_H

#include <stdint.h>

struct http_req;

/* How long a request may wait in all; 0 answers 503 at once. */
void waitq_configure(int64_t wait_ms);
/*
 * r cannot be served now: it waits (paused) and its route's handler runs again when a
 * worker is ready, or it is answered 503 with fmt as the message.
 */
void waitq_unavailable(struct http_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A request that waits in its own way (a body still arriving, not paused). */
struct waitq_ops {
    void (*retry)(struct http_req *r);                    /* a worker became ready */
    void (*give_up)(struct http_req *r, const char *why); /* the wait is over */
};
/* r waits with ops (which must outlive the wait); give_up runs at once past the deadline. */
void waitq_wait(struct http_req *r, const struct waitq_ops *ops, const char *why);
/* A worker became ready: every waiting request is handled again. */
void waitq_retry(void);
/* r is going away. */
void waitq_forget(struct http_req *r);

#endif
