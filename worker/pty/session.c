#include "pty/session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/evt.h"
#include "core/jsonfile.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "list.h"
#include "log.h"
#include "procstat.h"
#include "strmap.h"
#include "worker.h"
#include "xalloc.h"

static struct {
    struct strmap all; /* id -> struct pty_session */
    struct list list;  /* the same, to walk them */
    char *dir;         /* <state>/ptys: one record per session */
    int64_t idle_ms;   /* -pty-idle-timeout; 0: never */
} sessions = {.list = LIST_HEAD_INIT(sessions.list)};

static void on_congestion_over(void *arg)
{
    pty_shell_update_reading(arg);
}

static void on_idle(evutil_socket_t fd EXECD_UNUSED, short what EXECD_UNUSED, void *arg)
{
    struct pty_session *s = arg;
    log_info("pty session %s: nobody attached for %lld ms (-pty-idle-timeout): deleting it", s->id,
             (long long)sessions.idle_ms);
    pty_session_delete(s);
}

void pty_session_init(void)
{
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/ptys", worker_state_dir());
    free(sessions.dir);
    sessions.dir = strbuf_detach(&dir);
    if (fsutil_mkdir_p(sessions.dir, 0700) < 0)
        log_error("cannot create %s: %s (PTY sessions will not survive this worker)", sessions.dir,
                  strerror(errno));
    sessions.idle_ms = worker_settings()->pty_idle_ms;
}

static void record_path(const struct pty_session *s, struct strbuf *out)
{
    strbuf_printf(out, "%s/%s.json", sessions.dir, s->id);
}

static struct pty_session *session_new(const char *id, const char *cwd, const char *command)
{
    struct pty_session *s = xcalloc(1, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->cwd = cwd != NULL && cwd[0] != '\0' ? xstrdup(cwd) : NULL;
    s->command = command != NULL && command[0] != '\0' ? xstrdup(command) : NULL;
    s->ring.fd = -1;
    s->idle_ev = evtimer_new(worker_base(), on_idle, s);
    if (s->idle_ev == NULL)
        xalloc_die("a PTY session's idle timer");
    s->congestion.fn = on_congestion_over;
    s->congestion.arg = s;
    strmap_put(&sessions.all, s->id, s);
    list_add_tail(&sessions.list, &s->node);
    return s;
}

void pty_session_save(struct pty_session *s)
{
    json_object *o = xjson_object();
    json_object_object_add(o, "id", xjson_string(s->id));
    if (s->cwd != NULL)
        json_object_object_add(o, "cwd", xjson_string(s->cwd));
    if (s->command != NULL)
        json_object_object_add(o, "command", xjson_string(s->command));
    const struct pty_shell *sh = s->shell;
    if (sh != NULL && sh->pid > 0) {
        json_object_object_add(o, "mode", xjson_string(sh->pipe_mode ? "pipe" : "pty"));
        json_object_object_add(o, "pid", xjson_int64(sh->pid));
        json_object_object_add(o, "pid_start", xjson_int64((int64_t)sh->pid_start));
    }
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    record_path(s, &path);
    if (jsonfile_save(path.data, o, &err) < 0)
        log_error("pty session %s: %s (it will not survive this worker)", s->id, err.data);
    json_object_put(o);
    strbuf_free(&path);
    strbuf_free(&err);
}

void pty_session_idle(struct pty_session *s)
{
    if (sessions.idle_ms > 0)
        evt_arm_ms(s->idle_ev, sessions.idle_ms);
}

/* Memory and local descriptors only. */
static void session_free(struct pty_session *s)
{
    strmap_del(&sessions.all, s->id);
    list_del(&s->node);
    out_cancel_wait(&s->congestion);
    evt_free(&s->idle_ev);
    ring_close(&s->ring);
    free(s->cwd);
    free(s->command);
    free(s);
}

int pty_session_ring(struct pty_session *s, struct strbuf *err)
{
    if (s->ring.hdr != NULL)
        return 0;
    if (ring_create(&s->ring, PTY_RING_BYTES, err) < 0)
        return -1;
    int keep = fcntl(s->ring.fd, F_DUPFD_CLOEXEC, 0);
    if (keep < 0) {
        log_error("pty session %s: its replay buffer will not survive this worker: %s", s->id,
                  strerror(errno));
        return 0;
    }
    struct strbuf key = STRBUF_INIT;
    strbuf_printf(&key, "%s/ring", s->id);
    out_keep(PTY_OWNER, key.data, keep);
    strbuf_free(&key);
    return 0;
}

struct pty_session *pty_session_create(const char *cwd, const char *command, struct strbuf *err)
{
    char id[IDS_DASHED_LEN + 1];
    ids_uuid_dashed(id);
    struct pty_session *s = session_new(id, cwd, command);
    if (pty_session_ring(s, err) < 0) {
        session_free(s);
        return NULL;
    }
    pty_session_save(s);
    pty_session_idle(s);
    return s;
}

struct pty_session *pty_session_find(const char *id)
{
    return strmap_get(&sessions.all, id);
}

void pty_session_delete(struct pty_session *s)
{
    if (s->client != NULL)
        pty_attach_session_gone(s->client);
    pty_shell_kill(s);
    struct strbuf path = STRBUF_INIT;
    record_path(s, &path);
    if (unlink(path.data) < 0 && errno != ENOENT)
        log_error("pty session %s: cannot remove %s: %s", s->id, path.data, strerror(errno));
    strbuf_free(&path);
    strbuf_printf(&path, "%s/", s->id);
    out_drop(PTY_OWNER, path.data);
    strbuf_free(&path);
    out_unregister(s->id);
    log_info("pty session %s deleted", s->id);
    session_free(s);
}

/* One record of a previous worker's session. */
static void adopt_record(const char *path)
{
    struct strbuf err = STRBUF_INIT;
    json_object *o = jsonreq_read_file(path, &err);
    const char *id = NULL, *cwd = NULL, *command = NULL, *mode = "pty";
    int64_t pid = 0, start = 0;
    if (o == NULL || jsonreq_string(o, "id", &id) != JSONREQ_OK || strlen(id) != IDS_DASHED_LEN) {
        log_error("pty: cannot adopt %s: %s", path, err.data ? err.data : "no id");
    } else if (pty_session_find(id) == NULL) {
        jsonreq_string(o, "cwd", &cwd);
        jsonreq_string(o, "command", &command);
        jsonreq_string(o, "mode", &mode);
        jsonreq_int64(o, "pid", &pid);
        jsonreq_int64(o, "pid_start", &start);
        struct pty_session *s = session_new(id, cwd, command);
        if (pid > 0 && procstat_same((pid_t)pid, (unsigned long long)start)) {
            pty_shell_adopt(s, strcmp(mode, "pipe") == 0, (pid_t)pid, (unsigned long long)start);
            log_info("pty session %s: adopted with its shell (pid %lld)", id, (long long)pid);
        } else {
            struct strbuf key = STRBUF_INIT;
            strbuf_printf(&key, "%s/shell/", id);
            out_drop(PTY_OWNER, key.data); /* its shell ended while no worker watched */
            strbuf_free(&key);
            if (pid > 0)
                pty_session_save(s);
            log_info("pty session %s: adopted (no shell running)", id);
        }
        out_register(0, "pty", id);
        pty_session_idle(s);
    }
    json_object_put(o);
    strbuf_free(&err);
}

void pty_session_adopt_all(void)
{
    DIR *d = opendir(sessions.dir);
    if (d == NULL) {
        if (errno != ENOENT)
            log_error("pty: cannot read %s: %s", sessions.dir, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != IDS_DASHED_LEN + 5 || strcmp(e->d_name + IDS_DASHED_LEN, ".json") != 0)
            continue;
        struct strbuf path = STRBUF_INIT;
        strbuf_printf(&path, "%s/%s", sessions.dir, e->d_name);
        adopt_record(path.data);
        strbuf_free(&path);
    }
    closedir(d);
}

void pty_session_kept(const char *key, int fd)
{
    char id[IDS_DASHED_LEN + 1];
    struct pty_session *s = NULL;
    if (strlen(key) > IDS_DASHED_LEN && key[IDS_DASHED_LEN] == '/') {
        snprintf(id, sizeof(id), "%.*s", IDS_DASHED_LEN, key);
        s = pty_session_find(id);
    }
    const char *what = key + (s != NULL ? IDS_DASHED_LEN + 1 : 0);
    if (s != NULL && strcmp(what, "ring") == 0 && s->ring.hdr == NULL) {
        struct strbuf err = STRBUF_INIT;
        if (ring_attach(&s->ring, fd, &err) < 0)
            log_error("pty session %s: replay buffer lost: %s", s->id, err.data);
        strbuf_free(&err);
    } else if (s != NULL && strncmp(what, "shell/", 6) == 0) {
        pty_shell_kept(s, what + 6, fd);
    } else {
        close(fd); /* a session this worker holds already, or one that is gone */
    }
}

void pty_session_each(void (*fn)(struct pty_session *s, void *arg), void *arg)
{
    list_each_safe(&sessions.list, it, nx)
    {
        fn(list_entry(it, struct pty_session, node), arg);
    }
}

size_t pty_session_count(void)
{
    return sessions.all.len;
}

static void release_one(struct pty_session *s, void *arg EXECD_UNUSED)
{
    if (s->client != NULL)
        pty_attach_release(s->client);
    pty_shell_release(s);
    session_free(s);
}

void pty_session_free_all(void)
{
    pty_session_each(release_one, NULL);
    strmap_free(&sessions.all, NULL);
    free(sessions.dir);
    sessions.dir = NULL;
}
