/*
 * The master's HTTP server: libevhtp on the master's event base, its settings (access
 * token, body limit, keep-alive timeout) and its connections.
 */
#ifndef EXECD_HTTP_SERVER_H
#define EXECD_HTTP_SERVER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

struct config;
struct http_req;

/*
 * Starts serving: on inherited_fd, a listening socket the service manager passed (socket
 * activation), else on a socket bound to the configured address and port. Returns 0 or -1
 * (logged).
 */
int http_start(struct event_base *base, const struct config *cfg, int inherited_fd);
/* Where connections are accepted ("127.0.0.1:44772"), for the startup line. */
const char *http_listen_address(void);
/* Applies settings that can change on reload (token, limits, timeouts). */
void http_reconfigure(const struct config *cfg);
/* Stops accepting new connections (shutdown). */
void http_stop_accepting(void);
void http_free(void);

struct event_base *http_base(void);
/* Largest JSON body currently accepted. */
uint64_t http_max_body(void);
/* The idle (keep-alive) timeout of client connections, NULL when off. */
const struct timeval *http_idle_timeout(void);
/* Whether r carries the access token (always true without one). */
bool http_authorized(const struct http_req *r);

#endif
