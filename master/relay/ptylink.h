/*
 * The client of a PTY session: its WebSocket (http/websocket.h) relayed to the worker that
 * owns the session as one job without a request (a job sink, relay/job.h). Client messages
 * go to the worker as IPC_DATA (the opcode, then the message) and the worker's come back
 * the same way; the worker ends the link with {"op":"close",code,reason}. Flow control both
 * ways: the WebSocket's output queue above its high watermark pauses the job (the worker
 * stops reading the shell), and the worker's pause/resume stops and restarts reading the
 * client while the shell does not take its input.
 *
 * One client per session: a link holds its session from the handler's decision on, so a
 * second client gets 409 unless it takes over (the holder is closed with 4001 TAKEN_OVER;
 * the master decides at once, so a takeover never times out). A link whose worker dies is
 * closed with 1011; the shell lives on and a reconnect with since= resumes. At shutdown
 * every link is closed with 1001.
 */
#ifndef EXECD_RELAY_PTYLINK_H
#define EXECD_RELAY_PTYLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_req;

/* Whether a client holds (or is about to hold) session id. */
bool ptylink_held(const char *id);
/*
 * r (a checked WebSocket handshake for session id, whose worker is ready) becomes the
 * session's client: the current holder, if any, is taken over; the connection is upgraded
 * and the worker gets pty.attach {id, mode, since}.
 */
void ptylink_attach(struct http_req *r, const char *id, const char *key, bool pipe_mode,
                    int64_t since);
/* The daemon stops: every client is closed with 1001. */
void ptylink_shutdown(void);
size_t ptylink_count(void);
void ptylink_free(void);

#endif
