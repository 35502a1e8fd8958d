#!/usr/bin/env python3
"""POST /code `SELECT 1` (language sql) round trip vs the same statement from a C client on
the same MariaDB server, same run.

A private MariaDB server is started for the run (t/lib/mariadb_test.py: a temporary data
directory, its own port). Both sides reach it over TCP on 127.0.0.1 with the same library
(MariaDB Connector/C).
Daemon: POST /code on a kept-alive HTTP connection -> execution_complete received (the
  connection to the server is pooled by the worker, as in normal use).
Baseline: bench/sql_client.c, built here with cc: mysql_real_query + mysql_store_result +
  fetch + free on an open connection, timed inside the client.
Runs are interleaved so machine noise hits both alike. Overhead = daemon p50 - client p50;
the target is < 1 ms.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t", "lib"))
from benchlib import pct, timed_stream  # noqa: E402
from execd_test import Daemon  # noqa: E402
from mariadb_test import MISSING, MariaDB  # noqa: E402


def build_client(tmp):
    exe = os.path.join(tmp, "sql_client")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmariadb"], check=True,
                           capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-Wall", "-o", exe, os.path.join(HERE, "sql_client.c")] + flags,
                   check=True)
    return exe


class Client:
    def __init__(self, exe, db, statement):
        self.p = subprocess.Popen([exe, "127.0.0.1", str(db.port), "root", "sandbox", statement],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)

    def once(self):
        self.p.stdin.write("\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("the C client stopped")
        return float(line) / 1e6

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def daemon_once(conn, body):
    took, buf = timed_stream(conn, "/code", body)
    if b'[\\"1\\"]' not in buf:
        raise RuntimeError("unexpected answer: %r" % buf[:300])
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--statement", default="SELECT 1")
    args = ap.parse_args()
    if MISSING:
        sys.exit(MISSING)

    tmp = tempfile.mkdtemp(prefix="execd-sqlbench-")
    try:
        exe = build_client(tmp)
        db = MariaDB()
        db.sql("CREATE DATABASE IF NOT EXISTS sandbox")
        client = Client(exe, db, args.statement)
        with Daemon("-log-level", "3", *db.args()) as d:
            conn = http.client.HTTPConnection("127.0.0.1", d.port)
            body = json.dumps({"context": {"language": "sql"}, "code": args.statement})
            for _ in range(50):
                daemon_once(conn, body)
                client.once()
            dts, cts = [], []
            for _ in range(args.runs):
                dts.append(daemon_once(conn, body))
                cts.append(client.once())
            conn.close()
        client.close()
        db.stop()
    finally:
        shutil.rmtree(tmp, True)

    ms = lambda v: v * 1000.0  # noqa: E731
    d50, c50 = ms(statistics.median(dts)), ms(statistics.median(cts))
    print("runs: %d (interleaved), statement: %s" % (args.runs, args.statement))
    print("C client (libmariadb)      p50 %.3f ms  p90 %.3f ms  p99 %.3f ms" %
          (c50, ms(pct(cts, 90)), ms(pct(cts, 99))))
    print("execd POST /code (sql)     p50 %.3f ms  p90 %.3f ms  p99 %.3f ms" %
          (d50, ms(pct(dts, 90)), ms(pct(dts, 99))))
    print("overhead p50 %+.3f ms (target < 1 ms: %s)" % (d50 - c50,
                                                         "PASS" if d50 - c50 < 1.0 else "FAIL"))


if __name__ == "__main__":
    main()
