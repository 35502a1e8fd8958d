/*
 * GET /metrics/watch: the headers at once, then one metrics object per line ("\n", not
 * "\n\n") about once a second until the client goes away; {"error":"..."} lines when the
 * figures cannot be read. One timer serves every watcher, and only while there is one: each
 * tick takes one reading and writes the same line to all of them. A watcher that has more
 * than WATCH_BACKLOG bytes unread skips lines (a watch is a live view, not a log).
 */
#ifndef EXECD_WATCH_H
#define EXECD_WATCH_H

#include "http/request.h"

#define WATCH_PERIOD_MS 1000
#define WATCH_BACKLOG (64 * 1024)

/* Starts the watch stream on r. */
void watch_start(struct http_req *r);
/* The timer (every watch is gone by then). */
void watch_free(void);

#endif
