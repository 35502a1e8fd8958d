#!/usr/bin/env python3
"""Idle memory of execd: sum of PSS of the master and its workers (smaps_rollup).

Measured after start, and again after a burst of commands once the daemon has been
idle for its heap-trim interval (10 s), to show it returns to a similar idle level. Baseline for scale: an idle `sleep` process started the same way.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from execd_test import Daemon, pss_kb  # noqa: E402


def total(d):
    pids = d.pids()
    return sum(pss_kb(p) for p in pids), len(pids)


def main():
    with Daemon("-log-level", "3") as d:
        time.sleep(2)
        idle, n = total(d)
        for i in range(200):
            d.run("echo %d" % i)
        d.run("seq 1 100000")
        time.sleep(12)
        after, _ = total(d)
    sleeper = subprocess.Popen(["sleep", "30"])
    time.sleep(0.5)
    base = pss_kb(sleeper.pid)
    sleeper.kill()
    sleeper.wait()
    print("processes: %d (master + workers)" % n)
    print("idle PSS total:              %6.2f MB" % (idle / 1024.0))
    print("idle PSS after 200 commands: %6.2f MB" % (after / 1024.0))
    print("for scale, one idle sleep(1): %5.2f MB" % (base / 1024.0))
    print("target: idle PSS < 10 MB: %s" % ("PASS" if idle / 1024.0 < 10 else "FAIL"))
    print(json.dumps({"idle_kb": idle, "after_kb": after, "processes": n}))


if __name__ == "__main__":
    main()
