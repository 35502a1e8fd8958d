/*
 * Replays a libFuzzer harness's corpus without libFuzzer (gcc, in `make check`): each file
 * of FUZZ_CORPUS (a directory, compiled in) goes through LLVMFuzzerTestOneInput once, and
 * the result is TAP, one line per file. A crash fails the test; `make fuzz` does the fuzzing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    DIR *d = opendir(FUZZ_CORPUS);
    if (d == NULL) {
        printf("1..0 # SKIP no corpus at %s\n", FUZZ_CORPUS);
        return 0;
    }
    char *names[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096) {
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), by_name);
    printf("1..%zu\n", n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", FUZZ_CORPUS, names[i]);
        FILE *f = fopen(path, "rb");
        static uint8_t buf[1 << 20];
        size_t len = f != NULL ? fread(buf, 1, sizeof(buf), f) : 0;
        if (f == NULL) {
            printf("not ok %zu - %s: cannot read it\n", i + 1, names[i]);
            failed = 1;
        } else {
            fclose(f);
            LLVMFuzzerTestOneInput(buf, len);
            printf("ok %zu - %s (%zu bytes)\n", i + 1, names[i], len);
        }
        free(names[i]);
    }
    return failed;
}
