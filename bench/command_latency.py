#!/usr/bin/env python3
"""POST /command `echo hi` round trip vs `bash -c 'echo hi'` run directly, and a bash
session's run of `echo hi` (POST /session/{id}/run), all in the same run.

Round trip = request sent on a kept-alive connection -> terminal event received.
Baseline = posix_spawn of bash -c 'echo hi' with stdout on a pipe -> output read and
child reaped (no interpreter fork overhead). Overhead = daemon p50 - baseline p50.
A session run spawns nothing (the session's shell runs the command), so it should beat
POST /command.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from benchlib import COMPLETE, pct, timed_stream  # noqa: E402
from execd_test import Daemon  # noqa: E402


def baseline_once():
    r, w = os.pipe()
    start = time.perf_counter()
    pid = os.posix_spawn("/bin/bash", ["bash", "-c", "echo hi"], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_CLOSE, r)])
    os.close(w)
    while os.read(r, 4096):
        pass
    os.waitpid(pid, 0)
    took = time.perf_counter() - start
    os.close(r)
    return took


def daemon_once(conn, body, path="/command"):
    took, buf = timed_stream(conn, path, body, (COMPLETE, b'"type":"error"'))
    if b'"text":"hi"' not in buf:
        raise RuntimeError("unexpected answer: %r" % buf[:300])
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--workers", type=int, default=0, help="0 = daemon default")
    args = ap.parse_args()

    extra = ["-log-level", "3"]
    with Daemon(*extra, workers=args.workers) if args.workers else Daemon(*extra) as d:
        conn = http.client.HTTPConnection("127.0.0.1", d.port)
        body = json.dumps({"command": "echo hi"})
        status, _, created = d.json("POST", "/session", {})
        if status != 200:
            raise RuntimeError("POST /session: %d %r" % (status, created))
        session = "/session/%s/run" % created["session_id"]
        for _ in range(30):
            daemon_once(conn, body)
            daemon_once(conn, body, session)
            baseline_once()
        dts, sts, bts = [], [], []
        for _ in range(args.runs):  # interleaved so noise hits all alike
            dts.append(daemon_once(conn, body))
            sts.append(daemon_once(conn, body, session))
            bts.append(baseline_once())
        conn.close()

    ms = lambda v: v * 1000.0  # noqa: E731
    d50, b50 = ms(statistics.median(dts)), ms(statistics.median(bts))
    print("runs: %d (interleaved)" % args.runs)
    print("bash -c 'echo hi' direct   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms" %
          (b50, ms(pct(bts, 90)), ms(pct(bts, 99))))
    print("POST /command via execd    p50 %.3f ms  p90 %.3f ms  p99 %.3f ms" %
          (d50, ms(pct(dts, 90)), ms(pct(dts, 99))))
    s50 = ms(statistics.median(sts))
    print("session run via execd      p50 %.3f ms  p90 %.3f ms  p99 %.3f ms" %
          (s50, ms(pct(sts, 90)), ms(pct(sts, 99))))
    print("daemon overhead            p50 %.3f ms  (ratio %.2fx)" % (d50 - b50, d50 / b50))
    print("target: overhead p50 < 2 ms: %s" % ("PASS" if d50 - b50 < 2.0 else "FAIL"))
    print("session run / POST /command p50: %.2fx; target: session faster: %s" %
          (s50 / d50, "PASS" if s50 < d50 else "FAIL"))


if __name__ == "__main__":
    main()
