/*
 * Request bodies relayed to a worker while they arrive (routes flagged
 * ROUTE_STREAMED_BODY: POST /files/upload). The job starts when the headers
 * are in; the body goes out as IPC_DATA frames of the job (64 KiB each), and
 * an empty IPC_DATA frame marks its end. While the body arrives the master
 * reads the client socket itself in big chunks (libevhtp still parses them).
 * It never holds more than the channel's high watermark plus one chunk of a
 * body: above the watermark it stops reading the client until the worker
 * has taken the queued frames.
 *
 * A relayed request is answered only once its body is complete (an answer in
 * the middle of a body would leave the rest to be parsed as a new request,
 * and a client still sending would see the connection reset): when its worker
 * dies, the rest of the body is read and dropped, then the error answered.
 * When no worker is ready at the start (a respawn), the body waits in the
 * socket until one is (relay/waitq.h).
 */
#ifndef EXECD_BODYRELAY_H
#define EXECD_BODYRELAY_H

#include <evhtp.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "http/request.h"

/* Queued body bytes above which reading the client pauses ... */
#define BODYRELAY_HIGH (1024 * 1024)
/* ... until the worker channel's queue is down to this. */
#define BODYRELAY_LOW (256 * 1024)

/*
 * Starts job op (args consumed, may be NULL) on the least loaded worker for
 * r's body. Called by a streamed route's handler when the headers are in; it
 * never answers r: a failure is answered when the body is complete.
 */
void bodyrelay_start(struct http_req *r, const char *op, json_object *args);
/* Body bytes arrived (libevhtp's on_read hook): relays and drains buf. Returns EVHTP_RES_OK. */
evhtp_res bodyrelay_feed(struct http_req *r, struct evbuffer *buf);
/* The body is complete: tells the worker and waits for its answer. */
void bodyrelay_end(struct http_req *r);
/*
 * The job failed while the body still arrives: answers status/code/msg once
 * it is complete (code: a reply.h ERR_ literal; msg is copied). Returns false
 * when r has no unfinished relayed body (the caller answers now).
 */
bool bodyrelay_defer_error(struct http_req *r, int status, const char *code, const char *msg);
/* The request is being freed. */
void bodyrelay_free(struct http_req *r);

#endif
