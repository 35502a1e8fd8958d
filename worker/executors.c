/*
 * The executors of a worker. Adding one is a folder with its code, one
 * `const struct executor` there, and one line here (see docs/architecture.md).
 */
#include "executor.h"

#include <string.h>

extern const struct executor command_executor;
extern const struct executor jupyter_executor;
extern const struct executor files_executor;
extern const struct executor sql_executor;
extern const struct executor session_executor;
extern const struct executor pty_executor;

const struct executor *const executors[] = {
    &command_executor,
    &jupyter_executor,
    &files_executor,
    &sql_executor,
    &session_executor,
    &pty_executor,
    NULL,
};

const struct executor_op *executor_op(const char *op)
{
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        for (const struct executor_op *o = (*e)->ops; o->name != NULL; o++) {
            if (strcmp(o->name, op) == 0)
                return o;
        }
    }
    return NULL;
}

const struct executor *executor_named(const char *name)
{
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if (strcmp((*e)->name, name) == 0)
            return *e;
    }
    return NULL;
}

const struct executor *executor_for_kind(const char *kind)
{
    for (const struct executor *const *e = executors; *e != NULL; e++) {
        if ((*e)->interrupt_kind != NULL && strcmp((*e)->interrupt_kind, kind) == 0)
            return *e;
    }
    return NULL;
}
