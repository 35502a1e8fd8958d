/*
 * Complete (non-streaming) HTTP answers in the contract's shapes. Each
 * function sends the response and, when the request was paused for an
 * asynchronous answer, resumes it so libevhtp can finish the exchange.
 */
#ifndef EXECD_REPLY_H
#define EXECD_REPLY_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "http/request.h"

/* Error codes of the contract (§1.6). */
#define ERR_INVALID_REQUEST_BODY "INVALID_REQUEST_BODY"
#define ERR_MISSING_QUERY "MISSING_QUERY"
#define ERR_RUNTIME_ERROR "RUNTIME_ERROR"
#define ERR_FILE_NOT_FOUND "FILE_NOT_FOUND"
#define ERR_CONTEXT_NOT_FOUND "CONTEXT_NOT_FOUND"
#define ERR_NOT_FOUND "NOT_FOUND"
#define ERR_METHOD_NOT_ALLOWED "METHOD_NOT_ALLOWED"
#define ERR_BODY_TOO_LARGE "REQUEST_BODY_TOO_LARGE"
#define ERR_UNAVAILABLE "SERVICE_UNAVAILABLE"
#define ERR_TOO_MANY_REQUESTS "TOO_MANY_REQUESTS"

/* application/json; charset=utf-8 with an already rendered body. */
void reply_json_text(struct http_req *r, int status, const char *json, size_t len);
void reply_json(struct http_req *r, int status, json_object *body);
/* {"code":..., "message":...}. */
void reply_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 503 {"code":..., "message":...} with Retry-After: the client may try again in a second. */
void reply_unavailable(struct http_req *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Status with Content-Length: 0 and no body. */
void reply_empty(struct http_req *r, int status);
/* Any body with the given content type. */
void reply_body(struct http_req *r, int status, const char *content_type, const char *body,
                size_t len);
/* Adds a response header (copied). */
void reply_header(struct http_req *r, const char *name, const char *value);
/* Sends whatever was put in the request's output buffer with status. */
void reply_send(struct http_req *r, int status);
/*
 * Sends fd[offset, offset+length) as the body with sendfile, so the master's
 * memory stays flat for any size. Takes fd. Returns 0, or -1 before anything
 * was sent or set (the caller answers).
 */
int reply_file(struct http_req *r, int status, const char *content_type, int fd, int64_t offset,
               int64_t length);

#endif
