#!/usr/bin/env python3
"""The port proxy against nginx's own proxy_pass, same backend, same run.

A backend nginx serves a 1 GiB file and a small one. Download: `curl -o /dev/null` of the
big file through `GET /proxy/{backend port}/big.bin` (execd) and through a second nginx
whose only location is `proxy_pass` to the same backend (no temporary files: it streams,
as execd does); rounds alternate, medians are compared, and the backend's own speed is
shown as the ceiling. Latency: small GETs on one kept-alive connection, directly to the
backend, through nginx and through execd (both proxies open a new backend connection per
request, nginx by default, execd always); the figure of interest is what each proxy adds to
the direct round trip. Needs nginx (apt-get install nginx) and curl.
"""
import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from execd_test import Daemon, free_port  # noqa: E402
from files_throughput import curl, start_nginx, wait_port  # noqa: E402

def latencies(port, path, n):
    """Seconds per GET of path on one kept-alive connection (after a warm-up)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for i in range(n + 50):
        start = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError("GET %s on port %d: %d" % (path, port, r.status))
        if i >= 50:
            out.append(time.perf_counter() - start)
    c.close()
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000, help="small GETs per target")
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        sys.exit("nginx is not installed (apt-get install nginx)")

    work = tempfile.mkdtemp(prefix="execd-bench-proxy-")
    data = os.path.join(work, "data")
    os.makedirs(data)
    with open(os.path.join(data, "big.bin"), "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(args.size_mib):
            f.write(block)
    with open(os.path.join(data, "small.txt"), "wb") as f:
        f.write(b"x" * 100)
    size = args.size_mib << 20
    bport, pport = free_port(), free_port()
    stops = []
    results = {k: [] for k in ("backend", "nginx", "execd")}
    try:
        stops.append(start_nginx(nginx, os.path.join(work, "backend"), bport,
                                 "sendfile on; keepalive_requests 100000;",
                                 "location / { root %s; }" % data))
        # nginx's default proxy_pass (HTTP/1.0, a new backend connection per request), made
        # to stream as execd does rather than spool big answers to temporary files.
        stops.append(start_nginx(nginx, os.path.join(work, "proxy"), pport,
                                 "keepalive_requests 100000; proxy_temp_path {dir}/proxy_temp;",
                                 "location / { proxy_pass http://127.0.0.1:%d; "
                                 "proxy_max_temp_file_size 0; }" % bport))
        wait_port(bport)
        wait_port(pport)
        with Daemon("-log-level", "3") as d:
            urls = {"backend": "http://127.0.0.1:%d/big.bin" % bport,
                    "nginx": "http://127.0.0.1:%d/big.bin" % pport,
                    "execd": "http://127.0.0.1:%d/proxy/%d/big.bin" % (d.port, bport)}
            for rnd in range(args.rounds):
                order = ["execd", "nginx", "backend"] if rnd % 2 == 0 else ["nginx", "execd", "backend"]
                for who in order:
                    st, sec = curl([urls[who]])
                    assert st == 200, (who, st)
                    results[who].append(size / sec)
                print("round %d: %s" % (rnd + 1, ", ".join(
                    "%s %.0f MiB/s" % (k, v[-1] / 2**20) for k, v in results.items())), flush=True)
            lat = {}
            for who, port, path in (("direct", bport, "/small.txt"),
                                    ("nginx", pport, "/small.txt"),
                                    ("execd", d.port, "/proxy/%d/small.txt" % bport)):
                lat[who] = latencies(port, path, args.requests)
    finally:
        for stop in stops:
            subprocess.run(stop)
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) / 2**20 for k, v in results.items()}
    ratio = med["execd"] / med["nginx"]
    print("\n%d MiB download, %d rounds, medians:" % (args.size_mib, args.rounds))
    print("  backend direct %6.0f MiB/s" % med["backend"])
    print("  nginx proxy    %6.0f MiB/s" % med["nginx"])
    print("  execd proxy    %6.0f MiB/s   ratio to nginx %.2f (target >= 0.80: %s)" % (
        med["execd"], ratio, "ok" if ratio >= 0.8 else "MISSED"))
    print("\nsmall GET (100 bytes), %d requests each, one kept-alive client connection:" %
          args.requests)
    base50 = pct(lat["direct"], 50)
    for who in ("direct", "nginx", "execd"):
        p50, p90, p99 = (pct(lat[who], p) * 1e3 for p in (50, 90, 99))
        added = "" if who == "direct" else "   added p50 %+.3f ms" % (p50 - base50 * 1e3)
        print("  %-7s p50 %.3f ms  p90 %.3f ms  p99 %.3f ms%s" % (who, p50, p90, p99, added))


if __name__ == "__main__":
    main()
