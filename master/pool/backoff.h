/*
 * The respawn delay of one worker slot, as arithmetic the pool feeds with crashes and the
 * clock: the delay doubles from 100 ms with each crash (plus up to half of it as jitter,
 * so slots do not respawn in lockstep), capped at 30 s; a worker that lived a minute is
 * healthy and resets the doubling. Five crashes within a minute trip the breaker: 30 s
 * (plus up to a quarter) whatever the doubling says.
 */
#ifndef EXECD_POOL_BACKOFF_H
#define EXECD_POOL_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
/* A worker that lived this long is healthy: its crash history is forgotten. */
#define BACKOFF_HEALTHY_MS 60000
/* The breaker: this many crashes of one slot within the window ... */
#define BACKOFF_BREAKER_CRASHES 5
#define BACKOFF_BREAKER_WINDOW_MS 60000
/* ... and retries slow down to this. */
#define BACKOFF_BREAKER_MS 30000

struct backoff {
    int crashes; /* since the last healthy worker */
    int64_t window_start;
    int window_crashes;
};

/*
 * A worker of the slot died at now_ms (monotonic) after living lived_ms. Returns the delay
 * before the next one starts; *tripped tells whether the breaker decided it. rnd is a
 * random number for the jitter.
 */
int64_t backoff_next(struct backoff *b, int64_t now_ms, int64_t lived_ms, uint32_t rnd,
                     bool *tripped);

#endif
