/*
 * The search glob (worker/files/glob.c): compiling any pattern and matching it against
 * any path. Validity must not depend on the path, a compiled glob must answer the same
 * twice (its memo table is reused) and as the one-shot glob_match does.
 *
 * Input: PATTERN \0 PATH (the path may hold more NUL bytes).
 */
#include <stdlib.h>

#include "files/glob.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *pattern = fuzz_field(&in, '\0', NULL);
    const char *path = (const char *)in.p;
    size_t path_len = in.n;

    struct glob *g = NULL;
    int rc = glob_compile(pattern, &g);
    int valid = glob_valid(pattern);
    if ((rc == 0) != (valid == 1))
        abort();
    if (rc == 0) {
        int first = glob_exec(g, path, path_len);
        int again = glob_exec(g, path, path_len);
        if (first != again || (first != GLOB_MATCH && first != GLOB_NOMATCH))
            abort();
        char *cpath = xstrndup(path, path_len);
        if (memchr(path, '\0', path_len) == NULL && glob_match(pattern, cpath) != first)
            abort();
        free(cpath);
        glob_free(g);
    } else if (rc != GLOB_EBADPAT) {
        abort();
    }
    free(pattern);
    return 0;
}
