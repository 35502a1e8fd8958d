#include "metrics/cpuwindow.h"

bool cpuwindow_add(struct cpuwindow *w, const struct cpu_point *p, struct cpu_point *base)
{
    bool found = false;
    for (int k = 0; k < w->count; k++) {
        const struct cpu_point *q = &w->pts[(w->newest - k + CPUWINDOW_SLOTS) % CPUWINDOW_SLOTS];
        *base = *q;
        found = true;
        if (p->t_us - q->t_us >= CPUWINDOW_MIN_MS * 1000LL)
            break; /* the newest that is old enough; else the oldest there is */
    }
    if (w->count > 0 && p->t_us - w->pts[w->newest].t_us < CPUWINDOW_SPACING_MS * 1000LL)
        return found;
    w->newest = (w->newest + 1) % CPUWINDOW_SLOTS;
    w->pts[w->newest] = *p;
    if (w->count < CPUWINDOW_SLOTS)
        w->count++;
    return found;
}

static double clamp_pct(double v)
{
    return v < 0 ? 0 : v > 100 ? 100 : v;
}

double cpuwindow_pct(const struct cpu_point *from, const struct cpu_point *to, double quota)
{
    if (quota > 0 && from->cg_us >= 0 && to->cg_us >= 0 && to->t_us > from->t_us)
        return clamp_pct(100.0 * (double)(to->cg_us - from->cg_us) /
                         ((double)(to->t_us - from->t_us) * quota));
    if (to->total <= from->total)
        return 0;
    /* Signed: iowait, counted as idle, is known to step backwards on some kernels. */
    return clamp_pct(100.0 * ((double)to->busy - (double)from->busy) /
                     (double)(to->total - from->total));
}
