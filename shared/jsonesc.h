/*
 * JSON string escaping the way Go's encoding/json does it, so our streams look
 * like the Go daemon's byte for byte: <, > and & as \u003c \u003e \u0026,
 * U+2028/U+2029 escaped, control characters as \n \r \t or \u00XX, and every
 * byte that is not part of valid UTF-8 replaced by U+FFFD.
 */
#ifndef EXECD_JSONESC_H
#define EXECD_JSONESC_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* Appends s as a quoted JSON string. */
void jsonesc_append(struct strbuf *out, const char *s, size_t len);

/*
 * json-c writes string bytes as they are, so JSON it rendered from input
 * that was not UTF-8 (a path, a command) is not valid JSON. When json holds
 * such bytes, copies it to out with each invalid byte replaced by the escape
 * \ufffd (json-c's own syntax is ASCII: only string contents can hold them)
 * and returns true; returns false, out untouched, when json is valid UTF-8.
 */
bool jsonesc_repair_utf8(const char *json, size_t len, struct strbuf *out);

#endif
