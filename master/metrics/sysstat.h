/*
 * One reading of the machine's figures for GET /metrics: CPU time counters, memory, and
 * the limits of the daemon's cgroup (v2). Everything comes from kernel pseudo-files
 * (/proc and the cgroup filesystem), which the kernel renders from memory: a reading never
 * waits for a disk, so the master's loop may take one (tens of microseconds).
 *
 * cgroup v2: the daemon's cgroup is the "0::" line of <proc>/self/cgroup, found below the
 * cgroup root (the setting -cgroup-root, /sys/fs/cgroup by default; tests and containers
 * point it at a directory of their own). The cgroup and each of its ancestors up to the
 * root are read: the smallest cpu.max quota and memory.max limit win. A limit of "max",
 * a missing file or no cgroup v2 at all leave the /proc figures.
 */
#ifndef EXECD_SYSSTAT_H
#define EXECD_SYSSTAT_H

#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

struct sysstat_src {
    const char *proc;        /* "/proc" */
    const char *cgroup_root; /* "/sys/fs/cgroup" */
};

struct sysstat {
    /* /proc/stat's "cpu" line: busy and total jiffies since boot, all CPUs together. */
    uint64_t cpu_busy;
    uint64_t cpu_total;
    int cpus;            /* CPUs the daemon may run on (affinity) */
    double cpu_quota;    /* cpu.max quota / period in CPUs; 0: no quota */
    int64_t cg_usage_us; /* cpu.stat usage_usec of the quota's cgroup; -1: unknown */
    uint64_t mem_total;  /* bytes: the cgroup's memory.max when below the machine's memory */
    uint64_t mem_used;   /* bytes */
    bool mem_cgroup;     /* mem_* come from the cgroup */
};

/* Reads everything. Returns 0, or -1 with the reason in err. */
int sysstat_read(const struct sysstat_src *src, struct sysstat *out, struct strbuf *err);

/* cpu_count of the contract: the quota rounded down (at least 1), else the CPUs. */
int sysstat_cpu_count(const struct sysstat *s);

#endif
