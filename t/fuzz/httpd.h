/*
 * The master's HTTP layer in the harness's own process (master/http/, master/api/): the
 * real server on an abstract AF_UNIX socket only the harness connects to, with the access
 * token HTTPD_TOKEN and no worker at all, so a request that needs one is answered 503 at
 * once (-worker-wait 0). Used by fuzz_http.c and fuzz_api.c.
 */
#ifndef EXECD_FUZZ_HTTPD_H
#define EXECD_FUZZ_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define HTTPD_TOKEN "fuzz-token"

/*
 * Sends req on a new connection, half-closes it and runs the server until it closes the
 * connection; answer gets what came back (at most its first megabyte). Starts the server
 * on first use. Aborts when the server keeps the connection open for 5 s without input.
 */
void httpd_exchange(const void *req, size_t len, struct strbuf *answer);

/* Aborts unless answer is a sequence of whole HTTP/1.1 responses (maybe none). */
void httpd_check_answer(const struct strbuf *answer);

#endif
