#include "core/evt.h"

#include "log.h"

void evt_arm_ms(struct event *ev, int64_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (ev == NULL || event_add(ev, &tv) < 0)
        log_error("cannot arm a timer of %lld ms", (long long)ms);
}

void evt_free(struct event **ev)
{
    if (*ev != NULL) {
        event_free(*ev);
        *ev = NULL;
    }
}
