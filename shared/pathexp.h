/*
 * Path arguments as the Go daemon reads them: $NAME and ${NAME} expanded
 * (an undefined variable is an error), a leading ~ replaced by the home
 * directory, optionally made absolute against the daemon's cwd and cleaned.
 */
#ifndef EXECD_PATHEXP_H
#define EXECD_PATHEXP_H

#include "strbuf.h"

/* Returns the value of name, or NULL when it is not defined. */
typedef const char *(*pathexp_lookup_fn)(const char *name, void *arg);

/* Looks names up in the process environment (getenv). */
const char *pathexp_getenv(const char *name, void *arg);

/*
 * Expands $NAME and ${NAME} in `in`, appending to out. Undefined names expand
 * to nothing; when missing is not NULL they are also collected there, sorted
 * and comma-joined.
 */
void pathexp_vars(const char *in, pathexp_lookup_fn lookup, void *arg, struct strbuf *out,
                  struct strbuf *missing);

/*
 * Expands variables and ~ in `in` into out. lookup resolves variables and HOME.
 * Returns 0, or -1 with a message in err ("path references undefined
 * environment variables: A,B") and out left empty.
 */
int pathexp_expand(const char *in, pathexp_lookup_fn lookup, void *arg, struct strbuf *out,
                   struct strbuf *err);

/* pathexp_expand, then made absolute against the cwd and cleaned. */
int pathexp_expand_abs(const char *in, pathexp_lookup_fn lookup, void *arg, struct strbuf *out,
                       struct strbuf *err);

/* Lexical cleaning like Go's filepath.Clean ("a//b/../c/" -> "a/c"). */
void pathexp_clean(const char *in, struct strbuf *out);

#endif
