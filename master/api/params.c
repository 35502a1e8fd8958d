#include "api/params.h"

#include <string.h>

#include "http/reply.h"
#include "jsonreq.h"

bool api_required_query(struct http_req *r, const char *name, struct strbuf *out)
{
    if (http_query_get(r, name, out) && out->len > 0)
        return true;
    reply_error(r, 400, ERR_MISSING_QUERY, "missing query parameter '%s'", name);
    return false;
}

/* Go's decoder reads only the first value: "null" followed by anything is null. */
static bool body_is_null(const char *body, size_t len)
{
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", body[i]) != NULL && body[i] != '\0')
        i++;
    if (len - i < 4 || memcmp(body + i, "null", 4) != 0)
        return false;
    return len - i == 4 || strchr(" \t\r\n,]}[{\"", body[i + 4]) != NULL;
}

json_object *api_parse_body(struct http_req *r, json_type want, bool *is_null)
{
    size_t len;
    const char *body = http_body(r, &len);
    struct strbuf err = STRBUF_INIT;

    if (is_null != NULL)
        *is_null = false;
    json_object *obj = jsonreq_parse(body, len, &err);
    if (obj == NULL && is_null != NULL && body_is_null(body, len)) {
        *is_null = true;
    } else if (obj == NULL) {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY, API_BODY_ERROR "%s", err.data);
    } else if (!json_object_is_type(obj, want)) {
        reply_error(r, 400, ERR_INVALID_REQUEST_BODY, API_BODY_ERROR "the body must be a JSON %s",
                    want == json_type_array ? "array" : "object");
        json_object_put(obj);
        obj = NULL;
    }
    strbuf_free(&err);
    return obj;
}

json_object *api_parse_object(struct http_req *r)
{
    return api_parse_body(r, json_type_object, NULL);
}
