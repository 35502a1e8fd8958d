#include "clock.h"

#include <stdio.h>
#include <string.h>

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *clock_rfc3339(const struct timespec *ts, char *buf)
{
    struct tm tm;
    time_t secs = ts->tv_sec;
    localtime_r(&secs, &tm);

    size_t n = strftime(buf, CLOCK_RFC3339_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ts->tv_nsec > 0) {
        char frac[24];
        snprintf(frac, sizeof(frac), ".%09ld", ts->tv_nsec);
        size_t flen = strlen(frac);
        while (frac[flen - 1] == '0')
            frac[--flen] = '\0';
        memcpy(buf + n, frac, flen + 1);
        n += flen;
    }

    long off = tm.tm_gmtoff;
    if (off == 0) {
        snprintf(buf + n, CLOCK_RFC3339_MAX - n, "Z");
    } else {
        char sign = off < 0 ? '-' : '+';
        if (off < 0)
            off = -off;
        snprintf(buf + n, CLOCK_RFC3339_MAX - n, "%c%02ld:%02ld", sign, off / 3600,
                 (off % 3600) / 60);
    }
    return buf;
}
