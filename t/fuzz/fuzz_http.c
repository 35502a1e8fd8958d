/*
 * Raw bytes from a client (master/http/ through libevhtp): one connection of anything,
 * requests or not, to the real server (t/fuzz/httpd.c). Exercises libevhtp's parser and
 * URI/query handling as the master uses them, the header limits (431), the early 401 and
 * 413, routing (404, 405), the handlers' decoding and the parse-error answers. The server
 * must close the connection once the client is done, and what it sends must be HTTP.
 *
 * Input: the bytes the client sends. The access token is "fuzz-token".
 */
#include "fuzz.h"
#include "httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strbuf answer = STRBUF_INIT;
    httpd_exchange(data, size, &answer);
    httpd_check_answer(&answer);
    strbuf_free(&answer);
    return 0;
}
