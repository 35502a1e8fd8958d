/* Two helpers around libevent events that every executor needs. */
#ifndef EXECD_EVT_H
#define EXECD_EVT_H

#include <event2/event.h>
#include <stdint.h>

/* (Re)arms ev to fire once in ms; a NULL ev or a failure is logged (the timer is lost). */
void evt_arm_ms(struct event *ev, int64_t ms);
/* Frees *ev when there is one and clears the pointer. */
void evt_free(struct event **ev);

#endif
