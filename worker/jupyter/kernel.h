/*
 * A running Jupyter kernel, driven from the worker's libevent loop over
 * ZeroMQ. Each kernel owns a private 0700 directory:
 *
 *   connection.json  0600, ports/paths and the HMAC key (what the kernel reads)
 *   state.json       pid, pid start time, language, spec, interrupt mode, meta
 *   kernel.log       the kernel's stdout and stderr
 *   k-1 ... k-5      ipc sockets (ipc transport)
 *
 * The transport is ipc for kernels known to serve it (ipykernel) and tcp on 127.0.0.1
 * otherwise (kspec_pick_transport); tcp ports stay reserved until the kernel listens on
 * them (kernel_ports.c). A kernel that failed to start leaves its log beside the
 * directory as <spec>.log, and the failure names it.
 *
 * The kernel runs in its own session (setsid), so it survives its worker; a
 * new worker re-attaches with kernel_adopt() from the directory alone.
 *
 * Lifecycle: kernel_launch()/kernel_adopt() return a handle in the starting
 * state; cbs->on_ready reports readiness (or the failure). Then
 * kernel_execute() one cell at a time. cbs->on_dead reports a kernel that died
 * later. kernel_shutdown() stops the kernel and frees the handle;
 * kernel_free() only lets go of it (the kernel keeps running for adoption).
 *
 * Callbacks may call any function of this module, kernel_free() included (the
 * handle is then freed once the callback returns); the handle is never freed
 * behind the caller's back otherwise.
 */
#ifndef EXECD_KERNEL_H
#define EXECD_KERNEL_H

#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "jupyter/kernel_run.h"
#include "jupyter/kspec.h"
#include "strbuf.h"

#define KERNEL_CONN_FILE "connection.json"
#define KERNEL_STATE_FILE "state.json"
#define KERNEL_LOG_FILE "kernel.log"
/* Default readiness deadlines. */
#define KERNEL_STARTUP_MS 30000
#define KERNEL_ADOPT_MS 10000
#define KERNEL_IDLE_MS 2000
/* on_fail enames of runs that could not finish. */
#define KERNEL_ENAME_DEAD "DeadKernelError"
#define KERNEL_ENAME_SHUTDOWN "KernelShutdown"

struct kernel;

struct kernel_cbs {
    /*
     * Startup or adoption is over. err NULL: ready for kernel_execute. Else it
     * failed (err says why, with the last line of the kernel's output): the
     * process was killed and its directory removed; only kernel_free remains.
     */
    void (*on_ready)(struct kernel *k, void *arg, const char *err);
    /*
     * A ready kernel died (process exit, or heartbeat lost: then it is
     * killed). The running execution already got on_fail; the directory is
     * removed; only kernel_free remains.
     */
    void (*on_dead)(struct kernel *k, void *arg, const char *reason);
};

struct kernel_opts {
    const struct kspec *spec;       /* borrowed for the call */
    const char *dir;                /* the kernel's directory: created 0700, must not exist;
                                       ipc needs it short (socket paths < 108 bytes) */
    const char *cwd;                /* kernel working directory; NULL: inherit */
    char *const *envp;              /* base environment (NULL: environ); spec env overlaid */
    enum kspec_transport transport; /* the daemon's setting; the spec's metadata wins */
    bool colors;                    /* keep ipykernel's ANSI colours (default: NoColor) */
    int64_t startup_ms;             /* readiness deadline; 0: KERNEL_STARTUP_MS */
    json_object *meta;              /* borrowed; saved in state.json, see kernel_meta() */
    const struct kernel_cbs *cbs;
    void *arg;
};

/*
 * Writes the connection and state files, starts the kernel and begins the
 * readiness handshake. NULL (reason in err, nothing left behind) when it
 * cannot even start; later failures go to on_ready. A kernel that has not
 * said a word and has used no CPU for KERNEL_IDLE_MS is not waited on until
 * the deadline: it sits on endpoints other than ours (a transport it does
 * not serve), and fails naming its spec, the transport and its log.
 */
struct kernel *kernel_launch(struct event_base *base, const struct kernel_opts *opts,
                             struct strbuf *err);
/*
 * Re-attaches to the kernel recorded in dir (started by another worker): its
 * pid must still be the same process (start time), it is watched with a pidfd
 * (it is not our child), and it must answer kernel_info within startup_ms
 * (0: KERNEL_ADOPT_MS) or it is killed and dir removed (on_ready with err).
 * NULL with a reason in err when the state is unreadable or the process gone
 * (dir is left alone: see kernel_remove_dir).
 */
struct kernel *kernel_adopt(struct event_base *base, const char *dir, int64_t startup_ms,
                            const struct kernel_cbs *cbs, void *arg, struct strbuf *err);

/*
 * Sends execute_request (silent=false, store_history=true, allow_stdin=false,
 * stop_on_error=true). The outputs and exactly one terminal callback (on_done
 * or on_fail) follow. -1 with a reason in err when the kernel is not ready
 * or already executing (one cell at a time; the caller decides to reject).
 */
int kernel_execute(struct kernel *k, const char *code, const struct kernel_exec_cbs *cbs, void *arg,
                   struct strbuf *err);
/* No more callbacks for the running cell (client gone); the kernel stays busy until it ends. */
void kernel_exec_forget(struct kernel *k);
/*
 * Interrupts the running cell: SIGINT to the kernel's process group, or an
 * interrupt_request on control (interrupt_mode "message"). The cell then
 * ends through its own error + done; a cell the kernel aborted, waiting to
 * be sent again, ends at once (on_fail KERNEL_RUN_ENAME_ABORTED). -1 with a
 * reason when not running.
 */
int kernel_interrupt(struct kernel *k, struct strbuf *err);

typedef void (*kernel_stopped_fn)(void *arg);
/*
 * Stops the kernel and consumes the handle: shutdown_request on control,
 * up to grace_ms for the process to exit, then SIGKILL to its process group;
 * the directory and ipc sockets are removed, fn(arg) is called (may be NULL)
 * and the handle freed. Asynchronous: nothing happens before this returns.
 * A running cell ends with on_fail(KERNEL_ENAME_SHUTDOWN) unless it completes first.
 * on_ready/on_dead are not called any more.
 */
void kernel_shutdown(struct kernel *k, int64_t grace_ms, kernel_stopped_fn fn, void *arg);
/* Lets go of the handle: sockets closed, the kernel process and files stay. No callbacks. */
void kernel_free(struct kernel *k);

/*
 * Clean-up of a leftover directory (e.g. at daemon start): SIGKILL the
 * recorded process group if the pid is still the recorded process, then
 * remove the files and the directory. Returns 0, or -1 (logged).
 */
int kernel_remove_dir(const char *dir);
/* Closes the worker's ZeroMQ context; call once every handle is freed. */
void kernel_cleanup(void);

bool kernel_ready(const struct kernel *k);
bool kernel_busy(const struct kernel *k);
pid_t kernel_pid(const struct kernel *k);
const char *kernel_dir(const struct kernel *k);
const char *kernel_language(const struct kernel *k);
const char *kernel_spec_name(const struct kernel *k);
/* "ipc" or "tcp". */
const char *kernel_transport(const struct kernel *k);
enum kspec_interrupt kernel_interrupt_mode(const struct kernel *k);
/* The meta object given at launch (restored by adoption); never NULL. */
json_object *kernel_meta(const struct kernel *k);

#endif
