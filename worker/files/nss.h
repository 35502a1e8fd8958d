/*
 * Lookups in the user and group databases (names <-> ids). The reentrant getpw/getgr
 * calls want a caller buffer of unknown size: it grows on ERANGE, up to 1 MiB.
 */
#ifndef EXECD_NSS_H
#define EXECD_NSS_H

#include <stdbool.h>

#include "strbuf.h"

/* Appends the name of uid (is_user) or gid id to out. Returns 0, or -1 when it has none. */
int nss_name(unsigned id, bool is_user, struct strbuf *out);
/*
 * The id of the user (is_user) or group called name. Returns 0, or the lookup's error
 * number (an errno), or -1 when there is no such name.
 */
int nss_id(const char *name, bool is_user, unsigned *id);

#endif
