/*
 * The warm pool: kernels started ahead of demand, so a new context (or the first
 * stateless run of a language) does not wait for a kernel to start. Pool kernels are
 * contexts not handed out yet (context.c keeps them, marked pooled). The daemon-wide
 * count of each language (-kernel-pool) is spread over the workers by slot; each worker
 * reports how many of its warm kernels are ready ("pool {language, ready}") so the
 * master sends creations where one waits. A pool kernel that fails or dies is replaced
 * after 1 s, doubling up to a minute.
 */
#ifndef EXECD_POOL_H
#define EXECD_POOL_H

#include <json-c/json.h>

struct context;

/* This worker's shares of counts ({language: count} for the whole daemon). */
void pool_configure(json_object *counts);
/* An adopted pool kernel of language: the language is tracked even without a share. */
void pool_adopted(const char *language);
/* Brings every language to its share: launches what is missing, stops extras. */
void pool_fill(void);
/* A warm kernel of language for a new context (a ready one, else one starting), or NULL. */
struct context *pool_take(const char *language);
/* A pool kernel of language became ready. */
void pool_ready(const char *language);
/* A pool kernel of language failed to start or died: the next launch backs off. */
void pool_failed(const char *language);
/* Tells the master how many warm kernels of language are ready here (when it changed). */
void pool_report(const char *language);
/* The worker stops: no launches, no reports any more. */
void pool_shutdown(void);
void pool_cleanup(void);

#endif
