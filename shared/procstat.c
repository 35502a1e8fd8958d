#include "procstat.h"

#include <dirent.h>
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
     * last ')'. Fields (from 1): 3 state, 4 parent, 6 session, 14-17 utime, stime,
     * cutime, cstime, 22 start time. */
    const char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0')
        return -1;
    out->state = p[2];
    out->ppid = 0;
    out->session = 0;
    out->cpu = 0;
    out->start = 0;
    p += 2;
    for (int field = 3; field <= 22 && p != NULL; field++) {
        if (field == 4)
            out->ppid = (pid_t)strtol(p, NULL, 10);
        else if (field == 6)
            out->session = (pid_t)strtol(p, NULL, 10);
        else if (field >= 14 && field <= 17)
            out->cpu += strtoull(p, NULL, 10);
        else if (field == 22)
            out->start = strtoull(p, NULL, 10);
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    return 0;
}

unsigned long long procstat_session_cpu(pid_t sid)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    unsigned long long sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        struct procstat st;
        if (*end == '\0' && pid > 0 && procstat_read((pid_t)pid, &st) == 0 && st.session == sid)
            sum += st.cpu;
    }
    closedir(d);
    return sum;
}

bool procstat_same(pid_t pid, unsigned long long start)
{
    struct procstat st;
    return pid > 0 && start != 0 && procstat_read(pid, &st) == 0 && st.start == start;
}
