/*
 * A request's way through the HTTP layer: the headers (route, early 413, the job of a
 * streamed body), the body, the handler once the request is complete, the error and fini
 * hooks (the access log line).
 */
#ifndef EXECD_HTTP_LIFECYCLE_H
#define EXECD_HTTP_LIFECYCLE_H

#include <evhtp.h>

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

#endif
