/*
 * Paths of requests and the EXECD_ENVS file (shared/pathexp.c, envfile.c): $VAR and ~
 * expansion, cleaning, made absolute, and an env file's lines. Cleaning must be
 * idempotent and leave no empty, "." or (in a rooted path) ".." element.
 *
 * Input: ENVFILE \0 PATH.
 */
#include <stdlib.h>

#include "envfile.h"
#include "envmap.h"
#include "fuzz.h"
#include "pathexp.h"

static void check_clean(const char *in)
{
    struct strbuf once = STRBUF_INIT, twice = STRBUF_INIT;
    pathexp_clean(in, &once);
    pathexp_clean(once.data, &twice);
    if (strcmp(once.data, twice.data) != 0 || once.len == 0)
        abort();
    if ((in[0] == '/') != (once.data[0] == '/'))
        abort();
    if (once.len > 1 && (strstr(once.data, "//") != NULL || strstr(once.data, "/./") != NULL ||
                         once.data[once.len - 1] == '/'))
        abort();
    if (once.data[0] == '/' &&
        (strncmp(once.data, "/../", 4) == 0 || strcmp(once.data, "/..") == 0))
        abort();
    strbuf_free(&once);
    strbuf_free(&twice);
}

static void check_expand(const char *path, struct envmap *env)
{
    struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    int rc = pathexp_expand(path, envmap_lookup, env, &out, &err);
    if (rc < 0 && (err.len == 0 || out.len != 0))
        abort();
    strbuf_reset(&err);
    if (pathexp_expand_abs(path, envmap_lookup, env, &out, &err) == 0) {
        if (out.data[0] != '/')
            abort();
        check_clean(out.data);
    } else if (err.len == 0) {
        abort();
    }
    strbuf_free(&out);
    strbuf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *text = fuzz_field(&in, '\0', NULL);
    char *path = fuzz_field(&in, '\0', NULL);

    struct envmap env, file;
    envmap_init(&env);
    envmap_set(&env, "HOME", "/home/fuzz");
    envmap_set(&env, "A", "a");
    envmap_set(&env, "DIR", "/b/../c/");
    envmap_set(&env, "EMPTY", "");
    envmap_init(&file);
    int skipped = envfile_parse(text, envmap_lookup, &env, &file);
    if (skipped < 0)
        abort();
    for (size_t i = 0; i < file.len; i++) {
        const char *eq = strchr(file.entries[i], '=');
        if (eq == NULL || eq == file.entries[i])
            abort();
    }
    envmap_merge(&env, &file);
    check_expand(path, &env);
    check_clean(path);

    envmap_free(&env);
    envmap_free(&file);
    free(text);
    free(path);
    return 0;
}
