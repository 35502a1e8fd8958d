/*
 * systemd's service notification and socket activation protocols, without
 * libsystemd: a notification is one datagram of "KEY=VALUE\n" lines sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET ("@name" is an abstract socket); the
 * watchdog period comes from $WATCHDOG_USEC (for $WATCHDOG_PID only); inherited
 * listeners start at fd 3, $LISTEN_FDS of them, for $LISTEN_PID only.
 *
 * Every reader unsets the variables it consumed so the workers, commands and
 * kernels the daemon starts never see them (a command must not be able to
 * report READY or STOPPING for the daemon).
 */
#ifndef EXECD_SDNOTIFY_H
#define EXECD_SDNOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The first inherited descriptor of socket activation. */
#define SDNOTIFY_LISTEN_FDS_START 3

struct sdnotify {
    int fd; /* -1: not started by a service manager that listens */
    struct sockaddr_un addr;
    socklen_t addrlen;
};

/*
 * Reads and unsets $NOTIFY_SOCKET and opens the socket to send to. Without the
 * variable n is inert (every send is a successful no-op). Returns 0, or -1
 * (logged, n inert) when the variable is malformed or no socket can be made.
 */
int sdnotify_open(struct sdnotify *n);
void sdnotify_close(struct sdnotify *n);
/* 1 when messages go somewhere. */
int sdnotify_enabled(const struct sdnotify *n);

/*
 * Sends msg ("READY=1", "STATUS=...", several lines separated by '\n') as one
 * datagram. Returns 0 (also when n is inert), or -1 with errno, logged.
 */
int sdnotify_send(const struct sdnotify *n, const char *msg);
int sdnotify_sendf(const struct sdnotify *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "RELOADING=1" with the CLOCK_MONOTONIC time systemd requires beside it. */
int sdnotify_reloading(const struct sdnotify *n);

/*
 * The watchdog timeout in microseconds from $WATCHDOG_USEC when $WATCHDOG_PID
 * is unset or names this process; 0 when there is no watchdog for us or the
 * values are malformed (logged). Unsets both variables. Keep-alives
 * ("WATCHDOG=1") are due every half of it.
 */
uint64_t sdnotify_watchdog_usec(void);

/*
 * Socket activation: the number of inherited listening descriptors (starting
 * at SDNOTIFY_LISTEN_FDS_START) when $LISTEN_PID names this process, else 0;
 * -1 (logged) when the variables are malformed. Marks the descriptors
 * close-on-exec and unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES.
 */
int sdnotify_listen_fds(void);

#endif
