/*
 * The figures of GET /metrics and /metrics/watch, rendered as the contract's JSON object:
 * {"cpu_count":2,"cpu_used_pct":3.52,"mem_total_mib":7940.6,"mem_used_mib":812.3,
 * "timestamp":1767603600000}. The master reads them itself (metrics/sysstat.h says why that
 * never blocks); CPU use is over the most recent second of readings (metrics/cpuwindow.h).
 */
#ifndef EXECD_HOSTMETRICS_H
#define EXECD_HOSTMETRICS_H

#include "strbuf.h"

/* Where the cgroup filesystem is (-cgroup-root); the first call takes the first reading. */
void hostmetrics_configure(const char *cgroup_root);
/*
 * Appends the JSON object (no newline) to out. Returns 0, or -1 with the reason in err
 * (out untouched).
 */
int hostmetrics_render(struct strbuf *out, struct strbuf *err);
void hostmetrics_free(void);

#endif
