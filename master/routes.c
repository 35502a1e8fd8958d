/* Every endpoint of the daemon, in one table. */
#include "api.h"
#include "common.h"
#include "router.h"

const struct route routes[] = {
    {"GET", "/ping", api_ping, 0},
    {"POST", "/command", api_command_run, 0},
    {"DELETE", "/command", api_interrupt, 0},
    {"GET", "/command/status/{id}", api_command_status, 0},
    {"GET", "/command/{id}/logs", api_command_logs, 0},
};

const size_t routes_count = ARRAY_SIZE(routes);
