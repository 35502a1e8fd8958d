/* Kernelspec discovery, selection by language and command-line templating. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jupyter/kspec.h"

static char root[64];

static void put(const char *rel, const char *text)
{
    char path[512], dir[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    /* mkdir -p of the parent */
    for (char *p = dir + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define IPY_ARGV "[\"python3\",\"-m\",\"ipykernel_launcher\",\"-f\",\"{connection_file}\"]"

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/test_kspec.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    put("d1/python3/kernel.json",
        "{\"argv\":" IPY_ARGV ",\"display_name\":\"Python 3\",\"language\":\"python\"}");
    /* Upper-case directory name: the spec is called "python" */
    put("d1/Python/kernel.json",
        "{\"argv\":" IPY_ARGV ",\"display_name\":\"Selected\",\"language\":\"python\"}");
    /* hidden by d1/Python */
    put("d2/python/kernel.json",
        "{\"argv\":[\"/bin/false\"],\"display_name\":\"Hidden\",\"language\":\"python\"}");
    put("d2/zeta-py/kernel.json",
        "{\"argv\":[\"python\",\"-m\",\"ipykernel\",\"-f\",\"{connection_file}\","
        "\"--InteractiveShell.colors=Linux\"],\"language\":\"python\"}");
    put("d2/bash/kernel.json",
        "{\"argv\":[\"mybash\",\"--conn={connection_file}\",\"{resource_dir}/x\",\"{other}\"],"
        "\"display_name\":\"Bash\",\"language\":\"bash\",\"interrupt_mode\":\"message\","
        "\"env\":{\"A\":\"1\",\"B\":\"two words\"}}");
    put("d2/broken/kernel.json", "{\"argv\": [");
    put("d2/noargv/kernel.json", "{\"language\":\"python\"}");
    put("d2/badmode/kernel.json",
        "{\"argv\":[\"x\"],\"language\":\"python\",\"interrupt_mode\":\"smoke\"}");
    put("d2/empty-dir/README", "not a kernel");
    put("d3/python3/kernel.json", "{\"argv\":" IPY_ARGV ",\"language\":\"python\"}");
    put("d3/ir/kernel.json", "{\"argv\":[\"R\"],\"language\":\"R\"}");
    put("d4/tslab/kernel.json",
        "{\"argv\":[\"tslab\",\"kernel\",\"--config-path\",\"{connection_file}\"],"
        "\"language\":\"typescript\"}");
    put("d4/ipc-ts/kernel.json", "{\"argv\":[\"x\"],\"language\":\"typescript\","
                                 "\"metadata\":{\"execd\":{\"transport\":\"ipc\"}}}");
    put("d4/tcp-py/kernel.json",
        "{\"argv\":" IPY_ARGV ",\"language\":\"python\","
        "\"metadata\":{\"debugger\":true,\"execd\":{\"transport\":\"tcp\"}}}");
    put("d4/bad-transport/kernel.json",
        "{\"argv\":[\"x\"],\"metadata\":{\"execd\":{\"transport\":\"udp\"}}}");
    put("bin/mybash", "#!/bin/sh\n");
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/bin/mybash", root);
    chmod(exe, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void discover(struct kspec_list *list, const char *a, const char *b)
{
    char d1[256], d2[256];
    snprintf(d1, sizeof(d1), "%s/%s", root, a);
    snprintf(d2, sizeof(d2), "%s/%s", root, b != NULL ? b : "nonexistent");
    char *dirs[] = {d1, d2, NULL};
    kspec_discover(dirs, list);
}

static void test_discovery(void **state)
{
    (void)state;
    struct kspec_list list;
    discover(&list, "d1", "d2");
    /* broken, noargv and badmode are skipped; sorted by name */
    const char *want[] = {"bash", "python", "python3", "zeta-py"};
    assert_int_equal(list.len, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(list.items[i]->name, want[i]);
    /* the earlier directory wins a name clash (Python vs python) */
    const struct kspec *py = list.items[1];
    assert_string_equal(py->display_name, "Selected");
    assert_non_null(strstr(py->resource_dir, "/d1/Python"));
    assert_int_equal(py->argc, 5);
    assert_string_equal(py->argv[2], "ipykernel_launcher");
    assert_null(py->argv[5]);
    /* display_name defaults to the name */
    assert_string_equal(list.items[3]->display_name, "zeta-py");
    kspec_list_free(&list);
}

static void test_env_and_interrupt_mode(void **state)
{
    (void)state;
    struct kspec_list list;
    discover(&list, "d1", "d2");
    const struct kspec *bash = kspec_select(&list, "bash");
    assert_non_null(bash);
    assert_string_equal(bash->name, "bash");
    assert_int_equal(bash->interrupt_mode, KSPEC_INTERRUPT_MESSAGE);
    assert_int_equal(bash->env.len, 2);
    assert_string_equal(envmap_get(&bash->env, "A"), "1");
    assert_string_equal(envmap_get(&bash->env, "B"), "two words");
    const struct kspec *py = kspec_select(&list, "python");
    assert_int_equal(py->interrupt_mode, KSPEC_INTERRUPT_SIGNAL);
    assert_int_equal(py->env.len, 0);
    kspec_list_free(&list);

    struct strbuf err = STRBUF_INIT;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/d2/badmode", root);
    assert_null(kspec_load(dir, "badmode", &err));
    assert_non_null(strstr(err.data, "interrupt_mode"));
    strbuf_reset(&err);
    snprintf(dir, sizeof(dir), "%s/d2/noargv", root);
    assert_null(kspec_load(dir, "noargv", &err));
    assert_non_null(strstr(err.data, "argv"));
    strbuf_reset(&err);
    snprintf(dir, sizeof(dir), "%s/d2/broken", root);
    assert_null(kspec_load(dir, "broken", &err));
    assert_non_null(strstr(err.data, "invalid JSON"));
    strbuf_free(&err);
}

static void test_selection(void **state)
{
    (void)state;
    struct kspec_list list;

    /* python3 is skipped when another python spec exists; lexical order decides */
    discover(&list, "d1", "d2");
    const struct kspec *s = kspec_select(&list, "python");
    assert_non_null(s);
    assert_string_equal(s->name, "python");
    /* deterministic: the same answer every time */
    assert_ptr_equal(kspec_select(&list, "python"), s);
    /* exact language match only */
    assert_null(kspec_select(&list, "Python"));
    assert_null(kspec_select(&list, "cobol"));
    assert_null(kspec_select(&list, ""));
    assert_null(kspec_select(&list, NULL));
    kspec_list_free(&list);

    /* without d1, d2's own "python" (another spec) wins lexically over zeta-py */
    discover(&list, "d2", NULL);
    s = kspec_select(&list, "python");
    assert_string_equal(s->name, "python");
    assert_string_equal(s->display_name, "Hidden");
    kspec_list_free(&list);

    /* python3 alone is the fallback */
    discover(&list, "d3", NULL);
    s = kspec_select(&list, "python");
    assert_non_null(s);
    assert_string_equal(s->name, "python3");
    assert_string_equal(kspec_select(&list, "R")->name, "ir");
    /* take hands the spec over and shrinks the list */
    struct kspec *taken = kspec_take(&list, s);
    assert_ptr_equal(taken, s);
    assert_int_equal(list.len, 1);
    assert_null(kspec_select(&list, "python"));
    assert_null(kspec_take(&list, NULL));
    kspec_free(taken);
    kspec_list_free(&list);
}

static void test_transport(void **state)
{
    (void)state;
    struct kspec_list list;
    discover(&list, "d4", "d1");
    /* bad-transport is skipped; the other metadata is read */
    const struct kspec *ts = NULL, *ipc_ts = NULL, *tcp_py = NULL, *py = NULL;
    for (size_t i = 0; i < list.len; i++) {
        const struct kspec *k = list.items[i];
        assert_string_not_equal(k->name, "bad-transport");
        if (strcmp(k->name, "tslab") == 0)
            ts = k;
        else if (strcmp(k->name, "ipc-ts") == 0)
            ipc_ts = k;
        else if (strcmp(k->name, "tcp-py") == 0)
            tcp_py = k;
        else if (strcmp(k->name, "python") == 0)
            py = k;
    }
    assert_non_null(ts);
    assert_non_null(ipc_ts);
    assert_non_null(tcp_py);
    assert_non_null(py);
    assert_int_equal(ts->transport, KSPEC_TRANSPORT_AUTO);
    assert_int_equal(ipc_ts->transport, KSPEC_TRANSPORT_IPC);
    assert_int_equal(tcp_py->transport, KSPEC_TRANSPORT_TCP);

    /* auto: ipc for ipykernel only */
    assert_int_equal(kspec_pick_transport(py, KSPEC_TRANSPORT_AUTO), KSPEC_TRANSPORT_IPC);
    assert_int_equal(kspec_pick_transport(ts, KSPEC_TRANSPORT_AUTO), KSPEC_TRANSPORT_TCP);
    /* the setting forces one for specs that do not say */
    assert_int_equal(kspec_pick_transport(py, KSPEC_TRANSPORT_TCP), KSPEC_TRANSPORT_TCP);
    assert_int_equal(kspec_pick_transport(ts, KSPEC_TRANSPORT_IPC), KSPEC_TRANSPORT_IPC);
    /* the spec's metadata wins over the setting */
    assert_int_equal(kspec_pick_transport(tcp_py, KSPEC_TRANSPORT_IPC), KSPEC_TRANSPORT_TCP);
    assert_int_equal(kspec_pick_transport(ipc_ts, KSPEC_TRANSPORT_TCP), KSPEC_TRANSPORT_IPC);

    /* several specs of one language: the lexically smallest name */
    assert_string_equal(kspec_select(&list, "typescript")->name, "ipc-ts");
    kspec_list_free(&list);

    enum kspec_transport t = KSPEC_TRANSPORT_IPC;
    assert_int_equal(kspec_transport_parse("auto", &t), 0);
    assert_int_equal(t, KSPEC_TRANSPORT_AUTO);
    assert_int_equal(kspec_transport_parse("tcp", &t), 0);
    assert_int_equal(t, KSPEC_TRANSPORT_TCP);
    assert_int_equal(kspec_transport_parse("TCP", &t), -1);
    assert_int_equal(kspec_transport_parse("", &t), -1);
    assert_string_equal(kspec_transport_name(KSPEC_TRANSPORT_IPC), "ipc");
}

static void test_argv_templating(void **state)
{
    (void)state;
    struct kspec_list list;
    struct strbuf err = STRBUF_INIT;
    discover(&list, "d1", "d2");

    const struct kspec *py = kspec_select(&list, "python");
    char **argv = kspec_argv(py, "/run/k/connection.json", NULL, true, &err);
    assert_non_null(argv);
    const char *want[] = {"/usr/bin/python3",       "-m",
                          "ipykernel_launcher",     "-f",
                          "/run/k/connection.json", "--InteractiveShell.colors=NoColor"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[6]);
    kspec_strv_free(argv);

    /* colours kept on request */
    argv = kspec_argv(py, "/c.json", NULL, false, &err);
    assert_null(argv[5]);
    kspec_strv_free(argv);

    /* a spec that chooses colours itself is left alone; "python" maps to Debian's */
    const struct kspec *zeta = NULL;
    for (size_t i = 0; i < list.len; i++)
        if (strcmp(list.items[i]->name, "zeta-py") == 0)
            zeta = list.items[i];
    assert_true(kspec_is_ipykernel(zeta));
    argv = kspec_argv(zeta, "/c.json", NULL, true, &err);
    assert_string_equal(argv[0], "/usr/bin/python3");
    assert_string_equal(argv[5], "--InteractiveShell.colors=Linux");
    assert_null(argv[6]);
    kspec_strv_free(argv);

    /* not ipykernel: no NoColor; bare names found on the given PATH; other {names} kept */
    const struct kspec *bash = kspec_select(&list, "bash");
    assert_false(kspec_is_ipykernel(bash));
    char path[512];
    snprintf(path, sizeof(path), "/nonexistent:%s/bin", root);
    argv = kspec_argv(bash, "/c.json", path, true, &err);
    assert_non_null(argv);
    char exe[512], res[512];
    snprintf(exe, sizeof(exe), "%s/bin/mybash", root);
    snprintf(res, sizeof(res), "%s/d2/bash/x", root);
    assert_string_equal(argv[0], exe);
    assert_string_equal(argv[1], "--conn=/c.json");
    assert_string_equal(argv[2], res);
    assert_string_equal(argv[3], "{other}");
    assert_null(argv[4]);
    kspec_strv_free(argv);

    /* not found on PATH: an error, not a relative exec */
    argv = kspec_argv(bash, "/c.json", "/nonexistent", true, &err);
    assert_null(argv);
    assert_non_null(strstr(err.data, "mybash"));
    strbuf_free(&err);
    kspec_list_free(&list);
}

static void test_default_dirs_and_find(void **state)
{
    (void)state;
    char jp[512], data[256];
    snprintf(jp, sizeof(jp), "%s/j1::%s/j2", root, root);
    snprintf(data, sizeof(data), "%s/data", root);
    setenv("JUPYTER_PATH", jp, 1);
    setenv("JUPYTER_DATA_DIR", data, 1);
    char **dirs = kspec_default_dirs();
    char want0[256], want1[256], want2[256];
    snprintf(want0, sizeof(want0), "%s/j1/kernels", root);
    snprintf(want1, sizeof(want1), "%s/j2/kernels", root);
    snprintf(want2, sizeof(want2), "%s/data/kernels", root);
    assert_string_equal(dirs[0], want0);
    assert_string_equal(dirs[1], want1);
    assert_string_equal(dirs[2], want2);
    assert_string_equal(dirs[3], "/usr/local/share/jupyter/kernels");
    assert_string_equal(dirs[4], "/usr/share/jupyter/kernels");
    assert_null(dirs[5]);
    kspec_strv_free(dirs);

    unsetenv("JUPYTER_PATH");
    unsetenv("JUPYTER_DATA_DIR");
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", "/home/someone", 1);
    dirs = kspec_default_dirs();
    assert_string_equal(dirs[0], "/home/someone/.local/share/jupyter/kernels");
    kspec_strv_free(dirs);

    /* kspec_find over JUPYTER_PATH: our "python" wins over any system python3 */
    put("j1/kernels/python/kernel.json", "{\"argv\":" IPY_ARGV ",\"language\":\"python\"}");
    setenv("JUPYTER_PATH", jp, 1);
    struct strbuf err = STRBUF_INIT;
    struct kspec *s = kspec_find("python", &err);
    assert_non_null(s);
    assert_string_equal(s->name, "python");
    assert_non_null(strstr(s->resource_dir, "/j1/kernels/python"));
    kspec_free(s);
    assert_null(kspec_find("no-such-language", &err));
    assert_non_null(strstr(err.data, "no kernel specs found"));
    strbuf_free(&err);
    unsetenv("JUPYTER_PATH");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery),       cmocka_unit_test(test_env_and_interrupt_mode),
        cmocka_unit_test(test_selection),       cmocka_unit_test(test_transport),
        cmocka_unit_test(test_argv_templating), cmocka_unit_test(test_default_dirs_and_find),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
