/*
 * The HTTP side of a streaming job: status line and headers committed lazily
 * on the first event (so an early failure can still be a JSON error), events
 * relayed as chunks (workers send them ready-framed as "<json>\n\n"), a ping
 * event right after the first event and every 3 s, back-pressure toward the
 * worker when the client reads slowly, and disconnect detection while the
 * connection is otherwise idle.
 */
#ifndef EXECD_STREAM_H
#define EXECD_STREAM_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct glue_watch;
struct job;

/* Output above this makes the master ask the worker to pause the job ... */
#define STREAM_HIGH_WATER (256 * 1024)
/* ... and below this to resume it. */
#define STREAM_LOW_WATER (64 * 1024)
#define STREAM_PING_SECS 3

struct stream {
    bool started;
    bool finished;
    bool worker_paused;
    bool counted; /* among the open streams of /metrics/daemon */
    struct event *ping_ev;
    struct glue_watch *watch; /* the client hanging up */
    struct evbuffer *out;     /* the connection's output buffer while streaming */
    struct evbuffer_cb_entry *out_cb;
};

/* Relays framed events; starts the stream on the first call. */
void stream_events(struct job *j, const char *data, size_t len);
/* Ends the chunked response and lets libevhtp finish the exchange. */
void stream_finish(struct job *j);
/*
 * The job failed: before the stream started this is a JSON error reply with
 * status; afterwards an `error` event (ename = code) and the end of the stream.
 */
void stream_fail(struct job *j, int status, const char *code, const char *message);
/* Drops timers and callbacks (request going away). Idempotent. */
void stream_detach(struct job *j);

#endif
