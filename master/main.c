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
#include "proctitle.h"

extern char **environ;

/* -h, -v and -t: answered on the terminal, nothing started. Returns the exit code. */
static int answer_without_starting(enum config_rc rc, const struct config *cfg,
                                   const struct strbuf *err, const char *prog)
{
    if (rc == CONFIG_HELP) {
        struct strbuf usage = STRBUF_INIT;
        config_usage(&usage, prog);
        fputs(usage.data, stdout);
        strbuf_free(&usage);
        return 0;
    }
    if (rc == CONFIG_VERSION) {
        printf("execd %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (rc != CONFIG_OK) {
        fprintf(stderr, "execd: %s\n", err->data ? err->data : "invalid configuration");
        if (cfg->test_only)
            fputs("execd: configuration test failed\n", stderr);
        else
            fprintf(stderr, "Run '%s -h' for the list of settings.\n", prog);
        return 2;
    }
    for (const char *line = cfg->warnings.data, *nl; line != NULL && (nl = strchr(line, '\n'));
         line = nl + 1)
        fprintf(stderr, "execd: warning: %.*s\n", (int)(nl - line), line);
    fprintf(stderr, "execd: configuration %s%s is valid\n",
            cfg->config_file != NULL ? "file " : "(flags, environment and defaults)",
            cfg->config_file != NULL ? cfg->config_file : "");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);

    /*
     * argv's strings become the process title at once (so a token given as a flag leaves
     * /proc/PID/cmdline, which every user can read); the copy keeps them for SIGHUP re-reads.
     */
    char **args = proctitle_init(argc, argv);
    proctitle_set("execd: master");
    struct config cfg;
    struct strbuf err = STRBUF_INIT;
    enum config_rc rc = config_load(&cfg, argc, args, environ, &err);
    if (rc != CONFIG_OK || cfg.test_only) {
        int code = answer_without_starting(rc, &cfg, &err, args[0]);
        strbuf_free(&err);
        config_free(&cfg);
        return code;
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
    int code = master_run(&cfg, argc, args, environ);
    config_free(&cfg);
    log_close();
    return code;
}
