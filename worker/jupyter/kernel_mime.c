#include "jupyter/kernel_mime.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jsonesc.h"
#include "xalloc.h"

struct entry {
    const char *key;
    json_object *val;
};

static int by_key(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return strcmp(x->key, y->key);
}

static void render(json_object *v, struct strbuf *out, int depth);

static void render_object(json_object *obj, struct strbuf *out, int depth, bool rename)
{
    size_t n = (size_t)json_object_object_length(obj), i = 0;
    struct entry *e = xcalloc(n > 0 ? n : 1, sizeof(*e));
    bool has_plain = rename && json_object_object_get_ex(obj, "text/plain", NULL);
    json_object_object_foreach(obj, key, val)
    {
        /* A literal "text" key loses to the renamed text/plain. */
        if (has_plain && strcmp(key, "text") == 0)
            continue;
        e[i].key = rename && strcmp(key, "text/plain") == 0 ? "text" : key;
        e[i].val = val;
        i++;
    }
    qsort(e, i, sizeof(*e), by_key);
    strbuf_append_char(out, '{');
    for (size_t j = 0; j < i; j++) {
        if (j > 0)
            strbuf_append_char(out, ',');
        jsonesc_append(out, e[j].key, strlen(e[j].key));
        strbuf_append_char(out, ':');
        render(e[j].val, out, depth + 1);
    }
    strbuf_append_char(out, '}');
    free(e);
}

static void render(json_object *v, struct strbuf *out, int depth)
{
    /* json-c already bounds nesting when parsing; this is a second fence. */
    if (depth > 64) {
        strbuf_append_str(out, "null");
        return;
    }
    switch (json_object_get_type(v)) {
    case json_type_null:
        strbuf_append_str(out, "null");
        break;
    case json_type_object:
        render_object(v, out, depth, false);
        break;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        strbuf_append_char(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                strbuf_append_char(out, ',');
            render(json_object_array_get_idx(v, i), out, depth + 1);
        }
        strbuf_append_char(out, ']');
        break;
    }
    case json_type_string:
        jsonesc_append(out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    default: /* numbers and booleans, in their original spelling */
        strbuf_append_str(out, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        break;
    }
}

void kernel_mime_render(json_object *data, struct strbuf *out)
{
    if (data == NULL || !json_object_is_type(data, json_type_object)) {
        strbuf_append_str(out, "{}");
        return;
    }
    render_object(data, out, 0, true);
}
