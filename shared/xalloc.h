/*
 * The daemon's allocation policy, in one place: an allocation that fails aborts the
 * process after a log line. A worker or master without memory cannot answer anything
 * useful, the supervisor restarts a dead worker, and one policy spares every caller an
 * error path that would never be tested. json-c constructors go through the xjson_
 * wrappers for the same reason (json-c returns NULL on allocation failure).
 */
#ifndef EXECD_XALLOC_H
#define EXECD_XALLOC_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Never returns: logs what could not be allocated and aborts. */
void xalloc_die(const char *what) __attribute__((noreturn));

json_object *xjson_object(void);
json_object *xjson_array(void);
json_object *xjson_string(const char *s);
json_object *xjson_string_len(const char *s, size_t len);
json_object *xjson_int64(int64_t v);
json_object *xjson_bool(int v);
json_object *xjson_double(double v);

#endif
