#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

void xalloc_die(const char *what)
{
    log_fatal("out of memory (%s)", what);
    abort();
}

static void *checked(void *p, const char *what)
{
    if (p == NULL)
        xalloc_die(what);
    return p;
}

void *xmalloc(size_t n)
{
    return checked(malloc(n ? n : 1), "malloc");
}

void *xcalloc(size_t count, size_t size)
{
    return checked(calloc(count ? count : 1, size ? size : 1), "calloc");
}

void *xrealloc(void *p, size_t n)
{
    return checked(realloc(p, n ? n : 1), "realloc");
}

char *xstrdup(const char *s)
{
    return checked(strdup(s), "strdup");
}

char *xstrndup(const char *s, size_t n)
{
    return checked(strndup(s, n), "strndup");
}

json_object *xjson_object(void)
{
    return checked(json_object_new_object(), "json object");
}

json_object *xjson_array(void)
{
    return checked(json_object_new_array(), "json array");
}

json_object *xjson_string(const char *s)
{
    return checked(json_object_new_string(s), "json string");
}

json_object *xjson_string_len(const char *s, size_t len)
{
    return checked(json_object_new_string_len(s, (int)len), "json string");
}

json_object *xjson_int64(int64_t v)
{
    return checked(json_object_new_int64(v), "json int");
}

json_object *xjson_bool(int v)
{
    return checked(json_object_new_boolean(v), "json bool");
}

json_object *xjson_double(double v)
{
    return checked(json_object_new_double(v), "json double");
}
