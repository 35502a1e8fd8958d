/*
 * A main() for a harness built without libFuzzer (the compiler of the normal build):
 * runs LLVMFuzzerTestOneInput once on every file of the harness's seed corpus, so
 * `make check` proves each harness still builds and passes its seeds. A crash or a
 * failed check aborts, which the TAP driver reports. The harness is named after the
 * program: replay_NAME replays t/fuzz/corpus/NAME; files given as arguments are
 * replayed instead (a crash input, say).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "strbuf.h"

/* Reads path into an allocation of exactly its size, so sanitizers see any overread. */
static uint8_t *read_input(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct strbuf sb = STRBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_append(&sb, buf, n);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        strbuf_free(&sb);
        return NULL;
    }
    *len = sb.len;
    uint8_t *data = xmalloc(sb.len > 0 ? sb.len : 1);
    if (sb.len > 0)
        memcpy(data, sb.data, sb.len);
    strbuf_free(&sb);
    return data;
}

static int replay_file(const char *path)
{
    size_t len = 0;
    uint8_t *data = read_input(path, &len);
    if (data == NULL) {
        printf("# cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every file of dir in name order. Returns how many, or -1. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        printf("# cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    int rc = (int)n;
    for (size_t i = 0; i < n; i++) {
        struct strbuf path = STRBUF_INIT;
        strbuf_printf(&path, "%s/%s", dir, names[i]);
        if (replay_file(path.data) < 0)
            rc = -1;
        strbuf_free(&path);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base != NULL ? base + 1 : argv[0];
    const char *name = strncmp(base, "replay_", 7) == 0 ? base + 7 : base;

    printf("1..1\n");
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            if (replay_file(argv[i]) < 0) {
                printf("not ok 1 - %s: %s\n", name, argv[i]);
                return 1;
            }
        }
        printf("ok 1 - %s: %d inputs replayed\n", name, argc - 1);
        return 0;
    }
    const char *srcdir = getenv("EXECD_SRCDIR");
    struct strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/t/fuzz/corpus/%s", srcdir != NULL ? srcdir : EXECD_TEST_SRCDIR, name);
    int n = replay_dir(dir.data);
    if (n <= 0)
        printf("not ok 1 - %s: no seed replayed from %s\n", name, dir.data);
    else
        printf("ok 1 - %s: %d seeds of %s replayed\n", name, n, dir.data);
    strbuf_free(&dir);
    return n <= 0;
}
