/*
 * The worker's JSON state files (command records, context records, kernel state) are
 * replaced atomically: written to <path>.tmp, then renamed over path, so a worker that
 * takes the state over after a crash never reads half a file.
 */
#ifndef EXECD_JSONFILE_H
#define EXECD_JSONFILE_H

#include <json-c/json.h>

#include "strbuf.h"

/* Writes o (mode 0600) to path. Returns 0, or -1 with the path and the reason in err. */
int jsonfile_save(const char *path, json_object *o, struct strbuf *err);

#endif
