/*
 * The master's HTTP server: libevhtp on the master's event base, its settings (access
 * token, body limit, keep-alive timeout) and its connections.
 */
#ifndef EXECD_HTTP_SERVER_H
#define EXECD_HTTP_SERVER_H

#include <event2/event.h>
#include <evhtp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

struct config;
struct http_req;

/*
 * Prepares the listener without accepting yet: inherited_fd, a listening socket the
 * service manager passed (socket activation), else a socket bound to the configured
 * address and port. Returns 0 or -1 (logged).
 */
int http_start(struct event_base *base, const struct config *cfg, int inherited_fd);
/* Starts accepting connections (the workers are ready). */
void http_serve(void);
/* Where connections are accepted ("127.0.0.1:44772"), for the startup line. */
const char *http_listen_address(void);
/* Its port: /proxy/{this port}/... is served directly. */
int http_listen_port(void);
/* Applies settings that can change on reload (token, limits, timeouts). */
void http_reconfigure(const struct config *cfg);
/* Stops accepting new connections (shutdown). */
void http_stop_accepting(void);
void http_free(void);

struct event_base *http_base(void);
/* Largest JSON body currently accepted. */
uint64_t http_max_body(void);
/* Limits of a request's header fields: their number and their bytes. */
int http_max_headers(void);
uint64_t http_max_header_bytes(void);
/* The idle (keep-alive) timeout of client connections, NULL when off. */
const struct timeval *http_idle_timeout(void);
/* How long a client may leave queued output unread before its connection is dropped. */
const struct timeval *http_write_timeout(void);
/*
 * conn leaves libevhtp (http_upgrade): no longer in the list of connections closed at exit,
 * but still counted against the connection cap until its socket closes.
 */
void http_connection_taken(evhtp_connection_t *conn);
/* Whether r carries the access token (always true without one). */
bool http_authorized(const struct http_req *r);

#endif
