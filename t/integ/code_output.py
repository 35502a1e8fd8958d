"""Code output under pressure: 100 MB from a print loop, a slow client, the per-execution cap.
Memory stays bounded in the master and the workers."""
import json
import os
import time

from code_common import create_context, of_type, run_code, stdout_text
from execd_test import (Daemon, RssSampler, raw_post_stream, read_to_end, require_ipykernel, run_tests,
                        wait_for)

# Ceilings for "bounded": a code event is at most max_line (1 MiB) of text; the 10 MB
# image in code_run.py is one event and is not part of these measurements.
MASTER_RSS_MAX_KB = 48 * 1024
WORKER_RSS_MAX_KB = 96 * 1024


def open_code(d, cid, src):
    return raw_post_stream(d, "/code", {"context": {"id": cid, "language": "python"}, "code": src},
                           timeout=300)


def peaks_of(sampler):
    """(master peak, largest worker peak) in KiB."""
    peaks = sampler.stop()
    pids = sampler.pids
    return peaks[pids[0]], max(peaks[p] for p in pids[1:])


def test_big_output(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        sampler = RssSampler(d.pids())
        s = open_code(d, cid, "for i in range(1000000): print('x' * 99)")
        start = time.time()
        total, tail = read_to_end(s)
        took = time.time() - start
        s.close()
        master, worker = peaks_of(sampler)
        t.ok(total > 100 * 1000 * 1000, "100 MB of output reached the client (%d bytes, %.1fs)" % (total, took))
        t.ok(b'"type":"execution_complete"' in tail, "and the run completed")
        t.below(master, MASTER_RSS_MAX_KB, "master RSS stayed bounded (%d KiB)" % master)
        t.below(worker, WORKER_RSS_MAX_KB, "worker RSS stayed bounded (%d KiB)" % worker)

        _, _, ev, _ = run_code(d, "print('z' * 3000000)", ctx_id=cid)
        chunks = [e["text"] for e in of_type(ev, "stdout")]
        t.ok(len(chunks) >= 3 and max(len(c) for c in chunks) <= 1 << 20,
             "a huge chunk is split into events of at most max_line (%d events)" % len(chunks))
        t.eq("".join(chunks), "z" * 3000000 + "\n", "and nothing is lost")


def spool_files(pids, sizes=False):
    """Open (unlinked) spool files of the given processes (with sizes: their total size)."""
    found, total = [], 0
    for p in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % p):
                target = os.readlink("/proc/%d/fd/%s" % (p, fd))
                if "/.spool-" in target:
                    found.append(target)
                    total += os.stat("/proc/%d/fd/%s" % (p, fd)).st_size
        except OSError:
            pass
    return total if sizes else found


def test_slow_client(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        sampler = RssSampler(d.pids())
        conn = d.conn(300)
        conn.request("POST", "/code", json.dumps({"context": {"id": cid, "language": "python"},
                                                  "code": "for i in range(300000): print('%06d' % i + 'y' * 93)"}))
        resp = conn.getresponse()
        # The client reads nothing: the kernel cannot be paused, the worker parks the output.
        t.ok(wait_for(lambda: spool_files(d.workers(), sizes=True) >= 8 << 20, 120),
             "8 MiB of output are parked while the client reads nothing")
        master, worker = peaks_of(sampler)
        parked = spool_files(d.workers())
        t.below(master, MASTER_RSS_MAX_KB, "a stalled client does not grow the master (%d KiB)" % master)
        t.below(worker, WORKER_RSS_MAX_KB, "nor the worker (%d KiB)" % worker)
        t.ok(parked and all(p.endswith("(deleted)") for p in parked),
             "the output waits in an unlinked spool file", parked)
        _, _, other = create_context(d)
        _, _, ev, _ = run_code(d, "print('meanwhile')", ctx_id=other["id"])
        t.eq(stdout_text(ev), "meanwhile\n", "other contexts are served meanwhile")
        body = resp.read()
        conn.close()
        events = [json.loads(x) for x in body.decode().split("\n\n") if x]
        out = "".join(e.get("text", "") for e in events if e["type"] == "stdout")
        lines = out.split("\n")[:-1]
        t.eq(len(lines), 300000, "the slow client eventually gets every line")
        t.ok(all(int(line[:6]) == i for i, line in enumerate(lines)), "in order")
        t.eq(events[-1]["type"], "execution_complete", "and the end")
        t.ok(wait_for(lambda: spool_files(d.workers()) == [], 10), "spool files are closed afterwards")


def test_output_cap(t):
    with Daemon("-code-output-limit", "1M") as d:
        _, _, ev, _ = run_code(d, "for i in range(30000): print('%05d' % i + 'c' * 94)")
        out = stdout_text(ev)
        markers = [e["text"] for e in of_type(ev, "stderr") if "output truncated" in e["text"]]
        t.ok(len(out) <= 1 << 20 and len(out) > (1 << 20) - 200000,
             "output stops at the limit (%d bytes of 3 MB)" % len(out))
        t.eq(len(markers), 1, "with one explicit marker")
        t.ok(markers and "1048576" in markers[0], "naming the limit", markers)
        t.eq(out[:100], "00000" + "c" * 94 + "\n", "the first output is kept")
        t.eq(ev[-1]["type"], "execution_complete", "the run still completes")
        _, _, ev, _ = run_code(d, "import os, base64\nfrom IPython.display import display, Image\n"
                                  "display(Image(data=b'\\x89PNG' + os.urandom(2000000), format='png'))\n"
                                  "print('after')")
        t.eq(of_type(ev, "result"), [], "a result beyond the limit is dropped whole")
        t.ok(any("output truncated" in e["text"] for e in of_type(ev, "stderr")), "with the marker")
        _, _, ev, _ = run_code(d, "1/0")
        t.eq(of_type(ev, "error")[0]["error"]["ename"], "ZeroDivisionError",
             "the limit is per execution: the next one starts afresh")
        _, _, ev, _ = run_code(d, "print('\u20ac' * 600000)")
        out = stdout_text(ev)
        t.ok(out and set(out) == {"\u20ac"}, "a cut never splits a UTF-8 character")


if __name__ == "__main__":
    require_ipykernel()
    run_tests([test_big_output, test_slow_client, test_output_cap])
