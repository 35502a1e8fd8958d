/* Every endpoint of the daemon, in one table. */
#include "api/api.h"
#include "common.h"
#include "http/router.h"

const struct route routes[] = {
    {"*", "/proxy/*", api_proxy, ROUTE_STREAMED_BODY | ROUTE_PROXY},
    {"GET", "/ping", api_ping, 0},
    {"POST", "/command", api_command_run, 0},
    {"DELETE", "/command", api_interrupt, 0},
    {"GET", "/command/status/{id}", api_command_status, 0},
    {"GET", "/command/{id}/logs", api_command_logs, 0},
    {"POST", "/code", api_code_run, 0},
    {"DELETE", "/code", api_interrupt, 0},
    {"POST", "/code/context", api_code_context_create, 0},
    {"GET", "/code/contexts", api_code_contexts_list, 0},
    {"DELETE", "/code/contexts", api_code_contexts_delete, 0},
    {"GET", "/code/contexts/{id}", api_code_context_get, 0},
    {"DELETE", "/code/contexts/{id}", api_code_context_delete, 0},
    {"POST", "/session", api_session_create, 0},
    {"POST", "/session/{id}/run", api_session_run, 0},
    {"DELETE", "/session/{id}", api_session_delete, 0},
    {"GET", "/files/info", api_files_info, 0},
    {"DELETE", "/files", api_files_delete, 0},
    {"POST", "/files/permissions", api_files_permissions, 0},
    {"POST", "/files/mv", api_files_mv, 0},
    {"GET", "/files/search", api_files_search, 0},
    {"POST", "/files/replace", api_files_replace, 0},
    {"POST", "/files/upload", api_files_upload, ROUTE_STREAMED_BODY},
    {"GET", "/files/download", api_files_download, 0},
    {"GET", "/directories/list", api_directories_list, 0},
    {"POST", "/directories", api_directories_create, 0},
    {"DELETE", "/directories", api_directories_delete, 0},
    {"GET", "/metrics", api_metrics, 0},
    {"GET", "/metrics/watch", api_metrics_watch, 0},
    {"GET", "/metrics/daemon", api_metrics_daemon, 0},
    {"POST", "/pty", api_pty_create, 0},
    {"GET", "/pty/{id}", api_pty_get, 0},
    {"DELETE", "/pty/{id}", api_pty_delete, 0},
    {"GET", "/pty/{id}/ws", api_pty_ws, 0},
};

const size_t routes_count = ARRAY_SIZE(routes);
