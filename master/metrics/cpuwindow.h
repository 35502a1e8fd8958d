/*
 * CPU use over the most recent second without a timer: readings are kept only when someone
 * asks (a request or a watch tick), and each new reading is compared with the newest kept
 * one at least CPUWINDOW_MIN_MS older. While someone asks at least once a second the window
 * is about a second; after a quiet spell it is the time since the last reading (there was
 * no one to take a reading in between). Readings closer together than CPUWINDOW_SPACING_MS
 * are not kept, so the ring always spans more than the window.
 */
#ifndef EXECD_CPUWINDOW_H
#define EXECD_CPUWINDOW_H

#include <stdbool.h>
#include <stdint.h>

#define CPUWINDOW_SLOTS 16
#define CPUWINDOW_SPACING_MS 100
#define CPUWINDOW_MIN_MS 900

struct cpu_point {
    int64_t t_us;  /* monotonic */
    uint64_t busy; /* /proc/stat jiffies */
    uint64_t total;
    int64_t cg_us; /* cgroup usage_usec; -1: none */
};

struct cpuwindow {
    struct cpu_point pts[CPUWINDOW_SLOTS];
    int newest; /* index of the newest point */
    int count;
};

/*
 * Finds the point to compare p with (into *base; false when there is none yet), then keeps
 * p unless it is too close to the newest one.
 */
bool cpuwindow_add(struct cpuwindow *w, const struct cpu_point *p, struct cpu_point *base);
/*
 * Busy percentage between two points: of the cgroup's quota (in CPUs) when quota > 0 and
 * both carry the cgroup's usage, else of the whole machine. In [0, 100].
 */
double cpuwindow_pct(const struct cpu_point *from, const struct cpu_point *to, double quota);

#endif
