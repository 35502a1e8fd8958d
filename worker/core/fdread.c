#include "core/fdread.h"

#include <errno.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)

enum fdread_rc fdread_chunks(int fd, int max_reads,
                             void (*fn)(void *arg, const char *data, size_t len), void *arg)
{
    char buf[READ_CHUNK];
    for (int i = 0; i < max_reads; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            fn(arg, buf, (size_t)n);
            if ((size_t)n < sizeof(buf))
                return FDREAD_AGAIN;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return FDREAD_AGAIN;
        if (n == 0)
            errno = 0;
        return FDREAD_CLOSED;
    }
    return FDREAD_AGAIN;
}
