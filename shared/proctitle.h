/*
 * Process titles an operator reads in ps and top ("execd: master", "execd: worker 0"),
 * as nginx and php-fpm set theirs: the command line (/proc/PID/cmdline) is rewritten in
 * place over the memory that held the original argument and environment strings, and the
 * thread name (/proc/PID/comm, what top shows) is set with prctl(PR_SET_NAME).
 */
#ifndef EXECD_PROCTITLE_H
#define EXECD_PROCTITLE_H

/*
 * Call first in main. Moves the argument and environment strings elsewhere so that their
 * memory can hold a title, and returns the arguments' new copy (argc entries and a NULL),
 * which the caller uses from then on: argv's strings are overwritten by proctitle_set.
 * The copies live as long as the process.
 */
char **proctitle_init(int argc, char **argv);

/*
 * Sets the command line to title (cut to the space proctitle_init found, at least the
 * original argument strings) and the thread name to its first 15 bytes, the kernel's
 * limit; "execd: worker 12" becomes "execd:worker 12" there, so the slot number stays
 * whole. A thread name that cannot be set is logged.
 */
void proctitle_set(const char *title);

#endif
