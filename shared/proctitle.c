/* Process titles: the command line rewritten in place, the thread name with prctl. */
#include "proctitle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "log.h"
#include "xalloc.h"

extern char **environ;

/* The kernel's limit of a thread name, without the NUL. */
#define COMM_MAX 15

static struct {
    char *start;   /* the memory the kernel gave the argument and environment strings */
    char *end;     /* one past its last byte */
    char **argv;   /* the arguments' copy */
    char *strings; /* the copies of the arguments' and the environment's strings */
} pt;

/* Extends pt.end over s when s starts right where the area ends (the kernel lays the
 * strings out back to back; one placed elsewhere ends the area). */
static void extend(const char *s)
{
    if (pt.end != NULL && s == pt.end)
        pt.end += strlen(s) + 1;
}

char **proctitle_init(int argc, char **argv)
{
    size_t bytes = 0, n_env = 0;
    for (int i = 0; i < argc; i++)
        bytes += strlen(argv[i]) + 1;
    for (char **e = environ; e != NULL && *e != NULL; e++, n_env++)
        bytes += strlen(*e) + 1;

    if (argc > 0) {
        pt.start = pt.end = argv[0];
        for (int i = 0; i < argc; i++)
            extend(argv[i]);
        for (size_t i = 0; i < n_env; i++)
            extend(environ[i]);
    }

    pt.argv = xcalloc((size_t)argc + 1, sizeof(*pt.argv));
    pt.strings = xmalloc(bytes + 1);
    char *p = pt.strings;
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]) + 1;
        pt.argv[i] = memcpy(p, argv[i], len);
        p += len;
    }
    /* The environment's strings move too: a title longer than the arguments takes their
     * place. environ itself (the array) stays, so setenv and unsetenv work as before. */
    for (size_t i = 0; i < n_env; i++) {
        size_t len = strlen(environ[i]) + 1;
        environ[i] = memcpy(p, environ[i], len);
        p += len;
    }
    if (argc > 0) {
        program_invocation_name = pt.argv[0];
        const char *slash = strrchr(pt.argv[0], '/');
        program_invocation_short_name = slash != NULL ? (char *)slash + 1 : pt.argv[0];
    }
    return pt.argv;
}

/* The thread name: the title, without the space after its colon when that makes it fit. */
static void comm_of(const char *title, char out[COMM_MAX + 1])
{
    const char *colon = strstr(title, ": ");
    size_t len = strlen(title);
    if (len > COMM_MAX && colon != NULL)
        snprintf(out, COMM_MAX + 1, "%.*s:%s", (int)(colon - title), title, colon + 2);
    else
        snprintf(out, COMM_MAX + 1, "%s", title);
}

void proctitle_set(const char *title)
{
    if (pt.start != NULL && pt.end > pt.start) {
        size_t room = (size_t)(pt.end - pt.start);
        size_t len = strlen(title);
        if (len > room - 1)
            len = room - 1;
        memcpy(pt.start, title, len);
        /* NULs after the title: ps shows nothing of the old arguments. */
        memset(pt.start + len, 0, room - len);
    }
    char comm[COMM_MAX + 1];
    comm_of(title, comm);
    if (prctl(PR_SET_NAME, comm, 0, 0, 0) < 0)
        log_warn("cannot set the process name to \"%s\": %s", comm, strerror(errno));
}
