/*
 * A kernel's directory and its files: the connection file (transport, ports, key) the
 * kernel reads, the state file an adopting worker reads, the kernel's log.
 */
#include "jupyter/kernel_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/jsonfile.h"
#include "fsutil.h"
#include "jsonreq.h"
#include "log.h"
#include "xalloc.h"

static const char *const port_keys[NPORTS] = {"shell_port", "iopub_port", "stdin_port",
                                              "control_port", "hb_port"};

char *kfiles_path(const char *dir, const char *file)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "%s/%s", dir, file);
    return strbuf_detach(&b);
}

/* Creates path (0600, it must not exist: it holds the key) with data. Returns 0 or -1 (errno). */
static int create_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (fsutil_write_all(fd, data, len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

/* The last non-empty line of the kernel's output, for error messages. */
void kfiles_log_tail(const struct kernel *k, struct strbuf *out)
{
    char buf[2048];
    int fd = k->log_path != NULL ? open(k->log_path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0) {
        off_t from = st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0;
        n = pread(fd, buf, sizeof(buf) - 1, from);
    }
    close(fd);
    if (n <= 0)
        return;
    size_t end = (size_t)n;
    while (end > 0 && strchr(" \t\r\n", buf[end - 1]) != NULL)
        end--;
    size_t start = end;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    if (end > start)
        strbuf_printf(out, ": %.*s", (int)(end - start), buf + start);
}

void kfiles_keep_log(struct kernel *k)
{
    const char *slash = strrchr(k->dir, '/');
    struct strbuf kept = STRBUF_INIT;
    strbuf_printf(&kept, "%.*s%s.log", slash != NULL ? (int)(slash - k->dir + 1) : 0, k->dir,
                  k->spec_name != NULL && k->spec_name[0] != '\0' ? k->spec_name : k->name);
    if (rename(k->log_path, kept.data) < 0) {
        log_warn("kernel %s: cannot keep its log as %s: %s", k->name, kept.data, strerror(errno));
        strbuf_free(&kept);
        return;
    }
    free(k->log_path);
    k->log_path = strbuf_detach(&kept);
}

/* Removes every file of the directory (it is exclusively the kernel's), then the directory. */
int kfiles_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        log_warn("kernel: cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
            log_warn("kernel: cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT) {
        log_warn("kernel: cannot remove %s: %s", dir, strerror(errno));
        rc = -1;
    }
    return rc;
}

int kfiles_write_connection(struct kernel *k, const char *key, struct strbuf *err)
{
    json_object *c = xjson_object();
    for (int i = 0; i < NPORTS; i++)
        json_object_object_add(c, port_keys[i], xjson_int64(k->ports[i]));
    json_object_object_add(c, "ip", xjson_string(k->ip));
    json_object_object_add(c, "key", xjson_string(key));
    json_object_object_add(c, "transport", xjson_string(k->transport));
    json_object_object_add(c, "signature_scheme", xjson_string("hmac-sha256"));
    json_object_object_add(c, "kernel_name", xjson_string(k->spec_name));
    const char *s =
        json_object_to_json_string_ext(c, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = create_file(k->conn_path, s, strlen(s));
    if (rc < 0)
        strbuf_printf(err, "cannot write %s: %s", k->conn_path, strerror(errno));
    json_object_put(c);
    return rc;
}

/* state.json, replaced atomically so an adopting worker never reads half a file. */
int kfiles_write_state(struct kernel *k, struct strbuf *err)
{
    json_object *s = xjson_object();
    json_object_object_add(s, "pid", xjson_int64(k->pid));
    json_object_object_add(s, "pid_start", xjson_int64((int64_t)k->pid_start));
    json_object_object_add(s, "language", xjson_string(k->language));
    json_object_object_add(s, "spec", xjson_string(k->spec_name));
    json_object_object_add(s, "connection_file", xjson_string(k->conn_path));
    json_object_object_add(
        s, "interrupt_mode",
        xjson_string(k->interrupt_mode == KSPEC_INTERRUPT_MESSAGE ? "message" : "signal"));
    json_object_object_add(s, "meta", json_object_get(k->meta));
    int rc = jsonfile_save(k->state_path, s, err);
    json_object_put(s);
    return rc;
}

int kfiles_load_connection(struct kernel *k, const char *path, struct strbuf *err)
{
    json_object *c = jsonreq_read_file(path, err);
    if (c == NULL)
        return -1;
    int rc = -1;
    const char *transport = NULL, *ip = NULL, *key = NULL, *scheme = NULL;
    jsonreq_string(c, "transport", &transport);
    jsonreq_string(c, "ip", &ip);
    jsonreq_string(c, "key", &key);
    jsonreq_string(c, "signature_scheme", &scheme);
    if (transport == NULL || ip == NULL || key == NULL ||
        (strcmp(transport, "ipc") != 0 && strcmp(transport, "tcp") != 0)) {
        strbuf_printf(err, "%s: missing or bad transport, ip or key", path);
        goto out;
    }
    if (key[0] != '\0' && scheme != NULL && strcmp(scheme, "hmac-sha256") != 0) {
        strbuf_printf(err, "%s: unsupported signature scheme '%s'", path, scheme);
        goto out;
    }
    for (int i = 0; i < NPORTS; i++) {
        int64_t p = 0;
        if (jsonreq_int64(c, port_keys[i], &p) != JSONREQ_OK || p <= 0 || p > 65535) {
            strbuf_printf(err, "%s: bad %s", path, port_keys[i]);
            goto out;
        }
        k->ports[i] = (int)p;
    }
    snprintf(k->transport, sizeof(k->transport), "%s", transport);
    k->ip = xstrdup(ip);
    k->auth = jmsg_auth_new(key, err);
    rc = k->auth != NULL ? 0 : -1;
out:
    json_object_put(c);
    return rc;
}

/* Reads state.json into k. Returns 0 or -1 (err). */
int kfiles_load_state(struct kernel *k, struct strbuf *err)
{
    json_object *s = jsonreq_read_file(k->state_path, err);
    if (s == NULL)
        return -1;
    int64_t pid = 0, start = 0;
    const char *conn = NULL, *mode = "signal", *language = "", *spec = "";
    jsonreq_string(s, "connection_file", &conn);
    jsonreq_string(s, "interrupt_mode", &mode);
    jsonreq_string(s, "language", &language);
    jsonreq_string(s, "spec", &spec);
    int rc = -1;
    if (jsonreq_int64(s, "pid", &pid) != JSONREQ_OK || pid <= 0 ||
        jsonreq_int64(s, "pid_start", &start) != JSONREQ_OK || conn == NULL) {
        strbuf_printf(err, "%s: missing pid, pid_start or connection_file", k->state_path);
        goto out;
    }
    k->pid = (pid_t)pid;
    k->pid_start = (unsigned long long)start;
    k->language = xstrdup(language);
    k->spec_name = xstrdup(spec);
    k->interrupt_mode =
        strcmp(mode, "message") == 0 ? KSPEC_INTERRUPT_MESSAGE : KSPEC_INTERRUPT_SIGNAL;
    json_object *meta = NULL;
    k->meta =
        jsonreq_object(s, "meta", &meta) == JSONREQ_OK ? json_object_get(meta) : xjson_object();
    free(k->conn_path);
    k->conn_path = xstrdup(conn);
    rc = 0;
out:
    json_object_put(s);
    return rc;
}
