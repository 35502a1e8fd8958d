/*
 * Everything the master does to libevhtp beyond its plain request API, in one place: the
 * only file that knows the fields of evhtp_connection_t, libevhtp's flags, its parser and
 * the connection's bufferevent. The HTTP layer asks for what it needs (resume after output,
 * stream mode, own reads of the socket, a parse error's answer, a file segment, an answer
 * without the default Content-Type, a disconnect watch) and never sees how.
 *
 * configure accepts only libevhtp 1.2.18, the release these behaviours were checked on:
 *
 *  1. evhtp_request_resume() resumes through a deferred event. When the socket's write event
 *     runs first in the same loop turn, the exchange completes before that event, which
 *     then re-arms writing on an idle connection (glue_resume, glue_accept).
 *  2. libevhtp's write callback frees a connection it finds without a request, and libevent
 *     calls it whenever writing is enabled and the output is empty, even with nothing
 *     written. The callback is one function for every connection, so it can be wrapped once
 *     (glue_accept).
 *  3. The write callback on a connection flagged EVHTP_CONN_FLAG_WAITING (and not PAUSED)
 *     re-enables reading, parses pending input and handles keep-alive: that is what its
 *     resume event would do once the output is flushed (glue_resume).
 *  4. A connection that fails while paused is only flagged EVHTP_CONN_FLAG_FREE_CONN; it is
 *     freed when resumed (glue_resume, glue_release).
 *  5. evhtp_request_set_keepalive(req, 0) does nothing: keep-alive is cleared by clearing
 *     EVHTP_REQ_FLAG_KEEPALIVE, which the write callback reads once the answer is flushed
 *     (glue_close_after, glue_keepalive).
 *  6. evhtp_send_reply() and evhtp_send_reply_start() serialize the head straight into the
 *     connection's bufferevent output; the write happens later on the loop. The serializer
 *     adds "Content-Type: text/plain" to a head without one (glue_send_bare).
 *  7. A socket bufferevent freezes the start of its output buffer (only its writer drains
 *     it) and the end of its input buffer (only its reader fills it) (glue_send_bare,
 *     glue_read_input).
 *  8. The connection's bufferevent read callback is libevhtp's parser entry: it parses
 *     whatever the input buffer holds, does nothing while the connection is paused, runs
 *     the hooks (on_read, the request's completion) from inside, and may free the
 *     connection and its request (glue_parse_input).
 *  9. While a request is paused libevhtp does not read its socket, so a client that hangs
 *     up is noticed only at the next failed write (glue_watch_disconnect).
 * 10. The parser (conn->parser) keeps its error after a failure, refuses any header line,
 *     URI or chunk-size line over 8 KiB with htparse_error_too_big, and libevhtp then
 *     frees the connection without answering. The connection-fini hook runs before the
 *     socket is closed (glue_parse_error, glue_send_now).
 * 11. Accepted sockets are not close-on-exec (glue_accept).
 * 12. evhtp_set_timeouts() applies to connections accepted later; a running connection's
 *     timeouts are its bufferevent's, and libevhtp never sets them again (glue_set_timeouts).
 *     A timeout ends the connection as an error does: the error hooks run, and a paused
 *     connection is freed once resumed (4).
 * 13. evhtp_t.server is the evconnlistener of the bound socket, enabled once bound; libevent
 *     calls its error callback when accept() fails with anything but EINTR, EAGAIN or
 *     ECONNABORTED, and without one logs "Error from accept()" and retries at once: with
 *     descriptors exhausted, a busy loop (glue_listen, glue_on_accept_error).
 * 14. evhtp_accept_socket() serves a socket that is already bound as it is: it neither makes
 *     it non-blocking nor (with backlog 0) calls listen() again, makes it evhtp_t.server as
 *     evhtp_bind_socket does (13), the listener closes it when freed (evhtp_unbind_socket),
 *     and on failure the socket stays the caller's (glue_listen_on).
 * 15. A request ended with evhtp_send_reply_end() whose handler wrote the whole answer, head
 *     included, into the connection's output buffer itself (libevhtp serialized nothing) is
 *     finished like any other: once the output is flushed libevhtp keeps the connection for
 *     the next request or closes it (5). Until then a paused request's socket is not read
 *     by libevhtp (9), and what it read beyond the request stays in the input buffer
 *     (glue_input).
 * 16. A socket bufferevent writes at most 16 KiB per write event unless
 *     bufferevent_set_max_single_write() says more (glue_set_write_max).
 *
 * 17. evhtp_connection_take_ownership() unsets every hook of the connection and of its
 *     request (their fini hooks never run), detaches the bufferevent (the connection's bev
 *     is NULL, its callbacks cleared, reading disabled) and clears EVHTP_CONN_FLAG_OWNER.
 *     evhtp_connection_free() then frees the connection and its request without touching
 *     the socket. Called inside libevhtp's read callback, that callback frees the connection
 *     itself once the parser returns, and drains the input of the bufferevent it was given:
 *     the bufferevent must outlive it (glue_take_over is for a later loop turn).
 * 18. libevhtp cannot answer 101: evhtp_send_reply() adds Content-Type and Content-Length
 *     and keeps parsing HTTP afterwards. An upgrade's head is written by its new owner on
 *     the taken socket (glue_take_over).
 * 19. The bufferevent of an accepted connection closes its socket when freed
 *     (BEV_OPT_CLOSE_ON_FREE), unless its descriptor was set to -1 first (glue_take_over).
 *
 * The port proxy serves its tunnels through glue_socket, glue_socket_event and the own-read
 * functions instead, leaving the connection libevhtp's.
 */
#ifndef EXECD_EVHTP_GLUE_H
#define EXECD_EVHTP_GLUE_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <evhtp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- connections ------------------------------------------------------------------- */

/* A new connection: close-on-exec, and idle write events ignored (2, 11). Returns 0 or -1. */
int glue_accept(evhtp_connection_t *c);
/*
 * Accepts connections on fd, a listening socket inherited from the service manager (14);
 * htp then owns it. Returns 0, or -1 with errno (fd is still the caller's).
 */
int glue_listen_on(evhtp_t *htp, int fd);
/* Starts or stops accepting connections on htp's listener (13). Returns 0 or -1. */
int glue_listen(evhtp_t *htp, bool on);
/* fn(errno, arg) runs when accepting a connection fails (13); one listener only. */
typedef void (*glue_accept_error_fn)(int err, void *arg);
void glue_on_accept_error(evhtp_t *htp, glue_accept_error_fn fn, void *arg);

/* ---- answers ----------------------------------------------------------------------- */

/*
 * Resumes a paused request whose answer has just been queued (1, 3, 4): the output drains,
 * then libevhtp reads the next request. Returns 0, or -1 when writing could not be enabled
 * (libevhtp's own resume was used instead).
 */
int glue_resume(evhtp_request_t *req);
/* The connection failed: a paused one is freed by libevhtp only once resumed (4). */
void glue_release(evhtp_request_t *req);
/* The connection closes once the answer is flushed (5). */
void glue_close_after(evhtp_request_t *req);
bool glue_keepalive(const evhtp_request_t *req);
/*
 * evhtp_send_reply() for an answer without Content-Type and body, without the Content-Type
 * libevhtp adds (6, 7). A pipelined connection with other output queued keeps it.
 */
void glue_send_bare(evhtp_request_t *req, evhtp_res status);
/*
 * Sends the status and headers, then length bytes of seg as the body (seg may be NULL when
 * length is 0). The segment goes into the socket's own output buffer: only a buffer that
 * drains to a descriptor gets sendfile; the request's buffer_out would be mapped or read into
 * memory. Returns 0, or -1 when the segment could not be queued: the connection then closes
 * after the head (the body is short).
 */
int glue_send_file(evhtp_request_t *req, evhtp_res status, struct evbuffer_file_segment *seg,
                   int64_t length);

/* ---- streams ----------------------------------------------------------------------- */

/*
 * The read and write timeouts of req's connection from now on (NULL: none) (12). A stream
 * may last hours: it runs without a read timeout, and gets the idle one back when it ends.
 */
void glue_set_timeouts(evhtp_request_t *req, const struct timeval *rd, const struct timeval *wr);
/* What is queued for the client and not written yet (for flow control). */
struct evbuffer *glue_output(evhtp_request_t *req);

/*
 * Watches a paused request's socket for the client hanging up (9): fn(arg) runs once on EOF
 * or an error. Data from the client (a pipelined request) ends the watch silently.
 */
typedef void (*glue_gone_fn)(void *arg);
struct glue_watch;
struct glue_watch *glue_watch_disconnect(evhtp_request_t *req, glue_gone_fn fn, void *arg);
/* NULL is fine; may be called from fn. */
void glue_watch_free(struct glue_watch *w);

/* ---- the socket itself ------------------------------------------------------------- */

evutil_socket_t glue_socket(evhtp_request_t *req);
/* A new event on the connection's socket in its event base (not added); NULL on failure. */
struct event *glue_socket_event(evhtp_request_t *req, short what, event_callback_fn fn, void *arg);
/*
 * Own reads: libevhtp stops reading the socket; the caller reads it with glue_read_input
 * and hands the bytes to libevhtp's parser with glue_parse_input, until it gives reading
 * back. Both return 0 or -1.
 */
int glue_reads_take(evhtp_request_t *req);
/* A paused connection gets its reads back from libevhtp when it is resumed. */
int glue_reads_give_back(evhtp_request_t *req);
/* One read() of up to max bytes into libevhtp's input buffer (7): read()'s result and errno. */
ssize_t glue_read_input(evhtp_request_t *req, size_t max);
/*
 * Lets libevhtp parse its input buffer, as its read callback does (8). The hooks run from
 * here and may free the connection, the request and whatever the request's hooks free: the
 * caller learns that through its own fini hook, not from req.
 */
void glue_parse_input(evhtp_request_t *req);

/* ---- answers written by hand (the port proxy) -------------------------------------- */

/* What libevhtp read from the client beyond the current request (15). */
struct evbuffer *glue_input(evhtp_request_t *req);
/* The most bytes written to the client per write event from now on (16). Returns 0 or -1. */
int glue_set_write_max(evhtp_request_t *req, size_t max);

/* ---- taking a connection over ------------------------------------------------------ */

/*
 * Takes req's connection away from libevhtp for another protocol (a WebSocket, whose 101 its
 * owner writes) (17, 18, 19): libevhtp's connection and request are freed without their
 * hooks, the socket stays open (non-blocking, close-on-exec) and becomes the caller's, and
 * the bytes libevhtp read beyond the request are moved to rest. req must be paused with
 * nothing queued for the client, and this must run from an event of the caller's own, never
 * inside a libevhtp callback. Returns the socket, or -1 (then closed) when the connection
 * could not be taken.
 */
evutil_socket_t glue_take_over(evhtp_request_t *req, struct evbuffer *rest);

/* ---- unparsable requests ------------------------------------------------------------ */

/*
 * In the connection-fini hook: whether the connection ends because its input could not be
 * parsed (10) and nothing of an answer is queued. Returns 431 for a line over the parser's
 * limit, 400 for any other error, else 0; *req is the request being read (NULL if none) and
 * *why the parser's message.
 */
int glue_parse_error(evhtp_connection_t *c, evhtp_request_t **req, const char **why);
/* Writes data to the socket at once, bypassing libevhtp. Returns 0 or -1 (errno). */
int glue_send_now(evhtp_connection_t *c, const char *data, size_t len);

#endif
