/*
 * Cutting a run of framed stream events ("<json>\n\n"...) on event boundaries: the
 * channel to the master sends whole events per datagram, and a spool hands out whole
 * events only, so the master relays every frame without reassembly.
 */
#ifndef EXECD_EVSPLIT_H
#define EXECD_EVSPLIT_H

#include <stddef.h>

/* Length of the last "\n\n"-terminated prefix of p[0..len), 0 when there is none. */
size_t evsplit_last(const char *p, size_t len);
/*
 * Length of the longest prefix of p[0..len) made of whole events within max bytes; when
 * the first event alone is bigger, that event (or all of p when it is not terminated).
 */
size_t evsplit_prefix(const char *p, size_t len, size_t max);

#endif
