#include "pool/backoff.h"

/* A share of max in [0, max) from rnd. */
static int64_t jitter(uint32_t rnd, int64_t max)
{
    return max > 0 ? (int64_t)(rnd % (uint32_t)max) : 0;
}

int64_t backoff_next(struct backoff *b, int64_t now_ms, int64_t lived_ms, uint32_t rnd,
                     bool *tripped)
{
    if (lived_ms >= BACKOFF_HEALTHY_MS)
        b->crashes = 0;
    b->crashes++;
    if (b->window_crashes == 0 || now_ms - b->window_start > BACKOFF_BREAKER_WINDOW_MS) {
        b->window_start = now_ms;
        b->window_crashes = 0;
    }
    b->window_crashes++;

    *tripped = b->window_crashes >= BACKOFF_BREAKER_CRASHES;
    if (*tripped)
        return BACKOFF_BREAKER_MS + jitter(rnd, BACKOFF_BREAKER_MS / 4);
    int shift = b->crashes - 1 > 9 ? 9 : b->crashes - 1;
    int64_t delay = (int64_t)BACKOFF_FIRST_MS << shift;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    return delay + jitter(rnd, delay / 2 + 1);
}
