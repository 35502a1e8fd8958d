/*
 * Bash sessions (POST /session, POST /session/{id}/run, DELETE /session/{id}) and the
 * bash code contexts served without a Jupyter bash kernel (/code with language bash):
 * one persistent bash per session, so variables (exported or not), functions, aliases,
 * shell options, traps, the umask and the working directory carry from run to run.
 *
 * The shell runs a driver loop (driver.c) in its own session: it reads a run's token on
 * a control fifo and the run's working directory and command from a file, evals the
 * command with stdin on /dev/null and the control descriptors closed, and reports the
 * exit status on a status fifo. User output (stdout and stderr, merged) goes through a
 * third fifo and can never be taken for a run boundary. After each run the driver writes
 * a snapshot of the shell's state; a shell that ends (exit, exec, killed, timeout) is
 * replaced by a fresh one that restores the last snapshot.
 *
 * State on disk, under <state>/sessions/<id>/, so that a worker replacing this one
 * (crash, reload) adopts the session and its running shell:
 *
 *   state.json  {"id","language","default","cwd","envs","pid","pid_start"}
 *   ctl st out  the fifos (the shell holds both ends of ctl and st and of out, so it
 *               survives its worker: nothing it writes fails while no worker reads)
 *   cmd         the current run: working directory, NUL, command
 *   snap        the last complete snapshot; snap.0 and snap.1 are written in turn
 *
 *   session.c  the executor: operations, interrupt, adoption, shutdown; sessions by id
 *   shell.c    a session's shell: spawn, fifos, exit, adoption of a running one
 *   run.c      runs: queue, output into events, status lines, timeout, terminal event
 *   driver.c   the driver script
 */
#ifndef EXECD_SESSION_H
#define EXECD_SESSION_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/linesplit.h"
#include "core/out.h"
#include "core/wjob.h"
#include "ids.h"
#include "list.h"
#include "strbuf.h"

struct session;

/* Reads of the output fifo when a run ends: what it wrote is all there (a fifo's worth). */
#define SESSION_READS_AT_END 16

/* A session's bash (pid 0: none; the next run starts one). */
struct shell {
    pid_t pid;                    /* leads its own session: its pid is its process group */
    unsigned long long pid_start; /* tells it from a later process with the same pid */
    bool child;                   /* ours (waitpid), or adopted (the master reports its status) */
    bool exited;
    int status; /* wait status once exited */
    int pidfd;  /* readable once it exits */
    int ctl;    /* the control fifo (opened read-write: never blocks, never fails) */
    int out;    /* read end of the output fifo */
    int st;     /* read end of the status fifo */
    struct event *exit_ev, *out_ev, *st_ev;
    struct event *unknown_ev; /* adopted and gone: waiting for the master's status */
    struct strbuf st_line;    /* status bytes up to the next newline */
};

/* One run: POST /session/{id}/run, /code on a bash context, or the adoption's sync run. */
struct run {
    struct session *s;
    uint32_t job; /* 0: nobody listens (the sync run, or the client left) */
    char tok[24]; /* its token on the status fifo */
    char *command;
    char *cwd; /* absolute, "" when none */
    int64_t timeout_ms;
    bool started;   /* handed to the shell */
    bool paused;    /* the client reads slowly: output waits in the fifo */
    bool timed_out; /* the shell was killed by the run's timeout */
    int64_t start_ms;
    struct linesplit ls;
    struct strbuf batch;
    struct out_waiter waiter;
    struct event *timeout_ev;
    struct list node; /* in s->runs, in order */
};

/* A job waiting for a session's shell to be gone (DELETE, interrupt). */
struct session_waiter {
    uint32_t job;
    int *pending; /* shared by the sessions one job waits for: answered at 0; NULL: one */
    struct list node;
};

struct session {
    char id[IDS_DASHED_LEN + 1];
    char *language;    /* "bash" for a code context, NULL for a /session session */
    bool dflt;         /* the default bash context (/code without a context id) */
    char *dir;         /* <state>/sessions/<id> */
    char *cwd;         /* the working directory it was created with, NULL: the daemon's */
    json_object *envs; /* the creation's envs (an object), NULL when none */
    struct shell sh;
    struct list runs;    /* struct run, the first may be running */
    bool deleting;       /* unregistered; freed once its shell is gone */
    bool interrupting;   /* a code context's run is being killed */
    struct list waiters; /* struct session_waiter: answered once the shell is gone */
    struct list node;    /* in the list of sessions */
};

/* session.c */
/* The shell of s is gone (its last run has ended): answers waiters, deletes if asked. */
void session_shell_gone(struct session *s);
/* Whether s has a client's run queued or running, or jobs waiting for its shell. */
bool session_busy(const struct session *s);

/* shell.c */
/* Starts a shell for s (restoring the last snapshot if there is one). 0, or -1 with err. */
int shell_start(struct session *s, struct strbuf *err);
/* Re-attaches s to the shell recorded in its state.json if it still runs. */
void shell_adopt(struct session *s, json_object *state);
/* Writes s's state.json (logged on failure). */
void shell_save_state(const struct session *s);
/* SIGKILL (or sig) to the shell's process group: the shell and whatever it started. */
void shell_kill(struct session *s, int sig);
bool shell_alive(const struct session *s);
/* Watches (or stops watching) the output fifo: readable output goes to the current run. */
void shell_watch_output(struct session *s, bool on);
/* Reads what the output fifo has now, at most max_reads times, into the current run. */
void shell_read_output(struct session *s, int max_reads);
/* The master reaped pid: an adopted shell's exit status. Returns true when it was one of s. */
bool shell_reaped(struct session *s, pid_t pid, int status);
/* A shell that is not there (no descriptors). */
void shell_init(struct shell *sh);
/* Releases descriptors and events and forgets the process (which is left alone). */
void shell_reset(struct shell *sh);

/* run.c */
extern const struct wjob_ops run_stream_ops;
/*
 * A new run of s for job (0: none): `init` is sent, and it starts once the runs before it
 * have ended. cwd: absolute, or NULL. timeout_ms (0: a day) counts from now.
 */
void run_new(struct session *s, uint32_t job, const char *command, const char *cwd,
             int64_t timeout_ms);
/* Starts the first queued run of s if the shell is free (and starts the shell). */
void run_next(struct session *s);
/* Output of the shell for the current run (or dropped between runs). */
void run_output(struct session *s, const char *data, size_t len);
/* A wake-up's output was read: hand the events over, stop reading if the channel is full. */
void run_output_done(struct session *s);
/* A status line "<tok> <code>" or "<tok> saved <k>" from the shell (starts no run). */
void run_status_line(struct session *s, const char *line);
/* The shell exited (status in s->sh): the running run ends with that status. */
void run_shell_exited(struct session *s);
/* Ends every run of s that has not started with an error message (the session goes away). */
void run_fail_queued(struct session *s, const char *why);
/* The run handed to the shell, or NULL. */
struct run *run_current(const struct session *s);
/* Whether the current run takes output now (no client, or one keeping up). */
bool run_output_allowed(const struct session *s);
void run_free(struct run *r);

/* driver.c */
/* The bash script a session's shell runs (bash -c, $1: the session's directory). */
extern const char session_driver[];

#endif
