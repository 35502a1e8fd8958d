#include "command/cmdstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/jsonfile.h"
#include "core/out.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "log.h"
#include "strmap.h"
#include "utf8.h"
#include "xalloc.h"

/* Bytes of a command's text a record keeps (retention counts records, not their size). */
#define CMDSTORE_CONTENT_MAX 4096

static struct {
    char *dir; /* <state_dir>/commands */
    int64_t retention_ms;
    uint64_t retention_bytes;
    struct strmap by_id;
    struct list records; /* oldest first */
} store = {.records = LIST_HEAD_INIT(store.records)};

int cmdstore_init(const char *state_dir, int64_t retention_ms, uint64_t retention_bytes)
{
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/commands", state_dir);
    if (mkdir(dir.data, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", dir.data, strerror(errno));
        strbuf_free(&dir);
        return -1;
    }
    store.dir = strbuf_detach(&dir);
    store.retention_ms = retention_ms;
    store.retention_bytes = retention_bytes;
    strmap_init(&store.by_id);
    return 0;
}

struct command *cmdstore_get(const char *id)
{
    return strmap_get(&store.by_id, id);
}

void cmdstore_add(struct command *c)
{
    strmap_put(&store.by_id, c->id, c);
    list_add_tail(&store.records, &c->node);
}

char *cmdstore_content(const char *command)
{
    size_t len = strlen(command);
    if (len <= CMDSTORE_CONTENT_MAX)
        return xstrdup(command);
    struct strbuf s = STRBUF_INIT;
    strbuf_append(&s, command, utf8_cut(command, CMDSTORE_CONTENT_MAX));
    strbuf_append_str(&s, "\xe2\x80\xa6"); /* U+2026 */
    return strbuf_detach(&s);
}

static void unlink_record(struct command *c)
{
    list_del(&c->node);
    strmap_del(&store.by_id, c->id);
}

void cmdstore_output_path(const char *id, struct strbuf *out)
{
    strbuf_reset(out);
    strbuf_printf(out, "%s/%s.output", store.dir, id);
}

static void record_path(const char *id, const char *suffix, struct strbuf *out)
{
    strbuf_reset(out);
    strbuf_printf(out, "%s/%s.json%s", store.dir, id, suffix);
}

static json_object *to_json(const struct command *c)
{
    json_object *o = xjson_object();
    json_object_object_add(o, "id", xjson_string(c->id));
    json_object_object_add(o, "content", xjson_string(c->content ? c->content : ""));
    json_object_object_add(o, "background", xjson_bool(c->background));
    json_object_object_add(o, "pgid", xjson_int64(c->pgid));
    json_object_object_add(o, "pid_start", xjson_int64((int64_t)c->pid_start));
    json_object_object_add(o, "started_sec", xjson_int64(c->started_at.tv_sec));
    json_object_object_add(o, "started_nsec", xjson_int64(c->started_at.tv_nsec));
    json_object_object_add(o, "finished_sec", xjson_int64(c->finished_at.tv_sec));
    json_object_object_add(o, "finished_nsec", xjson_int64(c->finished_at.tv_nsec));
    json_object_object_add(o, "running", xjson_bool(c->running));
    json_object_object_add(o, "exit_code", xjson_int64(c->exit_code));
    if (c->exit_unknown)
        json_object_object_add(o, "exit_unknown", xjson_bool(true));
    if (c->error != NULL)
        json_object_object_add(o, "error", xjson_string(c->error));
    return o;
}

int cmdstore_save(const struct command *c)
{
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    record_path(c->id, "", &path);
    json_object *o = to_json(c);
    int rc = jsonfile_save(path.data, o, &err);
    if (rc < 0)
        log_error("command %s: cannot store its record: %s", c->id, err.data);
    json_object_put(o);
    strbuf_free(&path);
    strbuf_free(&err);
    return rc;
}

static void remove_files(const char *id)
{
    struct strbuf p = STRBUF_INIT;
    record_path(id, "", &p);
    if (unlink(p.data) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", p.data, strerror(errno));
    cmdstore_output_path(id, &p);
    if (unlink(p.data) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", p.data, strerror(errno));
    strbuf_free(&p);
}

static void drop(struct command *c, const char *why)
{
    log_debug("command %s: record dropped (%s)", c->id, why);
    remove_files(c->id);
    out_unregister(c->id);
    unlink_record(c);
    command_free(c);
}

static uint64_t output_size(const char *id)
{
    struct strbuf p = STRBUF_INIT;
    struct stat st;
    cmdstore_output_path(id, &p);
    uint64_t size = stat(p.data, &st) == 0 ? (uint64_t)st.st_size : 0;
    strbuf_free(&p);
    return size;
}

int cmdstore_sweep(int64_t now_ms)
{
    int dropped = 0;
    size_t finished = 0;
    uint64_t log_bytes = 0;

    list_each_safe(&store.records, it, nx)
    {
        struct command *c = list_entry(it, struct command, node);
        if (c->running)
            continue;
        int64_t done_ms = (int64_t)c->finished_at.tv_sec * 1000 + c->finished_at.tv_nsec / 1000000;
        if (now_ms - done_ms > store.retention_ms) {
            drop(c, "older than the retention age");
            dropped++;
            continue;
        }
        finished++;
        if (c->background)
            log_bytes += output_size(c->id);
    }
    list_each_safe(&store.records, it, nx)
    {
        struct command *c = list_entry(it, struct command, node);
        if (c->running)
            continue;
        if (log_bytes <= store.retention_bytes && finished <= CMDSTORE_MAX_FINISHED)
            break;
        if (!c->background && finished <= CMDSTORE_MAX_FINISHED)
            continue; /* no log: dropping it would free nothing */
        if (c->background)
            log_bytes -= output_size(c->id);
        drop(c, "retention size or count exceeded");
        finished--;
        dropped++;
    }
    return dropped;
}

static struct command *from_json(json_object *o)
{
    const char *id = NULL, *content = "", *error = NULL;
    if (jsonreq_string(o, "id", &id) != JSONREQ_OK || strlen(id) != IDS_HEX_LEN)
        return NULL;
    struct command *c = command_new(id);
    jsonreq_string(o, "content", &content);
    c->content = cmdstore_content(content);
    jsonreq_bool(o, "background", &c->background);
    jsonreq_bool(o, "running", &c->running);
    jsonreq_bool(o, "exit_unknown", &c->exit_unknown);
    int64_t v = 0;
    if (jsonreq_int64(o, "pgid", &v) == JSONREQ_OK)
        c->pgid = (pid_t)v;
    if (jsonreq_int64(o, "pid_start", &v) == JSONREQ_OK)
        c->pid_start = (unsigned long long)v;
    if (jsonreq_int64(o, "exit_code", &v) == JSONREQ_OK)
        c->exit_code = (int)v;
    jsonreq_int64(o, "started_sec", &v);
    c->started_at.tv_sec = (time_t)v;
    jsonreq_int64(o, "started_nsec", &v);
    c->started_at.tv_nsec = (long)v;
    jsonreq_int64(o, "finished_sec", &v);
    c->finished_at.tv_sec = (time_t)v;
    jsonreq_int64(o, "finished_nsec", &v);
    c->finished_at.tv_nsec = (long)v;
    if (jsonreq_string(o, "error", &error) == JSONREQ_OK)
        c->error = xstrdup(error);
    return c;
}

static struct command *read_record(const char *path)
{
    struct strbuf err = STRBUF_INIT;
    json_object *o = jsonreq_read_file(path, &err);
    struct command *c = o != NULL ? from_json(o) : NULL;
    if (c == NULL)
        log_warn("unusable command record %s%s%s", path, err.len > 0 ? ": " : "",
                 err.len > 0 ? err.data : "");
    json_object_put(o);
    strbuf_free(&err);
    return c;
}

static int by_start(const void *a, const void *b)
{
    const struct timespec *x = &(*(struct command *const *)a)->started_at;
    const struct timespec *y = &(*(struct command *const *)b)->started_at;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? -1 : 1;
    return (x->tv_nsec > y->tv_nsec) - (x->tv_nsec < y->tv_nsec);
}

/* Records read from disk arrive in directory order; retention needs the oldest first. */
static void sort_records(void)
{
    size_t n = list_count(&store.records);
    struct command **v = xcalloc(n > 0 ? n : 1, sizeof(*v));
    size_t i = 0;
    list_each_safe(&store.records, it, nx)
    {
        v[i++] = list_entry(it, struct command, node);
        list_del(it);
    }
    qsort(v, n, sizeof(*v), by_start);
    for (i = 0; i < n; i++)
        list_add_tail(&store.records, &v[i]->node);
    free(v);
}

void cmdstore_load(void (*fn)(struct command *c))
{
    DIR *d = opendir(store.dir);
    if (d == NULL) {
        log_error("cannot read %s: %s", store.dir, strerror(errno));
        return;
    }
    struct dirent *e;
    struct strbuf path = STRBUF_INIT;
    int loaded = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != IDS_HEX_LEN + 5 || strcmp(e->d_name + IDS_HEX_LEN, ".json") != 0)
            continue;
        char id[IDS_HEX_LEN + 1];
        memcpy(id, e->d_name, IDS_HEX_LEN);
        id[IDS_HEX_LEN] = '\0';
        if (cmdstore_get(id) != NULL)
            continue;
        strbuf_reset(&path);
        strbuf_printf(&path, "%s/%s", store.dir, e->d_name);
        struct command *c = read_record(path.data);
        if (c == NULL)
            continue;
        cmdstore_add(c);
        out_register(0, "command", c->id);
        fn(c);
        loaded++;
    }
    strbuf_free(&path);
    closedir(d);
    if (loaded > 0)
        sort_records();
}

void cmdstore_each(void (*fn)(struct command *c, void *arg), void *arg)
{
    list_each_safe(&store.records, it, nx) fn(list_entry(it, struct command, node), arg);
}

void cmdstore_free(void)
{
    list_each_safe(&store.records, it, nx)
    {
        struct command *c = list_entry(it, struct command, node);
        unlink_record(c);
        command_free(c);
    }
    strmap_free(&store.by_id, NULL);
    free(store.dir);
    store.dir = NULL;
}
