/* Request parsing the route families share: required query parameters and JSON bodies. */
#ifndef EXECD_API_PARAMS_H
#define EXECD_API_PARAMS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "http/request.h"
#include "strbuf.h"

/* How the Go daemon starts the message of a body it cannot decode. */
#define API_BODY_ERROR "error parsing request, MAYBE invalid body format. "

/* A required, non-empty query parameter into out; answers 400 itself when missing. */
bool api_required_query(struct http_req *r, const char *name, struct strbuf *out);
/*
 * The body as a JSON value of type want (object or array). Returns it, or NULL after
 * answering 400, except for a literal null body when is_null is not NULL: then *is_null is
 * set and nothing answered (a map or array body accepts null as "nothing to do").
 */
json_object *api_parse_body(struct http_req *r, json_type want, bool *is_null);
/* api_parse_body for an object, null being an error. */
json_object *api_parse_object(struct http_req *r);

#endif
