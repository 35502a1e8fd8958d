"""Streams under pressure: huge output, slow clients, clients that disconnect, a stream
longer than the keep-alive timeout."""
import json
import os

from execd_test import (Daemon, RssSampler, fd_count, parent_of, raw_post_stream, read_to_end, run_tests,
                        texts, wait_for)

# RSS ceilings that "bounded memory" must respect while gigabytes stream through
# (skipped under a sanitizer, whose shadow memory counts in RSS).
MASTER_RSS_MAX_KB = 64 * 1024
WORKER_RSS_MAX_KB = 64 * 1024


def open_stream(d, command):
    return raw_post_stream(d, "/command", {"command": command}, timeout=120)


def test_huge_output_bounded(t):
    with Daemon() as d:
        pids = d.pids()
        sampler = RssSampler(pids)
        s = open_stream(d, "yes | head -c 100M")
        total, tail = read_to_end(s)
        s.close()
        peaks = sampler.stop()
        events = 100 * 1024 * 1024 // 2
        t.ok(total > events * 40, "all %d stdout events arrived (%d bytes)" % (events, total))
        t.ok(b'"type":"execution_complete"' in tail, "the stream ends with execution_complete")
        t.below(peaks[pids[0]], MASTER_RSS_MAX_KB, "master RSS stayed bounded (%d KiB)" % peaks[pids[0]])
        t.below(max(peaks[p] for p in pids[1:]), WORKER_RSS_MAX_KB,
                "worker RSS stayed bounded (%d KiB)" % max(peaks[p] for p in pids[1:]))

        sampler = RssSampler(pids)
        s = open_stream(d, "head -c 300M /dev/zero | tr '\\0' x")
        total, tail = read_to_end(s)
        s.close()
        peaks = sampler.stop()
        t.ok(total > 300 * 1024 * 1024 and b"execution_complete" in tail,
             "300 MB without a newline streams as capped lines (%d bytes)" % total)
        t.below(max(peaks.values()), MASTER_RSS_MAX_KB, "memory stayed bounded for unterminated output")


def test_slow_client(t):
    with Daemon() as d:
        pids = d.pids()
        sampler = RssSampler(pids)
        s = open_stream(d, "yes | head -c 30M")
        # The client reads nothing: the producer must be throttled. Its `head` blocks on a full
        # pipe once the worker stops reading.
        t.ok(wait_for(lambda: blocked_writer(d, "head"), 30), "the producer is held back")
        peaks = sampler.stop()
        t.below(peaks[pids[0]], MASTER_RSS_MAX_KB, "a stalled client does not grow the master (%d KiB)"
                % peaks[pids[0]])
        t.below(max(peaks[p] for p in pids[1:]), WORKER_RSS_MAX_KB, "nor the worker (%d KiB)"
                % max(peaks[p] for p in pids[1:]))
        status, _, _ = d.request("GET", "/ping", timeout=30)
        t.eq(status, 200, "other clients are served meanwhile")
        _, _, ev, _ = d.run("echo other")
        t.eq(ev[-1]["type"], "execution_complete", "other commands run meanwhile")
        total, tail = read_to_end(s)
        s.close()
        t.ok(b"execution_complete" in tail and total > 15 * 1024 * 1024 * 40,
             "the slow client eventually gets everything (%d bytes)" % total)


def descends_from(pid, ancestor):
    try:
        while pid > 1:
            pid = parent_of(pid)
            if pid == ancestor:
                return True
    except (OSError, ValueError):
        pass
    return False


def blocked_writer(d, name):
    """A process called name among d's descendants sleeps in a pipe write."""
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() != name:
                    continue
            with open("/proc/%s/wchan" % pid) as f:
                wchan = f.read()
        except OSError:
            continue
        if "pipe" in wchan and descends_from(int(pid), d.proc.pid):
            return True
    return False


def test_disconnect(t):
    with Daemon() as d:
        marker = os.path.join(d.tmp, "marker")
        go = os.path.join(d.tmp, "go")
        s = open_stream(d, "echo start; while [ ! -e %s ]; do sleep 0.02; done; echo done > %s" % (go, marker))
        first = s.recv(4096)
        t.ok(b'"type":"init"' in first, "stream started")
        cid = json.loads(first[first.index(b"{"):].split(b"\n")[0])["text"]
        fds_before = fd_count(d.proc.pid)
        s.close()
        status, _, st = d.json("GET", "/command/status/" + cid)
        t.eq((status, st.get("running")), (200, True), "the command keeps running after the client left")
        open(go, "w").close()
        ok = wait_for(lambda: not d.json("GET", "/command/status/" + cid)[2]["running"], 10)
        t.ok(ok, "and finishes")
        t.ok(os.path.exists(marker) and open(marker).read() == "done\n", "its work completed")
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "the daemon is healthy")

        s = open_stream(d, "yes")
        s.recv(65536)
        s.close()
        for _ in range(20):
            s = open_stream(d, "yes | head -c 10M")
            s.recv(4096)
            s.close()
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "healthy after 20 abandoned streams")
        t.ok(wait_for(lambda: fd_count(d.proc.pid) <= fds_before, 30),
             "no descriptor leak in the master (%d open, %d before)" % (fd_count(d.proc.pid), fds_before))


def test_ping_keepalive(t):
    with Daemon() as d:
        _, _, ev, _ = d.run("sleep 7.5")
        pings = [e for e in ev if e["type"] == "ping"]
        t.ok(len(pings) >= 3, "a ping right after init and every 3 s (%d pings)" % len(pings))
        t.eq(ev[-1]["type"], "execution_complete", "the stream still ends properly")


def test_longer_than_keepalive(t):
    """-keepalive-timeout closes idle connections only: a stream that lasts longer is not cut,
    and the connection is still usable after it."""
    with Daemon("-keepalive-timeout", "1s") as d:
        c = d.conn(60)
        c.request("POST", "/command", body=json.dumps({"command": "echo begin; sleep 3; echo end"}),
                  headers=d.headers())
        r = c.getresponse()
        body = r.read()
        events = [json.loads(x) for x in body.decode().split("\n\n") if x]
        t.eq((texts(events, "stdout"), events[-1]["type"] if events else None),
             (["begin", "end"], "execution_complete"), "a 3 s stream outlives a 1 s keep-alive timeout")
        c.request("GET", "/ping", headers=d.headers())
        t.eq(c.getresponse().status, 200, "and its connection serves the next request")
        c.close()
        s = open_stream(d, "true")
        read_to_end(s)
        s.settimeout(60)
        try:
            closed = s.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except OSError:
            closed = False
        s.close()
        t.ok(closed, "an idle connection is closed by the daemon")


run_tests([test_huge_output_bounded, test_slow_client, test_disconnect, test_ping_keepalive,
           test_longer_than_keepalive], timeout=900)
