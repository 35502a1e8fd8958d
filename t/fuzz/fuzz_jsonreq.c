/*
 * Request bodies (shared/jsonreq.c) and the command request's validation
 * (master/api/command.c): the first JSON value of any bytes, every typed getter on its
 * members, and api_command_validate on an object, as POST /command and /code's shell mode
 * read them.
 *
 * Input: the body.
 */
#include <stdlib.h>

#include "api/api.h"
#include "fuzz.h"
#include "jsonreq.h"

static void read_members(json_object *obj)
{
    json_object_object_foreach(obj, key, value)
    {
        const char *s;
        int64_t i;
        uint32_t u;
        bool b;
        json_object *o;
        if (jsonreq_string(obj, key, &s) == JSONREQ_OK && s == NULL)
            abort();
        jsonreq_int64(obj, key, &i);
        if (jsonreq_uint32(obj, key, &u) == JSONREQ_OK && json_object_get_int64(value) != u)
            abort();
        jsonreq_bool(obj, key, &b);
        if (jsonreq_object(obj, key, &o) == JSONREQ_OK)
            read_members(o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strbuf err = STRBUF_INIT;
    json_object *obj = jsonreq_parse((const char *)data, size, &err);
    if (obj == NULL && err.len == 0)
        abort();
    if (obj != NULL && json_object_is_type(obj, json_type_object)) {
        read_members(obj);
        strbuf_reset(&err);
        if (api_command_validate(obj, &err) < 0 && err.len == 0)
            abort();
    }
    json_object_put(obj);
    strbuf_free(&err);
    return 0;
}
