#include "fdlimit.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

static struct {
    bool raised;
    struct rlimit original;
} fl;

long fdlimit_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("cannot read the descriptor limit: %s", strerror(errno));
        return 1024;
    }
    if (fl.raised || rl.rlim_cur == rl.rlim_max)
        return (long)rl.rlim_cur;
    struct rlimit want = {rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
        log_warn("cannot raise the descriptor limit from %llu to %llu: %s",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, strerror(errno));
        return (long)rl.rlim_cur;
    }
    fl.original = rl;
    fl.raised = true;
    log_debug("descriptor limit raised from %llu to %llu", (unsigned long long)rl.rlim_cur,
              (unsigned long long)rl.rlim_max);
    return (long)want.rlim_cur;
}

void fdlimit_restore(void)
{
    /* Lowering the soft limit below the hard one cannot fail. */
    if (fl.raised)
        setrlimit(RLIMIT_NOFILE, &fl.original);
}
