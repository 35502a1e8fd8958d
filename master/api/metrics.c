#include <string.h>

#include "api/api.h"
#include "http/reply.h"
#include "metrics/hostmetrics.h"
#include "metrics/selfstats.h"
#include "metrics/watch.h"

void api_metrics(struct http_req *r)
{
    struct strbuf body = STRBUF_INIT, err = STRBUF_INIT;
    if (hostmetrics_render(&body, &err) == 0)
        reply_json_text(r, 200, body.data, body.len);
    else
        reply_error(r, 500, ERR_RUNTIME_ERROR, "error reading runtime metrics. %s", err.data);
    strbuf_free(&body);
    strbuf_free(&err);
}

void api_metrics_watch(struct http_req *r)
{
    watch_start(r);
}

void api_metrics_daemon(struct http_req *r)
{
    struct strbuf body = STRBUF_INIT;
    selfstats_render(&body);
    reply_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", body.data, body.len);
    strbuf_free(&body);
}
