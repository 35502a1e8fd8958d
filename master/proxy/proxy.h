/*
 * The port proxy: ANY /proxy/{port}/{rest} forwarded to 127.0.0.1:{port}/{rest}, in the
 * master's event loop with non-blocking sockets. The request head goes out rewritten
 * (hop-by-hop fields removed, X-Forwarded-For and -Proto set, X-Forwarded-Host and the
 * access token dropped), the body follows as libevhtp parses it; the answer's head comes
 * back rewritten the same way and its body is passed through as it arrives (a chunked
 * body as it is, a body that ends with the connection re-chunked so the client connection
 * stays usable). Both directions stop reading above PROXY_HIGH bytes queued for the other
 * side and go on below PROXY_LOW. A 101 answer to an upgrade request (WebSocket) turns the
 * exchange into a tunnel of raw bytes until either side closes; the client connection
 * then closes too. One backend connection per exchange.
 *
 * /proxy/{the daemon's own port}/... never gets here: lifecycle.c routes it as the direct
 * path (proxy_target tells it the port).
 */
#ifndef EXECD_PROXY_H
#define EXECD_PROXY_H

#include "http/request.h"

#define PROXY_HIGH (1024 * 1024)
#define PROXY_LOW (256 * 1024)

enum proxy_target_rc {
    PROXY_TARGET_OK,
    PROXY_NO_PORT,  /* "/proxy/", "/proxy//x": 400 port is required */
    PROXY_BAD_PORT, /* not a port number: 502, as the Go daemon (its dial fails) */
};

/*
 * Splits a /proxy/... path: the port, and the rest of the path ("/" when empty), which
 * points into path or is a static "/".
 */
enum proxy_target_rc proxy_target(const char *path, int *port, const char **rest);
/* Starts proxying r (its headers are in; its body, if any, follows) to port at rest. */
void proxy_start(struct http_req *r, int port, const char *rest);

#endif
