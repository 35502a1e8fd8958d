#include "jupyter/kernel_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void kernel_run_init(struct kernel_run *r)
{
    memset(r, 0, sizeof(*r));
}

void kernel_run_clear(struct kernel_run *r)
{
    json_object_put(r->reply);
    strbuf_free(&r->err_text);
    kernel_run_init(r);
}

void kernel_run_start(struct kernel_run *r, const char *msg_id, int64_t now_ms,
                      const struct kernel_exec_cbs *cbs, void *arg)
{
    kernel_run_clear(r);
    r->active = true;
    snprintf(r->msg_id, sizeof(r->msg_id), "%s", msg_id);
    r->sent_ms = now_ms;
    r->cbs = cbs;
    r->arg = arg;
}

void kernel_run_forget(struct kernel_run *r)
{
    r->cbs = NULL;
    r->arg = NULL;
}

static const char *str_of(json_object *obj, const char *key)
{
    json_object *v;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static json_object *member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

/* Calls on_error with content's ename, evalue and traceback. */
static void emit_error(struct kernel_run *r, json_object *content)
{
    if (r->cbs == NULL || r->cbs->on_error == NULL)
        return;
    const char *ename = str_of(content, "ename");
    const char *evalue = str_of(content, "evalue");
    json_object *tbj = member(content, "traceback");
    const char **tb = NULL;
    size_t ntb = 0;
    if (tbj != NULL && json_object_is_type(tbj, json_type_array)) {
        ntb = json_object_array_length(tbj);
        tb = xcalloc(ntb > 0 ? ntb : 1, sizeof(*tb));
        for (size_t i = 0; i < ntb; i++) {
            /* Non-string lines are rendered as JSON text rather than dropped. */
            const char *s = json_object_get_string(json_object_array_get_idx(tbj, i));
            tb[i] = s != NULL ? s : "";
        }
    }
    r->cbs->on_error(r->arg, ename != NULL ? ename : "", evalue != NULL ? evalue : "", tb, ntb);
    free(tb);
}

/*
 * The reply says error and no iopub error came: the error as the reply names it, else as
 * the kernel printed it on stderr (tslab reports type and runtime errors only there).
 */
static void emit_reply_error(struct kernel_run *r)
{
    const char *ename = str_of(r->reply, "ename"), *evalue = str_of(r->reply, "evalue");
    if ((ename != NULL && ename[0] != '\0') || (evalue != NULL && evalue[0] != '\0') ||
        r->err_text.len == 0) {
        emit_error(r, r->reply);
        return;
    }
    size_t len = r->err_text.len;
    while (len > 0 && strchr(" \t\r\n", r->err_text.data[len - 1]) != NULL)
        len--;
    json_object *synth = xjson_object(), *tb = xjson_array();
    json_object_object_add(synth, "ename", xjson_string("Error"));
    json_object_object_add(synth, "evalue", xjson_string_len(r->err_text.data, len));
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(r->err_text.data + at, '\n', len - at);
        size_t end = nl != NULL ? (size_t)(nl - r->err_text.data) : len;
        json_object_array_add(tb, xjson_string_len(r->err_text.data + at, end - at));
        at = end + 1;
    }
    json_object_object_add(synth, "traceback", tb);
    emit_error(r, synth);
    json_object_put(synth);
}

static void maybe_complete(struct kernel_run *r)
{
    if (!r->idle || !r->replied)
        return;
    /* An error only the reply knows about must not be hidden. The iopub error,
     * if any, precedes idle on the same socket, so by now we know. */
    const char *status = str_of(r->reply, "status");
    if (!r->saw_error && status != NULL && strcmp(status, "error") == 0) {
        r->saw_error = true;
        emit_reply_error(r);
    } else if (!r->saw_error && status != NULL && strncmp(status, "abort", 5) == 0) {
        if (r->resends < KERNEL_RUN_MAX_RESENDS) {
            r->resend = true;
            return;
        }
        r->saw_error = true;
        json_object *synth = xjson_object();
        json_object_object_add(synth, "ename", xjson_string(KERNEL_RUN_ENAME_ABORTED));
        json_object_object_add(synth, "evalue",
                               xjson_string("the kernel aborted this execution without running "
                                            "it, every time it was sent (it follows a failed "
                                            "one); run it again"));
        emit_error(r, synth);
        json_object_put(synth);
    }
    const struct kernel_exec_cbs *cbs = r->cbs;
    void *arg = r->arg;
    int64_t count = r->count, elapsed = r->elapsed_ms;
    kernel_run_clear(r);
    if (cbs != NULL && cbs->on_done != NULL)
        cbs->on_done(arg, count, elapsed);
}

static void keep_stderr(struct kernel_run *r, const char *text, size_t len)
{
    if (len >= KERNEL_RUN_STDERR_KEEP) {
        text += len - KERNEL_RUN_STDERR_KEEP;
        len = KERNEL_RUN_STDERR_KEEP;
    }
    if (r->err_text.len + len > KERNEL_RUN_STDERR_KEEP)
        strbuf_consume(&r->err_text, r->err_text.len + len - KERNEL_RUN_STDERR_KEEP);
    strbuf_append(&r->err_text, text, len);
}

static void on_iopub(struct kernel_run *r, const struct jmsg *m, int64_t now_ms)
{
    const char *t = m->msg_type;
    const struct kernel_exec_cbs *cbs = r->cbs;

    if (strcmp(t, "status") == 0) {
        const char *state = jmsg_str(m, "execution_state");
        if (state != NULL && strcmp(state, "idle") == 0 && !r->idle) {
            r->idle = true;
            r->elapsed_ms = now_ms - r->sent_ms;
            maybe_complete(r);
        }
    } else if (strcmp(t, "stream") == 0) {
        const char *name = jmsg_str(m, "name");
        json_object *text = member(m->content, "text");
        if (name != NULL && strcmp(name, "stderr") == 0 && text != NULL &&
            json_object_is_type(text, json_type_string))
            keep_stderr(r, json_object_get_string(text), (size_t)json_object_get_string_len(text));
        if (cbs != NULL && cbs->on_stream != NULL && name != NULL && text != NULL &&
            json_object_is_type(text, json_type_string))
            cbs->on_stream(r->arg, name, json_object_get_string(text),
                           (size_t)json_object_get_string_len(text));
    } else if (strcmp(t, "execute_result") == 0) {
        int64_t count = jmsg_int(m, "execution_count", 0);
        if (count > 0)
            r->count = count;
        if (cbs != NULL && cbs->on_result != NULL)
            cbs->on_result(r->arg, count, member(m->content, "data"));
    } else if (strcmp(t, "display_data") == 0 || strcmp(t, "update_display_data") == 0) {
        if (cbs != NULL && cbs->on_display != NULL)
            cbs->on_display(r->arg, member(m->content, "data"), t[0] == 'u');
    } else if (strcmp(t, "error") == 0) {
        r->saw_error = true;
        emit_error(r, m->content);
    }
    /* execute_input, busy, clear_output, comm messages: nothing to report. */
}

void kernel_run_feed(struct kernel_run *r, enum kernel_chan ch, const struct jmsg *m,
                     int64_t now_ms)
{
    if (!r->active || strcmp(m->parent_id, r->msg_id) != 0)
        return;
    if (ch == KERNEL_CHAN_IOPUB) {
        on_iopub(r, m, now_ms);
    } else if (ch == KERNEL_CHAN_SHELL && strcmp(m->msg_type, "execute_reply") == 0 &&
               !r->replied) {
        r->replied = true;
        int64_t count = jmsg_int(m, "execution_count", 0);
        if (count > 0)
            r->count = count;
        r->reply = json_object_get(m->content);
        maybe_complete(r);
    }
}

bool kernel_run_resend_due(const struct kernel_run *r)
{
    return r->active && r->resend;
}

void kernel_run_resent(struct kernel_run *r, const char *msg_id)
{
    snprintf(r->msg_id, sizeof(r->msg_id), "%s", msg_id);
    json_object_put(r->reply);
    r->reply = NULL;
    r->idle = r->replied = r->resend = false;
    r->resends++;
}

bool kernel_run_half_done(const struct kernel_run *r)
{
    return r->active && r->idle != r->replied;
}

void kernel_run_force_done(struct kernel_run *r, int64_t now_ms)
{
    if (!kernel_run_half_done(r))
        return;
    if (!r->idle) {
        r->idle = true;
        r->elapsed_ms = now_ms - r->sent_ms;
    }
    r->replied = true;
    maybe_complete(r);
}

void kernel_run_fail(struct kernel_run *r, const char *ename, const char *evalue)
{
    if (!r->active)
        return;
    const struct kernel_exec_cbs *cbs = r->cbs;
    void *arg = r->arg;
    kernel_run_clear(r);
    if (cbs != NULL && cbs->on_fail != NULL)
        cbs->on_fail(arg, ename, evalue);
}
