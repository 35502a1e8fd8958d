/*
 * The settings the master hands each worker in its first message (`config`). Both sides
 * use this one struct and these two functions, so a key is spelled once: the master fills
 * the struct from its configuration and serializes it, the worker parses it back.
 */
#ifndef EXECD_WSETTINGS_H
#define EXECD_WSETTINGS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "strbuf.h"

struct wsettings {
    char *runtime_dir;
    int log_level;
    char *log_file;
    enum log_format log_format;
    int64_t grace_ms;
    char *envs_file;
    int64_t retention_ms;
    uint64_t retention_bytes;
    uint64_t max_line;
    int64_t jupyter_poll_ms;
    int workers;
    json_object *kernel_pool; /* {language: count}; owned */
    int64_t kernel_startup_ms;
    int64_t kernelspec_wait_ms;
    char *kernel_transport; /* "auto", "ipc" or "tcp" (checked by the master) */
    uint64_t code_output_limit;
    int child_oom_score_adj;
    int64_t pty_idle_ms; /* 0: PTY sessions are never reaped */
    char *sql_host;      /* the SQL executor's server, see master/config.h */
    int sql_port;
    char *sql_socket;
    char *sql_user;
    char *sql_password_file;
    char *sql_database;
    int64_t sql_timeout_ms;
    uint64_t sql_max_rows;
    uint64_t sql_max_bytes;
    bool adopt; /* take over the slot's records and kernels at once */
};

/* Adds every setting to msg (an object). */
void wsettings_to_json(const struct wsettings *s, json_object *msg);
/*
 * Reads every setting from msg into s (whose previous strings are freed). Returns 0, or -1
 * with the first missing or mistyped key named in err; s is then partly filled.
 */
int wsettings_from_json(struct wsettings *s, json_object *msg, struct strbuf *err);
void wsettings_free(struct wsettings *s);

#endif
