/*
 * Master <-> worker channel over one AF_UNIX SOCK_SEQPACKET socket.
 *
 * Every datagram starts with an 8-byte header (type, flags, job id). A message
 * larger than IPC_FRAME_MAX is split into consecutive datagrams flagged
 * IPC_F_MORE and reassembled by the receiver before delivery; a single
 * sender writes a whole message before the next, so fragments never
 * interleave. A message may carry one file descriptor (SCM_RIGHTS).
 *
 * Message types:
 *   IPC_MSG     a JSON object (control: requests, replies, registrations)
 *   IPC_EVENTS  one or more ready-framed stream events ("<json>\n\n"...)
 *   IPC_DATA    raw bytes belonging to a job (request or response bodies)
 * The job id ties a message to one HTTP request; 0 is the channel itself.
 * docs/architecture.md describes the operations carried in IPC_MSG.
 */
#ifndef EXECD_IPC_H
#define EXECD_IPC_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define IPC_FRAME_MAX (64 * 1024)
#define IPC_MSG_MAX (256u * 1024 * 1024)

enum ipc_type {
    IPC_MSG = 1,
    IPC_EVENTS = 2,
    IPC_DATA = 3,
};

#define IPC_F_MORE 0x01

struct ipc_hdr {
    uint8_t type;
    uint8_t flags;
    uint16_t reserved;
    uint32_t job;
};

struct ipc_msg {
    enum ipc_type type;
    uint32_t job;
    const char *data; /* valid during the callback only */
    size_t len;
    int fd; /* -1, or a received descriptor the callback now owns */
};

struct ipc_chan;

typedef void (*ipc_recv_fn)(struct ipc_chan *ch, const struct ipc_msg *msg, void *arg);
/* The peer closed the channel or it failed; the owner should free it. */
typedef void (*ipc_close_fn)(struct ipc_chan *ch, void *arg);
/* The send queue fell to or below the low watermark. */
typedef void (*ipc_drain_fn)(struct ipc_chan *ch, void *arg);

/* Takes ownership of fd (made non-blocking). Returns NULL on failure. */
struct ipc_chan *ipc_chan_new(struct event_base *base, int fd, ipc_recv_fn on_recv,
                              ipc_close_fn on_close, void *arg);
/* Safe to call from inside the channel's own callbacks. */
void ipc_chan_free(struct ipc_chan *ch);

/* Queues a message (sends at once when possible). Returns 0 or -1 (closed, too big). */
int ipc_send(struct ipc_chan *ch, enum ipc_type type, uint32_t job, const void *data, size_t len);
/* Same, passing fd along; the channel takes ownership of fd in every case. */
int ipc_send_fd(struct ipc_chan *ch, enum ipc_type type, uint32_t job, const void *data, size_t len,
                int fd);
/* Renders obj and sends it as IPC_MSG. */
int ipc_send_json(struct ipc_chan *ch, uint32_t job, json_object *obj);
/* Same, passing fd along (-1: none); the channel takes ownership of fd in every case. */
int ipc_send_json_fd(struct ipc_chan *ch, uint32_t job, json_object *obj, int fd);

/* Room for the control part of a message carrying one descriptor. */
union ipc_fd_cmsg {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
};
/* Makes mh carry fd (SCM_RIGHTS) in cm, which must live until mh is sent. */
void ipc_attach_fd(struct msghdr *mh, union ipc_fd_cmsg *cm, int fd);

/* Bytes waiting in the send queue. */
size_t ipc_queued(const struct ipc_chan *ch);
void ipc_set_drain_cb(struct ipc_chan *ch, ipc_drain_fn cb, size_t low_watermark);
/* Stops/starts delivering received messages (flow control toward the peer). */
void ipc_pause_recv(struct ipc_chan *ch);
void ipc_resume_recv(struct ipc_chan *ch);
int ipc_chan_fd(const struct ipc_chan *ch);

#endif
