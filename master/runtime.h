/*
 * The runtime directory (0700): per-slot worker state (w<N>/: command records
 * and logs, kernel connection files, PTY session records). Leftovers of a previous
 * daemon instance are removed at start, their kernels and shells killed first.
 */
#ifndef EXECD_RUNTIME_H
#define EXECD_RUNTIME_H

/* Creates dir (0700) and clears what a previous instance left. Returns 0 or -1 (logged). */
int runtime_prepare(const char *dir);
/* Removes path recursively without following symlinks. Returns 0 or -1 (errno). */
int runtime_remove_tree(const char *path);
/* SIGKILLs every descendant of this process (strays left at shutdown), waiting up to 2 s for
 * dying children to hand over their orphans. Returns how many kills were sent. */
int runtime_kill_descendants(void);

#endif
