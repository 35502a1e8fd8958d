/*
 * HTTP dates (RFC 9110 §5.6.7) for Last-Modified and the conditional
 * headers of GET /files/download, as Go's net/http reads and writes them:
 * written as IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), read in that
 * form, the obsolete RFC 850 form ("Sunday, 06-Nov-94 08:49:37 GMT") and
 * asctime's ("Sun Nov  6 08:49:37 1994"). Independent of the locale.
 */
#ifndef EXECD_HTTPDATE_H
#define EXECD_HTTPDATE_H

#include <time.h>

#define HTTPDATE_LEN 30 /* "Sun, 06 Nov 1994 08:49:37 GMT" plus NUL */

/* Formats t (seconds since the epoch, UTC) into out. */
void httpdate_format(time_t t, char out[HTTPDATE_LEN]);
/* Parses s. Returns 0 and *out, or -1 when s is none of the three forms. */
int httpdate_parse(const char *s, time_t *out);

#endif
