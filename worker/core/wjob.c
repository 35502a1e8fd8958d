#include "core/wjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strmap.h"
#include "xalloc.h"

struct wjob {
    const struct wjob_ops *ops;
    void *obj;
};

static struct strmap jobs;

static void key_of(uint32_t job, char key[16])
{
    snprintf(key, 16, "%u", job);
}

static struct wjob *find(uint32_t job)
{
    char key[16];
    key_of(job, key);
    return strmap_get(&jobs, key);
}

void wjob_add(uint32_t job, const struct wjob_ops *ops, void *obj)
{
    struct wjob *j = xmalloc(sizeof(*j));
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
    struct wjob *j = find(job);
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

void wjob_data(uint32_t job, const char *data, size_t len)
{
    struct wjob *j = find(job);
    if (j == NULL || j->ops->data == NULL) {
        log_debug("job %u: body data for no upload dropped", job);
        return;
    }
    j->ops->data(j->obj, data, len);
}

void wjob_free_all(void)
{
    strmap_free(&jobs, free);
}
