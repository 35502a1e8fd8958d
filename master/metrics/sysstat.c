#include "metrics/sysstat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Big enough for /proc/meminfo, memory.stat and the first line of /proc/stat. */
#define FILE_MAX 8192

/* Reads up to size - 1 bytes of path, NUL-terminated. Returns the length, or -1 (errno). */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static int read_cpu_line(const char *proc, struct sysstat *out, struct strbuf *err)
{
    char path[PATH_MAX], buf[FILE_MAX];
    snprintf(path, sizeof(path), "%s/stat", proc);
    if (read_small(path, buf, sizeof(buf)) < 0) {
        strbuf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* user nice system idle iowait irq softirq steal (guest time is inside user) */
    unsigned long long v[8] = {0};
    if (strncmp(buf, "cpu ", 4) != 0 ||
        sscanf(buf + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 4) {
        strbuf_printf(err, "%s: no cpu line", path);
        return -1;
    }
    uint64_t total = 0;
    for (int i = 0; i < 8; i++)
        total += v[i];
    out->cpu_total = total;
    out->cpu_busy = total - v[3] - v[4];
    return 0;
}

/*
 * The number after "key" and sep at the start of a line of text ("MemTotal:  8123 kB",
 * "usage_usec 42"); -1 if there is no such line.
 */
static int64_t field_value(const char *text, const char *key, char sep)
{
    size_t klen = strlen(key);
    for (const char *p = text; *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == sep)
            return strtoll(p + klen + 1, NULL, 10);
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return -1;
}

/* A meminfo value in bytes (0 if absent). */
static uint64_t meminfo_bytes(const char *text, const char *key)
{
    int64_t kib = field_value(text, key, ':');
    return kib > 0 ? (uint64_t)kib * 1024 : 0;
}

static int read_meminfo(const char *proc, uint64_t *total, uint64_t *used, struct strbuf *err)
{
    char path[PATH_MAX], buf[FILE_MAX];
    snprintf(path, sizeof(path), "%s/meminfo", proc);
    if (read_small(path, buf, sizeof(buf)) < 0) {
        strbuf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    *total = meminfo_bytes(buf, "MemTotal");
    if (*total == 0) {
        strbuf_printf(err, "%s: no MemTotal", path);
        return -1;
    }
    /* As the Go daemon (gopsutil): caches and reclaimable slab are not "used". */
    uint64_t avail = meminfo_bytes(buf, "MemFree") + meminfo_bytes(buf, "Buffers") +
                     meminfo_bytes(buf, "Cached") + meminfo_bytes(buf, "SReclaimable");
    *used = avail < *total ? *total - avail : 0;
    return 0;
}

static int affinity_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The daemon's cgroup v2 directory below root into dir; false without cgroup v2. */
static bool own_cgroup(const struct sysstat_src *src, char *dir, size_t size)
{
    char path[PATH_MAX], buf[FILE_MAX];
    snprintf(path, sizeof(path), "%s/self/cgroup", src->proc);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "0::", 3) != 0)
            continue;
        /* "/" is the root itself: no trailing slash, so the walk up ends there. */
        const char *rel = strcmp(line + 3, "/") == 0 ? "" : line + 3;
        return snprintf(dir, size, "%s%s", src->cgroup_root, rel) < (int)size;
    }
    return false;
}

/* A cgroup file's first line, or false when it does not exist. */
static bool cgroup_file(const char *dir, const char *name, char *buf, size_t size)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return false;
    return read_small(path, buf, size) > 0;
}

/* Where the smallest limits are, walking from the daemon's cgroup up to the root. */
struct limits {
    double quota;
    char quota_dir[PATH_MAX];
    uint64_t mem_max;
    char mem_dir[PATH_MAX];
};

static void read_level(const char *dir, struct limits *lim)
{
    char buf[256];
    double q, period;
    if (cgroup_file(dir, "cpu.max", buf, sizeof(buf)) && strncmp(buf, "max", 3) != 0 &&
        sscanf(buf, "%lf %lf", &q, &period) == 2 && q > 0 && period > 0 &&
        (lim->quota == 0 || q / period < lim->quota)) {
        lim->quota = q / period;
        snprintf(lim->quota_dir, sizeof(lim->quota_dir), "%s", dir);
    }
    if (cgroup_file(dir, "memory.max", buf, sizeof(buf)) && strncmp(buf, "max", 3) != 0) {
        uint64_t m = strtoull(buf, NULL, 10);
        if (m > 0 && (lim->mem_max == 0 || m < lim->mem_max)) {
            lim->mem_max = m;
            snprintf(lim->mem_dir, sizeof(lim->mem_dir), "%s", dir);
        }
    }
}

static void read_cgroup(const struct sysstat_src *src, struct sysstat *out)
{
    char dir[PATH_MAX];
    struct limits lim = {.quota = 0};
    if (!own_cgroup(src, dir, sizeof(dir)))
        return;
    size_t root_len = strlen(src->cgroup_root);
    for (;;) {
        read_level(dir, &lim);
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= root_len || slash == NULL || (size_t)(slash - dir) < root_len)
            break;
        *slash = '\0';
    }
    char buf[FILE_MAX];
    if (lim.quota > 0) {
        out->cpu_quota = lim.quota;
        if (cgroup_file(lim.quota_dir, "cpu.stat", buf, sizeof(buf)))
            out->cg_usage_us = field_value(buf, "usage_usec", ' ');
    }
    if (lim.mem_max > 0 && lim.mem_max < out->mem_total &&
        cgroup_file(lim.mem_dir, "memory.current", buf, sizeof(buf))) {
        uint64_t used = strtoull(buf, NULL, 10);
        /* Page cache the kernel can drop at once is not counted, as docker stats does. */
        int64_t inactive = cgroup_file(lim.mem_dir, "memory.stat", buf, sizeof(buf))
                               ? field_value(buf, "inactive_file", ' ')
                               : -1;
        if (inactive > 0)
            used = (uint64_t)inactive < used ? used - (uint64_t)inactive : 0;
        out->mem_total = lim.mem_max;
        out->mem_used = used < lim.mem_max ? used : lim.mem_max;
        out->mem_cgroup = true;
    }
}

int sysstat_read(const struct sysstat_src *src, struct sysstat *out, struct strbuf *err)
{
    memset(out, 0, sizeof(*out));
    out->cg_usage_us = -1;
    if (read_cpu_line(src->proc, out, err) < 0 ||
        read_meminfo(src->proc, &out->mem_total, &out->mem_used, err) < 0)
        return -1;
    out->cpus = affinity_cpus();
    read_cgroup(src, out);
    return 0;
}

int sysstat_cpu_count(const struct sysstat *s)
{
    if (s->cpu_quota <= 0)
        return s->cpus;
    int n = (int)s->cpu_quota;
    if (n < 1)
        n = 1;
    return n < s->cpus ? n : s->cpus;
}
