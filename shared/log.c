#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

static struct {
    int fd;
    int level;
    enum log_format format;
    char path[4096];
    char proc[32];
    /* Deferred mode: lines gathered until log_flush (see log_defer). */
    void (*schedule)(void *arg);
    void *schedule_arg;
    struct strbuf pending;
} logger = {STDERR_FILENO, LOG_LEVEL_INFO, LOG_FORMAT_TEXT, "", "execd", NULL, NULL, STRBUF_INIT};

/* The rendered second of the thread's last line: strftime once a second, not once a line
 * (workers log from their walk threads too). */
static _Thread_local time_t when_sec = -1;
static _Thread_local char when_text[32];

/* Pending lines above this are written at once. */
#define PENDING_MAX (64 * 1024)

static void write_lines(const char *lines, size_t len)
{
    ssize_t w = write(logger.fd, lines, len);
    if (w < 0 && logger.fd != STDERR_FILENO) {
        /* The log file is gone (disk full, revoked): stderr is the last resort. */
        if (write(STDERR_FILENO, lines, len) < 0)
            return;
    }
}

void log_flush(void)
{
    if (logger.pending.len == 0)
        return;
    int saved_errno = errno;
    write_lines(logger.pending.data, logger.pending.len);
    strbuf_reset(&logger.pending);
    errno = saved_errno;
}

void log_defer(void (*schedule)(void *arg), void *arg)
{
    log_flush();
    if (schedule == NULL)
        strbuf_free(&logger.pending);
    logger.schedule = schedule;
    logger.schedule_arg = arg;
}

static int open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int log_setup(const char *path, int level, enum log_format format, const char *proc)
{
    logger.level = level;
    logger.format = format;
    snprintf(logger.proc, sizeof(logger.proc), "%s", proc);
    snprintf(logger.path, sizeof(logger.path), "%s", path ? path : "");
    if (logger.path[0] == '\0')
        return 0;
    log_flush();
    int fd = open_log_file(logger.path);
    if (fd < 0)
        return -1;
    if (logger.fd != STDERR_FILENO)
        close(logger.fd);
    logger.fd = fd;
    return 0;
}

int log_reopen(void)
{
    if (logger.path[0] == '\0')
        return 0;
    log_flush();
    int fd = open_log_file(logger.path);
    if (fd < 0) {
        int saved = errno;
        log_error("cannot reopen log file %s: %s", logger.path, strerror(saved));
        errno = saved;
        return -1;
    }
    if (logger.fd != STDERR_FILENO)
        close(logger.fd);
    logger.fd = fd;
    return 0;
}

void log_set_level(int level)
{
    logger.level = level;
}

int log_enabled(int level)
{
    if (level <= LOG_LEVEL_FATAL)
        return 1;
    return level <= logger.level;
}

int log_fd(void)
{
    return logger.fd;
}

void log_close(void)
{
    log_flush();
    if (logger.fd != STDERR_FILENO)
        close(logger.fd);
    logger.fd = STDERR_FILENO;
}

static const char *level_name(int level)
{
    if (level <= LOG_LEVEL_FATAL)
        return "fatal";
    if (level == LOG_LEVEL_ERROR)
        return "error";
    if (level == LOG_LEVEL_WARN)
        return "warn";
    if (level < LOG_LEVEL_DEBUG)
        return "info";
    return "debug";
}

static void append_json_string(struct strbuf *sb, const char *s)
{
    strbuf_append_char(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            strbuf_append_char(sb, '\\');
            strbuf_append_char(sb, (char)*p);
        } else if (*p < 0x20) {
            strbuf_printf(sb, "\\u%04x", *p);
        } else {
            strbuf_append_char(sb, (char)*p);
        }
    }
    strbuf_append_char(sb, '"');
}

void log_msg(int level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    int saved_errno = errno;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != when_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        if (strftime(when_text, sizeof(when_text), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
            when_text[0] = '\0';
        when_sec = ts.tv_sec;
    }
    char when[40];
    snprintf(when, sizeof(when), "%s.%03ldZ", when_text, ts.tv_nsec / 1000000);

    struct strbuf msg = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);

    struct strbuf line = STRBUF_INIT;
    if (logger.format == LOG_FORMAT_JSON) {
        strbuf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"proc\":\"%s\",\"msg\":", when,
                      level_name(level), logger.proc);
        append_json_string(&line, msg.data ? msg.data : "");
        strbuf_append_str(&line, "}\n");
    } else {
        strbuf_printf(&line, "%s %-5s [%s] %s\n", when, level_name(level), logger.proc,
                      msg.data ? msg.data : "");
    }
    if (logger.schedule == NULL) {
        write_lines(line.data, line.len);
    } else {
        bool first = logger.pending.len == 0;
        strbuf_append(&logger.pending, line.data, line.len);
        /* An error may be the last thing a dying process says: it goes out at once. */
        if (level <= LOG_LEVEL_ERROR || logger.pending.len > PENDING_MAX)
            log_flush();
        else if (first)
            logger.schedule(logger.schedule_arg);
    }
    strbuf_free(&line);
    strbuf_free(&msg);
    errno = saved_errno;
}
