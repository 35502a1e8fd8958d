/* The master process: runtime directory, event loop, signals, shutdown. */
#ifndef EXECD_MASTER_H
#define EXECD_MASTER_H

struct config;

/* Runs the daemon until shutdown; returns the process exit code. */
int master_run(struct config *cfg, int argc, char **argv, char **envp);

#endif
