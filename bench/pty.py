#!/usr/bin/env python3
"""PTY sessions over WebSocket, three measures in one run:

1. Keystroke round trip: one byte sent as a 0x00 frame -> its echo received, against the
   same echo read straight from a local pty (pty.fork, write, read), interleaved. Both
   terminals run `stty -icanon; cat >/dev/null`, so the kernel's line discipline echoes
   each byte at once and only the transport differs.
2. Throughput: `cat` of a 200 MB file through a PTY session (client reading as fast as it
   can) against `cat` of the same file in a local pty; master and worker RSS sampled.
3. Memory: 200 idle sessions with their shells (each attached once, then left): the
   daemon's own PSS (master + workers, shells excluded) per session; also with 200 clients
   attached.
"""
import os
import sys

# This script is bench/pty.py: its directory, first on sys.path, would hide the standard
# library's pty module.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import pty  # noqa: E402
import select  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from execd_test import Daemon, RssSampler, pss_kb  # noqa: E402
from wsclient import Closed, PtyClient, new_session  # noqa: E402

ECHO_CMD = "stty -icanon; exec cat >/dev/null"


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def local_pty(command):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv("/bin/bash", ["bash", "--norc", "--noprofile", "-c", command])
    return pid, fd


def read_exactly_local(fd, n, timeout=5):
    got = b""
    deadline = time.time() + timeout
    while len(got) < n:
        r, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
        if not r:
            raise RuntimeError("local pty: no echo")
        got += os.read(fd, 65536)
    return got


def keystrokes(d, runs):
    sid = new_session(d, {"command": ECHO_CMD})
    c = PtyClient(d, sid)
    time.sleep(0.5)  # stty has run
    pid, fd = local_pty(ECHO_CMD)
    time.sleep(0.5)
    ours, local = [], []
    for i in range(runs):
        ch = bytes([ord("a") + i % 26])
        start = time.perf_counter()
        c.stdin(ch)
        before = len(c.out)
        while len(c.out) <= before:
            c.pump(5)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        os.write(fd, ch)
        read_exactly_local(fd, 1)
        local.append(time.perf_counter() - start)
    c.shutdown()
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(fd)
    return ours, local


def throughput(d, path, size):
    sid = new_session(d, {"command": "cat " + path})
    sampler = RssSampler(d.pids(), interval=0.05)
    start = time.perf_counter()
    c = PtyClient(d, sid)
    received = 0
    try:
        while c.exit_code is None:
            op, payload = c.recv(30)
            if payload[:1] == b"\x01":
                received += len(payload) - 1
            elif op == 1 and b'"exit"' in payload:
                c.exit_code = json.loads(payload)["exit_code"]
    except Closed:
        pass
    ours = time.perf_counter() - start
    peaks = sampler.stop()
    c.shutdown()

    start = time.perf_counter()
    pid, fd = local_pty("cat " + path)
    local_received = 0
    buf = bytearray(1 << 16)
    reader = os.fdopen(fd, "rb", buffering=0)
    while True:
        try:
            n = reader.readinto(buf)
        except OSError:  # EIO: cat exited
            break
        if not n:
            break
        local_received += n
    os.waitpid(pid, 0)
    local = time.perf_counter() - start
    reader.close()
    pids = d.pids()
    return {
        "bytes": received, "seconds": ours, "mb_s": received / ours / 1e6,
        "local_bytes": local_received, "local_seconds": local,
        "local_mb_s": local_received / local / 1e6,
        "master_rss_peak_kb": peaks.get(pids[0], 0),
        "worker_rss_peak_kb": max(peaks.get(p, 0) for p in pids[1:]),
    }


def daemon_pss(d):
    return sum(pss_kb(p) for p in d.pids())


def idle_sessions(d, n):
    time.sleep(1)
    before = daemon_pss(d)
    clients = []
    for _ in range(n):
        sid = new_session(d)
        c = PtyClient(d, sid)
        c.type("true")
        clients.append(c)
    time.sleep(2)
    attached = daemon_pss(d)
    for c in clients:
        c.close()
        try:
            c.wait_close(5)
        except OSError:
            pass
        c.shutdown()
    time.sleep(12)  # the heap trim interval
    detached = daemon_pss(d)
    return before, attached, detached


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--sessions", type=int, default=200)
    args = ap.parse_args()
    with Daemon("-log-level", "3") as d:
        ours, local = keystrokes(d, args.runs)
        p50, l50 = statistics.median(ours) * 1e3, statistics.median(local) * 1e3
        print("keystroke round trip, %d runs:" % args.runs)
        print("  local pty  p50 %.3f ms  p90 %.3f ms" % (l50, pct(local, 90) * 1e3))
        print("  execd      p50 %.3f ms  p90 %.3f ms" % (p50, pct(ours, 90) * 1e3))
        print("  overhead   p50 %.3f ms (target <= 1 ms: %s)"
              % (p50 - l50, "PASS" if p50 - l50 <= 1.0 else "FAIL"))

        with tempfile.NamedTemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None,
                                         delete=False) as f:
            line = b"x" * 99 + b"\n"
            for _ in range(args.size_mb * 10000):
                f.write(line)
            path = f.name
        try:
            tp = throughput(d, path, args.size_mb)
        finally:
            os.unlink(path)
        print("cat of %d MB through a PTY session:" % args.size_mb)
        print("  local pty  %7.1f MB/s (%d bytes in %.2f s)"
              % (tp["local_mb_s"], tp["local_bytes"], tp["local_seconds"]))
        print("  execd      %7.1f MB/s (%d bytes in %.2f s), ratio %.2f"
              % (tp["mb_s"], tp["bytes"], tp["seconds"], tp["mb_s"] / tp["local_mb_s"]))
        print("  RSS peaks: master %.1f MB, worker %.1f MB"
              % (tp["master_rss_peak_kb"] / 1024, tp["worker_rss_peak_kb"] / 1024))

        before, attached, detached = idle_sessions(d, args.sessions)
        print("%d idle sessions with their shells (daemon PSS, shells excluded):" % args.sessions)
        print("  before %.2f MB; attached %.2f MB (%.1f KB/session); detached %.2f MB "
              "(%.1f KB/session)" % (before / 1024, attached / 1024,
                                     (attached - before) / args.sessions, detached / 1024,
                                     (detached - before) / args.sessions))
        print(json.dumps({"keystroke_p50_ms": p50, "local_p50_ms": l50, "throughput": tp,
                          "pss_before_kb": before, "pss_attached_kb": attached,
                          "pss_detached_kb": detached, "sessions": args.sessions}))


if __name__ == "__main__":
    main()
