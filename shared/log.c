#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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
} logger = {STDERR_FILENO, LOG_LEVEL_INFO, LOG_FORMAT_TEXT, "", "execd"};

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
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

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
    ssize_t w = write(logger.fd, line.data, line.len);
    if (w < 0 && logger.fd != STDERR_FILENO) {
        /* The log file is gone (disk full, revoked): stderr is the last resort. */
        if (write(STDERR_FILENO, line.data, line.len) < 0)
            errno = saved_errno;
    }
    strbuf_free(&line);
    strbuf_free(&msg);
    errno = saved_errno;
}
