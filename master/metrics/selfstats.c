#include "metrics/selfstats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "http/listener.h"
#include "http/router.h"
#include "list.h"
#include "pool/supervisor.h"
#include "relay/coderoute.h"
#include "relay/job.h"
#include "relay/registry.h"
#include "strmap.h"
#include "xalloc.h"

/* Upper bounds of the request duration histogram, in microseconds. */
static const int64_t bounds_us[] = {500,    1000,    5000,    10000,    50000,    100000,
                                    500000, 1000000, 5000000, 30000000, 300000000};
#define N_BOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))
/* Distinct statuses counted per route and method; later ones are counted as "other". */
#define MAX_STATUSES 24

struct status_count {
    int status; /* 0: other */
    uint64_t n;
};

struct route_stats {
    const char *route; /* the route's pattern, or "unmatched" */
    char method[16];
    uint64_t buckets[N_BOUNDS + 1]; /* the last one: above every bound */
    uint64_t count;
    int64_t sum_us;
    struct status_count statuses[MAX_STATUSES];
    int n_statuses;
    struct list node;
};

static struct {
    struct strmap by_key; /* "METHOD route" */
    struct list order;    /* as first seen */
    uint64_t streams_open;
    uint64_t streamed;
    uint64_t proxies_open, proxies_total;
    uint64_t to_backend, to_client;
    time_t started;
} st = {.order = LIST_HEAD_INIT(st.order)};

static struct route_stats *stats_of(const struct route *route, const char *method)
{
    const char *pattern = route != NULL ? route->pattern : "unmatched";
    char key[512];
    snprintf(key, sizeof(key), "%s %s", method, pattern);
    struct route_stats *s = strmap_get(&st.by_key, key);
    if (s != NULL)
        return s;
    s = xcalloc(1, sizeof(*s));
    s->route = pattern;
    snprintf(s->method, sizeof(s->method), "%s", method);
    strmap_put(&st.by_key, key, s);
    list_add_tail(&st.order, &s->node);
    return s;
}

/* The counter of status (0: "other" once MAX_STATUSES - 1 distinct ones are counted). */
static struct status_count *status_slot(struct route_stats *s, int status)
{
    for (int i = 0; i < s->n_statuses; i++) {
        if (s->statuses[i].status == status)
            return &s->statuses[i];
    }
    if (s->n_statuses == MAX_STATUSES - 1 && status != 0)
        return status_slot(s, 0);
    struct status_count *c = &s->statuses[s->n_statuses++];
    c->status = status;
    return c;
}

void selfstats_request(const struct route *route, const char *method, int status,
                       int64_t duration_us)
{
    struct route_stats *s = stats_of(route, method);
    size_t b = 0;
    while (b < N_BOUNDS && duration_us > bounds_us[b])
        b++;
    s->buckets[b]++;
    s->count++;
    s->sum_us += duration_us;
    status_slot(s, status)->n++;
}

void selfstats_stream_opened(void)
{
    st.streams_open++;
}

void selfstats_stream_closed(void)
{
    st.streams_open--;
}

void selfstats_streamed(size_t bytes)
{
    st.streamed += bytes;
}

void selfstats_proxy_opened(void)
{
    st.proxies_open++;
    st.proxies_total++;
}

void selfstats_proxy_closed(void)
{
    st.proxies_open--;
}

void selfstats_proxied(size_t to_backend, size_t to_client)
{
    st.to_backend += to_backend;
    st.to_client += to_client;
}

/* ---- rendering ---------------------------------------------------------------------- */

static void family(struct strbuf *out, const char *name, const char *type, const char *help)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct strbuf *out, const char *name, const char *labels, double v)
{
    strbuf_printf(out, "%s%s%s%s %.17g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                  v);
}

static void render_requests(struct strbuf *out)
{
    family(out, "execd_http_requests_total", "counter",
           "HTTP requests answered, by route (the pattern matched), method and status.");
    list_each_safe(&st.order, it, nx)
    {
        struct route_stats *s = list_entry(it, struct route_stats, node);
        for (int i = 0; i < s->n_statuses; i++) {
            char status[16];
            if (s->statuses[i].status != 0)
                snprintf(status, sizeof(status), "%d", s->statuses[i].status);
            else
                snprintf(status, sizeof(status), "other");
            strbuf_printf(out,
                          "execd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} "
                          "%llu\n",
                          s->route, s->method, status, (unsigned long long)s->statuses[i].n);
        }
    }
    family(out, "execd_http_request_duration_seconds", "histogram",
           "Time from a request's first line to its last byte answered (streams included).");
    list_each_safe(&st.order, it, nx)
    {
        struct route_stats *s = list_entry(it, struct route_stats, node);
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= N_BOUNDS; b++) {
            cumulative += s->buckets[b];
            char le[32];
            if (b < N_BOUNDS)
                snprintf(le, sizeof(le), "%g", (double)bounds_us[b] / 1e6);
            else
                snprintf(le, sizeof(le), "+Inf");
            strbuf_printf(out,
                          "execd_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
                          "le=\"%s\"} %llu\n",
                          s->route, s->method, le, (unsigned long long)cumulative);
        }
        strbuf_printf(out,
                      "execd_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
                      "execd_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} "
                      "%llu\n",
                      s->route, s->method, (double)s->sum_us / 1e6, s->route, s->method,
                      (unsigned long long)s->count);
    }
}

/* Running executions by kind: jobs in flight, plus background commands workers report. */
struct kinds {
    const char *name[8];
    int n[8];
    int count;
};

static void count_kind(const struct job *j, void *arg)
{
    struct kinds *k = arg;
    if (!j->execution)
        return;
    int i = 0;
    while (i < k->count && strcmp(k->name[i], j->kind) != 0)
        i++;
    if (i == k->count) {
        if (k->count == 8)
            return;
        k->name[k->count++] = j->kind;
    }
    k->n[i]++;
}

static void count_one(const char *id EXECD_UNUSED, const char *attr EXECD_UNUSED, void *arg)
{
    (*(int *)arg)++;
}

static void render_work(struct strbuf *out)
{
    struct kinds k = {.name = {"command", "code"}, .count = 2};
    job_each(count_kind, &k);
    family(out, "execd_executions_running", "gauge",
           "Executions running: foreground commands, code runs, background commands.");
    for (int i = 0; i < k.count; i++)
        strbuf_printf(out, "execd_executions_running{kind=\"%s\"} %d\n", k.name[i], k.n[i]);
    strbuf_printf(out, "execd_executions_running{kind=\"background_command\"} %d\n",
                  supervisor_background_total());

    int in_use = 0;
    registry_each("context", count_one, &in_use);
    family(out, "execd_kernels", "gauge",
           "Jupyter kernels: warm (started, not handed out yet) and in use (code contexts).");
    strbuf_printf(out, "execd_kernels{state=\"warm\"} %d\nexecd_kernels{state=\"in_use\"} %d\n",
                  coderoute_warm_count(), in_use);
}

static void render_pool(struct strbuf *out)
{
    family(out, "execd_worker_slots", "gauge", "Worker processes configured (-workers).");
    sample(out, "execd_worker_slots", "", supervisor_slot_count());
    family(out, "execd_workers_alive", "gauge", "Worker processes running.");
    sample(out, "execd_workers_alive", "", supervisor_worker_count());
    family(out, "execd_workers_ready", "gauge", "Worker processes ready for work.");
    sample(out, "execd_workers_ready", "", supervisor_ready_count());
    family(out, "execd_worker_respawns_total", "counter",
           "Workers started again after one died (reloads are not counted).");
    sample(out, "execd_worker_respawns_total", "", (double)supervisor_respawns());
}

static void render_io(struct strbuf *out)
{
    family(out, "execd_connections_open", "gauge", "Client connections open.");
    sample(out, "execd_connections_open", "", listener_open_count());
    family(out, "execd_streams_open", "gauge",
           "Streamed answers in progress (commands, code runs, metrics watches).");
    sample(out, "execd_streams_open", "", (double)st.streams_open);
    family(out, "execd_streamed_bytes_total", "counter", "Bytes of streamed answers written.");
    sample(out, "execd_streamed_bytes_total", "", (double)st.streamed);
    family(out, "execd_proxy_connections_open", "gauge",
           "Proxied exchanges and tunnels to a port in progress (/proxy/{port}).");
    sample(out, "execd_proxy_connections_open", "", (double)st.proxies_open);
    family(out, "execd_proxy_connections_total", "counter", "Proxied exchanges to a port.");
    sample(out, "execd_proxy_connections_total", "", (double)st.proxies_total);
    family(out, "execd_proxy_bytes_total", "counter",
           "Bytes relayed by the port proxy, by direction.");
    sample(out, "execd_proxy_bytes_total", "direction=\"to_backend\"", (double)st.to_backend);
    sample(out, "execd_proxy_bytes_total", "direction=\"to_client\"", (double)st.to_client);
    family(out, "execd_start_time_seconds", "gauge", "When the daemon started (Unix time).");
    sample(out, "execd_start_time_seconds", "", (double)st.started);
}

void selfstats_render(struct strbuf *out)
{
    render_requests(out);
    render_work(out);
    render_pool(out);
    render_io(out);
}

void selfstats_init(void)
{
    strmap_init(&st.by_key);
    st.started = time(NULL);
}

void selfstats_free(void)
{
    strmap_free(&st.by_key, free);
    list_init(&st.order);
}
