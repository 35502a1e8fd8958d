#include "pty/ptyframe.h"

#include <json-c/json.h>
#include <signal.h>
#include <string.h>

#include "common.h"
#include "jsonesc.h"
#include "jsonreq.h"

static void key_string(struct strbuf *out, const char *key, const char *value)
{
    if (value == NULL)
        return;
    strbuf_append_str(out, ",\"");
    strbuf_append_str(out, key);
    strbuf_append_str(out, "\":");
    jsonesc_append(out, value, strlen(value));
}

void ptyframe_render(struct strbuf *out, const struct ptyframe *f)
{
    strbuf_append_str(out, "{\"type\":");
    jsonesc_append(out, f->type, strlen(f->type));
    key_string(out, "session_id", f->session_id);
    key_string(out, "mode", f->mode);
    if (f->has_exit_code) {
        strbuf_append_str(out, ",\"exit_code\":");
        strbuf_append_int64(out, f->exit_code);
    }
    key_string(out, "error", f->error);
    key_string(out, "code", f->code);
    strbuf_append_char(out, '}');
}

/* The signals a client may send to the shell (others are ignored). */
static int signal_named(const char *name)
{
    static const struct {
        const char *name;
        int signo;
    } allowed[] = {
        {"SIGINT", SIGINT},   {"SIGTERM", SIGTERM}, {"SIGKILL", SIGKILL},
        {"SIGQUIT", SIGQUIT}, {"SIGHUP", SIGHUP},
    };
    for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
        if (strcmp(allowed[i].name, name) == 0)
            return allowed[i].signo;
    }
    return 0;
}

/* A terminal size as Go's uint16 field reads it: absent is 0, anything else must fit. */
static bool size_field(json_object *obj, const char *key, int *out)
{
    int64_t v = 0;
    enum jsonreq_rc rc = jsonreq_int64(obj, key, &v);
    if (rc == JSONREQ_BADTYPE || v < 0 || v > 65535)
        return false;
    *out = (int)v;
    return true;
}

static bool string_field(json_object *obj, const char *key, const char **out, size_t *len)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
        return true; /* absent or null: empty */
    if (!json_object_is_type(v, json_type_string))
        return false;
    *out = json_object_get_string(v);
    if (len != NULL)
        *len = (size_t)json_object_get_string_len(v);
    return true;
}

enum ptyframe_kind ptyframe_parse(const char *text, size_t len, struct ptyframe_in *in)
{
    memset(in, 0, sizeof(*in));
    in->type = "";
    in->data = "";
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse(text, len, &err);
    strbuf_free(&err);
    in->json = obj;
    const char *sig = "";
    if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
        !string_field(obj, "type", &in->type, NULL) ||
        !string_field(obj, "data", &in->data, &in->len) ||
        !string_field(obj, "signal", &sig, NULL) || !size_field(obj, "cols", &in->cols) ||
        !size_field(obj, "rows", &in->rows))
        return PTYFRAME_IGNORED;
    if (strcmp(in->type, "stdin") == 0)
        return PTYFRAME_STDIN;
    if (strcmp(in->type, "resize") == 0)
        return PTYFRAME_RESIZE;
    if (strcmp(in->type, "signal") == 0) {
        in->signo = signal_named(sig);
        return PTYFRAME_SIGNAL;
    }
    if (strcmp(in->type, "ping") == 0)
        return PTYFRAME_PING;
    return PTYFRAME_UNKNOWN;
}

void ptyframe_in_free(struct ptyframe_in *in)
{
    json_object_put(in->json);
    in->json = NULL;
}
