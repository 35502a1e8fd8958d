#include "fsutil.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"

int fsutil_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fsutil_mkdir_p(const char *dir, mode_t mode)
{
    struct strbuf p = STRBUF_INIT;
    strbuf_append_str(&p, dir);
    for (char *c = p.data + 1; *c != '\0'; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p.data, 0755) < 0 && errno != EEXIST) {
            int saved = errno;
            strbuf_free(&p);
            errno = saved;
            return -1;
        }
        *c = '/';
    }
    int rc = mkdir(p.data, mode);
    int saved = errno;
    strbuf_free(&p);
    errno = saved;
    return rc < 0 && saved != EEXIST ? -1 : 0;
}
