/*
 * Exit statuses of orphans the master reaped as child subreaper: the leaders of commands
 * whose worker died or was replaced. Each is broadcast at once (`reaped`), but the worker
 * that will adopt the command's record may not exist yet (its slot waits for a respawn) or
 * may not have adopted it yet (a reload). So the statuses are kept for a while (bounded in
 * number and age) and sent again to every worker right after its `config` and its `adopt`:
 * a worker that adopts a record whose process is gone waits a moment for them, and the
 * record gets the real exit status. A worker ignores pids it does not know.
 */
#ifndef EXECD_POOL_ORPHANS_H
#define EXECD_POOL_ORPHANS_H

#include <sys/types.h>

struct worker;

/* pid was reaped with status: kept, and sent to every live worker. */
void orphans_reaped(pid_t pid, int status);
/* Sends the kept statuses to w (after its config or adopt). */
void orphans_send(struct worker *w);
void orphans_free(void);

#endif
