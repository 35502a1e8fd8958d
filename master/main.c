/*
 * execd: the sandbox execution daemon. One binary: started normally it is the
 * master (HTTP, routing, supervision); the master re-executes it with
 * "--worker N" for each worker process.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "entry.h"
#include "log.h"
#include "master.h"

extern char **environ;

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);

    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    enum config_rc rc = config_load(&cfg, argc, argv, environ, &err);
    if (rc == CONFIG_HELP) {
        struct strbuf usage = STRBUF_INIT;
        config_usage(&usage, argv[0]);
        fputs(usage.data, stdout);
        strbuf_free(&usage);
        config_free(&cfg);
        return 0;
    }
    if (rc != CONFIG_OK) {
        fprintf(stderr, "execd: %s\nRun '%s -h' for the list of settings.\n",
                err.data ? err.data : "invalid configuration", argv[0]);
        strbuf_free(&err);
        config_free(&cfg);
        return 2;
    }
    strbuf_free(&err);

    if (log_setup(cfg.log_file, cfg.log_level, cfg.log_format, "master") < 0) {
        fprintf(stderr, "execd: cannot open log file %s: %m\n", cfg.log_file);
        config_free(&cfg);
        return 2;
    }
    for (char *line = cfg.warnings.data, *nl; line != NULL && (nl = strchr(line, '\n')) != NULL;
         line = nl + 1) {
        *nl = '\0';
        log_warn("%s", line);
    }
    char **own_argv = config_hide_secrets(argc, argv);
    int code = master_run(&cfg, argc, own_argv, environ);
    config_free_argv(own_argv);
    config_free(&cfg);
    log_close();
    return code;
}
