/*
 * The two roles of the one execd binary: master/main.c starts the master or, with
 * "--worker N", a worker. The worker's entry point is declared here so that the master
 * needs none of the worker's headers.
 */
#ifndef EXECD_ENTRY_H
#define EXECD_ENTRY_H

/* Entry point of "execd --worker N"; fd 3 is the channel to the master. */
int worker_main(int argc, char **argv);

#endif
