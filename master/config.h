/*
 * Daemon configuration. Every setting has one entry in the table in config.c
 * naming its Go-style flag, its environment variable, its ini section/key and
 * its default; precedence is flag > environment > config file > default.
 * conf/execd.conf documents the same settings with their defaults.
 */
#ifndef EXECD_CONFIG_H
#define EXECD_CONFIG_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "strbuf.h"

struct config {
    char *listen_addr;
    int port;
    char *access_token; /* from -access-token, or read from access_token_file */
    char *access_token_file;
    int64_t keepalive_ms;     /* idle keep-alive connections are closed after this */
    int64_t write_timeout_ms; /* a client not reading its answer for this long is dropped */
    uint64_t max_body_size;   /* JSON request bodies; uploads are streamed */
    uint64_t max_header_size; /* bytes of a request's header fields */
    int max_headers;          /* number of a request's header fields */
    int max_connections;      /* open client connections; 0: from the descriptor limit */
    int64_t worker_wait_ms;   /* a request finding no ready worker waits this long for one */
    int max_executions;       /* commands and code runs at once; 0: no limit */
    int max_sessions;         /* bash sessions (POST /session) at once; 0: no limit */
    char *cgroup_root;        /* the cgroup v2 filesystem GET /metrics reads */

    int log_level;
    char *log_file;
    enum log_format log_format;

    int workers; /* 0 = number of CPUs, at least 2 */
    char *runtime_dir;
    int64_t grace_ms;        /* -graceful-shutdown-timeout */
    int64_t shutdown_ms;     /* how long SIGTERM waits before SIGKILL */
    char *envs_file;         /* EXECD_ENVS */
    int child_oom_score_adj; /* commands and kernels (never below the daemon's own) */

    int64_t cmd_retention_ms;     /* finished command records/logs older than this go */
    uint64_t cmd_retention_bytes; /* ... or when all logs together exceed this */
    uint64_t max_line;            /* longest stdout/stderr event text */

    int64_t pty_idle_ms; /* a PTY session nobody attached to for this long goes; 0: never */

    int64_t jupyter_poll_ms;
    char *kernel_pool;          /* warm kernels per language: "python:1,bash:1" */
    int max_kernels;            /* code contexts and warm kernels at once; 0: no limit */
    int64_t kernel_startup_ms;  /* a kernel not ready by then is killed */
    int64_t kernelspec_wait_ms; /* a creation waits this long for a kernelspec */
    char *kernel_transport;     /* "auto", "ipc" or "tcp" */
    uint64_t code_output_limit; /* output bytes per execution; 0: no limit */
    char *jupyter_host;         /* accepted for compatibility, unused */
    char *jupyter_token;        /* accepted for compatibility, unused */

    char *sql_host; /* the SQL executor's server: TCP host and port, or a socket */
    int sql_port;
    char *sql_socket;
    char *sql_user;
    char *sql_password_file; /* read at each connection; empty: no password */
    char *sql_database;      /* created if missing; empty: none */
    int64_t sql_timeout_ms;  /* a statement running longer is killed; 0: none */
    int sql_max_rows;        /* rows of a result beyond this are dropped; 0: no limit */
    uint64_t sql_max_bytes;  /* a result's JSON text beyond this is dropped; 0: no limit */

    char *config_file;
    bool test_only;         /* -t: check the configuration, start nothing */
    struct strbuf warnings; /* one line each, logged once logging is up */
};

enum config_rc {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,    /* -h: usage was requested: exit 0 */
    CONFIG_VERSION = 2, /* -v: the version was requested: exit 0 */
    CONFIG_ERROR = -1,  /* message in err: exit 2 */
};

/*
 * Fills cfg from defaults, the ini file named by -c (if any), envp and argv.
 * Nothing is logged or printed; messages go to err.
 */
enum config_rc config_load(struct config *cfg, int argc, char **argv, char **envp,
                           struct strbuf *err);
void config_free(struct config *cfg);
/* Worker count with "auto" resolved. */
int config_worker_count(const struct config *cfg);
/* The usage text (-h). */
void config_usage(struct strbuf *out, const char *prog);
/* Every setting as flag=value (the access token masked), for the startup line. */
void config_describe(const struct config *cfg, struct strbuf *out);

/* Parsers shared with tests: Go durations ("1m30s") and byte sizes ("16M"). */
int config_parse_duration_ms(const char *s, int64_t *out_ms);
int config_parse_size(const char *s, uint64_t *out);
/*
 * The kernel pool setting: comma-separated language:count pairs (spaces
 * allowed, count 0..64, a language once); "" is no pool. Adds each pair to
 * out when out is not NULL. Returns the warm kernels in all, or -1 with the
 * reason in err.
 */
int config_parse_pool(const char *s, json_object *out, struct strbuf *err);

#endif
