/*
 * Limits on long-lived interpreters: kernels (-max-kernels: code contexts, whatever serves
 * them, and the warm pool) and bash session shells (-max-sessions: POST /session). A
 * request that would start one past its limit is answered 503 TOO_MANY_REQUESTS with
 * Retry-After before anything is sent to a worker.
 */
#ifndef EXECD_LIVELIMIT_H
#define EXECD_LIVELIMIT_H

#include <json-c/json.h>
#include <stdbool.h>

struct http_req;

enum live_kind {
    LIVE_NONE,    /* starts no long-lived interpreter */
    LIVE_KERNEL,  /* may start a kernel or a session shell serving a bash code context */
    LIVE_SESSION, /* starts a /session shell */
};

/* 0: no limit. pool_kernels: the warm kernels -kernel-pool keeps in all. */
void livelimit_configure(int max_kernels, int max_sessions, int pool_kernels);
/* What sending op with args to a worker may start. */
enum live_kind livelimit_kind_of(const char *op, json_object *args);
/* Whether one more of kind may start; if not, r is answered 503 TOO_MANY_REQUESTS. */
bool livelimit_allowed(struct http_req *r, enum live_kind kind);
/* A job that may start one of kind was sent to a worker: it counts until its first answer. */
void livelimit_starting(enum live_kind kind);
/* That job's worker answered: what it started is registered by now, or it failed. */
void livelimit_answered(enum live_kind kind);

#endif
