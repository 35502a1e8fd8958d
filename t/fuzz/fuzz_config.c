/*
 * The configuration (master/config.c, config_parse.c): an ini file and environment
 * variables read over the defaults, as at start and on every reload; a configuration that
 * loads is then described, as the startup line does.
 *
 * Input: INI \0 ENV-LINES ("NAME=value" separated by \n).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static int ini_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ini_fd < 0 && (ini_fd = memfd_create("execd-fuzz.conf", MFD_CLOEXEC)) < 0)
        abort();
    struct fuzz_in in = {data, size};
    size_t ini_len;
    char *ini = fuzz_field(&in, '\0', &ini_len);
    if (ftruncate(ini_fd, 0) < 0 || pwrite(ini_fd, ini, ini_len, 0) != (ssize_t)ini_len)
        abort();

    char **envp = xcalloc(in.n + 1, sizeof(*envp));
    size_t n_env = 0;
    while (in.n > 0)
        envp[n_env++] = fuzz_field(&in, '\n', NULL);

    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", ini_fd);
    char *argv[] = {"execd", "-c", path, NULL};
    struct config cfg;
    struct strbuf err = STRBUF_INIT, text = STRBUF_INIT;
    enum config_rc rc = config_load(&cfg, 3, argv, envp, &err);
    if (rc == CONFIG_OK) {
        config_describe(&cfg, &text);
        if (config_worker_count(&cfg) < 1)
            abort();
    } else if (rc != CONFIG_ERROR || err.len == 0) {
        abort();
    }
    config_free(&cfg);

    strbuf_free(&err);
    strbuf_free(&text);
    for (size_t i = 0; i < n_env; i++)
        free(envp[i]);
    free(envp);
    free(ini);
    return 0;
}
