#include "metrics/hostmetrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics/cpuwindow.h"
#include "metrics/sysstat.h"
#include "xalloc.h"

static struct {
    char *cgroup_root;
    struct cpuwindow window;
} hm;

static struct sysstat_src source(void)
{
    return (struct sysstat_src){"/proc", hm.cgroup_root};
}

static struct cpu_point point_of(const struct sysstat *s)
{
    return (struct cpu_point){clock_mono_us(), s->cpu_busy, s->cpu_total, s->cg_usage_us};
}

void hostmetrics_configure(const char *cgroup_root)
{
    bool first = hm.cgroup_root == NULL;
    free(hm.cgroup_root);
    hm.cgroup_root = xstrdup(cgroup_root);
    size_t len = strlen(hm.cgroup_root);
    while (len > 1 && hm.cgroup_root[len - 1] == '/')
        hm.cgroup_root[--len] = '\0';
    if (!first)
        return;
    /* The first window starts now: the first request is answered at once too. */
    struct sysstat s;
    struct strbuf err = STRBUF_INIT;
    struct sysstat_src src = source();
    struct cpu_point base;
    if (sysstat_read(&src, &s, &err) == 0) {
        struct cpu_point p = point_of(&s);
        cpuwindow_add(&hm.window, &p, &base);
    } else {
        log_warn("metrics: %s", err.data);
    }
    strbuf_free(&err);
}

/* A figure (never negative) as JSON with two decimals at most and always a fraction. */
static void append_float(struct strbuf *out, double v)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%.2f", v);
    while (n > 0 && buf[n - 1] == '0' && buf[n - 2] != '.')
        n--;
    strbuf_append(out, buf, (size_t)n);
}

int hostmetrics_render(struct strbuf *out, struct strbuf *err)
{
    int64_t now_ms = clock_wall_ms(); /* as the Go daemon: taken before the reading */
    struct sysstat s;
    struct sysstat_src src = source();
    if (sysstat_read(&src, &s, err) < 0)
        return -1;
    struct cpu_point p = point_of(&s), base;
    double pct = cpuwindow_add(&hm.window, &p, &base) ? cpuwindow_pct(&base, &p, s.cpu_quota) : 0;
    strbuf_printf(out, "{\"cpu_count\":%d,\"cpu_used_pct\":", sysstat_cpu_count(&s));
    append_float(out, pct);
    strbuf_append_str(out, ",\"mem_total_mib\":");
    append_float(out, (double)s.mem_total / 1048576.0);
    strbuf_append_str(out, ",\"mem_used_mib\":");
    append_float(out, (double)s.mem_used / 1048576.0);
    strbuf_append_str(out, ",\"timestamp\":");
    strbuf_append_int64(out, now_ms);
    strbuf_append_char(out, '}');
    return 0;
}

void hostmetrics_free(void)
{
    free(hm.cgroup_root);
    hm.cgroup_root = NULL;
}
