/* Time sources and the time formats of the wire contract. */
#ifndef EXECD_CLOCK_H
#define EXECD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Unix epoch milliseconds (stream event timestamps). */
int64_t clock_wall_ms(void);
/* Monotonic milliseconds and microseconds (durations, deadlines). */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);

/*
 * Formats ts like Go's time.Time JSON encoding: RFC 3339 with nanoseconds,
 * trailing zeros trimmed, local zone offset ("Z" for UTC).
 * buf must hold CLOCK_RFC3339_MAX bytes. Returns buf.
 */
#define CLOCK_RFC3339_MAX 48
char *clock_rfc3339(const struct timespec *ts, char *buf);

#endif
