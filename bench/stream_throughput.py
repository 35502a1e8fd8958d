#!/usr/bin/env python3
"""Stream payload rate of POST /command vs the same pipeline into `cat`, same run.

execd: `POST /command {"command": PIPELINE}` read by `curl -sN` to /dev/null; payload =
the bytes the pipeline prints (not the event framing). Baseline: `bash -c 'PIPELINE | cat
>/dev/null'`. Rounds alternate; medians are compared. Goal (issue 16): execd >= 200 MB/s
and >= 1/3 of the baseline. Also printed: the CPU time the master and the workers spent
per 100 MB of payload (from /proc, so it holds on a loaded machine where rates do not).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from execd_test import Daemon  # noqa: E402


def payload_bytes(pipeline):
    out = subprocess.run(["bash", "-c", pipeline + " | wc -c"], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split()[0])


def run_execd(port, pipeline):
    body = json.dumps({"command": pipeline})
    start = time.perf_counter()
    out = subprocess.run(["curl", "-sN", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                          "-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                          body, "http://127.0.0.1:%d/command" % port],
                         capture_output=True, text=True, check=True).stdout.split()
    took = time.perf_counter() - start
    if out[0] != "200":
        raise RuntimeError("POST /command answered %s" % out[0])
    return took, int(out[1])


def cpu_secs(pids):
    """utime + stime of each pid, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out.append((int(fields[11]) + int(fields[12])) / tick)
    return out


def run_pipe(pipeline):
    start = time.perf_counter()
    subprocess.run(["bash", "-c", pipeline + " | cat >/dev/null"], check=True)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pipeline", default="head -c 50M /dev/zero | base64")
    args = ap.parse_args()

    size = payload_bytes(args.pipeline)
    with Daemon("-log-level", "3") as d:
        run_execd(d.port, args.pipeline)  # warm-up
        ex, pipe, wire = [], [], 0
        master, workers = d.proc.pid, d.workers()
        cpu_before = cpu_secs([master] + workers)
        for rnd in range(args.rounds):
            order = ("execd", "pipe") if rnd % 2 == 0 else ("pipe", "execd")
            for who in order:
                if who == "execd":
                    took, wire = run_execd(d.port, args.pipeline)
                    ex.append(size / took / 1e6)
                else:
                    pipe.append(size / run_pipe(args.pipeline) / 1e6)
        cpu = [a - b for a, b in zip(cpu_secs([master] + workers), cpu_before)]
    e50, p50 = statistics.median(ex), statistics.median(pipe)
    print("pipeline: %s (%d bytes of payload, %d bytes on the wire)" % (args.pipeline, size, wire))
    print("load: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("execd      MB/s: %s  median %.0f" % (" ".join("%.0f" % v for v in ex), e50))
    print("pipe | cat MB/s: %s  median %.0f" % (" ".join("%.0f" % v for v in pipe), p50))
    per = 100e6 / (size * args.rounds)
    print("CPU s per 100 MB of payload: master %.3f, workers %.3f" % (cpu[0] * per,
                                                                      sum(cpu[1:]) * per))
    ok = e50 >= 200 and e50 >= p50 / 3
    print("ratio %.2f (goal >= 200 MB/s and >= 0.33): %s" % (e50 / p50, "pass" if ok else "fail"))


if __name__ == "__main__":
    main()
