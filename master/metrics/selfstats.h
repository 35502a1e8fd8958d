/*
 * The daemon's own figures, for GET /metrics/daemon in Prometheus' text format (version
 * 0.0.4): counters kept as things happen (requests, durations, bytes, proxied
 * connections), gauges read from their owners when scraped (workers, executions, kernels,
 * streams, connections). Names follow Prometheus' conventions: execd_ prefix, _total for
 * counters, base units (_seconds, _bytes).
 */
#ifndef EXECD_SELFSTATS_H
#define EXECD_SELFSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct route;

/* A request ended (route NULL: none matched). */
void selfstats_request(const struct route *route, const char *method, int status,
                       int64_t duration_us);
/* A stream (command, code, metrics watch) began / ended; bytes written to one. */
void selfstats_stream_opened(void);
void selfstats_stream_closed(void);
void selfstats_streamed(size_t bytes);
/* Proxied connections to ports (metrics/...: not to the daemon itself) and their bytes. */
void selfstats_proxy_opened(void);
void selfstats_proxy_closed(void);
void selfstats_proxied(size_t to_backend, size_t to_client);

/* The start time; counters from zero. */
void selfstats_init(void);
/* Renders every metric. */
void selfstats_render(struct strbuf *out);
void selfstats_free(void);

#endif
