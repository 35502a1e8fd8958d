/* systemd notification and socket activation without libsystemd. */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "strbuf.h"

/* A decimal without sign, spaces or trailing garbage; 0 on success. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* 1 when the pid variable is absent or names this process. */
static int for_this_process(const char *var, int required)
{
    const char *s = getenv(var);
    if (s == NULL)
        return !required;
    uint64_t pid;
    if (parse_u64(s, &pid) < 0) {
        log_warn("sdnotify: ignoring malformed %s=%s", var, s);
        return 0;
    }
    return pid == (uint64_t)getpid();
}

int sdnotify_open(struct sdnotify *n)
{
    memset(n, 0, sizeof(*n));
    n->fd = -1;
    const char *env = getenv("NOTIFY_SOCKET");
    if (env == NULL || *env == '\0') {
        unsetenv("NOTIFY_SOCKET");
        return 0;
    }
    size_t len = strlen(env);
    int rc = -1;
    if ((env[0] != '/' && env[0] != '@') || len >= sizeof(n->addr.sun_path)) {
        log_error("sdnotify: unsupported NOTIFY_SOCKET=%s (need a path or an @abstract name "
                  "shorter than %zu bytes)",
                  env, sizeof(n->addr.sun_path));
        goto out;
    }
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, env, len);
    if (env[0] == '@')
        n->addr.sun_path[0] = '\0';
    /* An abstract name is exactly len bytes; a path carries its NUL. */
    n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (env[0] == '/'));
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        log_error("sdnotify: socket for NOTIFY_SOCKET=%s: %m", env);
        goto out;
    }
    rc = 0;
out:
    unsetenv("NOTIFY_SOCKET");
    return rc;
}

void sdnotify_close(struct sdnotify *n)
{
    if (n->fd >= 0 && close(n->fd) < 0)
        log_warn("sdnotify: close: %m");
    n->fd = -1;
}

int sdnotify_enabled(const struct sdnotify *n)
{
    return n->fd >= 0;
}

int sdnotify_send(const struct sdnotify *n, const char *msg)
{
    if (n->fd < 0)
        return 0;
    size_t len = strlen(msg);
    ssize_t sent;
    do
        sent = sendto(n->fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)&n->addr, n->addrlen);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        int saved = errno;
        log_warn("sdnotify: sending \"%.40s\": %m", msg);
        errno = saved;
        return -1;
    }
    return 0;
}

int sdnotify_sendf(const struct sdnotify *n, const char *fmt, ...)
{
    if (n->fd < 0)
        return 0;
    struct strbuf msg = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);
    int rc = sdnotify_send(n, msg.data);
    strbuf_free(&msg);
    return rc;
}

int sdnotify_reloading(const struct sdnotify *n)
{
    return sdnotify_sendf(n, "RELOADING=1\nMONOTONIC_USEC=%" PRId64, clock_mono_us());
}

uint64_t sdnotify_watchdog_usec(void)
{
    uint64_t usec = 0;
    const char *s = getenv("WATCHDOG_USEC");
    if (s != NULL && for_this_process("WATCHDOG_PID", 0)) {
        if (parse_u64(s, &usec) < 0) {
            log_warn("sdnotify: ignoring malformed WATCHDOG_USEC=%s", s);
            usec = 0;
        }
    }
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return usec;
}

int sdnotify_listen_fds(void)
{
    int count = 0;
    const char *s = getenv("LISTEN_FDS");
    if (s != NULL && for_this_process("LISTEN_PID", 1)) {
        uint64_t v;
        if (parse_u64(s, &v) < 0 || v > 1024) {
            log_error("sdnotify: malformed LISTEN_FDS=%s", s);
            count = -1;
        } else {
            count = (int)v;
        }
        for (int fd = SDNOTIFY_LISTEN_FDS_START;
             count > 0 && fd < SDNOTIFY_LISTEN_FDS_START + count; fd++) {
            int flags = fcntl(fd, F_GETFD);
            if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
                log_error("sdnotify: inherited listener fd %d (LISTEN_FDS=%s): %m", fd, s);
                count = -1;
            }
        }
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return count;
}
