#!/usr/bin/env python3
"""A /code cell printing many lines vs a raw ZeroMQ client on the very same kernel, same run.

The daemon creates a python context; the minimal pyzmq client of code_latency.py connects
to that context's kernel (its connection file in the daemon's runtime dir) and the two take
turns running the cell. execd: POST /code -> the whole stream read (execution_complete).
pyzmq: execute_request -> execute_reply and iopub idle, every stream message received,
verified and parsed. Goal (issue 16): execd within 1.2x of the raw client (medians).
Also printed: the CPU time master and workers spent per cell (from /proc).
Needs Debian's python3-zmq: run with /usr/bin/python3.
"""
import argparse
import glob
import http.client
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from code_latency import RawZmq, post  # noqa: E402
from execd_test import Daemon  # noqa: E402
from stream_throughput import cpu_secs  # noqa: E402


def execd_once(conn, cid, code):
    start = time.perf_counter()
    resp = post(conn, "/code", {"context": {"id": cid, "language": "python"}, "code": code})
    body = resp.read()
    took = time.perf_counter() - start
    if resp.status != 200 or b'"type":"execution_complete"' not in body:
        raise RuntimeError("unexpected answer %d: %r" % (resp.status, body[-300:]))
    return took, body.count(b'"type":"stdout"')


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--lines", type=int, default=100000)
    args = ap.parse_args()
    code = "for i in range(%d): print(i)" % args.lines

    with Daemon("-log-level", "3", "-kernel-pool", "") as d:
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=300)
        resp = post(conn, "/code/context", {"language": "python"})
        body = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError("cannot create a context: %r" % body)
        cid = body["id"]
        path = glob.glob(os.path.join(d.runtime_dir, "w*", "kernels", cid, "connection.json"))[0]
        with open(path) as f:
            raw = RawZmq(json.load(f))
        execd_once(conn, cid, code)
        raw.once(code)
        ex, rz, events = [], [], 0
        pids = d.pids()
        cpu = sum(cpu_secs(pids))
        for rnd in range(args.rounds):
            order = ("execd", "raw") if rnd % 2 == 0 else ("raw", "execd")
            for who in order:
                if who == "execd":
                    took, events = execd_once(conn, cid, code)
                    ex.append(took)
                else:
                    rz.append(raw.once(code))
        cpu = sum(cpu_secs(pids)) - cpu
        raw.close()
        conn.close()
    e50, r50 = statistics.median(ex), statistics.median(rz)
    print("cell: %s (%d stdout events in the last execd stream)" % (code, events))
    print("load: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("execd s: %s  median %.3f" % (" ".join("%.3f" % v for v in ex), e50))
    print("pyzmq s: %s  median %.3f" % (" ".join("%.3f" % v for v in rz), r50))
    print("daemon CPU per execd cell: %.3f s (master and workers)" % (cpu / len(ex)))
    print("ratio %.2f (goal <= 1.2): %s" % (e50 / r50, "pass" if e50 / r50 <= 1.2 else "fail"))


if __name__ == "__main__":
    main()
