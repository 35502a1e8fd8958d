/*
 * The inside of a kernel handle, shared by the files that implement kernel.h:
 *
 *   kernel.c        the handle (re-entrancy, release), launch, adoption, execute, interrupt
 *   kernel_proc.c   the process: spawn, pidfd watch, exit description, kill
 *   kernel_files.c  the directory: connection and state files, log tail
 *   kernel_ports.c  tcp ports reserved until the kernel listens on them
 *   kernel_sock.c   the ZeroMQ sockets: connect, drain, send
 *   kernel_life.c   readiness handshake, message dispatch, heartbeat, death, shutdown
 *
 * Nothing outside jupyter/kernel*.c includes this.
 */
#ifndef EXECD_KERNEL_IMPL_H
#define EXECD_KERNEL_IMPL_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ids.h"
#include "jupyter/jmsg.h"
#include "jupyter/kernel.h"
#include "jupyter/kernel_run.h"
#include "list.h"
#include "strbuf.h"

#define NPORTS 5

enum kstate {
    KS_STARTING, /* handshake in progress */
    KS_READY,
    KS_STOPPING, /* kernel_shutdown in progress */
    KS_GONE,     /* process gone, files removed: only kernel_free remains */
};

enum port_idx { P_SHELL, P_IOPUB, P_STDIN, P_CONTROL, P_HB };

struct ksock {
    struct kernel *k;
    void *zs;
    struct event *ev;
    enum kernel_chan chan;
    const char *name;
    bool hb;
};

struct kernel {
    struct event_base *base;
    char *dir, *name; /* name: basename of dir, for log lines */
    char *conn_path, *state_path, *log_path;
    char *language, *spec_name;
    enum kspec_interrupt interrupt_mode;
    json_object *meta;

    /* Connection. */
    char transport[8];
    char *ip; /* tcp: address; ipc: path prefix of the socket files */
    int ports[NPORTS];
    int port_fds[NPORTS]; /* tcp: the reservations, until ready (kernel_ports.c); else -1 */
    struct jmsg_auth *auth;
    char session[IDS_DASHED_LEN + 1];
    uint64_t seq;

    /* Process. */
    pid_t pid;
    unsigned long long pid_start;
    bool child; /* ours to reap; false when adopted */
    int pidfd;
    struct event *exit_ev;
    bool exited;

    struct ksock shell, control, iopub, hb;

    enum kstate state;
    const struct kernel_cbs *cbs;
    void *arg;

    /* Readiness. */
    struct event *info_ev, *deadline_ev;
    int64_t startup_ms;
    bool got_info_reply, got_iopub;
    bool heard;             /* any message from the kernel yet */
    struct event *idle_ev;  /* a launched kernel that says nothing: is it idle? */
    int64_t spawned_ms;     /* monotonic */
    unsigned long long cpu; /* its session's CPU ticks at the last sample */
    int64_t cpu_changed_ms; /* when they last grew */

    /* Heartbeat. */
    struct event *hb_ev;
    bool hb_pending;
    int hb_misses;

    struct kernel_run run;
    char *code;              /* the running cell's code, for a resend */
    struct event *grace_ev;  /* a run half done for too long (kernel_life.c) */
    struct event *resend_ev; /* a run the kernel aborted goes out again (kernel_life.c) */

    /* Shutdown. */
    struct event *sd_ev;
    int sd_stage;
    int64_t sd_grace_ms;
    bool sd_requested;
    kernel_stopped_fn sd_fn;
    void *sd_arg;

    /* Re-entrancy: callbacks may free the handle; the free waits for the unwind. */
    int depth;
    bool doomed;

    struct list node; /* in all_kernels: every handle, see kernel_cleanup() */
};

/* kernel.c */
void kernel_enter(struct kernel *k);
/* Leaves a callback section; frees a handle doomed meanwhile. */
void kernel_leave(struct kernel *k);
/* Whether the handle may still call the caller back. */
bool kernel_live(const struct kernel *k);
void kernel_destroy(struct kernel *k);
/* Sockets closed, every event freed. */
void kernel_release(struct kernel *k);
/* Process gone (or killed now), sockets closed, files removed: state KS_GONE. */
void kernel_terminate(struct kernel *k);
/* Sends execute_request for code on shell; id (80 bytes) receives its msg_id. 0 or -1 (err). */
int kernel_send_execute(struct kernel *k, const char *code, char *id, struct strbuf *err);

/* kernel_proc.c */
/* Starts the kernel of o in its own session, output to its log. Returns the pid or -1 (err). */
pid_t kproc_spawn(struct kernel *k, const struct kernel_opts *o, struct strbuf *err);
/* A pidfd for the kernel; without pidfd support (ENOSYS) 0 and polling. -1 with err. */
int kproc_open_pidfd(struct kernel *k, struct strbuf *err);
/* Calls klife_on_exit once the process exits. Returns 0 or -1 (err). */
int kproc_watch_exit(struct kernel *k, struct strbuf *err);
/* Whether the process has exited (a zombie counts as exited). */
bool kproc_exited(const struct kernel *k);
/*
 * Signals the kernel's process group, only while its pgid is still the kernel's: our
 * child not reaped yet, or an adopted kernel that has not exited (the master reaps it at
 * once). Returns 0, or -1 with errno (ESRCH: gone).
 */
int kproc_signal_group(struct kernel *k, int sig);
void kproc_describe_exit(const struct kernel *k, struct strbuf *how);
/* SIGKILL to the process group, wait a little for the leader, reap it. */
void kproc_kill(struct kernel *k);

/* kernel_files.c */
/* dir/file, allocated. */
char *kfiles_path(const char *dir, const char *file);
int kfiles_write_connection(struct kernel *k, const char *key, struct strbuf *err);
int kfiles_write_state(struct kernel *k, struct strbuf *err);
int kfiles_load_connection(struct kernel *k, const char *path, struct strbuf *err);
int kfiles_load_state(struct kernel *k, struct strbuf *err);
/* Appends ": <the last line of the kernel's output>" to out, when there is one. */
void kfiles_log_tail(const struct kernel *k, struct strbuf *out);
/*
 * Moves the log out of the directory (which is about to go) to <parent>/<spec>.log, where
 * the operator can read why the kernel did not start, and points k->log_path there.
 */
void kfiles_keep_log(struct kernel *k);
int kfiles_remove_dir(const char *dir);

/* kernel_ports.c */
/* Reserves NPORTS tcp ports on 127.0.0.1 (fds stay open). 0, or -1 (err) with every fd -1. */
int kports_reserve(int ports[NPORTS], int fds[NPORTS], struct strbuf *err);
/* Closes the n reservations still open in fds (they become -1). */
void kports_release(int fds[], int n);

/* kernel_sock.c */
int ksock_open_all(struct kernel *k, struct strbuf *err);
void ksock_close_all(struct kernel *k);
/* Sends a signed message; msg_id (80 bytes, may be NULL) receives its id. 0 or -1 (err). */
int ksock_send(struct kernel *k, struct ksock *ks, const char *msg_type, json_object *content,
               char *msg_id, struct strbuf *err);
/* Reads what is waiting on ks (and dispatches it). */
void ksock_drain(struct ksock *ks);
/* Schedules a drain of ks from the loop. */
void ksock_kick(struct ksock *ks);
bool ksock_has_input(struct ksock *ks);
/* Closes the worker's ZeroMQ context (every socket must be closed). */
void ksock_term(void);

/* kernel_life.c */
/* Begins the readiness handshake. Returns 0 or -1. */
int klife_start(struct kernel *k);
/* The process exited (event callback). */
void klife_on_exit(evutil_socket_t fd, short what, void *arg);
/* One message received on ks. */
void klife_on_message(struct kernel *k, struct ksock *ks, const struct jmsg_frame *f, size_t n);

#endif
