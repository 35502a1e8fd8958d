#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "xalloc.h"

enum kind {
    K_STRING,
    K_INT,
    K_DURATION,
    K_SIZE,
    K_LOG_FORMAT,
    K_POLL, /* a duration where <= 0 means the default, as in the Go daemon */
};

struct setting {
    const char *flag;    /* Go-style flag name, without dashes */
    const char *env;     /* environment variable or NULL */
    const char *section; /* ini section */
    const char *key;     /* ini key */
    enum kind kind;
    size_t offset;
    const char *def;  /* default, in the same syntax a user would write */
    int64_t min, max; /* K_INT bounds */
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct setting settings[] = {
    {"port", "EXECD_PORT", "server", "port", K_INT, OFF(port), "44772", 1, 65535,
     "TCP port to listen on"},
    {"listen", "EXECD_LISTEN", "server", "listen", K_STRING, OFF(listen_addr), "0.0.0.0", 0, 0,
     "IPv4 address to listen on"},
    {"access-token", "EXECD_ACCESS_TOKEN", "server", "access_token", K_STRING, OFF(access_token),
     "", 0, 0, "required X-EXECD-ACCESS-TOKEN value (empty: no auth)"},
    {"access-token-file", "EXECD_ACCESS_TOKEN_FILE", "server", "access_token_file", K_STRING,
     OFF(access_token_file), "", 0, 0,
     "file holding the access token (owned by the daemon's user, mode 0600 or stricter)"},
    {"keepalive-timeout", "EXECD_KEEPALIVE_TIMEOUT", "server", "keepalive_timeout", K_DURATION,
     OFF(keepalive_ms), "75s", 0, 0, "idle keep-alive connections are closed after this"},
    {"write-timeout", "EXECD_WRITE_TIMEOUT", "server", "write_timeout", K_DURATION,
     OFF(write_timeout_ms), "75s", 0, 0,
     "a client that reads nothing of its answer for this long is dropped (0: never)"},
    {"max-body-size", "EXECD_MAX_BODY_SIZE", "server", "max_body_size", K_SIZE, OFF(max_body_size),
     "16M", 0, 0, "largest JSON request body (uploads are exempt)"},
    {"max-header-size", "EXECD_MAX_HEADER_SIZE", "server", "max_header_size", K_SIZE,
     OFF(max_header_size), "64K", 0, 0, "largest request header fields together (431 beyond)"},
    {"max-headers", "EXECD_MAX_HEADERS", "server", "max_headers", K_INT, OFF(max_headers), "100", 1,
     100000, "most header fields in one request (431 beyond)"},
    {"max-connections", "EXECD_MAX_CONNECTIONS", "server", "max_connections", K_INT,
     OFF(max_connections), "0", 0, 1000000,
     "open client connections; more wait (0: 4096, less if the descriptor limit is low)"},
    {"worker-wait", "EXECD_WORKER_WAIT", "workers", "wait", K_DURATION, OFF(worker_wait_ms), "2s",
     0, 0, "how long a request that finds no ready worker waits for one before 503"},
    {"max-executions", "EXECD_MAX_EXECUTIONS", "workers", "max_executions", K_INT,
     OFF(max_executions), "1024", 0, 1000000,
     "commands and code runs at once, in all (spread over the workers; 0: no limit)"},
    {"max-sessions", "EXECD_MAX_SESSIONS", "sessions", "max_sessions", K_INT, OFF(max_sessions),
     "256", 0, 1000000,
     "bash sessions (POST /session) at once; a creation beyond gets 503 "
     "(0: no limit)"},
    {"cgroup-root", "EXECD_CGROUP_ROOT", "metrics", "cgroup_root", K_STRING, OFF(cgroup_root),
     "/sys/fs/cgroup", 0, 0,
     "where GET /metrics finds the cgroup v2 filesystem (tests and containers may point it "
     "elsewhere)"},
    {"log-level", "EXECD_LOG_LEVEL", "log", "level", K_INT, OFF(log_level), "6", 0, 10,
     "<=2 fatal, 3 error, 4 warn, 5-6 info, >=7 debug"},
    {"log-file", "EXECD_LOG_FILE", "log", "file", K_STRING, OFF(log_file), "", 0, 0,
     "log to this file instead of stderr (SIGUSR1 reopens it)"},
    {"log-format", "EXECD_LOG_FORMAT", "log", "format", K_LOG_FORMAT, OFF(log_format), "text", 0, 0,
     "text or json"},
    {"workers", "EXECD_WORKERS", "workers", "count", K_INT, OFF(workers), "0", 0, 64,
     "number of worker processes (0: one per CPU, at least 2)"},
    {"runtime-dir", "EXECD_RUNTIME_DIR", "runtime", "dir", K_STRING, OFF(runtime_dir), "", 0, 0,
     "state directory (default /var/lib/execd as root, else $TMPDIR/execd-UID)"},
    {"graceful-shutdown-timeout", "EXECD_API_GRACE_SHUTDOWN", "runtime",
     "graceful_shutdown_timeout", K_DURATION, OFF(grace_ms), "1s", 0, 0,
     "accepted for compatibility (the Go daemon's stream tail wait)"},
    {"shutdown-timeout", "EXECD_SHUTDOWN_TIMEOUT", "runtime", "shutdown_timeout", K_DURATION,
     OFF(shutdown_ms), "5s", 0, 0, "SIGTERM: how long running work gets before SIGKILL"},
    {"envs-file", "EXECD_ENVS", "runtime", "envs_file", K_STRING, OFF(envs_file), "", 0, 0,
     "KEY=VALUE file merged into every command environment"},
    {"child-oom-score-adj", "EXECD_CHILD_OOM_SCORE_ADJ", "runtime", "child_oom_score_adj", K_INT,
     OFF(child_oom_score_adj), "300", -1000, 1000,
     "oom_score_adj of commands and kernels (never below the daemon's own)"},
    {"command-retention", "EXECD_COMMAND_RETENTION", "commands", "retention", K_DURATION,
     OFF(cmd_retention_ms), "24h", 0, 0, "finished command records and logs are kept this long"},
    {"command-retention-size", "EXECD_COMMAND_RETENTION_SIZE", "commands", "retention_size", K_SIZE,
     OFF(cmd_retention_bytes), "1G", 0, 0,
     "oldest finished command logs go first beyond this total size"},
    {"max-line", "EXECD_MAX_LINE", "commands", "max_line", K_SIZE, OFF(max_line), "1M", 0, 0,
     "longest stdout/stderr event text; longer lines are split"},
    {"pty-idle-timeout", "EXECD_PTY_IDLE_TIMEOUT", "pty", "idle_timeout", K_DURATION,
     OFF(pty_idle_ms), "0", 0, 0,
     "a PTY session nobody is attached to for this long is deleted (0: never)"},
    {"jupyter-idle-poll-interval", "EXECD_JUPYTER_IDLE_POLL_INTERVAL", "jupyter",
     "idle_poll_interval", K_POLL, OFF(jupyter_poll_ms), "100ms", 0, 0,
     "granularity of waiting for a late execute_reply"},
    {"kernel-pool", "EXECD_KERNEL_POOL", "jupyter", "pool", K_STRING, OFF(kernel_pool), "python:1",
     0, 0, "warm kernels kept per language, e.g. python:2,bash:1 (empty: none)"},
    {"max-kernels", "EXECD_MAX_KERNELS", "jupyter", "max_kernels", K_INT, OFF(max_kernels), "64", 0,
     1000000,
     "code contexts and warm kernels at once, in all; a creation beyond gets 503 "
     "(0: no limit)"},
    {"kernel-startup-timeout", "EXECD_KERNEL_STARTUP_TIMEOUT", "jupyter", "startup_timeout",
     K_DURATION, OFF(kernel_startup_ms), "30s", 0, 0,
     "a kernel that is not ready after this is killed and its request fails"},
    {"kernelspec-wait", "EXECD_KERNELSPEC_WAIT", "jupyter", "kernelspec_wait", K_DURATION,
     OFF(kernelspec_wait_ms), "2s", 0, 0,
     "how long a new context waits for a kernelspec of its language to appear"},
    {"kernel-transport", "EXECD_KERNEL_TRANSPORT", "jupyter", "transport", K_STRING,
     OFF(kernel_transport), "auto", 0, 0,
     "ZeroMQ transport for kernels: auto (ipc for ipykernel, tcp on 127.0.0.1 for others), "
     "ipc or tcp; a kernelspec's metadata.execd.transport wins"},
    {"code-output-limit", "EXECD_CODE_OUTPUT_LIMIT", "jupyter", "output_limit", K_SIZE,
     OFF(code_output_limit), "256M", 0, 0,
     "output of one code execution beyond this is dropped after a marker (0: no limit)"},
    {"sql-host", "EXECD_SQL_HOST", "sql", "host", K_STRING, OFF(sql_host), "127.0.0.1", 0, 0,
     "MySQL/MariaDB server for /code with language sql (TCP)"},
    {"sql-port", "EXECD_SQL_PORT", "sql", "port", K_INT, OFF(sql_port), "3306", 1, 65535,
     "its TCP port"},
    {"sql-socket", "EXECD_SQL_SOCKET", "sql", "socket", K_STRING, OFF(sql_socket), "", 0, 0,
     "its Unix socket; when set, used instead of host and port"},
    {"sql-user", "EXECD_SQL_USER", "sql", "user", K_STRING, OFF(sql_user), "root", 0, 0,
     "the user SQL runs as"},
    {"sql-password-file", "EXECD_SQL_PASSWORD_FILE", "sql", "password_file", K_STRING,
     OFF(sql_password_file), "", 0, 0,
     "file holding that user's password, read at each connection (empty: no password)"},
    {"sql-database", "EXECD_SQL_DATABASE", "sql", "database", K_STRING, OFF(sql_database),
     "sandbox", 0, 0, "default database of every connection, created if missing (empty: none)"},
    {"sql-statement-timeout", "EXECD_SQL_STATEMENT_TIMEOUT", "sql", "statement_timeout", K_DURATION,
     OFF(sql_timeout_ms), "0", 0, 0,
     "a statement running longer is killed and fails (0: no limit)"},
    {"sql-max-rows", "EXECD_SQL_MAX_ROWS", "sql", "max_rows", K_INT, OFF(sql_max_rows), "0", 0,
     2000000000,
     "rows of a result beyond this are not read; the result is marked truncated "
     "(0: no limit)"},
    {"sql-max-result-size", "EXECD_SQL_MAX_RESULT_SIZE", "sql", "max_result_size", K_SIZE,
     OFF(sql_max_bytes), "16M", 0, 0,
     "a result's JSON text stops before the row that would exceed this (0: no limit)"},
    {"jupyter-host", "JUPYTER_HOST", "jupyter", "host", K_STRING, OFF(jupyter_host), "", 0, 0,
     "ignored: kernels are driven directly over ZeroMQ"},
    {"jupyter-token", "JUPYTER_TOKEN", "jupyter", "token", K_STRING, OFF(jupyter_token), "", 0, 0,
     "ignored: kernels are driven directly over ZeroMQ"},
};

static void *field(struct config *cfg, const struct setting *s)
{
    return (char *)cfg + s->offset;
}

static int set_int(const struct setting *s, const char *text, int *f, const char **why)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0) {
        *why = "not an integer";
        return -1;
    }
    if (v < s->min || v > s->max) {
        *why = "out of range";
        return -1;
    }
    *f = (int)v;
    return 0;
}

static int set_duration(const struct setting *s, const char *text, int64_t *f, const char **why)
{
    int64_t ms;
    if (config_parse_duration_ms(text, &ms) < 0) {
        *why = "not a duration (examples: 500ms, 1s, 1m30s)";
        return -1;
    }
    if (ms < 0 && s->kind == K_DURATION) {
        *why = "must not be negative";
        return -1;
    }
    *f = ms <= 0 && s->kind == K_POLL ? 100 : ms;
    return 0;
}

static int set_log_format(const char *text, enum log_format *f, const char **why)
{
    if (strcmp(text, "text") == 0) {
        *f = LOG_FORMAT_TEXT;
    } else if (strcmp(text, "json") == 0) {
        *f = LOG_FORMAT_JSON;
    } else {
        *why = "must be text or json";
        return -1;
    }
    return 0;
}

/* Stores text into the setting; returns 0 or -1 with a reason in why. */
static int apply_value(struct config *cfg, const struct setting *s, const char *text,
                       const char **why)
{
    void *f = field(cfg, s);
    switch (s->kind) {
    case K_STRING:
        free(*(char **)f);
        *(char **)f = xstrdup(text);
        return 0;
    case K_INT:
        return set_int(s, text, f, why);
    case K_DURATION:
    case K_POLL:
        return set_duration(s, text, f, why);
    case K_SIZE:
        if (config_parse_size(text, (uint64_t *)f) == 0)
            return 0;
        *why = "not a size (examples: 1048576, 64K, 16M, 1G)";
        return -1;
    case K_LOG_FORMAT:
        return set_log_format(text, f, why);
    }
    return -1;
}

static int apply_or_explain(struct config *cfg, const struct setting *s, const char *text,
                            const char *origin, struct strbuf *err)
{
    const char *why = "invalid";
    if (apply_value(cfg, s, text, &why) == 0)
        return 0;
    strbuf_printf(err, "invalid value \"%s\" for %s: %s", text, origin, why);
    return -1;
}

static const struct setting *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, name, len) == 0)
            return &settings[i];
    }
    return NULL;
}

struct ini_ctx {
    struct config *cfg;
    struct strbuf *err;
    const char *path;
};

static int on_ini_value(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        const struct setting *s = &settings[i];
        if (strcmp(s->section, section) != 0 || strcmp(s->key, name) != 0)
            continue;
        struct strbuf origin = STRBUF_INIT;
        strbuf_printf(&origin, "[%s] %s in %s", section, name, ctx->path);
        int rc = apply_or_explain(ctx->cfg, s, value, origin.data, ctx->err);
        strbuf_free(&origin);
        return rc == 0;
    }
    strbuf_printf(ctx->err, "unknown setting [%s] %s in %s", section, name, ctx->path);
    return 0;
}

static int load_file(struct config *cfg, const char *path, struct strbuf *err)
{
    struct ini_ctx ctx = {cfg, err, path};
    int rc = ini_parse(path, on_ini_value, &ctx);
    if (rc == 0)
        return 0;
    if (rc == -1)
        strbuf_printf(err, "cannot open config file %s: %s", path, strerror(errno));
    else if (err->len == 0)
        strbuf_printf(err, "syntax error in config file %s at line %d", path, rc);
    else
        strbuf_printf(err, " (line %d)", rc);
    return -1;
}

struct flag_value {
    const struct setting *s;
    const char *value;
};

/*
 * Splits argv into setting values and the config file path, accepting the Go
 * forms -name value, -name=value, --name value and --name=value.
 */
static enum config_rc parse_argv(int argc, char **argv, struct flag_value *vals, size_t *n_vals,
                                 const char **config_path, bool *test_only, struct strbuf *err)
{
    *n_vals = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) {
                strbuf_printf(err, "unexpected argument \"%s\"", argv[i + 1]);
                return CONFIG_ERROR;
            }
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            strbuf_printf(err, "unexpected argument \"%s\"", a);
            return CONFIG_ERROR;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        if ((name_len == 1 && name[0] == 'h') || (name_len == 4 && !strncmp(name, "help", 4)))
            return CONFIG_HELP;
        if ((name_len == 1 && name[0] == 'v') || (name_len == 7 && !strncmp(name, "version", 7)))
            return CONFIG_VERSION;
        if (strcmp(name, "t") == 0) {
            *test_only = true;
            continue;
        }

        bool is_config =
            (name_len == 1 && name[0] == 'c') || (name_len == 6 && strncmp(name, "config", 6) == 0);
        const struct setting *s = is_config ? NULL : find_flag(name, name_len);
        if (!is_config && s == NULL) {
            strbuf_printf(err, "flag provided but not defined: -%.*s", (int)name_len, name);
            return CONFIG_ERROR;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                strbuf_printf(err, "flag needs an argument: -%.*s", (int)name_len, name);
                return CONFIG_ERROR;
            }
            value = argv[++i];
        }
        if (is_config) {
            *config_path = value;
        } else {
            vals[*n_vals].s = s;
            vals[*n_vals].value = value;
            (*n_vals)++;
        }
    }
    return CONFIG_OK;
}

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

static void default_runtime_dir(struct config *cfg, char **envp)
{
    if (cfg->runtime_dir[0] != '\0')
        return;
    struct strbuf dir = STRBUF_INIT;
    if (getuid() == 0) {
        strbuf_append_str(&dir, "/var/lib/execd");
    } else {
        const char *tmp = env_get(envp, "TMPDIR");
        strbuf_printf(&dir, "%s/execd-%u", tmp && tmp[0] ? tmp : "/tmp", (unsigned)getuid());
    }
    free(cfg->runtime_dir);
    cfg->runtime_dir = strbuf_detach(&dir);
}

static void note_ignored(struct config *cfg)
{
    if (cfg->jupyter_host[0] != '\0')
        strbuf_append_str(&cfg->warnings, "-jupyter-host is ignored: execd drives kernels "
                                          "directly over ZeroMQ\n");
    if (cfg->jupyter_token[0] != '\0')
        strbuf_append_str(&cfg->warnings, "-jupyter-token is ignored: execd drives kernels "
                                          "directly over ZeroMQ\n");
}

/* Warns about a daemon anyone who reaches it can use. */
static void note_insecure(struct config *cfg)
{
    struct in_addr a;
    if (cfg->access_token[0] != '\0' ||
        (inet_pton(AF_INET, cfg->listen_addr, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127))
        return;
    strbuf_printf(&cfg->warnings,
                  "no access token: anyone who reaches %s:%d can run commands as uid %u; "
                  "set -access-token-file\n",
                  cfg->listen_addr, cfg->port, (unsigned)geteuid());
}

/* A token file longer than this is not a token file. */
#define TOKEN_FILE_MAX 4096

/* Reads all of fd (at most TOKEN_FILE_MAX bytes) into out. Returns 0 or -1 (errno). */
static int read_small(int fd, struct strbuf *out)
{
    char buf[TOKEN_FILE_MAX + 1];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0 || (len += (size_t)n) == sizeof(buf))
            break;
    }
    strbuf_append(out, buf, len);
    return 0;
}

/* Checks the token file's owner, mode and size. Returns 0 or -1 (err). */
static int check_token_file(int fd, const char *path, struct strbuf *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        strbuf_printf(err, "access-token-file %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode))
        strbuf_printf(err, "access-token-file %s is not a regular file", path);
    else if (st.st_uid != geteuid())
        strbuf_printf(err, "access-token-file %s must be owned by uid %u (the daemon's), not %u",
                      path, (unsigned)geteuid(), (unsigned)st.st_uid);
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        strbuf_printf(err,
                      "access-token-file %s must not be accessible to group or others "
                      "(mode %03o; chmod 600 it)",
                      path, (unsigned)(st.st_mode & 0777));
    else if (st.st_size > TOKEN_FILE_MAX)
        strbuf_printf(err, "access-token-file %s is larger than %d bytes", path, TOKEN_FILE_MAX);
    return err->len > 0 ? -1 : 0;
}

/*
 * The token from -access-token-file: the whole file but one trailing newline. Read at start
 * and on every reload. Returns 0 or -1 (err).
 */
static int load_token_file(struct config *cfg, struct strbuf *err)
{
    const char *path = cfg->access_token_file;
    if (path[0] == '\0')
        return 0;
    if (cfg->access_token[0] != '\0') {
        strbuf_append_str(err, "access-token and access-token-file are both set: use one");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        strbuf_printf(err, "cannot open access-token-file %s: %s", path, strerror(errno));
        return -1;
    }
    struct strbuf token = STRBUF_INIT;
    int rc = check_token_file(fd, path, err);
    if (rc == 0 && read_small(fd, &token) < 0) {
        strbuf_printf(err, "cannot read access-token-file %s: %s", path, strerror(errno));
        rc = -1;
    }
    close(fd);
    if (rc == 0 && token.len > 0 && token.data[token.len - 1] == '\n')
        token.data[--token.len] = '\0';
    if (rc == 0 && token.len > 0 && token.data[token.len - 1] == '\r')
        token.data[--token.len] = '\0';
    if (rc == 0 && (token.len == 0 || memchr(token.data, '\n', token.len) != NULL ||
                    memchr(token.data, '\0', token.len) != NULL)) {
        strbuf_printf(err, "access-token-file %s must hold the token on one line", path);
        rc = -1;
    }
    if (rc == 0) {
        free(cfg->access_token);
        cfg->access_token = strbuf_detach(&token);
    }
    strbuf_free(&token);
    return rc;
}

/* Settings given in the environment. Returns 0 or -1 (err). */
static int apply_env(struct config *cfg, char **envp, struct strbuf *err)
{
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        const char *v = settings[i].env ? env_get(envp, settings[i].env) : NULL;
        if (v == NULL)
            continue;
        struct strbuf origin = STRBUF_INIT;
        strbuf_printf(&origin, "environment variable %s", settings[i].env);
        int rc = apply_or_explain(cfg, &settings[i], v, origin.data, err);
        strbuf_free(&origin);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Settings given as flags. Returns 0 or -1 (err). */
static int apply_flags(struct config *cfg, const struct flag_value *vals, size_t n,
                       struct strbuf *err)
{
    for (size_t i = 0; i < n; i++) {
        struct strbuf origin = STRBUF_INIT;
        strbuf_printf(&origin, "flag -%s", vals[i].s->flag);
        int rc = apply_or_explain(cfg, vals[i].s, vals[i].value, origin.data, err);
        strbuf_free(&origin);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Defaults, then the file, the environment and the flags, each overriding the one before. */
static enum config_rc apply_all(struct config *cfg, int argc, char **argv, char **envp,
                                struct strbuf *err)
{
    struct flag_value *vals = xcalloc((size_t)argc + 1, sizeof(*vals));
    size_t n_vals;
    const char *config_path = NULL;
    enum config_rc rc = parse_argv(argc, argv, vals, &n_vals, &config_path, &cfg->test_only, err);

    for (size_t i = 0; rc == CONFIG_OK && i < ARRAY_SIZE(settings); i++) {
        if (apply_or_explain(cfg, &settings[i], settings[i].def, "the default", err) < 0)
            rc = CONFIG_ERROR;
    }
    if (rc == CONFIG_OK && config_path != NULL) {
        cfg->config_file = xstrdup(config_path);
        if (load_file(cfg, config_path, err) < 0)
            rc = CONFIG_ERROR;
    }
    if (rc == CONFIG_OK &&
        (apply_env(cfg, envp, err) < 0 || apply_flags(cfg, vals, n_vals, err) < 0))
        rc = CONFIG_ERROR;
    free(vals);
    return rc;
}

/* What one setting alone cannot tell. Returns 0 or -1 (err). */
static int check_values(const struct config *cfg, struct strbuf *err)
{
    if (strcmp(cfg->listen_addr, "") == 0) {
        strbuf_append_str(err, "invalid value \"\" for listen: must be an IPv4 address");
        return -1;
    }
    if (strcmp(cfg->kernel_transport, "auto") != 0 && strcmp(cfg->kernel_transport, "ipc") != 0 &&
        strcmp(cfg->kernel_transport, "tcp") != 0) {
        strbuf_printf(err, "invalid value \"%s\" for kernel-transport: must be auto, ipc or tcp",
                      cfg->kernel_transport);
        return -1;
    }
    struct strbuf why = STRBUF_INIT;
    int warm = config_parse_pool(cfg->kernel_pool, NULL, &why);
    if (warm < 0)
        strbuf_printf(err, "invalid value \"%s\" for kernel-pool: %s", cfg->kernel_pool, why.data);
    strbuf_free(&why);
    if (warm < 0)
        return -1;
    /* Warm kernels count against -max-kernels: a pool that fills it leaves no context. */
    if (cfg->max_kernels > 0 && warm >= cfg->max_kernels) {
        strbuf_printf(err,
                      "kernel-pool \"%s\" keeps %d warm kernels: max-kernels %d leaves no room "
                      "for a code context",
                      cfg->kernel_pool, warm, cfg->max_kernels);
        return -1;
    }
    return 0;
}

enum config_rc config_load(struct config *cfg, int argc, char **argv, char **envp,
                           struct strbuf *err)
{
    memset(cfg, 0, sizeof(*cfg));
    strbuf_init(&cfg->warnings);
    enum config_rc rc = apply_all(cfg, argc, argv, envp, err);
    if (rc != CONFIG_OK)
        return rc;
    if (check_values(cfg, err) < 0 || load_token_file(cfg, err) < 0)
        return CONFIG_ERROR;
    default_runtime_dir(cfg, envp);
    note_ignored(cfg);
    note_insecure(cfg);
    return CONFIG_OK;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        if (settings[i].kind == K_STRING) {
            char **p = field(cfg, &settings[i]);
            free(*p);
            *p = NULL;
        }
    }
    free(cfg->config_file);
    cfg->config_file = NULL;
    strbuf_free(&cfg->warnings);
}

int config_worker_count(const struct config *cfg)
{
    if (cfg->workers > 0)
        return cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 2 : (int)n;
}

void config_usage(struct strbuf *out, const char *prog)
{
    strbuf_printf(out,
                  "Usage of %s:\n  (-t: test the configuration, exit 0 or 2; -v: print the "
                  "version)\n  -c FILE\n    \tini config file (see conf/execd.conf)\n",
                  prog);
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        const struct setting *s = &settings[i];
        strbuf_printf(out, "  -%s value\n    \t%s (default \"%s\"", s->flag, s->help, s->def);
        if (s->env != NULL)
            strbuf_printf(out, ", env %s", s->env);
        strbuf_printf(out, ", ini [%s] %s)\n", s->section, s->key);
    }
}

/* A duration in the syntax it is written in: the largest unit that divides it. */
static void describe_duration(int64_t ms, struct strbuf *out)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            strbuf_printf(out, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    strbuf_printf(out, "%lldms", (long long)ms);
}

static void describe_size(uint64_t bytes, struct strbuf *out)
{
    static const char suffixes[] = "TGMK";
    for (int i = 0; i < 4; i++) {
        uint64_t unit = (uint64_t)1 << (10 * (4 - i));
        if (bytes != 0 && bytes % unit == 0) {
            strbuf_printf(out, "%llu%c", (unsigned long long)(bytes / unit), suffixes[i]);
            return;
        }
    }
    strbuf_printf(out, "%llu", (unsigned long long)bytes);
}

/* Secrets are shown as set or not, never their value. */
static bool is_secret(const struct setting *s)
{
    return s->offset == OFF(access_token) || s->offset == OFF(jupyter_token);
}

static void describe_value(const struct config *cfg, const struct setting *s, struct strbuf *out)
{
    const void *f = (const char *)cfg + s->offset;
    switch (s->kind) {
    case K_STRING: {
        const char *v = *(char *const *)f;
        if (is_secret(s) && v[0] != '\0')
            strbuf_append_str(out, "***");
        else if (v[0] == '\0' || strchr(v, ' ') != NULL)
            strbuf_printf(out, "\"%s\"", v);
        else
            strbuf_append_str(out, v);
        break;
    }
    case K_INT:
        strbuf_printf(out, "%d", *(const int *)f);
        break;
    case K_DURATION:
    case K_POLL:
        describe_duration(*(const int64_t *)f, out);
        break;
    case K_SIZE:
        describe_size(*(const uint64_t *)f, out);
        break;
    case K_LOG_FORMAT:
        strbuf_append_str(out, *(const enum log_format *)f == LOG_FORMAT_JSON ? "json" : "text");
        break;
    }
}

void config_describe(const struct config *cfg, struct strbuf *out)
{
    if (cfg->config_file != NULL)
        strbuf_printf(out, "-c %s", cfg->config_file);
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        if (out->len > 0)
            strbuf_append_char(out, ' ');
        strbuf_printf(out, "-%s=", settings[i].flag);
        describe_value(cfg, &settings[i], out);
    }
}
