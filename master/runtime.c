#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "log.h"
#include "procstat.h"
#include "strbuf.h"

static int remove_entry(const char *path, const struct stat *st EXECD_UNUSED, int type,
                        struct FTW *ftw EXECD_UNUSED)
{
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int runtime_remove_tree(const char *path)
{
    return nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* A SIGKILLed kernel or shell is gone within this; the tree is removed after it either way. */
#define KILL_WAIT_MS 1000

/* Whether the recorded process still runs (a zombie has stopped). */
static bool still_running(pid_t pid, unsigned long long start)
{
    struct procstat st;
    return procstat_same(pid, start) && procstat_read(pid, &st) == 0 && st.state != 'Z';
}

/*
 * A kernel, a bash session's shell or a PTY session's shell of a previous instance outlives
 * its worker. It leads its own process group (its own session, but for a pipe-mode PTY
 * shell), so one kill takes it and its children. Its record names it by pid and start time,
 * so a pid that was reused since is left alone (a session without a shell has no pid).
 */
static void kill_recorded(const char *record)
{
    struct strbuf err = STRBUF_INIT;
    json_object *state = jsonreq_read_file(record, &err);
    int64_t pid = 0, start = 0;
    enum jsonreq_rc has_pid = jsonreq_int64(state, "pid", &pid);
    if (state == NULL || has_pid == JSONREQ_ABSENT) {
        log_debug("leftover %s: %s", record, state == NULL ? err.data : "no process");
    } else if (has_pid != JSONREQ_OK || jsonreq_int64(state, "pid_start", &start) != JSONREQ_OK ||
               pid <= 0 || pid > INT32_MAX) {
        log_warn("leftover %s: no valid pid and pid_start", record);
    } else if (still_running((pid_t)pid, (unsigned long long)start)) {
        log_info("leftover process of %s: killing pid %d", record, (int)pid);
        if (kill(-(pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
            log_warn("leftover %s: kill(-%d): %s", record, (int)pid, strerror(errno));
        int64_t until = clock_mono_ms() + KILL_WAIT_MS;
        while (still_running((pid_t)pid, (unsigned long long)start) && clock_mono_ms() < until)
            usleep(5000);
        if (still_running((pid_t)pid, (unsigned long long)start))
            log_warn("leftover %s: pid %d still there after SIGKILL", record, (int)pid);
    }
    json_object_put(state);
    strbuf_free(&err);
}

/*
 * Processes of a previous instance, killed before their files go: each kernel's
 * kernels/<id>/state.json, each bash session's sessions/<id>/state.json, each PTY
 * session's ptys/<id>.json.
 */
static void kill_leftovers(const char *state_dir, const char *sub, const char *record)
{
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/%s", state_dir, sub);
    DIR *d = opendir(dir.data);
    if (d == NULL) {
        if (errno != ENOENT)
            log_warn("cannot read %s: %s", dir.data, strerror(errno));
        strbuf_free(&dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct strbuf path = STRBUF_INIT;
        strbuf_printf(&path, "%s/%s%s", dir.data, e->d_name, record);
        kill_recorded(path.data);
        strbuf_free(&path);
    }
    closedir(d);
    strbuf_free(&dir);
}

int runtime_prepare(const char *dir)
{
    if (fsutil_mkdir_p(dir, 0700) < 0) {
        log_error("cannot create runtime directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        log_error("runtime directory %s is not a directory", dir);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        log_error("runtime directory %s belongs to uid %u, not to us", dir, (unsigned)st.st_uid);
        return -1;
    }
    if (chmod(dir, 0700) < 0) {
        log_error("cannot chmod runtime directory %s: %s", dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_error("cannot read runtime directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != 'w' || strspn(e->d_name + 1, "0123456789") != strlen(e->d_name + 1))
            continue;
        struct strbuf p = STRBUF_INIT;
        strbuf_printf(&p, "%s/%s", dir, e->d_name);
        log_info("removing state of a previous instance: %s", p.data);
        kill_leftovers(p.data, "kernels", "/state.json");
        kill_leftovers(p.data, "sessions", "/state.json");
        kill_leftovers(p.data, "ptys", "");
        runtime_remove_tree(p.data);
        strbuf_free(&p);
    }
    closedir(d);
    return 0;
}

/* SIGKILLs every live child; returns how many, or -1 when /proc cannot be read. */
static int kill_live_children(pid_t self)
{
    DIR *d = opendir("/proc");
    if (d == NULL) {
        log_error("runtime: cannot list /proc to kill leftover processes: %s", strerror(errno));
        return -1;
    }
    int killed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        struct procstat st;
        if (pid <= 0 || pid == self || procstat_read(pid, &st) < 0 || st.ppid != self ||
            st.state == 'Z')
            continue;
        if (kill(pid, SIGKILL) == 0)
            killed++;
    }
    closedir(d);
    return killed;
}

int runtime_kill_descendants(void)
{
    pid_t self = getpid();
    int total = 0;
    /* A worker's children become ours (subreaper) only once it has finished dying, which
     * takes a while for a big process (a sanitizer build's shadow memory): scan again until
     * every child is a zombie, whose orphans have by then been handed to us. Bounded, so a
     * process that cannot die (uninterruptible sleep) does not hold the shutdown. */
    int64_t deadline = clock_mono_ms() + 2000;
    for (;;) {
        int killed = kill_live_children(self);
        if (killed <= 0)
            break;
        total += killed;
        if (clock_mono_ms() >= deadline) {
            log_warn("runtime: processes still alive 2 s after SIGKILL; leaving them");
            break;
        }
        usleep(5000);
    }
    return total;
}
