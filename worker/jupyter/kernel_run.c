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

static void maybe_complete(struct kernel_run *r)
{
    if (!r->idle || !r->replied)
        return;
    /* An error only the reply knows about must not be hidden. The iopub error,
     * if any, precedes idle on the same socket, so by now we know. */
    const char *status = str_of(r->reply, "status");
    if (!r->saw_error && status != NULL && strcmp(status, "error") == 0) {
        r->saw_error = true;
        emit_error(r, r->reply);
    }
    /* A cell the kernel did not run must not look like one that ran without output. */
    if (!r->saw_error && status != NULL && strcmp(status, "aborted") == 0 && r->cbs != NULL &&
        r->cbs->on_error != NULL) {
        r->saw_error = true;
        r->cbs->on_error(r->arg, KERNEL_ENAME_ABORTED, "the kernel aborted the execution", NULL, 0);
    }
    const struct kernel_exec_cbs *cbs = r->cbs;
    void *arg = r->arg;
    int64_t count = r->count, elapsed = r->elapsed_ms;
    kernel_run_clear(r);
    if (cbs != NULL && cbs->on_done != NULL)
        cbs->on_done(arg, count, elapsed);
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
