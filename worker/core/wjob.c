#include "core/wjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strmap.h"

struct wjob {
    const struct wjob_ops *ops;
    void *obj;
};

static struct strmap jobs;

static void key_of(uint32_t job, char key[16])
{
    snprintf(key, 16, "%u", job);
}

void wjob_add(uint32_t job, const struct wjob_ops *ops, void *obj)
{
    struct wjob *j = malloc(sizeof(*j));
    if (j == NULL)
        abort();
    j->ops = ops;
    j->obj = obj;
    char key[16];
    key_of(job, key);
    free(strmap_put(&jobs, key, j));
}

void wjob_remove(uint32_t job)
{
    char key[16];
    key_of(job, key);
    free(strmap_del(&jobs, key));
}

void wjob_control(uint32_t job, const char *op)
{
    char key[16];
    key_of(job, key);
    struct wjob *j = strmap_get(&jobs, key);
    if (j == NULL) {
        log_debug("job %u: %s for a finished job ignored", job, op);
        return;
    }
    if (strcmp(op, "cancel") == 0 && j->ops->cancel != NULL)
        j->ops->cancel(j->obj);
    else if (strcmp(op, "pause") == 0 && j->ops->pause != NULL)
        j->ops->pause(j->obj);
    else if (strcmp(op, "resume") == 0 && j->ops->resume != NULL)
        j->ops->resume(j->obj);
}

void wjob_free_all(void)
{
    strmap_free(&jobs, free);
}
