/*
 * Starting child processes for executors, the way posix_spawn does it: a
 * CLONE_VM|CLONE_VFORK child on its own stack sets up default signal
 * dispositions, its own process group or session, stdio, credentials and
 * working directory, marks every other descriptor close-on-exec and execs.
 * The caller learns synchronously whether exec succeeded, with Go-like error
 * texts ("fork/exec /bin/x: permission denied", "chdir /x: ...").
 */
#ifndef EXECD_SPAWN_H
#define EXECD_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "strbuf.h"

#define SPAWN_MAX_GROUPS 256

struct spawn_req {
    const char *path; /* executable, absolute */
    char *const *argv;
    char *const *envp;
    const char *cwd;  /* NULL: inherit */
    int stdin_fd;     /* -1: /dev/null */
    int stdout_fd;    /* -1: /dev/null */
    int stderr_fd;    /* -1: /dev/null */
    bool new_session; /* setsid (survives the worker) instead of setpgid */
    bool terminal;    /* with new_session: stdin, a terminal, becomes the controlling one */
    bool set_ids;
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[SPAWN_MAX_GROUPS];
};

void spawn_req_init(struct spawn_req *req);
/*
 * Resolves the identity for uid (and gid when has_gid), as the Go daemon:
 * primary group and supplementary groups from the user database; a uid with
 * no passwd entry gets gid = uid and no supplementary groups; a given gid
 * comes with no supplementary groups at all.
 */
void spawn_set_identity(struct spawn_req *req, uint32_t uid, bool has_gid, uint32_t gid);
/*
 * The OOM score (oom_score_adj) of every child from now on: adj, or the worker's own score
 * when that is higher, so the OOM killer picks a runaway command or kernel before the
 * daemon and never the other way round. Until then children keep the worker's score.
 */
void spawn_set_oom_score_adj(int adj);
/* Returns the child's pid, or -1 with an error text in err. */
pid_t spawn_process(const struct spawn_req *req, struct strbuf *err);
/*
 * The wait status of our child pid once it exited, read without reaping it:
 * the zombie keeps its pid, and so its process group id, from being reused.
 * Returns 1 with *status, 0 while it runs, -1 with errno.
 */
int spawn_peek_exit(pid_t pid, int *status);
/* A pidfd for pid (readable once it exits), or -1. */
int spawn_pidfd(pid_t pid);
/* bash from PATH, else sh (as the Go daemon). The result is static. */
const char *spawn_shell(void);
/* Go's description of a wait status: "exit status 2", "signal: killed". */
void spawn_describe_status(int status, struct strbuf *out);
/* When pid started (clock ticks since boot, /proc), to re-identify it later; 0 if unknown. */
unsigned long long spawn_proc_start(pid_t pid);
/* Go's exit code of a wait status: the code, or -1 for a signal. */
int spawn_exit_code(int status);

#endif
