/*
 * The command executor (POST /command, shell-mode /code): bash -c in its own
 * process group, stdout/stderr read from pipes on the event loop and split
 * into events, exit status mapped to the contract's terminal events;
 * background commands write to a log file under the state directory. Every
 * command has a record (cmdstore.c) answering status and logs queries.
 */
#ifndef EXECD_COMMAND_H
#define EXECD_COMMAND_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/linesplit.h"
#include "list.h"
#include "core/out.h"
#include "ids.h"
#include "strbuf.h"

struct command;

struct pipe_src {
    struct command *cmd;
    int fd;
    struct event *ev;
    struct linesplit ls;
    const char *type; /* "stdout" or "stderr" */
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
    char *error; /* Go's error text ("exit status 2"), NULL when none */

    /* The process. */
    pid_t pid;  /* leader while not reaped; 0 afterwards (never signalled again) */
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

#endif
