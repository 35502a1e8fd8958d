/*
 * A request's way through the HTTP layer: the headers (route, early 413, the job of a
 * streamed body), the body, the handler once the request is complete, the error and fini
 * hooks (the access log line).
 */
#ifndef EXECD_HTTP_LIFECYCLE_H
#define EXECD_HTTP_LIFECYCLE_H

#include <event2/buffer.h>
#include <evhtp.h>

struct http_req;

/* Hooks a new connection's requests into the lifecycle. */
void http_lifecycle_attach(evhtp_connection_t *c);
struct http_req;

/*
 * r is answered before its body is read: the connection closes after the answer and the
 * rest of the body is discarded as it arrives (no "100 Continue" either).
 */
void http_answer_early(struct http_req *r);
/* libevhtp's general callback: a request was read completely. */
void http_lifecycle_dispatch(evhtp_request_t *ev, void *arg);

/*
 * The connection of r leaves HTTP (a WebSocket whose 101 the new owner writes). From the
 * loop, once libevhtp has let go of it, r is logged (status 101) and freed, and fn gets the
 * socket and the bytes read beyond the request (rest, freed after fn returns); fd is -1 when
 * the connection could not be taken or went away first (then rest is NULL and nothing more
 * is owed). The socket keeps counting against -max-connections until it is closed with
 * http_upgraded_close.
 */
typedef void (*http_upgrade_fn)(evutil_socket_t fd, struct evbuffer *rest, void *arg);
void http_upgrade(struct http_req *r, http_upgrade_fn fn, void *arg);
void http_upgraded_close(evutil_socket_t fd);

#endif
