/*
 * Reading JSON request bodies leniently, as Go's decoder does: only the first
 * JSON value counts (trailing bytes are ignored), unknown fields are ignored,
 * null means "absent", and a present value of the wrong type is an error.
 */
#ifndef EXECD_JSONREQ_H
#define EXECD_JSONREQ_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Returns the first JSON value of data, or NULL with a reason in err (also for null). */
json_object *jsonreq_parse(const char *data, size_t len, struct strbuf *err);

/*
 * Reads a whole JSON file of the daemon's own (records, state, connection files) that must
 * hold an object. Returns it, or NULL with the path and the reason in err.
 */
json_object *jsonreq_read_file(const char *path, struct strbuf *err);

enum jsonreq_rc {
    JSONREQ_BADTYPE = -1,
    JSONREQ_ABSENT = 0, /* missing or null */
    JSONREQ_OK = 1,
};

enum jsonreq_rc jsonreq_string(json_object *obj, const char *key, const char **out);
enum jsonreq_rc jsonreq_int64(json_object *obj, const char *key, int64_t *out);
/* Integers in [0, 2^32-1]; anything else is BADTYPE. */
enum jsonreq_rc jsonreq_uint32(json_object *obj, const char *key, uint32_t *out);
enum jsonreq_rc jsonreq_bool(json_object *obj, const char *key, bool *out);
enum jsonreq_rc jsonreq_object(json_object *obj, const char *key, json_object **out);

/* The message for a BADTYPE field: "field 'x' must be <what>". */
void jsonreq_type_error(struct strbuf *err, const char *key, const char *what);

#endif
