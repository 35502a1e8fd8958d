/*
 * A worker process: its own event loop, executors (commands now; kernels,
 * sessions, PTYs and filesystem work later) and one channel to the master.
 * Workers never see HTTP: requests arrive as IPC jobs (main.c dispatches
 * them) and answers leave through out.c.
 */
#ifndef EXECD_WORKER_H
#define EXECD_WORKER_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

struct worker_ctx {
    struct event_base *base;
    int slot;
    char *state_dir; /* <runtime_dir>/w<slot> */
    int64_t grace_ms;
    char *envs_file;
    int64_t retention_ms;
    uint64_t retention_bytes;
    uint64_t max_line;
    int64_t jupyter_poll_ms;
    int workers;                /* daemon-wide worker count (spreads the warm pool) */
    json_object *kernel_pool;   /* {"language": count}, daemon-wide */
    int64_t kernel_startup_ms;  /* readiness deadline of a new kernel */
    int64_t kernelspec_wait_ms; /* a creation waits this long for a kernelspec to appear */
    uint64_t code_output_limit; /* bytes of output per execution; 0: no limit */
    bool draining;
    bool stopping;
};

extern struct worker_ctx wk;

/* Entry point of "execd --worker N"; fd 3 is the channel to the master. */
int worker_main(int argc, char **argv);
/* Exits the loop once nothing is running any more (drain/shutdown). */
void worker_maybe_exit(void);

#endif
