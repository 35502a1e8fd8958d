/* Reading /proc/<pid>/stat: state, parent, session, CPU time and start time of a process. */
#ifndef EXECD_PROCSTAT_H
#define EXECD_PROCSTAT_H

#include <stdbool.h>
#include <sys/types.h>

struct procstat {
    char state; /* 'R', 'S', 'Z' (zombie), ... */
    pid_t ppid;
    pid_t session;
    unsigned long long cpu;   /* clock ticks: utime + stime + its waited-for children's */
    unsigned long long start; /* clock ticks since boot: with the pid, identifies a process */
};

/* Returns 0, or -1 when the process does not exist (or /proc is unreadable). */
int procstat_read(pid_t pid, struct procstat *out);
/*
 * The CPU time (clock ticks, as procstat.cpu) of every process in session sid: a kernel's
 * whole tree, wrappers and helpers included.
 */
unsigned long long procstat_session_cpu(pid_t sid);
/* Whether pid is still the process that had this start time (not a reuse of its number). */
bool procstat_same(pid_t pid, unsigned long long start);

#endif
