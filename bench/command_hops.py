#!/usr/bin/env python3
"""Where one `echo hi` round trip spends its time, hop by hop, from syscall timestamps.

`perf trace` (Debian linux-perf; tracepoints, nothing added to the daemon) records the
master's and the worker's syscalls while a client sends POST /command `echo hi` --runs
times on a kept-alive connection (one worker, so both ends are known). Per run, the hops:

  parse     master: request read (readv returns)  -> command.run sent to the worker
  ipc-in    that sendmsg returns                  -> the worker's recvmsg returns it
  prepare   worker: request received              -> clone (spawn) entered
  spawn     clone entered                         -> clone returns (the child has exec'd)
  output    child exec'd                          -> the worker's read of "hi" returns
  render    that read returns                     -> the worker's sendmsg of the event entered
  ipc-out   that sendmsg returns                  -> the master's recvmsg of it returns
  write     master: event received                -> the writev of its chunk returns

Tracing adds its own cost to every syscall (more on a loaded machine): compare hops, not
totals, and runs of one session. Medians over the runs are printed, in microseconds.
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from execd_test import Daemon  # noqa: E402

LINE = re.compile(r"^\s*([\d.]+) (.+?)/(\d+) syscalls:sys_(enter|exit)_(\w+)\((.*)\)\s*$")
HOPS = ["parse", "ipc-in", "prepare", "spawn", "output", "render", "ipc-out", "write"]


def ret_of(args):
    m = re.search(r"ret: (-?\d+)", args)
    return int(m.group(1)) if m else 0


def parse(path, master, worker):
    """[(ms, pid, 'enter'|'exit', name, args)] of master and worker, in time order."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m and int(m.group(3)) in (master, worker):
                out.append((float(m.group(1)), int(m.group(3)), m.group(4), m.group(5), m.group(6)))
    return out


def hops_of(ev, master, worker):
    """One dict of hop durations (ms) per complete run found in the trace."""
    runs, i, n = [], 0, len(ev)

    def find(start, pid, kind, name, pred=lambda a: True):
        for k in range(start, n):
            t, p, kd, nm, a = ev[k]
            if p == pid and kd == kind and nm == name and pred(a):
                return k
        return None

    while True:
        # a request: the master's readv returning data
        r = find(i, master, "exit", "readv", lambda a: ret_of(a) > 0)
        if r is None:
            break
        s = find(r, master, "enter", "sendmsg")
        s_x = find(s, master, "exit", "sendmsg") if s is not None else None
        w_r = find(s_x, worker, "exit", "recvmsg", lambda a: ret_of(a) > 0) if s_x else None
        c = find(w_r, worker, "enter", "clone") if w_r else None
        c_x = find(c, worker, "exit", "clone") if c else None
        rd = find(c_x, worker, "exit", "read", lambda a: ret_of(a) == 3) if c_x else None
        ws = find(rd, worker, "enter", "sendmsg") if rd else None
        ws_x = find(ws, worker, "exit", "sendmsg") if ws else None
        # the master's recvmsg of it: the first one returning data after the worker's send
        mr = find(ws_x, master, "exit", "recvmsg", lambda a: ret_of(a) > 0) if ws_x else None
        wv = find(mr, master, "exit", "writev") if mr else None
        if wv is None:
            break
        t = [ev[k][0] for k in (r, s, s_x, w_r, c, c_x, rd, ws, ws_x, mr, wv)]
        runs.append({"parse": t[1] - t[0], "ipc-in": t[3] - t[2], "prepare": t[4] - t[3],
                     "spawn": t[5] - t[4], "output": t[6] - t[5], "render": t[7] - t[6],
                     "ipc-out": t[9] - t[8], "write": t[10] - t[9], "total": t[10] - t[0]})
        # the next request comes after this one's end
        i = find(wv, master, "exit", "readv", lambda a: ret_of(a) > 0) or n
        i = i if i < n else n
        if i >= n:
            break
    return runs


def request(conn):
    conn.request("POST", "/command", body=json.dumps({"command": "echo hi"}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or b'"text":"hi"' not in body:
        raise RuntimeError("unexpected answer %d: %r" % (resp.status, body[:200]))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    out = tempfile.mktemp(prefix="execd-hops-", suffix=".txt")
    with Daemon("-log-level", "3", workers=1) as d:
        master, worker = d.proc.pid, d.workers()[0]
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
        for _ in range(10):
            request(conn)
        tracer = subprocess.Popen(["perf", "trace", "-p", "%d,%d" % (master, worker), "-o", out,
                                   "--no-syscalls", "-e", "syscalls:*"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        for _ in range(args.runs):
            request(conn)
            time.sleep(0.05)
        time.sleep(0.5)
        tracer.terminate()
        tracer.wait()
        conn.close()
    runs = hops_of(parse(out, master, worker), master, worker)
    os.unlink(out)
    if not runs:
        sys.exit("no complete run found in the trace")
    print("load: %s; %d runs traced" % (" ".join(open("/proc/loadavg").read().split()[:3]),
                                        len(runs)))
    for hop in HOPS + ["total"]:
        v = [r[hop] * 1000 for r in runs]
        print("  %-8s p50 %8.0f us   p90 %8.0f us" % (hop, statistics.median(v),
                                                      sorted(v)[int(len(v) * 0.9)]))


if __name__ == "__main__":
    main()
