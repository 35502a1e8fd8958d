/*
 * The EXECD_ENVS file: KEY=VALUE lines merged into every command's
 * environment. Lines are trimmed; blank lines and lines starting with '#' are
 * skipped; lines without '=' (or with an empty key) are skipped and counted;
 * the value is $VAR-expanded against the daemon environment, undefined names
 * expanding to nothing. No quote handling, as in the Go daemon.
 */
#ifndef EXECD_ENVFILE_H
#define EXECD_ENVFILE_H

#include "envmap.h"
#include "pathexp.h"

/* Parses text into out. Returns the number of malformed lines skipped. */
int envfile_parse(const char *text, pathexp_lookup_fn lookup, void *arg, struct envmap *out);

/*
 * Reads the file named by the EXECD_ENVS setting (path may use ~ and $VAR).
 * A missing, unset or unreadable file yields no entries and returns -1 with a
 * reason in err (empty for "unset"); 0 on success.
 */
int envfile_load(const char *path, struct envmap *out, struct strbuf *err);

#endif
