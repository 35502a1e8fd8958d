#include "api/api.h"
#include "http/reply.h"

void api_ping(struct http_req *r)
{
    reply_empty(r, 200);
}
