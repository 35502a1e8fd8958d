"""GET /metrics (fields, types, speed, cgroup v2 limits through a fake cgroup root),
/metrics/watch (headers, one object per line, cadence, disconnect) and /metrics/daemon
(Prometheus text: requests, durations, executions, workers, respawns, streams)."""
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time

from execd_test import Daemon, Stream, run_tests, wait_for

FIELDS = ["cpu_count", "cpu_used_pct", "mem_total_mib", "mem_used_mib", "timestamp"]


def metrics(d):
    start = time.time()
    status, hdrs, body = d.request("GET", "/metrics")
    return status, hdrs, json.loads(body), time.time() - start


def own_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return "/"


def write(root, name, text):
    with open(os.path.join(root, name), "w") as f:
        f.write(text)


def host_mem_total_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0
    return 0


def test_fields(t):
    with Daemon() as d:
        status, hdrs, m, _ = metrics(d)
        t.eq(status, 200, "GET /metrics")
        t.eq(hdrs.get("content-type"), "application/json; charset=utf-8", "JSON content type")
        t.eq(list(m), FIELDS, "the contract's five fields, in its order")
        t.eq([type(m[k]).__name__ for k in FIELDS], ["int", "float", "float", "float", "int"],
             "exact types: cpu_count and timestamp integers, the rest floats")
        t.eq(m["cpu_count"], len(os.sched_getaffinity(0)), "cpu_count: the CPUs we may run on")
        t.ok(0 <= m["cpu_used_pct"] <= 100, "0 <= cpu_used_pct <= 100", m)
        t.ok(0 < m["mem_used_mib"] <= m["mem_total_mib"], "0 < used <= total", m)
        t.ok(abs(m["mem_total_mib"] - host_mem_total_mib()) < 1, "mem_total_mib from /proc/meminfo", m)
        now = time.time() * 1000
        t.ok(now - 60000 < m["timestamp"] <= now + 1000, "timestamp: Unix ms, now", m)
        times = sorted(metrics(d)[3] for _ in range(20))
        t.ok(times[10] < 0.05, "answered in milliseconds: median %.1f ms, max %.1f ms" %
             (times[10] * 1000, times[-1] * 1000))


def test_cgroup(t):
    root = tempfile.mkdtemp(prefix="execd-cgroup-")
    own = os.path.normpath(os.path.join(root, own_cgroup().lstrip("/")))
    os.makedirs(own, exist_ok=True)
    try:
        write(root, "cpu.max", "150000 100000\n")
        write(root, "cpu.stat", "usage_usec 1000000\nuser_usec 0\n")
        write(root, "memory.max", "1073741824\n")
        write(root, "memory.current", "536870912\n")
        write(root, "memory.stat", "anon 1\nfile 2\ninactive_file 104857600\n")
        with Daemon("-cgroup-root", root) as d:
            _, _, m, _ = metrics(d)
            t.eq(m["cpu_count"], 1, "cpu.max 1.5 CPUs: cpu_count 1 (rounded down)")
            t.eq((m["mem_total_mib"], m["mem_used_mib"]), (1024.0, 412.0),
                 "memory.max and memory.current less inactive file pages")
            time.sleep(1.0)
            write(root, "cpu.stat", "usage_usec 1750000\n")
            _, _, m, _ = metrics(d)
            t.ok(40 <= m["cpu_used_pct"] <= 52,
                 "0.75 CPU-seconds in ~1 s of a 1.5 CPU quota: ~50 %% (%.2f)" % m["cpu_used_pct"])
            write(root, "cpu.max", "50000 100000\n")
            t.eq(metrics(d)[2]["cpu_count"], 1, "half a CPU: cpu_count is at least 1")
            write(root, "cpu.max", "max 100000\n")
            write(root, "memory.max", "max\n")
            _, _, m, _ = metrics(d)
            t.eq(m["cpu_count"], len(os.sched_getaffinity(0)), "cpu.max max: the CPUs")
            t.ok(abs(m["mem_total_mib"] - host_mem_total_mib()) < 1, "memory.max max: /proc/meminfo")
            if own != root:
                write(own, "cpu.max", "100000 100000\n")
                write(root, "cpu.max", "400000 100000\n")
                write(own, "memory.max", "2147483648\n")
                write(own, "memory.current", "1073741824\n")
                write(root, "memory.max", "1073741824\n")
                _, _, m, _ = metrics(d)
                t.eq((m["cpu_count"], m["mem_total_mib"]), (1, 1024.0),
                     "the smallest limit of the daemon's cgroup and its ancestors wins")
            else:
                t.skip("nested cgroup limits", "the test runs in the root cgroup")
        shutil.rmtree(root)
        os.makedirs(root)
        with Daemon("-cgroup-root", os.path.join(root, "missing")) as d:
            status, _, m, _ = metrics(d)
            t.eq((status, m["cpu_count"]), (200, len(os.sched_getaffinity(0))),
                 "no cgroup filesystem there: /proc figures")
        with Daemon(env={"EXECD_CGROUP_ROOT": root}) as d:
            t.ok("-cgroup-root=" + root in d.logs(), "EXECD_CGROUP_ROOT sets it too")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_watch(t):
    with Daemon() as d:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        s.sendall(b"GET /metrics/watch HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        start = time.time()
        status = f.readline()
        heads = {}
        while True:
            line = f.readline().decode().strip()
            if not line:
                break
            k, v = line.split(":", 1)
            heads[k.lower()] = v.strip()
        t.ok(status.startswith(b"HTTP/1.1 200"), "watch: 200", status)
        t.eq([heads.get(k) for k in ("content-type", "cache-control", "connection",
                                     "x-accel-buffering", "transfer-encoding")],
             ["text/event-stream", "no-cache", "keep-alive", "no", "chunked"], "the four SSE headers")
        payload, arrivals = b"", []
        while len(arrivals) < 4:
            size = int(f.readline(), 16)
            payload += f.read(size)
            f.readline()
            arrivals.append(time.time() - start)
        lines = payload.split(b"\n")
        t.eq(lines[-1], b"", "each object ends with one newline")
        objs = [json.loads(x) for x in lines[:-1]]
        t.ok(len(objs) == 4 and all(list(o) == FIELDS for o in objs),
             "one metrics object per line, no blank lines", payload[:400])
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        t.ok(arrivals[0] < 0.5 and all(0.6 < g < 1.6 for g in gaps),
             "the first at once, then about once a second: %s" %
             ", ".join("%.2f" % a for a in arrivals))
        t.ok(all(a["timestamp"] < b["timestamp"] for a, b in zip(objs, objs[1:])), "timestamps increase")
        other = Stream(d, "/command", {"command": "true"})
        other.finish()
        text = d.request("GET", "/metrics/daemon")[2].decode()
        t.ok("execd_streams_open 1" in text, "the watch is an open stream", text[-1500:])
        f.close()
        s.close()
        t.ok(wait_for(lambda: "execd_streams_open 0" in d.request("GET", "/metrics/daemon")[2].decode(),
                      timeout=5), "a watcher that goes away is forgotten")
        t.ok(wait_for(lambda: "GET /metrics/watch 200" in d.logs(), timeout=5),
             "and its request ends (access log)")


SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+(Inf)?$')


def scrape(d):
    status, hdrs, body = d.request("GET", "/metrics/daemon")
    return status, hdrs, body.decode()


def value(text, name):
    m = re.search("^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_daemon(t):
    with Daemon(expect_worker_deaths=True) as d:
        for _ in range(3):
            d.request("GET", "/ping")
        d.request("GET", "/nowhere")
        status, hdrs, text = scrape(d)
        t.eq(status, 200, "GET /metrics/daemon")
        t.eq(hdrs.get("content-type"), "text/plain; version=0.0.4; charset=utf-8",
             "Prometheus text format 0.0.4")
        bad = [l for l in text.splitlines() if not l.startswith("# ") and not SAMPLE.match(l)]
        t.eq(bad, [], "every line is a comment or a sample")
        for line in text.splitlines():
            if line.startswith("# TYPE"):
                name, kind = line.split()[2:4]
                if kind == "counter" and not name.endswith("_total"):
                    t.ok(False, "counter %s ends in _total" % name)
        t.eq(value(text, 'execd_http_requests_total{route="/ping",method="GET",status="200"}'), 3.0,
             "requests by route, method and status")
        t.eq(value(text, 'execd_http_requests_total{route="unmatched",method="GET",status="404"}'), 1.0,
             "an unmatched path counts as unmatched")
        buckets = [float(x) for x in re.findall(
            r'^execd_http_request_duration_seconds_bucket\{route="/ping",method="GET",le="[^"]+"\} (\S+)$',
            text, re.M)]
        t.ok(buckets == sorted(buckets) and buckets[-1] == 3.0 and
             value(text, 'execd_http_request_duration_seconds_count{route="/ping",method="GET"}') == 3.0,
             "the duration histogram is cumulative and ends at the count", buckets)
        t.eq([value(text, n) for n in ("execd_worker_slots", "execd_workers_alive", "execd_workers_ready",
                                       "execd_worker_respawns_total")], [2.0, 2.0, 2.0, 0.0], "workers")

        s = Stream(d, "/command", {"command": "echo started; sleep 30"})
        s.init_id()
        d.request("POST", "/command", {"command": "sleep 30", "background": True})

        def running():
            text = scrape(d)[2]
            return [value(text, 'execd_executions_running{kind="%s"}' % k) for k in
                    ("command", "code", "background_command")]
        # The worker reports its background commands when their number changes, after the
        # POST's answer: wait for that report.
        wait_for(lambda: running() == [1.0, 0.0, 1.0], 10)
        t.eq(running(), [1.0, 0.0, 1.0], "running executions by kind")
        _, _, text = scrape(d)
        t.eq(value(text, "execd_streams_open"), 1.0, "one open stream")
        t.ok(value(text, "execd_streamed_bytes_total") > 0, "streamed bytes are counted")
        s.close()

        victim = d.workers()[0]
        os.kill(victim, signal.SIGKILL)
        t.ok(wait_for(lambda: value(scrape(d)[2], "execd_worker_respawns_total") == 1.0 and
                      value(scrape(d)[2], "execd_workers_ready") == 2.0, timeout=15),
             "a killed worker counts as one respawn")
        t.eq(value(scrape(d)[2], 'execd_kernels{state="warm"}'), 0.0, "no warm kernel (pool off)")


run_tests([test_fields, test_cgroup, test_watch, test_daemon])
