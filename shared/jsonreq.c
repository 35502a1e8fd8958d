#include "jsonreq.h"

#include <limits.h>
#include <string.h>

/* json-c takes lengths as int: a longer body is fed in pieces of at most this. */
#define PIECE_MAX ((size_t)INT_MAX)

json_object *jsonreq_parse(const char *data, size_t len, struct strbuf *err)
{
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", data[start]) != NULL && data[start] != '\0')
        start++;
    if (start == len) {
        strbuf_append_str(err, "request body is empty");
        return NULL;
    }

    json_tokener *tok = json_tokener_new();
    if (tok == NULL) {
        strbuf_append_str(err, "out of memory");
        return NULL;
    }
    json_object *obj = NULL;
    enum json_tokener_error jerr = json_tokener_continue;
    size_t at = start; /* where the piece being parsed starts */
    for (;;) {
        size_t piece = len - at < PIECE_MAX ? len - at : PIECE_MAX;
        obj = json_tokener_parse_ex(tok, data + at, (int)piece);
        jerr = json_tokener_get_error(tok);
        if (obj != NULL || jerr != json_tokener_continue || at + piece == len)
            break;
        at += piece;
    }
    if (obj == NULL && jerr == json_tokener_continue) {
        /* A bare number at the very end needs a delimiter to be complete. */
        obj = json_tokener_parse_ex(tok, " ", 1);
        jerr = json_tokener_get_error(tok);
    }
    if (obj == NULL) {
        if (jerr == json_tokener_success) /* parsed: the value itself is null */
            strbuf_append_str(err, "the JSON value is null");
        else if (jerr == json_tokener_continue)
            strbuf_append_str(err, "unexpected end of JSON input");
        else
            strbuf_printf(err, "invalid JSON at offset %zu: %s",
                          at + json_tokener_get_parse_end(tok), json_tokener_error_desc(jerr));
    }
    json_tokener_free(tok);
    return obj;
}

static enum jsonreq_rc lookup(json_object *obj, const char *key, json_type want, json_object **val)
{
    if (obj == NULL || !json_object_is_type(obj, json_type_object))
        return JSONREQ_ABSENT;
    if (!json_object_object_get_ex(obj, key, val) || *val == NULL)
        return JSONREQ_ABSENT;
    return json_object_is_type(*val, want) ? JSONREQ_OK : JSONREQ_BADTYPE;
}

enum jsonreq_rc jsonreq_string(json_object *obj, const char *key, const char **out)
{
    json_object *v;
    enum jsonreq_rc rc = lookup(obj, key, json_type_string, &v);
    if (rc == JSONREQ_OK)
        *out = json_object_get_string(v);
    return rc;
}

enum jsonreq_rc jsonreq_int64(json_object *obj, const char *key, int64_t *out)
{
    json_object *v;
    enum jsonreq_rc rc = lookup(obj, key, json_type_int, &v);
    if (rc == JSONREQ_OK)
        *out = json_object_get_int64(v);
    return rc;
}

enum jsonreq_rc jsonreq_uint32(json_object *obj, const char *key, uint32_t *out)
{
    int64_t v;
    enum jsonreq_rc rc = jsonreq_int64(obj, key, &v);
    if (rc != JSONREQ_OK)
        return rc;
    if (v < 0 || v > UINT32_MAX)
        return JSONREQ_BADTYPE;
    *out = (uint32_t)v;
    return rc;
}

enum jsonreq_rc jsonreq_bool(json_object *obj, const char *key, bool *out)
{
    json_object *v;
    enum jsonreq_rc rc = lookup(obj, key, json_type_boolean, &v);
    if (rc == JSONREQ_OK)
        *out = json_object_get_boolean(v);
    return rc;
}

enum jsonreq_rc jsonreq_object(json_object *obj, const char *key, json_object **out)
{
    return lookup(obj, key, json_type_object, out);
}

void jsonreq_type_error(struct strbuf *err, const char *key, const char *what)
{
    strbuf_printf(err, "field '%s' must be %s", key, what);
}

json_object *jsonreq_read_file(const char *path, struct strbuf *err)
{
    json_object *obj = json_object_from_file(path);
    if (obj == NULL) {
        strbuf_printf(err, "cannot read %s: %s", path, json_util_get_last_err());
        while (err->len > 0 && err->data[err->len - 1] == '\n')
            err->data[--err->len] = '\0';
        return NULL;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        strbuf_printf(err, "%s is not a JSON object", path);
        json_object_put(obj);
        return NULL;
    }
    return obj;
}
