/* File operations on threads of their own, answered from the loop (fs_thread.h). */
#include "files/fs_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/evt.h"
#include "core/wjob.h"
#include "list.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

struct fsjob {
    uint32_t job;
    json_object *msg; /* a reference of our own */
    fs_work_fn fn;
    struct fs_result res;
    atomic_bool stop;
    pthread_t thread;
    struct list node; /* in waiting or running */
};

static struct {
    struct list waiting, running;
    size_t n_running;
    int done[2]; /* threads write their finished job's pointer; the loop reads */
    struct event *done_ev;
} pool = {
    .waiting = LIST_HEAD_INIT(pool.waiting),
    .running = LIST_HEAD_INIT(pool.running),
    .done = {-1, -1},
};

/* The job of the thread this runs on (NULL on the loop). */
static __thread struct fsjob *current;

bool fsthread_stopping(void)
{
    return current != NULL && atomic_load(&current->stop);
}

static void *thread_main(void *arg)
{
    struct fsjob *j = arg;
    current = j;
    j->fn(j->msg, &j->res);
    current = NULL;
    /* A pointer is far below PIPE_BUF: the write is atomic. */
    while (write(pool.done[1], &j, sizeof(j)) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void on_cancel(void *obj)
{
    struct fsjob *j = obj;
    atomic_store(&j->stop, true);
}

static const struct wjob_ops fsjob_ops = {.cancel = on_cancel};

static void job_free(struct fsjob *j)
{
    json_object_put(j->msg);
    fs_result_free(&j->res);
    free(j);
}

/* Starts waiting jobs while there is room. A job that cannot start is answered now. */
static void start_waiting(void)
{
    while (pool.n_running < FSTHREAD_MAX && !list_empty(&pool.waiting)) {
        struct fsjob *j = list_entry(pool.waiting.next, struct fsjob, node);
        list_del(&j->node);
        /* Signals are the loop's business: the thread blocks them all. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&j->thread, NULL, thread_main, j);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            log_error("job %u: cannot start a thread: %s", j->job, strerror(rc));
            fs_err_set(&j->res.err, 500, FS_ERR_RUNTIME, "cannot start the operation: %s",
                       strerror(rc));
            wjob_remove(j->job);
            fs_reply_result(j->job, &j->res);
            job_free(j);
            continue;
        }
        list_add_tail(&pool.running, &j->node);
        pool.n_running++;
    }
}

static void on_done(evutil_socket_t fd, short what EXECD_UNUSED, void *arg EXECD_UNUSED)
{
    struct fsjob *j;
    ssize_t n;
    while ((n = read(fd, &j, sizeof(j))) == (ssize_t)sizeof(j)) {
        int rc = pthread_join(j->thread, NULL);
        if (rc != 0)
            log_error("job %u: pthread_join: %s", j->job, strerror(rc));
        list_del(&j->node);
        pool.n_running--;
        wjob_remove(j->job);
        fs_reply_result(j->job, &j->res);
        job_free(j);
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        log_error("reading finished file operations: %s", strerror(errno));
    start_waiting();
    worker_changed();
}

static int pool_open(void)
{
    if (pool.done_ev != NULL)
        return 0;
    if (pipe2(pool.done, O_CLOEXEC) != 0 || fcntl(pool.done[0], F_SETFL, O_NONBLOCK) != 0) {
        log_error("cannot create the pipe of file operation threads: %s", strerror(errno));
        return -1;
    }
    pool.done_ev = event_new(worker_base(), pool.done[0], EV_READ | EV_PERSIST, on_done, NULL);
    if (pool.done_ev == NULL || event_add(pool.done_ev, NULL) != 0) {
        log_error("cannot watch the pipe of file operation threads");
        evt_free(&pool.done_ev);
        return -1;
    }
    return 0;
}

void fsthread_run(uint32_t job, json_object *msg, fs_work_fn fn)
{
    if (pool_open() != 0) {
        fs_run_here(job, msg, fn); /* no way to hear from a thread */
        return;
    }
    struct fsjob *j = xcalloc(1, sizeof(*j));
    j->job = job;
    j->msg = json_object_get(msg);
    j->fn = fn;
    fs_result_init(&j->res);
    atomic_init(&j->stop, false);
    list_add_tail(&pool.waiting, &j->node);
    wjob_add(job, &fsjob_ops, j);
    start_waiting();
}

bool fsthread_busy(void)
{
    return pool.n_running > 0 || !list_empty(&pool.waiting);
}

void fsthread_cleanup(void)
{
    list_each_safe(&pool.waiting, it, nx)
    {
        struct fsjob *j = list_entry(it, struct fsjob, node);
        list_del(it);
        job_free(j);
    }
    list_each_safe(&pool.running, it, nx)
        atomic_store(&list_entry(it, struct fsjob, node)->stop, true);
    list_each_safe(&pool.running, it, nx)
    {
        struct fsjob *j = list_entry(it, struct fsjob, node);
        int rc = pthread_join(j->thread, NULL);
        if (rc != 0)
            log_error("job %u: pthread_join: %s", j->job, strerror(rc));
        list_del(it);
        job_free(j);
    }
    pool.n_running = 0;
    evt_free(&pool.done_ev);
    for (int i = 0; i < 2; i++) {
        if (pool.done[i] >= 0)
            close(pool.done[i]);
        pool.done[i] = -1;
    }
}
