#include "api/api.h"
#include "http/lifecycle.h"
#include "http/reply.h"
#include "proxy/proxy.h"

/* Answers before the body is read (the connection then closes), in the Go daemon's words. */
static void refuse(struct http_req *r, int status, const char *text, size_t len)
{
    http_answer_early(r);
    reply_body(r, status, "text/plain; charset=utf-8", text, len);
}

void api_proxy(struct http_req *r)
{
    int port;
    const char *rest;
    switch (proxy_target(http_path(r), &port, &rest)) {
    case PROXY_NO_PORT:
        refuse(r, 400, "port is required", 16);
        break;
    case PROXY_BAD_PORT:
        refuse(r, 502, "Bad Gateway", 11);
        break;
    case PROXY_TARGET_OK:
        proxy_start(r, port, rest);
        break;
    }
}
