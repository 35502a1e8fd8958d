"""Streams under pressure: huge output, slow clients, clients that disconnect."""
import json
import os
import socket
import time

from execd_test import SANITIZED, Daemon, rss_kb, run_tests, wait_for

# RSS ceilings that "bounded memory" must respect while gigabytes stream through
# (sanitizer shadow memory makes RSS meaningless there).
MASTER_RSS_MAX_KB = 64 * 1024 if not SANITIZED else 1 << 40
WORKER_RSS_MAX_KB = 64 * 1024 if not SANITIZED else 1 << 40


def open_stream(d, command):
    s = socket.create_connection(("127.0.0.1", d.port))
    body = json.dumps({"command": command}).encode()
    s.sendall(b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return s


def read_all(s, on_chunk=None, pause=0.0):
    """Reads until the terminating chunk; returns total bytes and the last 4 KiB."""
    total = 0
    tail = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        total += len(chunk)
        tail = (tail + chunk)[-4096:]
        if on_chunk:
            on_chunk(total)
        if tail.endswith(b"\r\n0\r\n\r\n"):
            break
        if pause:
            time.sleep(pause)
    return total, tail


def test_huge_output_bounded(t):
    with Daemon() as d:
        pids = d.pids()
        peaks = {p: 0 for p in pids}

        def sample(_total):
            for p in pids:
                peaks[p] = max(peaks[p], rss_kb(p))

        s = open_stream(d, "yes | head -c 100M")
        total, tail = read_all(s, sample)
        s.close()
        events = 100 * 1024 * 1024 // 2
        t.ok(total > events * 40, "all %d stdout events arrived (%d bytes)" % (events, total))
        t.ok(b'"type":"execution_complete"' in tail, "the stream ends with execution_complete")
        t.ok(peaks[pids[0]] < MASTER_RSS_MAX_KB, "master RSS stayed bounded (%d KiB)" % peaks[pids[0]])
        t.ok(max(peaks[p] for p in pids[1:]) < WORKER_RSS_MAX_KB,
             "worker RSS stayed bounded (%d KiB)" % max(peaks[p] for p in pids[1:]))

        s = open_stream(d, "head -c 300M /dev/zero | tr '\\0' x")
        total, tail = read_all(s, sample)
        s.close()
        t.ok(total > 300 * 1024 * 1024 and b"execution_complete" in tail,
             "300 MB without a newline streams as capped lines (%d bytes)" % total)
        t.ok(max(peaks.values()) < MASTER_RSS_MAX_KB, "memory stayed bounded for unterminated output")


def test_slow_client(t):
    with Daemon() as d:
        pids = d.pids()
        s = open_stream(d, "yes | head -c 30M")
        time.sleep(2)  # the client reads nothing: the producer must be throttled
        peak_master = rss_kb(pids[0])
        peak_worker = max(rss_kb(p) for p in pids[1:])
        t.ok(peak_master < MASTER_RSS_MAX_KB, "a stalled client does not grow the master (%d KiB)" % peak_master)
        t.ok(peak_worker < WORKER_RSS_MAX_KB, "nor the worker (%d KiB)" % peak_worker)
        status, _, _ = d.request("GET", "/ping", timeout=5)
        t.eq(status, 200, "other clients are served meanwhile")
        _, _, ev, _ = d.run("echo other")
        t.eq(ev[-1]["type"], "execution_complete", "other commands run meanwhile")
        total, tail = read_all(s)
        s.close()
        t.ok(b"execution_complete" in tail and total > 15 * 1024 * 1024 * 40,
             "the slow client eventually gets everything (%d bytes)" % total)


def test_disconnect(t):
    with Daemon() as d:
        marker = "/tmp/execd-disconnect-%d" % time.time_ns()
        s = open_stream(d, "echo start; sleep 1; echo done > %s" % marker)
        first = s.recv(4096)
        t.ok(b'"type":"init"' in first, "stream started")
        cid = json.loads(first[first.index(b"{"):].split(b"\n")[0])["text"]
        s.close()
        status, _, st = d.json("GET", "/command/status/" + cid)
        t.eq((status, st.get("running")), (200, True), "the command keeps running after the client left")
        ok = wait_for(lambda: not d.json("GET", "/command/status/" + cid)[2]["running"], 5)
        t.ok(ok, "and finishes")
        t.ok(open(marker).read() == "done\n", "its work completed")
        os.unlink(marker)
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "the daemon is healthy")

        s = open_stream(d, "yes")
        s.recv(65536)
        s.close()
        time.sleep(0.5)
        for _ in range(20):
            s = open_stream(d, "yes | head -c 10M")
            s.recv(4096)
            s.close()
        time.sleep(1)
        fds = len(__import__("os").listdir("/proc/%d/fd" % d.proc.pid))
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "healthy after 20 abandoned streams")
        t.ok(fds < 40, "no descriptor leak in the master (%d open)" % fds)


def test_ping_keepalive(t):
    with Daemon() as d:
        _, _, ev, _ = d.run("sleep 7.5")
        pings = [e for e in ev if e["type"] == "ping"]
        t.ok(len(pings) >= 3, "a ping right after init and every 3 s (%d pings)" % len(pings))
        t.eq(ev[-1]["type"], "execution_complete", "the stream still ends properly")


run_tests([test_huge_output_bounded, test_slow_client, test_disconnect, test_ping_keepalive], timeout=900)
