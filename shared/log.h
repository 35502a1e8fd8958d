/*
 * Logging shared by the master and the workers: one line per message, written
 * with a single write(2) (or several whole lines in one, deferred mode) so lines
 * from several processes appending to the same file never interleave. Levels follow the Go daemon's
 * -log-level numbers.
 */
#ifndef EXECD_LOG_H
#define EXECD_LOG_H

enum log_level {
    LOG_LEVEL_FATAL = 2,
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARN = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

/*
 * path NULL or "" logs to stderr. proc names the process in every line
 * ("master", "worker-1"). Returns 0, or -1 with errno when the file cannot be
 * opened (logging then stays on stderr).
 */
int log_setup(const char *path, int level, enum log_format format, const char *proc);
/* Re-opens the log file (SIGUSR1, after rotation). Returns 0 or -1. */
int log_reopen(void);
void log_set_level(int level);
int log_enabled(int level);
/* The fd lines go to, for children that should inherit it. */
int log_fd(void);
void log_close(void);

/*
 * Deferred mode, for a process serving many requests per event-loop turn: lines are
 * gathered and written together (still whole lines, one write(2)) by log_flush, which the
 * caller runs before its loop waits again; schedule(arg) is called when the first line of
 * a batch is gathered. Errors, and a batch over 64 KiB, are written at once; log_setup,
 * log_reopen and log_close flush. schedule NULL: back to one write per line.
 */
void log_defer(void (*schedule)(void *arg), void *arg);
void log_flush(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_fatal(...) log_msg(LOG_LEVEL_FATAL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
