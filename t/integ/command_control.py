"""Background commands, status, logs by cursor, interrupt, retention."""
import os
import signal
import time

from execd_test import Daemon, Stream, run_tests, texts, wait_for, without_pings


def finished(d, cid):
    return d.json("GET", "/command/status/" + cid)[2].get("running") is False


def test_background(t):
    with Daemon() as d:
        go = os.path.join(d.tmp, "go")
        command = ("printf 'line1\\nline2\\n'; echo err >&2; while [ ! -e %s ]; do sleep 0.02; done; "
                   "echo late" % go)
        status, _, ev, _ = d.run(command, background=True)
        ev = without_pings(ev)
        t.eq([e["type"] for e in ev], ["init", "execution_complete"], "background: init then complete")
        cid = ev[0]["text"]
        s, _, st = d.json("GET", "/command/status/" + cid)
        t.eq(s, 200, "status of a background command right after init")
        t.ok(st["running"] is True and "exit_code" not in st and "finished_at" not in st,
             "while running: running true, no exit_code, no finished_at", st)
        t.eq(st.get("content"), command, "status carries the command text")
        t.ok(wait_for(lambda: b"err" in d.request("GET", "/command/%s/logs" % cid)[2], 10),
             "its output is in its logs while it runs")
        open(go, "w").close()
        done = wait_for(lambda: finished(d, cid), 10)
        t.ok(done, "the command finishes")
        s, _, st = d.json("GET", "/command/status/" + cid)
        t.eq((st["running"], st["exit_code"]), (False, 0), "finished: exit_code 0")
        t.ok("started_at" in st and "finished_at" in st and "error" not in st, "times present, no error", st)

        s, h, body = d.request("GET", "/command/%s/logs" % cid)
        t.eq(s, 200, "logs are 200")
        t.eq(body, b"line1\nline2\nerr\nlate\n", "logs hold stdout and stderr interleaved")
        t.eq(h.get("content-type"), "text/plain; charset=utf-8", "logs are text/plain")
        cursor = int(h.get("execd-commands-tail-cursor"))
        t.eq(cursor, len(body), "the tail cursor is the byte offset of EOF")
        s, h, body = d.request("GET", "/command/%s/logs?cursor=6" % cid)
        t.eq(body, b"line2\nerr\nlate\n", "cursor is a byte offset")
        s, h, body = d.request("GET", "/command/%s/logs?cursor=%d" % (cid, cursor))
        t.eq((body, int(h["execd-commands-tail-cursor"])), (b"", cursor), "reading at EOF is empty")
        s, h, body = d.request("GET", "/command/%s/logs?cursor=999999" % cid)
        t.eq((s, body, h.get("execd-commands-tail-cursor")), (200, b"", "999999"),
             "a cursor past EOF is echoed back")
        s, h, body = d.request("GET", "/command/%s/logs?cursor=abc" % cid)
        t.eq(body, b"line1\nline2\nerr\nlate\n", "a non-numeric cursor counts as 0")
        s, _, body = d.json("GET", "/command/%s/logs?cursor=-1" % cid)
        t.eq((s, body.get("code")), (400, "INVALID_REQUEST_BODY"), "a negative cursor is 400")

        _, _, ev, _ = d.run("exit 4", background=True)
        cid = ev[0]["text"]
        wait_for(lambda: finished(d, cid), 10)
        _, _, st = d.json("GET", "/command/status/" + cid)
        t.eq((st["exit_code"], st.get("error")), (4, "exit status 4"), "a failed background command")


def test_background_outlives_parent_group(t):
    with Daemon() as d:
        _, _, ev, _ = d.run("(sleep 0.3; echo child-done) & echo started", background=True)
        cid = ev[0]["text"]
        ok = wait_for(lambda: b"child-done" in d.request("GET", "/command/%s/logs" % cid)[2], 5)
        t.ok(ok, "a background child keeps running after its leader exits (no group kill)")


def test_unknown_ids(t):
    with Daemon() as d:
        s, _, body = d.json("GET", "/command/status/nope")
        t.eq((s, body.get("code"), body.get("message")), (404, "INVALID_REQUEST_BODY", "command not found: nope"),
             "status of an unknown id is the contract's 404")
        s, _, body = d.json("GET", "/command/nope/logs")
        t.eq((s, body.get("code")), (400, "INVALID_REQUEST_BODY"), "logs of an unknown id is 400")
        _, _, ev, _ = d.run("echo fg")
        s, _, body = d.json("GET", "/command/%s/logs" % ev[0]["text"])
        t.eq((s, body.get("message")), (400, "command %s is not running in background" % ev[0]["text"]),
             "logs of a foreground command is 400")
        s, _, body = d.json("DELETE", "/command?id=nope")
        t.eq((s, body.get("code"), body.get("message")),
             (500, "RUNTIME_ERROR", "error interruptting code context. no such session"),
             "interrupting an unknown id is the contract's 500")
        s, _, body = d.json("DELETE", "/command")
        t.eq((s, body.get("code")), (400, "MISSING_QUERY"), "interrupt without id is 400 MISSING_QUERY")
        s, _, st = d.json("GET", "/command/status/" + ev[0]["text"])
        t.eq((s, st["running"], st["exit_code"]), (200, False, 0), "status works for foreground commands")


def test_interrupt(t):
    with Daemon() as d:
        st = Stream(d, "/command", {"command": "trap 'echo got-term; exit 143' TERM; echo ready; "
                                               "sleep 30 & wait"})
        cid = st.init_id()
        t.ok(cid, "the stream's init carries the command id")
        st.wait(lambda ev: "ready" in texts(ev, "stdout"))
        s, h, body = d.request("DELETE", "/command?id=" + cid)
        t.eq((s, body, h.get("content-length"), h.get("content-type")), (200, b"", "0", None),
             "interrupt answers an empty 200")
        ev = st.finish()
        t.ok("got-term" in texts(ev, "stdout"), "the command received SIGTERM", texts(ev, "stdout"))
        err = [e for e in ev if e["type"] == "error"]
        t.eq(err[0]["error"]["evalue"] if err else None, "143", "its stream ends with its exit status")
        s, _, body = d.json("DELETE", "/command?id=" + cid)
        t.eq((s, body.get("message")),
             (500, "error interruptting code context. command session %s is not running" % cid),
             "interrupting a finished command is the contract's 500")

        st = Stream(d, "/command", {"command": "trap '' TERM; echo ready; sleep 600"})
        cid = st.init_id()
        st.wait(lambda ev: "ready" in texts(ev, "stdout"))
        start = time.time()
        s, _, _ = d.request("DELETE", "/command?id=" + cid, timeout=120)
        took = time.time() - start
        ev = st.finish()
        t.ok(s == 200 and took >= 2.9, "a command ignoring TERM gets the 3 s grace (%.2fs)" % took)
        err = [e for e in ev if e["type"] == "error"]
        t.eq(err[0]["error"]["traceback"] if err else None, ["signal: killed"],
             "then it dies of SIGKILL (before its 600 s)")


def crash_worker(d):
    """Kills the only worker and waits for its successor, which applies retention at start."""
    w = d.workers()[0]
    ready = d.ready_workers()
    os.kill(w, signal.SIGKILL)
    return wait_for(lambda: d.ready_workers() > ready and w not in d.workers(), 20)


def test_retention_age(t):
    with Daemon("-command-retention", "1s", workers=1, expect_worker_deaths=True) as d:
        _, _, ev, _ = d.run("echo old", background=True)
        old = ev[0]["text"]
        t.ok(wait_for(lambda: finished(d, old), 10), "a background command finished")
        _, _, ev, _ = d.run("echo old-fg")
        old_fg = ev[0]["text"]
        go = os.path.join(d.tmp, "go")
        _, _, ev, _ = d.run("while [ ! -e %s ]; do sleep 0.02; done" % go, background=True)
        running = ev[0]["text"]
        time.sleep(1.5)  # the records age past the retention
        _, _, ev, _ = d.run("echo new", background=True)
        new = ev[0]["text"]
        wait_for(lambda: finished(d, new), 10)
        t.ok(crash_worker(d), "the worker is replaced (retention runs when a worker starts)")
        status = {name: d.json("GET", "/command/status/" + cid)[0]
                  for name, cid in (("old", old), ("old-fg", old_fg), ("running", running), ("new", new))}
        t.eq(status, {"old": 404, "old-fg": 404, "running": 200, "new": 200},
             "finished records older than the retention are dropped; running and recent ones stay")
        t.eq(d.request("GET", "/command/%s/logs" % old)[0], 400, "with their logs")
        open(go, "w").close()


def test_retention_size(t):
    with Daemon("-command-retention-size", "1K", workers=1, expect_worker_deaths=True) as d:
        ids = []
        for i in range(4):
            _, _, ev, _ = d.run("head -c 400 /dev/zero | tr '\\0' %s" % "abcd"[i], background=True)
            ids.append(ev[0]["text"])
            t.ok(wait_for(lambda: finished(d, ids[-1]), 10), "background command %d (400 bytes) finished" % i)
        t.ok(crash_worker(d), "the worker is replaced (retention runs when a worker starts)")
        status = [d.json("GET", "/command/status/" + cid)[0] for cid in ids]
        t.eq(status, [404, 404, 200, 200],
             "beyond 1 KiB of logs the oldest records go first, until the rest fits")
        st, _, body = d.request("GET", "/command/%s/logs" % ids[3])
        t.eq((st, body), (200, b"d" * 400), "the newest logs are intact")


run_tests([test_background, test_background_outlives_parent_group, test_unknown_ids, test_interrupt,
           test_retention_age, test_retention_size])
