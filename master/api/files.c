/*
 * The file and directory API (/files/..., /directories...): the master checks
 * what is cheap (required query parameters, the JSON shape of bodies) and
 * hands everything else to a worker as an "fs.*" job; path expansion and all
 * filesystem work happen there. Uploads stream their body to the worker
 * (http/bodyrelay.c); downloads come back as a descriptor the master
 * sends with sendfile.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/params.h"
#include "http/bodyrelay.h"
#include "http/reply.h"
#include "jsonreq.h"
#include "relay/job.h"
#include "xalloc.h"

static void add_value(const char *value, void *arg)
{
    json_object_array_add(arg, xjson_string(value));
}

/* Every value of the repeatable query parameter "path". */
static json_object *query_paths(struct http_req *r)
{
    json_object *paths = xjson_array();
    http_query_each(r, "path", add_value, paths);
    return paths;
}

/*
 * A user or group of a Permission: a name, or (better than the Go daemon) a
 * numeric id given as a number. Stores it as a string in item; null/absent
 * stores nothing. Returns 0, or -1 with the reason in err.
 */
static int copy_id(json_object *perm, const char *key, json_object *item, struct strbuf *err)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(perm, key, &v) || v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        json_object_object_add(item, key, json_object_get(v));
        return 0;
    }
    if (json_object_is_type(v, json_type_int)) {
        int64_t id = json_object_get_int64(v);
        if (id >= 0 && id < UINT32_MAX) {
            char buf[24];
            snprintf(buf, sizeof(buf), "%lld", (long long)id);
            json_object_object_add(item, key, xjson_string(buf));
            return 0;
        }
    }
    strbuf_printf(err, "field '%s' must be a user/group name or a numeric id", key);
    return -1;
}

/* {"path", "mode", "owner", "group"} from a Permission object (null: all defaults). */
static json_object *permission_item(const char *path, json_object *perm, struct strbuf *err)
{
    json_object *item = xjson_object();
    json_object_object_add(item, "path", xjson_string(path));
    if (perm == NULL)
        return item;
    if (!json_object_is_type(perm, json_type_object)) {
        strbuf_printf(err, "'%s': the permission must be an object", path);
        json_object_put(item);
        return NULL;
    }
    int64_t mode = 0;
    if (jsonreq_int64(perm, "mode", &mode) == JSONREQ_BADTYPE) {
        strbuf_printf(err, "'%s': field 'mode' must be an integer (octal digits, e.g. 755)", path);
        json_object_put(item);
        return NULL;
    }
    json_object_object_add(item, "mode", xjson_int64(mode));
    struct strbuf why = STRBUF_INIT;
    if (copy_id(perm, "owner", item, &why) < 0 || copy_id(perm, "group", item, &why) < 0) {
        strbuf_printf(err, "'%s': %s", path, why.data);
        strbuf_free(&why);
        json_object_put(item);
        return NULL;
    }
    strbuf_free(&why);
    return item;
}

/* A {path: Permission} body as an array of items in request order, or NULL (answered). */
static json_object *permission_items(struct http_req *r, bool *is_null)
{
    json_object *body = api_parse_body(r, json_type_object, is_null);
    if (body == NULL)
        return NULL;
    json_object *items = xjson_array();
    struct strbuf err = STRBUF_INIT;
    json_object_object_foreach(body, path, perm)
    {
        json_object *item = permission_item(path, perm, &err);
        if (item == NULL) {
            reply_error(r, 400, ERR_INVALID_REQUEST_BODY, API_BODY_ERROR "%s", err.data);
            json_object_put(items);
            items = NULL;
            break;
        }
        json_object_array_add(items, item);
    }
    strbuf_free(&err);
    json_object_put(body);
    return items;
}

/* GET /files/info?path=...: answers {} without paths. */
void api_files_info(struct http_req *r)
{
    json_object *paths = query_paths(r);
    if (json_object_array_length(paths) == 0) {
        json_object_put(paths);
        reply_json_text(r, 200, "{}", 2);
        return;
    }
    json_object *args = xjson_object();
    json_object_object_add(args, "paths", paths);
    job_start_any(r, "fs.info", args);
}

/* Forwards op with {key: list} (taken), or answers an empty 200 for an empty list. */
static void forward_list(struct http_req *r, const char *op, const char *key, json_object *list)
{
    if (json_object_array_length(list) == 0) {
        json_object_put(list);
        reply_empty(r, 200);
        return;
    }
    json_object *args = xjson_object();
    json_object_object_add(args, key, list);
    job_start_any(r, op, args);
}

/* DELETE /files?path=... and DELETE /directories?path=... */
static void delete_paths(struct http_req *r, const char *op)
{
    forward_list(r, op, "paths", query_paths(r));
}

void api_files_delete(struct http_req *r)
{
    delete_paths(r, "fs.delete");
}

void api_directories_delete(struct http_req *r)
{
    delete_paths(r, "fs.rmdir");
}

/* POST /files/permissions and POST /directories: {path: Permission}. */
static void permissions(struct http_req *r, const char *op)
{
    bool is_null;
    json_object *items = permission_items(r, &is_null);
    if (items == NULL) {
        if (is_null)
            reply_empty(r, 200);
        return;
    }
    forward_list(r, op, "items", items);
}

void api_files_permissions(struct http_req *r)
{
    permissions(r, "fs.chmod");
}

void api_directories_create(struct http_req *r)
{
    permissions(r, "fs.mkdir");
}

/* POST /files/mv: [{"src","dest"}, ...] in order. */
void api_files_mv(struct http_req *r)
{
    bool is_null;
    json_object *body = api_parse_body(r, json_type_array, &is_null);
    if (body == NULL) {
        if (is_null)
            reply_empty(r, 200);
        return;
    }
    size_t n = json_object_array_length(body);
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(body, i);
        const char *src = NULL, *dest = NULL;
        if (item == NULL || !json_object_is_type(item, json_type_object) ||
            jsonreq_string(item, "src", &src) != JSONREQ_OK || src[0] == '\0' ||
            jsonreq_string(item, "dest", &dest) != JSONREQ_OK || dest[0] == '\0') {
            reply_error(r, 400, ERR_INVALID_REQUEST_BODY,
                        API_BODY_ERROR "item %zu: 'src' and 'dest' must be non-empty strings", i);
            json_object_put(body);
            return;
        }
    }
    forward_list(r, "fs.mv", "items", body);
}

/* GET /files/search?path=...&pattern=... */
void api_files_search(struct http_req *r)
{
    struct strbuf path = STRBUF_INIT, pattern = STRBUF_INIT;
    if (api_required_query(r, "path", &path)) {
        json_object *args = xjson_object();
        json_object_object_add(args, "path", xjson_string(path.data));
        if (http_query_get(r, "pattern", &pattern) && pattern.len > 0)
            json_object_object_add(args, "pattern", xjson_string(pattern.data));
        job_start_any(r, "fs.search", args);
    }
    strbuf_free(&path);
    strbuf_free(&pattern);
}

/* A {path: {"old","new"}} body as an array of items in request order, or NULL (answered). */
static json_object *replace_items(struct http_req *r, json_object *body)
{
    json_object *items = xjson_array();
    json_object_object_foreach(body, path, spec)
    {
        const char *old = "", *repl = "";
        if (spec == NULL || !json_object_is_type(spec, json_type_object) ||
            jsonreq_string(spec, "old", &old) == JSONREQ_BADTYPE ||
            jsonreq_string(spec, "new", &repl) == JSONREQ_BADTYPE) {
            reply_error(r, 400, ERR_INVALID_REQUEST_BODY,
                        API_BODY_ERROR "'%s': expected {\"old\": string, \"new\": string}", path);
            json_object_put(items);
            return NULL;
        }
        json_object *item = xjson_object();
        json_object_object_add(item, "path", xjson_string(path));
        json_object_object_add(item, "old", xjson_string(old));
        json_object_object_add(item, "new", xjson_string(repl));
        json_object_array_add(items, item);
    }
    return items;
}

/* Nothing to replace: the verbose form answers an empty report. */
static void reply_nothing_replaced(struct http_req *r, bool verbose)
{
    if (verbose)
        reply_json_text(r, 200, "{}", 2);
    else
        reply_empty(r, 200);
}

/* POST /files/replace[?verbose=true]: {path: {"old","new"}}. */
void api_files_replace(struct http_req *r)
{
    struct strbuf verbose = STRBUF_INIT;
    bool is_verbose = http_query_get(r, "verbose", &verbose) && verbose.data != NULL &&
                      strcmp(verbose.data, "true") == 0;
    strbuf_free(&verbose);

    bool is_null;
    json_object *body = api_parse_body(r, json_type_object, &is_null);
    if (body == NULL) {
        if (is_null)
            reply_nothing_replaced(r, is_verbose);
        return;
    }
    json_object *items = replace_items(r, body);
    json_object_put(body);
    if (items == NULL)
        return;
    if (json_object_array_length(items) == 0) {
        json_object_put(items);
        reply_nothing_replaced(r, is_verbose);
        return;
    }
    json_object *args = xjson_object();
    json_object_object_add(args, "items", items);
    json_object_object_add(args, "verbose", xjson_bool(is_verbose));
    job_start_any(r, "fs.replace", args);
}

static void copy_header(struct http_req *r, const char *name, const char *key, json_object *args)
{
    const char *v = http_header(r, name);
    if (v != NULL)
        json_object_object_add(args, key, xjson_string(v));
}

/* GET /files/download?path=... (Range and conditional headers go along). */
void api_files_download(struct http_req *r)
{
    struct strbuf path = STRBUF_INIT;
    if (api_required_query(r, "path", &path)) {
        json_object *args = xjson_object();
        json_object_object_add(args, "path", xjson_string(path.data));
        copy_header(r, "Range", "range", args);
        copy_header(r, "If-Modified-Since", "if_modified_since", args);
        copy_header(r, "If-Unmodified-Since", "if_unmodified_since", args);
        job_start_any(r, "fs.download", args);
    }
    strbuf_free(&path);
}

/*
 * POST /files/upload (ROUTE_STREAMED_BODY): runs when the headers are in;
 * the multipart body is parsed by the worker as it arrives.
 */
void api_files_upload(struct http_req *r)
{
    json_object *args = xjson_object();
    copy_header(r, "Content-Type", "content_type", args);
    bodyrelay_start(r, "fs.upload", args);
}

/* GET /directories/list?path=...&depth=N (default 1). */
void api_directories_list(struct http_req *r)
{
    struct strbuf path = STRBUF_INIT, raw = STRBUF_INIT;
    if (!api_required_query(r, "path", &path)) {
        strbuf_free(&path);
        return;
    }
    long long depth = 1;
    if (http_query_get(r, "depth", &raw)) {
        /* Go's strconv.Atoi: optional sign, decimal digits, no blanks. */
        const char *s = raw.data != NULL ? raw.data : "";
        char *end = NULL;
        errno = 0;
        depth = strtoll(s, &end, 10);
        bool digits = s[0] != '\0' && !isspace((unsigned char)s[0]);
        if (!digits || *end != '\0' || errno != 0 || depth < 0 || depth > INT32_MAX) {
            reply_error(r, 400, ERR_INVALID_REQUEST_BODY, "invalid query parameter 'depth': %s", s);
            strbuf_free(&path);
            strbuf_free(&raw);
            return;
        }
    }
    json_object *args = xjson_object();
    json_object_object_add(args, "path", xjson_string(path.data));
    json_object_object_add(args, "depth", xjson_int64(depth));
    job_start_any(r, "fs.list", args);
    strbuf_free(&path);
    strbuf_free(&raw);
}
