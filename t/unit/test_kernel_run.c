/*
 * The execution state machine (routing by parent msg_id, the completion rule)
 * and the rendering of MIME bundles into `results`, without a kernel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jupyter/kernel_mime.h"
#include "jupyter/kernel_run.h"
#include "strbuf.h"

/* ---- recording callbacks ------------------------------------------------- */

struct rec {
    struct strbuf log; /* one line per callback */
    int done, fail;
    int64_t count, elapsed;
    struct kernel_run *restart; /* on_done starts a new run on this */
};

static void on_stream(void *arg, const char *name, const char *text, size_t len)
{
    struct rec *r = arg;
    strbuf_printf(&r->log, "stream %s %.*s|", name, (int)len, text);
}

static void on_result(void *arg, int64_t count, json_object *data)
{
    struct rec *r = arg;
    struct strbuf b = STRBUF_INIT;
    kernel_mime_render(data, &b);
    strbuf_printf(&r->log, "result %lld %s|", (long long)count, b.data);
    strbuf_free(&b);
}

static void on_display(void *arg, json_object *data, bool update)
{
    struct rec *r = arg;
    struct strbuf b = STRBUF_INIT;
    kernel_mime_render(data, &b);
    strbuf_printf(&r->log, "%s %s|", update ? "update" : "display", b.data);
    strbuf_free(&b);
}

static void on_error(void *arg, const char *ename, const char *evalue, const char *const *tb,
                     size_t ntb)
{
    struct rec *r = arg;
    strbuf_printf(&r->log, "error %s %s", ename, evalue);
    if (tb == NULL)
        strbuf_append_str(&r->log, " tb=null");
    for (size_t i = 0; i < ntb; i++)
        strbuf_printf(&r->log, " [%s]", tb[i]);
    strbuf_append_str(&r->log, "|");
}

static const struct kernel_exec_cbs cbs;

static void on_done(void *arg, int64_t count, int64_t elapsed)
{
    struct rec *r = arg;
    r->done++;
    r->count = count;
    r->elapsed = elapsed;
    strbuf_printf(&r->log, "done %lld|", (long long)count);
    if (r->restart != NULL) {
        assert_false(r->restart->active);
        kernel_run_start(r->restart, "second", 0, &cbs, r);
    }
}

static void on_fail(void *arg, const char *ename, const char *evalue)
{
    struct rec *r = arg;
    r->fail++;
    strbuf_printf(&r->log, "fail %s %s|", ename, evalue);
}

static const struct kernel_exec_cbs cbs = {on_stream, on_result, on_display,
                                           on_error,  on_done,   on_fail};

/* ---- message helpers ------------------------------------------------------ */

static void feed(struct kernel_run *run, enum kernel_chan ch, const char *type, const char *parent,
                 const char *content, int64_t now)
{
    struct jmsg m;
    memset(&m, 0, sizeof(m));
    char h[256], p[128];
    snprintf(h, sizeof(h), "{\"msg_id\":\"k-%s\",\"msg_type\":\"%s\"}", type, type);
    snprintf(p, sizeof(p), "{\"msg_id\":\"%s\"}", parent);
    m.header = json_tokener_parse(h);
    m.parent = json_tokener_parse(p);
    m.metadata = json_object_new_object();
    m.content = json_tokener_parse(content);
    assert_non_null(m.content);
    m.msg_type = type;
    m.msg_id = "k";
    m.parent_id = parent;
    kernel_run_feed(run, ch, &m, now);
    jmsg_free(&m);
}

#define IDLE "{\"execution_state\":\"idle\"}"
#define BUSY "{\"execution_state\":\"busy\"}"
#define REPLY_OK(n) "{\"status\":\"ok\",\"execution_count\":" #n "}"

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    strbuf_init(&r->log);
    strbuf_append_str(&r->log, "");
}

/* ---- completion rule ----------------------------------------------------- */

static void test_idle_then_reply(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    kernel_run_init(&run);
    kernel_run_start(&run, "req-1", 1000, &cbs, &r);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "req-1", BUSY, 1001);
    feed(&run, KERNEL_CHAN_IOPUB, "execute_input", "req-1", "{\"code\":\"print(42)\"}", 1001);
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "req-1", "{\"name\":\"stdout\",\"text\":\"42\\n\"}",
         1002);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "req-1", IDLE, 1042);
    assert_int_equal(r.done, 0);
    assert_true(run.active);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "req-1", REPLY_OK(7), 1100);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.count, 7);
    assert_int_equal(r.elapsed, 42); /* send -> idle, not send -> reply */
    assert_false(run.active);
    assert_string_equal(r.log.data, "stream stdout 42\n|done 7|");
    /* late duplicates change nothing */
    feed(&run, KERNEL_CHAN_IOPUB, "status", "req-1", IDLE, 1200);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "req-1", REPLY_OK(7), 1200);
    assert_int_equal(r.done, 1);
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

static void test_reply_then_idle(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    kernel_run_init(&run);
    kernel_run_start(&run, "req-2", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "req-2", REPLY_OK(3), 5);
    assert_int_equal(r.done, 0);
    /* a result arriving after the reply is still delivered before done */
    feed(&run, KERNEL_CHAN_IOPUB, "execute_result", "req-2",
         "{\"execution_count\":3,\"data\":{\"text/plain\":\"2\"},\"metadata\":{}}", 6);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "req-2", IDLE, 9);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.elapsed, 9);
    assert_string_equal(r.log.data, "result 3 {\"text\":\"2\"}|done 3|");
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

static void test_other_msg_ids_ignored(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    kernel_run_init(&run);
    /* inactive: everything ignored */
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "x", "{\"name\":\"stdout\",\"text\":\"a\"}", 0);
    kernel_run_start(&run, "mine", 0, &cbs, &r);
    /* kernel_info's idle, another client's outputs, messages without a parent */
    feed(&run, KERNEL_CHAN_IOPUB, "status", "info-1", IDLE, 1);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "other", REPLY_OK(1), 1);
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "other", "{\"name\":\"stdout\",\"text\":\"x\"}", 1);
    feed(&run, KERNEL_CHAN_IOPUB, "error", "other", "{\"ename\":\"E\",\"evalue\":\"v\"}", 1);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "", IDLE, 1);
    /* an execute_reply on iopub or control does not count */
    feed(&run, KERNEL_CHAN_CONTROL, "execute_reply", "mine", REPLY_OK(1), 1);
    feed(&run, KERNEL_CHAN_IOPUB, "execute_reply", "mine", REPLY_OK(1), 1);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "mine", IDLE, 1);
    assert_int_equal(r.done, 0);
    assert_string_equal(r.log.data, "");
    feed(&run, KERNEL_CHAN_IOPUB, "comm_open", "mine", "{}", 2);
    feed(&run, KERNEL_CHAN_IOPUB, "clear_output", "mine", "{\"wait\":false}", 2);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "mine", REPLY_OK(2), 2);
    assert_int_equal(r.done, 1);
    assert_string_equal(r.log.data, "done 2|");
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

static void test_error_outputs(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    kernel_run_init(&run);
    kernel_run_start(&run, "e", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "e", "{\"name\":\"stderr\",\"text\":\"warn\"}", 0);
    feed(&run, KERNEL_CHAN_IOPUB, "error", "e",
         "{\"ename\":\"ZeroDivisionError\",\"evalue\":\"division by zero\","
         "\"traceback\":[\"line 1\",\"line 2\"]}",
         0);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "e", IDLE, 0);
    /* the reply also says error: reported once only */
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "e",
         "{\"status\":\"error\",\"execution_count\":4,\"ename\":\"ZeroDivisionError\","
         "\"evalue\":\"division by zero\",\"traceback\":[]}",
         0);
    assert_string_equal(r.log.data, "stream stderr warn|error ZeroDivisionError division by zero "
                                    "[line 1] [line 2]|done 4|");
    kernel_run_clear(&run);
    strbuf_free(&r.log);

    /* an error only the reply knows about is surfaced before done; missing traceback */
    rec_init(&r);
    kernel_run_start(&run, "e2", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "e2",
         "{\"status\":\"error\",\"execution_count\":5,\"ename\":\"Oops\",\"evalue\":\"bad\"}", 0);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "e2", IDLE, 0);
    assert_string_equal(r.log.data, "error Oops bad tb=null|done 5|");
    kernel_run_clear(&run);
    strbuf_free(&r.log);

    /* tslab: the error is only on stderr, the reply names none: stderr is the error */
    rec_init(&r);
    kernel_run_start(&run, "e3", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "e3",
         "{\"name\":\"stderr\",\"text\":\"1:5 - Type 'string' is not assignable.\\n\"}", 0);
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "e3", "{\"name\":\"stderr\",\"text\":\"two\\n\"}", 0);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "e3",
         "{\"status\":\"error\",\"execution_count\":6}", 0);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "e3", IDLE, 0);
    assert_string_equal(r.log.data, "stream stderr 1:5 - Type 'string' is not assignable.\n|"
                                    "stream stderr two\n|"
                                    "error Error 1:5 - Type 'string' is not assignable.\ntwo "
                                    "[1:5 - Type 'string' is not assignable.] [two]|done 6|");
    kernel_run_clear(&run);
    strbuf_free(&r.log);

    /* only the last KERNEL_RUN_STDERR_KEEP bytes of a long stderr are kept */
    rec_init(&r);
    kernel_run_start(&run, "e4", 0, &cbs, &r);
    struct strbuf big = STRBUF_INIT;
    strbuf_append_str(&big, "{\"name\":\"stderr\",\"text\":\"");
    for (int i = 0; i < KERNEL_RUN_STDERR_KEEP + 10; i++)
        strbuf_append_char(&big, 'a' + i % 26);
    strbuf_append_str(&big, "\"}");
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "e4", big.data, 0);
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "e4", "{\"name\":\"stderr\",\"text\":\"END\"}", 0);
    assert_int_equal(run.err_text.len, KERNEL_RUN_STDERR_KEEP);
    assert_memory_equal(run.err_text.data + KERNEL_RUN_STDERR_KEEP - 3, "END", 3);
    strbuf_free(&big);
    kernel_run_clear(&run);
    strbuf_free(&r.log);

    /* an aborted request (right after a failed cell) is sent again, then reported */
    rec_init(&r);
    kernel_run_start(&run, "a0", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "a0", "{\"status\":\"abort\"}", 0);
    assert_false(kernel_run_resend_due(&run)); /* idle not yet */
    feed(&run, KERNEL_CHAN_IOPUB, "status", "a0", IDLE, 0);
    assert_true(kernel_run_resend_due(&run));
    assert_string_equal(r.log.data, ""); /* nothing reported */
    kernel_run_resent(&run, "a1");
    assert_false(kernel_run_resend_due(&run));
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "a1", "{\"name\":\"stdout\",\"text\":\"ran\"}", 0);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "a1", IDLE, 0);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "a1", REPLY_OK(8), 0);
    assert_string_equal(r.log.data, "stream stdout ran|done 8|");
    kernel_run_clear(&run);
    strbuf_free(&r.log);

    rec_init(&r);
    kernel_run_start(&run, "b0", 0, &cbs, &r);
    char id[8];
    for (int i = 0; i <= KERNEL_RUN_MAX_RESENDS; i++) {
        snprintf(id, sizeof(id), "b%d", i);
        if (i > 0) {
            assert_true(kernel_run_resend_due(&run));
            kernel_run_resent(&run, id);
        }
        feed(&run, KERNEL_CHAN_SHELL, "execute_reply", id, "{\"status\":\"aborted\"}", 0);
        feed(&run, KERNEL_CHAN_IOPUB, "status", id, IDLE, 0);
    }
    assert_false(kernel_run_resend_due(&run));
    assert_false(run.active);
    assert_non_null(strstr(r.log.data, "error " KERNEL_RUN_ENAME_ABORTED " the kernel aborted"));
    assert_non_null(strstr(r.log.data, "|done 0|"));
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

static void test_display_and_update(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    kernel_run_init(&run);
    kernel_run_start(&run, "d", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_IOPUB, "display_data", "d",
         "{\"data\":{\"text/plain\":\"<Figure>\",\"image/png\":\"iVBOR\"},\"metadata\":{}}", 0);
    feed(&run, KERNEL_CHAN_IOPUB, "update_display_data", "d",
         "{\"data\":{\"text/html\":\"<b>x</b>\"},\"transient\":{\"display_id\":\"1\"}}", 0);
    /* a result without a count (0) still reaches the caller */
    feed(&run, KERNEL_CHAN_IOPUB, "execute_result", "d", "{\"data\":{\"text/plain\":\"1\"}}", 0);
    assert_string_equal(r.log.data,
                        "display {\"image/png\":\"iVBOR\",\"text\":\"\\u003cFigure\\u003e\"}|"
                        "update {\"text/html\":\"\\u003cb\\u003ex\\u003c/b\\u003e\"}|"
                        "result 0 {\"text\":\"1\"}|");
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

static void test_fail_and_forget(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    kernel_run_init(&run);
    kernel_run_fail(&run, "X", "inactive: nothing"); /* no-op */
    kernel_run_start(&run, "f", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "f", IDLE, 0);
    kernel_run_fail(&run, "DeadKernelError", "kernel died");
    assert_false(run.active);
    assert_int_equal(r.fail, 1);
    assert_int_equal(r.done, 0);
    /* the reply after the failure is ignored: one terminal callback only */
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "f", REPLY_OK(1), 0);
    assert_string_equal(r.log.data, "fail DeadKernelError kernel died|");
    strbuf_free(&r.log);

    /* forgotten: tracked until completion, but silent */
    rec_init(&r);
    kernel_run_start(&run, "g", 0, &cbs, &r);
    kernel_run_forget(&run);
    feed(&run, KERNEL_CHAN_IOPUB, "stream", "g", "{\"name\":\"stdout\",\"text\":\"a\"}", 0);
    assert_true(run.active);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "g", IDLE, 0);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "g", REPLY_OK(1), 0);
    assert_false(run.active);
    assert_string_equal(r.log.data, "");
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

static void test_restart_from_done(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    r.restart = &run;
    kernel_run_init(&run);
    kernel_run_start(&run, "first", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "first", IDLE, 0);
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "first", REPLY_OK(1), 0);
    assert_true(run.active);
    assert_string_equal(run.msg_id, "second");
    assert_false(run.idle);
    assert_false(run.replied);
    r.restart = NULL;
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "second", REPLY_OK(2), 0);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "second", IDLE, 0);
    assert_int_equal(r.done, 2);
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

static void test_force_done(void **state)
{
    (void)state;
    struct kernel_run run;
    struct rec r;
    rec_init(&r);
    kernel_run_init(&run);
    /* nothing to force on an inactive or fresh run */
    kernel_run_force_done(&run, 0);
    kernel_run_start(&run, "h", 100, &cbs, &r);
    assert_false(kernel_run_half_done(&run));
    kernel_run_force_done(&run, 200);
    assert_true(run.active);
    /* the reply came, the idle was lost: elapsed measured to the forcing time */
    feed(&run, KERNEL_CHAN_SHELL, "execute_reply", "h", REPLY_OK(9), 150);
    assert_true(kernel_run_half_done(&run));
    kernel_run_force_done(&run, 3150);
    assert_false(run.active);
    assert_int_equal(r.count, 9);
    assert_int_equal(r.elapsed, 3050);
    assert_string_equal(r.log.data, "done 9|");
    strbuf_free(&r.log);

    /* the idle came, the reply was lost: count unknown */
    rec_init(&r);
    kernel_run_start(&run, "i", 0, &cbs, &r);
    feed(&run, KERNEL_CHAN_IOPUB, "status", "i", IDLE, 7);
    assert_true(kernel_run_half_done(&run));
    kernel_run_force_done(&run, 5000);
    assert_string_equal(r.log.data, "done 0|");
    assert_int_equal(r.elapsed, 7);
    kernel_run_clear(&run);
    strbuf_free(&r.log);
}

/* ---- MIME rendering -------------------------------------------------------- */

static void render(const char *json, const char *want)
{
    json_object *o = json != NULL ? json_tokener_parse(json) : NULL;
    struct strbuf b = STRBUF_INIT;
    kernel_mime_render(o, &b);
    assert_string_equal(b.data, want);
    strbuf_free(&b);
    json_object_put(o);
}

static void test_mime_rename(void **state)
{
    (void)state;
    render("{\"text/plain\":\"2\"}", "{\"text\":\"2\"}");
    /* other keys verbatim, sorted like Go's map encoding */
    render("{\"text/plain\":\"<Figure size 640x480>\",\"image/png\":\"iVBORw0KGgo=\","
           "\"application/json\":{\"b\":[1,2.50,null,true],\"a\":\"x/y\"}}",
           "{\"application/json\":{\"a\":\"x/y\",\"b\":[1,2.50,null,true]},"
           "\"image/png\":\"iVBORw0KGgo=\",\"text\":\"\\u003cFigure size 640x480\\u003e\"}");
    /* without text/plain nothing is renamed */
    render("{\"text/html\":\"<p>&amp;</p>\"}",
           "{\"text/html\":\"\\u003cp\\u003e\\u0026amp;\\u003c/p\\u003e\"}");
    /* text/plain wins over a literal "text" key */
    render("{\"text\":\"literal\",\"text/plain\":\"plain\"}", "{\"text\":\"plain\"}");
    render("{\"text\":\"only\"}", "{\"text\":\"only\"}");
    /* control characters and unicode as Go writes them */
    render("{\"text/plain\":\"a\\nb\\u0001\\u2028\\u00e9\"}",
           "{\"text\":\"a\\nb\\u0001\\u2028\xc3\xa9\"}");
    render("{}", "{}");
    render(NULL, "{}");
    render("[1]", "{}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_then_reply),
        cmocka_unit_test(test_reply_then_idle),
        cmocka_unit_test(test_other_msg_ids_ignored),
        cmocka_unit_test(test_error_outputs),
        cmocka_unit_test(test_display_and_update),
        cmocka_unit_test(test_fail_and_forget),
        cmocka_unit_test(test_restart_from_done),
        cmocka_unit_test(test_force_done),
        cmocka_unit_test(test_mime_rename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
