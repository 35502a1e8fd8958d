#include "procstat.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int procstat_read(pid_t pid, struct procstat *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';

    /* "pid (comm) state ppid ...": comm may contain anything, so parse after the
     * last ')'. Field 3 is the state, 4 the parent, 22 the start time. */
    const char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0')
        return -1;
    out->state = p[2];
    out->ppid = (pid_t)strtol(p + 4, NULL, 10);
    for (int field = 2; p != NULL && field < 22; field++)
        p = strchr(p + 1, ' ');
    out->start = p != NULL ? strtoull(p + 1, NULL, 10) : 0;
    return 0;
}

bool procstat_same(pid_t pid, unsigned long long start)
{
    struct procstat st;
    return pid > 0 && start != 0 && procstat_read(pid, &st) == 0 && st.start == start;
}
