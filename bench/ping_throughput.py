#!/usr/bin/env python3
"""GET /ping requests per second vs nginx `return 200`, same run, server on one core.

wrk (kept-alive connections, one thread) on CPU 1 against execd (master and workers pinned
to CPU 0 with taskset) and against nginx (one worker process, pinned to CPU 0, `location
/ping { return 200; }`, access log off). Rounds alternate; medians are compared.
Goals (issue 16): >= 0.8x nginx with 50 connections, >= 0.95x with 1. Needs nginx and wrk.
Also printed: each server's CPU time per request (its processes' utime + stime from /proc
over the run / requests served), which a loaded machine disturbs much less than req/s.
--log-level 6 measures execd with its access log (the default level); nginx's stays off.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from execd_test import Daemon, free_port  # noqa: E402
from files_throughput import wait_port  # noqa: E402
from stream_throughput import cpu_secs  # noqa: E402

NGINX_CONF = """
{user}
worker_processes 1;
worker_cpu_affinity 01;
daemon on;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location /ping {{ return 200; }}
    }}
}}
"""


def wrk(port, conns, secs, pids):
    """(requests per second, CPU microseconds of pids per request)."""
    cpu = sum(cpu_secs(pids))
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c%d" % conns, "-d%ds" % secs,
                          "http://127.0.0.1:%d/ping" % port],
                         capture_output=True, text=True, check=True).stdout
    cpu = sum(cpu_secs(pids)) - cpu
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if not m or not n or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError("wrk failed:\n" + out)
    return float(m.group(1)), cpu * 1e6 / int(n.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--conns", default="50,1")
    ap.add_argument("--log-level", default="3", help="execd's -log-level (6: access log on)")
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx) or shutil.which("wrk") is None:
        sys.exit("needs nginx and wrk (apt-get install nginx wrk)")

    work = tempfile.mkdtemp(prefix="execd-bench-ping-")
    nport = free_port()
    with open(os.path.join(work, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=work, port=nport,
                                  user="user root;" if os.geteuid() == 0 else ""))
    subprocess.run(["taskset", "-c", "0", nginx, "-c", os.path.join(work, "nginx.conf"), "-p",
                    work], check=True)
    try:
        wait_port(nport)
        with open(os.path.join(work, "nginx.pid")) as f:
            master_pid = int(f.read())
        ngx_pids = [master_pid] + [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout.split()]
        with Daemon("-log-level", args.log_level, "-log-file", os.path.join(work, "execd.log")) as d:
            for pid in d.pids():
                subprocess.run(["taskset", "-pc", "0", str(pid)], check=True,
                               stdout=subprocess.DEVNULL)
            load = " ".join(open("/proc/loadavg").read().split()[:3])
            pids = {d.port: d.pids(), nport: ngx_pids}
            for conns in [int(c) for c in args.conns.split(",")]:
                wrk(d.port, conns, 1, pids[d.port])
                wrk(nport, conns, 1, pids[nport])
                res = {d.port: [], nport: []}
                for rnd in range(args.rounds):
                    order = (d.port, nport) if rnd % 2 == 0 else (nport, d.port)
                    for port in order:
                        res[port].append(wrk(port, conns, args.secs, pids[port]))
                ex, ng = res[d.port], res[nport]
                e50, n50 = (statistics.median(r for r, _ in v) for v in (ex, ng))
                ec, nc = (statistics.median(c for _, c in v) for v in (ex, ng))
                goal = 0.8 if conns > 1 else 0.95
                print("%d connection(s), load %s, execd -log-level %s" % (conns, load,
                                                                         args.log_level))
                for name, v, m50, c50 in (("execd", ex, e50, ec), ("nginx", ng, n50, nc)):
                    print("  %s req/s: %s  median %.0f | CPU us/request median %.1f" % (
                        name, " ".join("%.0f" % r for r, _ in v), m50, c50))
                print("  ratio %.2f (goal >= %.2f): %s | CPU per request nginx/execd %.2f" % (
                    e50 / n50, goal, "pass" if e50 / n50 >= goal else "fail", nc / ec))
    finally:
        subprocess.run([nginx, "-c", os.path.join(work, "nginx.conf"), "-p", work, "-s", "stop"])
        shutil.rmtree(work, True)


if __name__ == "__main__":
    main()
