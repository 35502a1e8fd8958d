/* Process titles: the arguments move to a copy, the title takes their memory (and the
 * environment's after them), the environment stays readable, the thread name fits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "proctitle.h"

extern char **environ;

static void thread_name(char out[16])
{
    memset(out, 0, 16);
    assert_int_equal(prctl(PR_GET_NAME, out, 0, 0, 0), 0);
}

static void test_title(void **state)
{
    (void)state;
    /* Laid out as the kernel does: argument strings, then environment strings, back to back. */
    static char area[] = "prog\0-a\0bb\0A=1\0B=22"; /* its last NUL ends the area */
    const size_t room = sizeof(area);
    char *argv[] = {area, area + 5, area + 8, NULL};
    static char *env[] = {area + 11, area + 15, NULL};
    char **saved = environ;
    environ = env;

    char **args = proctitle_init(3, argv);
    assert_string_equal(args[0], "prog");
    assert_string_equal(args[1], "-a");
    assert_string_equal(args[2], "bb");
    assert_null(args[3]);
    assert_true(environ[0] < area || environ[0] >= area + room);
    assert_string_equal(getenv("B"), "22");

    proctitle_set("execd: worker 3");
    assert_memory_equal(area, "execd: worker 3\0\0\0\0", room);
    char name[16];
    thread_name(name);
    assert_string_equal(name, "execd: worker 3");
    assert_string_equal(getenv("A"), "1");
    assert_string_equal(args[1], "-a");

    /* Longer than the whole area: cut, always NUL-terminated. */
    proctitle_set("execd: worker 12 and more than the area holds");
    assert_int_equal(area[room - 1], '\0');
    assert_memory_equal(area, "execd: worker 12 an", room - 1);
    thread_name(name);
    assert_string_equal(name, "execd:worker 12");

    proctitle_set("execd: master");
    thread_name(name);
    assert_string_equal(name, "execd: master");
    assert_string_equal(area, "execd: master");
    environ = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_title),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
