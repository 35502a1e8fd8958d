/*
 * The command executor (POST /command, shell-mode /code): bash -c in its own
 * process group, stdout/stderr read from pipes on the event loop and split
 * into events, exit status mapped to the contract's terminal events;
 * background commands write to a log file under the state directory. Every
 * command has a record (cmdstore.c) answering status and logs queries.
 *
 *   command.c   the executor: operations, queries, interrupt, signals, shutdown, adoption
 *   start.c     starting a command
 *   output.c    a foreground command's pipes read into events; stream control
 *   process.c   the process's exit, the drain of its pipes, the terminal event
 *   cmdstore.c  the records, in memory and on disk; retention
 */
#ifndef EXECD_COMMAND_H
#define EXECD_COMMAND_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/linesplit.h"
#include "core/out.h"
#include "core/wjob.h"
#include "event.h"
#include "ids.h"
#include "list.h"
#include "strbuf.h"

struct command;

/* A wait status nobody saw (an adopted leader the master did not report); never a real one. */
#define CMD_STATUS_UNKNOWN (-1)

struct pipe_src {
    struct command *cmd;
    int fd;
    struct event *ev;
    struct linesplit ls;
    const char *type;         /* "stdout" or "stderr" */
    struct event_stamp stamp; /* the time of the last read, for the events it held */
};

struct interrupt_waiter {
    uint32_t job;
    struct list node;
};

struct command {
    /* The record (persisted by cmdstore.c). */
    char id[IDS_HEX_LEN + 1];
    char *content;
    bool background;
    pid_t pgid;                   /* process group (= leader pid); 0 before spawn */
    unsigned long long pid_start; /* identifies the leader after a worker restart */
    struct timespec started_at;
    struct timespec finished_at;
    bool running;
    int exit_code;
    bool exit_unknown; /* finished, but nobody saw its exit status: no exit_code */
    char *error;       /* Go's error text ("exit status 2"), NULL when none */

    /* The process. */
    pid_t pid;  /* leader while not reaped (its pgid is then ours to signal); 0 afterwards */
    bool child; /* our child; false when adopted from a previous worker */
    int pidfd;
    struct event *exit_ev;
    struct event *timeout_ev;
    struct event *unknown_ev; /* adopted leader gone, waiting for the master's status */
    bool exited;
    int status;

    /* The foreground stream. */
    uint32_t job;  /* 0 when there is no stream */
    bool detached; /* the client went away: output is read and dropped */
    bool paused;   /* the master asked to pause (slow client) */
    struct pipe_src out, err;
    struct strbuf batch;
    struct event *drain_ev;
    int64_t drain_started_ms;
    struct out_waiter waiter;
    int64_t start_ms;

    /* Interrupt in progress. */
    struct event *int_ev;
    int int_ticks;
    struct list int_waiters; /* interrupt_waiter: answered once the group is gone */

    struct list node; /* in the record list, oldest first (cmdstore.c) */
};

/* A record in memory with id (NULL: a new id), no process and no stream. */
struct command *command_new(const char *id);
void command_free(struct command *c);

/* Between the files of the command executor. */

/* start.c: command.run {request}. */
void cmd_run(uint32_t job, json_object *request);

/* output.c */
extern const struct wjob_ops cmd_stream_ops; /* cancel, pause, resume of a stream */
/* Reads fd (non-blocking) into p's events. */
void cmd_output_attach(struct command *c, struct pipe_src *p, int fd);
/* Reads what p has, up to max_reads reads; returns false once the pipe is closed. */
bool cmd_output_read(struct pipe_src *p, int max_reads);
void cmd_output_close(struct pipe_src *p);
/* The output's unterminated last line, if any, as an event. */
void cmd_output_finish(struct pipe_src *p);
/* Hands the batched events to the master (drops them without a client). */
void cmd_output_flush(struct command *c);
/* Whether the pipes may be read now (no client, or one keeping up). */
bool cmd_output_allowed(const struct command *c);
/* Starts or stops reading (and the drain timer) after a change of cmd_output_allowed. */
void cmd_output_update(struct command *c);
/* The channel to the master drained (an out_waiter callback; arg: the command). */
void cmd_output_drained(void *arg);

/* process.c */
/* Watches the leader's exit and the timeout. Returns 0, or -1 (logged). */
int cmd_watch(struct command *c, int64_t timeout_ms);
/* Without a way to watch the process, stops it and collects it right away. */
void cmd_abandon(struct command *c);
/* Re-attaches a record loaded from disk to its still running process. */
void cmd_adopt_process(struct command *c);
/*
 * The leader exited with status (CMD_STATUS_UNKNOWN when nobody saw it): drain the
 * pipes, then finish. Our own child stays a zombie until then, so its process group
 * id cannot be reused while the group may still be signalled.
 */
void cmd_exited(struct command *c, int status);
/*
 * Signals c's process group, only while its leader is not reaped (after that the
 * pgid may belong to someone else). Returns 0, or -1 with errno (ESRCH: gone).
 */
int cmd_signal_group(struct command *c, int signo);
/* The master reaped pid (an adopted leader, or an orphan); status is its wait status. */
void cmd_reaped(pid_t pid, int status);
/* Reads the pipes again after DRAIN_IDLE_MS (at most until the drain's end). */
void cmd_schedule_drain(struct command *c);
/* The terminal event, the end of the stream, the final record. */
void cmd_finish(struct command *c);
size_t cmd_running(void);

/* command.c */
/* Answers the interrupts waiting for c's group to be gone. */
void cmd_reply_interrupts(struct command *c);

#endif
