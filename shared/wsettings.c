#include <stdlib.h>
#include <string.h>

#include "jsonreq.h"
#include "wsettings.h"
#include "xalloc.h"

/* One row per setting: its key and where it lives in the struct. */
enum kind { K_STR, K_INT, K_I64, K_U64, K_LOGFMT, K_BOOL, K_OBJ };

#define F(field) offsetof(struct wsettings, field)

static const struct {
    const char *key;
    enum kind kind;
    size_t off;
} keys[] = {
    {"runtime_dir", K_STR, F(runtime_dir)},
    {"log_level", K_INT, F(log_level)},
    {"log_file", K_STR, F(log_file)},
    {"log_format", K_LOGFMT, F(log_format)},
    {"grace_ms", K_I64, F(grace_ms)},
    {"envs_file", K_STR, F(envs_file)},
    {"retention_ms", K_I64, F(retention_ms)},
    {"retention_bytes", K_U64, F(retention_bytes)},
    {"max_line", K_U64, F(max_line)},
    {"jupyter_poll_ms", K_I64, F(jupyter_poll_ms)},
    {"workers", K_INT, F(workers)},
    {"kernel_pool", K_OBJ, F(kernel_pool)},
    {"kernel_startup_ms", K_I64, F(kernel_startup_ms)},
    {"kernelspec_wait_ms", K_I64, F(kernelspec_wait_ms)},
    {"kernel_transport", K_STR, F(kernel_transport)},
    {"code_output_limit", K_U64, F(code_output_limit)},
    {"child_oom_score_adj", K_INT, F(child_oom_score_adj)},
    {"pty_idle_ms", K_I64, F(pty_idle_ms)},
    {"sql_host", K_STR, F(sql_host)},
    {"sql_port", K_INT, F(sql_port)},
    {"sql_socket", K_STR, F(sql_socket)},
    {"sql_user", K_STR, F(sql_user)},
    {"sql_password_file", K_STR, F(sql_password_file)},
    {"sql_database", K_STR, F(sql_database)},
    {"sql_timeout_ms", K_I64, F(sql_timeout_ms)},
    {"sql_max_rows", K_U64, F(sql_max_rows)},
    {"sql_max_bytes", K_U64, F(sql_max_bytes)},
    {"adopt", K_BOOL, F(adopt)},
};

void wsettings_to_json(const struct wsettings *s, json_object *msg)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const void *p = (const char *)s + keys[i].off;
        json_object *v = NULL;
        switch (keys[i].kind) {
        case K_STR:
            v = xjson_string(*(char *const *)p ? *(char *const *)p : "");
            break;
        case K_INT:
            v = xjson_int64(*(const int *)p);
            break;
        case K_I64:
            v = xjson_int64(*(const int64_t *)p);
            break;
        case K_U64:
            v = xjson_int64((int64_t) * (const uint64_t *)p);
            break;
        case K_LOGFMT:
            v = xjson_string(*(const enum log_format *)p == LOG_FORMAT_JSON ? "json" : "text");
            break;
        case K_BOOL:
            v = xjson_bool(*(const bool *)p);
            break;
        case K_OBJ:
            v = *(json_object *const *)p ? json_object_get(*(json_object *const *)p)
                                         : xjson_object();
            break;
        }
        json_object_object_add(msg, keys[i].key, v);
    }
}

static int read_key(struct wsettings *s, json_object *msg, size_t i)
{
    const char *str = NULL;
    int64_t n = 0;
    json_object *obj = NULL;
    void *p = (char *)s + keys[i].off;
    switch (keys[i].kind) {
    case K_STR:
        if (jsonreq_string(msg, keys[i].key, &str) != JSONREQ_OK)
            return -1;
        free(*(char **)p);
        *(char **)p = xstrdup(str);
        return 0;
    case K_LOGFMT:
        if (jsonreq_string(msg, keys[i].key, &str) != JSONREQ_OK)
            return -1;
        *(enum log_format *)p = strcmp(str, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
        return 0;
    case K_BOOL:
        return jsonreq_bool(msg, keys[i].key, (bool *)p) == JSONREQ_OK ? 0 : -1;
    case K_OBJ:
        if (jsonreq_object(msg, keys[i].key, &obj) != JSONREQ_OK)
            return -1;
        json_object_put(*(json_object **)p);
        *(json_object **)p = json_object_get(obj);
        return 0;
    default:
        if (jsonreq_int64(msg, keys[i].key, &n) != JSONREQ_OK)
            return -1;
        if (keys[i].kind == K_INT)
            *(int *)p = (int)n;
        else if (keys[i].kind == K_I64)
            *(int64_t *)p = n;
        else
            *(uint64_t *)p = (uint64_t)n;
        return 0;
    }
}

int wsettings_from_json(struct wsettings *s, json_object *msg, struct strbuf *err)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (read_key(s, msg, i) < 0) {
            strbuf_printf(err, "setting '%s' missing or of the wrong type", keys[i].key);
            return -1;
        }
    }
    return 0;
}

void wsettings_free(struct wsettings *s)
{
    free(s->runtime_dir);
    free(s->log_file);
    free(s->envs_file);
    free(s->kernel_transport);
    free(s->sql_host);
    free(s->sql_socket);
    free(s->sql_user);
    free(s->sql_password_file);
    free(s->sql_database);
    json_object_put(s->kernel_pool);
    memset(s, 0, sizeof(*s));
}
