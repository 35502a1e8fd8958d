/* GET /metrics' readings: /proc parsing, cgroup v2 limits up the hierarchy, the CPU window. */
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

#include "metrics/cpuwindow.h"
#include "metrics/sysstat.h"

static char dir[64];

static void put(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/execd-sysstat-XXXXXX");
    assert_non_null(mkdtemp(dir));
    put("proc/stat", "cpu  100 20 30 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 0 0 0 0 0\n");
    put("proc/meminfo", "MemTotal:       8000000 kB\nMemFree:        1000000 kB\n"
                        "Buffers:          100000 kB\nCached:          2000000 kB\n"
                        "SReclaimable:     400000 kB\n");
    put("proc/self/cgroup", "0::/a/b\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static struct sysstat read_all(void)
{
    char proc[96], cg[96];
    snprintf(proc, sizeof(proc), "%s/proc", dir);
    snprintf(cg, sizeof(cg), "%s/cg", dir);
    struct sysstat_src src = {proc, cg};
    struct sysstat s;
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(sysstat_read(&src, &s, &err), 0);
    strbuf_free(&err);
    return s;
}

static void test_proc(void **state)
{
    (void)state;
    struct sysstat s = read_all();
    assert_int_equal(s.cpu_total, 1000);
    assert_int_equal(s.cpu_busy, 150); /* idle and iowait are not busy */
    assert_int_equal(s.mem_total, 8000000ULL * 1024);
    assert_int_equal(s.mem_used, 4500000ULL * 1024);
    assert_false(s.mem_cgroup);
    assert_true(s.cpu_quota == 0);
    assert_int_equal(sysstat_cpu_count(&s), s.cpus);
}

static void test_cgroup_walk(void **state)
{
    (void)state;
    put("cg/cpu.max", "400000 100000\n");
    put("cg/a/cpu.max", "max 100000\n");
    put("cg/a/b/cpu.max", "150000 100000\n");
    put("cg/a/b/cpu.stat", "usage_usec 4242\n");
    put("cg/memory.max", "max\n");
    put("cg/a/memory.max", "1073741824\n");
    put("cg/a/memory.current", "536870912\n");
    put("cg/a/memory.stat", "inactive_file 104857600\n");
    put("cg/a/b/memory.max", "2147483648\n");
    struct sysstat s = read_all();
    assert_true(s.cpu_quota > 1.49 && s.cpu_quota < 1.51);
    assert_int_equal(s.cg_usage_us, 4242);
    assert_int_equal(sysstat_cpu_count(&s), 1);
    assert_true(s.mem_cgroup);
    assert_int_equal(s.mem_total, 1073741824ULL); /* the parent's limit is the smaller */
    assert_int_equal(s.mem_used, 536870912ULL - 104857600ULL);

    put("cg/a/b/cpu.max", "50000 100000\n"); /* half a CPU: still one */
    s = read_all();
    assert_int_equal(sysstat_cpu_count(&s), 1);
    put("cg/a/memory.max", "999999999999999\n"); /* above the machine: /proc */
    s = read_all();
    assert_false(s.mem_cgroup);
    assert_int_equal(s.mem_total, 8000000ULL * 1024);
}

static void test_missing_proc(void **state)
{
    (void)state;
    struct sysstat_src src = {"/nonexistent", "/nonexistent"};
    struct sysstat s;
    struct strbuf err = STRBUF_INIT;
    assert_int_equal(sysstat_read(&src, &s, &err), -1);
    assert_non_null(strstr(err.data, "/nonexistent/stat"));
    strbuf_free(&err);
}

static struct cpu_point at(int64_t ms, uint64_t busy, uint64_t total)
{
    return (struct cpu_point){ms * 1000, busy, total, -1};
}

static void test_window(void **state)
{
    (void)state;
    struct cpuwindow w = {0};
    struct cpu_point base, p = at(0, 0, 0);
    assert_false(cpuwindow_add(&w, &p, &base));
    /* Within the first second: compared with the oldest there is. */
    p = at(300, 30, 100);
    assert_true(cpuwindow_add(&w, &p, &base));
    assert_int_equal(base.t_us, 0);
    /* Polled every 300 ms: always the newest reading at least 0.9 s older. */
    for (int64_t t = 600; t <= 3000; t += 300) {
        p = at(t, (uint64_t)t / 10, (uint64_t)t / 3);
        assert_true(cpuwindow_add(&w, &p, &base));
        int64_t window = p.t_us - base.t_us;
        assert_true(t < 900 || (window >= 900000 && window <= 1200000));
    }
    /* Readings closer than the spacing are compared but not kept. */
    p = at(3050, 0, 0);
    cpuwindow_add(&w, &p, &base);
    assert_int_equal(w.pts[w.newest].t_us, 3000 * 1000);
    /* After a quiet minute: the time since the last reading. */
    p = at(63000, 0, 0);
    assert_true(cpuwindow_add(&w, &p, &base));
    assert_int_equal(base.t_us, 3000 * 1000);
}

static void test_pct(void **state)
{
    (void)state;
    struct cpu_point a = at(0, 100, 1000), b = at(1000, 350, 2000);
    assert_true(cpuwindow_pct(&a, &b, 0) == 25.0);
    a.cg_us = 0;
    b.cg_us = 750000; /* 0.75 s of CPU in 1 s of a 1.5 CPU quota */
    assert_true(cpuwindow_pct(&a, &b, 1.5) == 50.0);
    b.cg_us = 5000000;
    assert_true(cpuwindow_pct(&a, &b, 1.5) == 100.0); /* clamped */
    assert_true(cpuwindow_pct(&b, &a, 0) == 0.0);     /* counters never go back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc),         cmocka_unit_test(test_cgroup_walk),
        cmocka_unit_test(test_missing_proc), cmocka_unit_test(test_window),
        cmocka_unit_test(test_pct),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
