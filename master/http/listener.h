/*
 * When the master accepts connections. The listening socket is bound at start, but
 * connections are accepted only while all of these hold: the workers are ready (a client
 * that connects earlier waits in the backlog), fewer connections are open than the cap
 * (-max-connections; at the cap the next ones wait in the backlog until one closes), the
 * last accept did not fail for lack of descriptors or memory (then accepting pauses for
 * 100 ms instead of spinning on the error), and the daemon is not stopping. Each of these
 * is logged when it starts to hold accepts back, at most once a second.
 */
#ifndef EXECD_HTTP_LISTENER_H
#define EXECD_HTTP_LISTENER_H

#include <event2/event.h>
#include <evhtp.h>

struct config;

/*
 * Takes over htp's bound listener (not accepting yet) and sets the connection cap from
 * cfg and the descriptor limit. Returns 0 or -1 (logged).
 */
int listener_start(struct event_base *base, evhtp_t *htp, const struct config *cfg);
/* The cap after a reload. */
void listener_configure(const struct config *cfg);
/* The workers are ready: connections may be accepted. */
void listener_ready(void);
/* A client connection was accepted / has closed. */
void listener_opened(void);
void listener_closed(void);
/* Client connections open now. */
int listener_open_count(void);
/* No more connections (shutdown, drain). */
void listener_stop(void);
void listener_free(void);

#endif
