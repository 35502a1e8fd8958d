/* Route handlers, one file per route family (api/<family>.c); http/routes.c maps paths to them. */
#ifndef EXECD_API_H
#define EXECD_API_H

#include <json-c/json.h>

#include "http/request.h"
#include "strbuf.h"

/* api/health.c */
void api_ping(struct http_req *r);

/* api/code.c */
void api_code_run(struct http_req *r);
void api_code_context_create(struct http_req *r);
void api_code_contexts_list(struct http_req *r);
void api_code_contexts_delete(struct http_req *r);
void api_code_context_get(struct http_req *r);
void api_code_context_delete(struct http_req *r);

/* api/files.c: /files/... and /directories... (api_files_upload streams its body) */
void api_files_info(struct http_req *r);
void api_files_delete(struct http_req *r);
void api_files_permissions(struct http_req *r);
void api_files_mv(struct http_req *r);
void api_files_search(struct http_req *r);
void api_files_replace(struct http_req *r);
void api_files_upload(struct http_req *r);
void api_files_download(struct http_req *r);
void api_directories_list(struct http_req *r);
void api_directories_create(struct http_req *r);
void api_directories_delete(struct http_req *r);

/* api/metrics.c: the machine's figures (JSON, once or as a stream) and the daemon's own */
void api_metrics(struct http_req *r);
void api_metrics_watch(struct http_req *r);
void api_metrics_daemon(struct http_req *r);

/* api/proxy.c: ANY /proxy/{port}/{rest} (the body is streamed to the port) */
void api_proxy(struct http_req *r);

/* api/pty.c: PTY sessions; the WebSocket is relay/ptylink.c's once upgraded */
void api_pty_create(struct http_req *r);
void api_pty_get(struct http_req *r);
void api_pty_delete(struct http_req *r);
void api_pty_ws(struct http_req *r);

/* api/command.c */
void api_command_run(struct http_req *r);
void api_command_status(struct http_req *r);
void api_command_logs(struct http_req *r);
/* DELETE /command and DELETE /code: interrupt whatever the id names. */
void api_interrupt(struct http_req *r);
/*
 * Checks a RunCommandRequest-shaped object (command, cwd, background,
 * timeout, uid, gid, envs). Returns 0, or -1 with the reason in err.
 */
int api_command_validate(json_object *req, struct strbuf *err);
/* Checks an optional "envs" field: an object of strings with valid names. 0, or -1 with err. */
int api_check_envs(json_object *req, struct strbuf *err);

/* api/session.c: bash sessions */
void api_session_create(struct http_req *r);
void api_session_run(struct http_req *r);
void api_session_delete(struct http_req *r);

#endif
