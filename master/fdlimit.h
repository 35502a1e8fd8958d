/*
 * The master's descriptor limit. Every client connection costs the master a descriptor
 * (two while a file is sent), so it raises its soft RLIMIT_NOFILE to the hard limit.
 * Workers, and so commands and kernels, start with the limit the daemon was started with:
 * programs that size tables by it or close every possible descriptor would otherwise pay
 * for a limit they do not need.
 */
#ifndef EXECD_FDLIMIT_H
#define EXECD_FDLIMIT_H

/* Raises the soft limit to the hard one (once). Returns the soft limit in effect. */
long fdlimit_raise(void);
/* In a forked child before exec: the limit the daemon was started with. Async-signal-safe. */
void fdlimit_restore(void);

#endif
