/*
 * PTY sessions of this worker (api-contract §10, runtime-behavior §6): a session has a cwd,
 * an optional command, a replay ring, at most one shell at a time (started on attach, again
 * after it exited) and at most one attached client.
 *
 *   session.c  the table, creation, deletion, records under <state>/ptys/, idle reaping,
 *              adoption of a previous worker's sessions
 *   shell.c    the shell process: start (PTY or pipes), output into the ring and to the
 *              client, stdin, resize, signals, exit and drain
 *   attach.c   the attached client: its job, its frames both ways, flow control
 *   pty.c      the executor: operations, signals, reaping, shutdown
 *
 * A session survives its worker: the master keeps the ring and the shell's descriptors
 * (out_keep), the record says which process the shell is, and the slot's next worker
 * takes both over.
 */
#ifndef EXECD_PTY_SESSION_H
#define EXECD_PTY_SESSION_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/out.h"
#include "ids.h"
#include "list.h"
#include "pty/ring.h"
#include "strbuf.h"

/* The executor's name: the owner of what it keeps in the master. */
#define PTY_OWNER "pty"
/* Replay kept per session. */
#define PTY_RING_BYTES (1024 * 1024)
/* One read of the shell's output, the payload of one output frame at most. */
#define PTY_READ_MAX (32 * 1024)

struct pty_attach;

/* One output source of the shell: the PTY's master side, or a stdout/stderr pipe. */
struct pty_source {
    struct pty_shell *sh;
    int fd; /* -1: none */
    int channel;
    struct event *ev;
    bool eof;
};

struct pty_shell {
    struct pty_session *s; /* NULL once killed and waiting to be reaped */
    struct list dying;     /* killed, not reaped yet */
    bool pipe_mode;
    pid_t pid; /* 0: not running (exited and reaped) */
    unsigned long long pid_start;
    bool child;            /* started by this worker: reaped here (else by the master) */
    int pidfd;             /* readable once it exits */
    struct event *exit_ev; /* on pidfd */
    struct event *unknown_ev;
    bool exited;
    int status;
    int in_fd;                  /* stdin: the PTY's master side (out.fd) or a pipe */
    struct pty_source out, err; /* err unused in PTY mode */
    struct event *in_ev;        /* stdin writable while input is queued */
    struct strbuf in_queue;
    struct event *drain_ev; /* after the exit: the last output, with a deadline */
    int64_t drain_started_ms;
};

struct pty_session {
    struct list node; /* in the worker's sessions */
    char id[IDS_DASHED_LEN + 1];
    char *cwd;     /* NULL: the daemon's */
    char *command; /* NULL: an interactive shell */
    struct ring ring;
    struct pty_shell *shell;   /* NULL: none running or draining */
    struct pty_attach *client; /* NULL: nobody attached */
    struct event *idle_ev;     /* -pty-idle-timeout while nobody is attached */
    struct out_waiter congestion;
};

/* ---- session.c ----------------------------------------------------------------------- */

void pty_session_init(void);
/* The session's replay ring, created (and kept in the master) if it has none. 0 or -1. */
int pty_session_ring(struct pty_session *s, struct strbuf *err);
/* A new session (cwd already checked and created). Returns NULL with a reason in err. */
struct pty_session *pty_session_create(const char *cwd, const char *command, struct strbuf *err);
struct pty_session *pty_session_find(const char *id);
/* Ends the session: SIGKILL to the shell's group, the client gets exit -1, all goes. */
void pty_session_delete(struct pty_session *s);
/* The record changed (shell started or ended). */
void pty_session_save(struct pty_session *s);
/* Nobody is attached any more (or yet): the idle timeout runs from now. */
void pty_session_idle(struct pty_session *s);
/* Sessions left by a previous worker of this slot: records read, shells watched. */
void pty_session_adopt_all(void);
/* A descriptor the master kept for key "<id>/<what>". */
void pty_session_kept(const char *key, int fd);
/* fn for every session (fn may delete the one it gets). */
void pty_session_each(void (*fn)(struct pty_session *s, void *arg), void *arg);
size_t pty_session_count(void);
/* At exit: memory only (shells and kept descriptors stay as they are). */
void pty_session_free_all(void);

/* ---- shell.c ------------------------------------------------------------------------- */

/* Starts the shell in PTY or pipe mode. Returns 0, or -1 with the reason in err. */
int pty_shell_start(struct pty_session *s, bool pipe_mode, struct strbuf *err);
/* Takes over a shell a previous worker started (record fields; descriptors come later). */
void pty_shell_adopt(struct pty_session *s, bool pipe_mode, pid_t pid, unsigned long long start);
/* A kept descriptor of an adopted shell: "pty", "stdin", "stdout" or "stderr". */
void pty_shell_kept(struct pty_session *s, const char *what, int fd);
bool pty_shell_running(const struct pty_session *s);
/* A shell that exited and still drains its output ends now (its exit frame goes out). */
void pty_shell_settle(struct pty_session *s);
/* Reading the output goes on or stops as the client and the channel allow. */
void pty_shell_update_reading(struct pty_session *s);
/* Queues stdin for the shell. Returns 0, or -1 with the reason in err (the write failed). */
int pty_shell_write(struct pty_session *s, const char *data, size_t len, struct strbuf *err);
/* PTY mode: the terminal's size (both > 0). */
void pty_shell_resize(struct pty_session *s, int cols, int rows);
/* To the shell's process group (and in PTY mode the terminal's foreground group). */
void pty_shell_signal(struct pty_session *s, int signo);
/* The master reaped pid (an adopted shell). */
void pty_shell_reaped(struct pty_session *s, pid_t pid, int status);
/* Kills the shell's group and forgets it at once (delete, shutdown): no exit frame. */
void pty_shell_kill(struct pty_session *s);
/* Only the descriptors and memory: the shell keeps running (worker exit, reload). */
void pty_shell_release(struct pty_session *s);
/* Shells started or adopted and not reaped yet. */
size_t pty_shell_count(void);
/* At exit: the killed shells not reaped yet are left to the master (memory only). */
void pty_shell_forget_dying(void);

/* ---- attach.c ------------------------------------------------------------------------ */

/* pty.attach {id, mode, since}: the client of the master's WebSocket. */
void pty_attach_start(uint32_t job, json_object *msg);
/* Output read from the shell: buf has 2 bytes of room before data for the frame's head. */
void pty_attach_output(struct pty_attach *a, int channel, unsigned char *buf, size_t len);
/* The shell ended: the exit frame, then close 1000. */
void pty_attach_exited(struct pty_attach *a, int exit_code);
/* Stdin is queued beyond its limit (true) or drained (false): stop or restart the client. */
void pty_attach_input_full(struct pty_attach *a, bool full);
/* Whether output may be sent to the client now (not paused by the master). */
bool pty_attach_wants_output(const struct pty_attach *a);
/* The session goes (delete): exit -1, close 1000. */
void pty_attach_session_gone(struct pty_attach *a);
/* The worker stops: close 1001. */
void pty_attach_shutdown(struct pty_attach *a);
/* At exit (a reload's drained worker): memory only; the master closes the client. */
void pty_attach_release(struct pty_attach *a);

#endif
