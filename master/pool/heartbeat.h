/*
 * The workers' heartbeat, for the systemd watchdog: the master pings every worker (job 0,
 * ping {seq}) and the worker answers from its loop (pong {seq}), so a worker whose loop hangs,
 * or that is stopped, falls silent. Pings go out only while a watchdog is configured.
 */
#ifndef EXECD_POOL_HEARTBEAT_H
#define EXECD_POOL_HEARTBEAT_H

#include <json-c/json.h>
#include <stdbool.h>

struct worker;

/*
 * Returns whether every live worker answered its last ping (a worker not pinged yet counts as
 * answered; a silent one is logged), then pings each one that did. Call it once per watchdog
 * tick.
 */
bool heartbeat_tick(void);
/* pong {seq} from w. */
void heartbeat_pong(struct worker *w, json_object *msg);

#endif
