"""Background commands, status, logs by cursor, interrupt."""
import time

from execd_test import Daemon, Stream, run_tests, texts, wait_for, without_pings


def test_background(t):
    with Daemon() as d:
        status, _, ev, _ = d.run("printf 'line1\\nline2\\n'; echo err >&2; sleep 0.5; echo late",
                                 background=True)
        ev = without_pings(ev)
        t.eq([e["type"] for e in ev], ["init", "execution_complete"], "background: init then complete")
        cid = ev[0]["text"]
        s, _, st = d.json("GET", "/command/status/" + cid)
        t.eq(s, 200, "status of a background command right after init")
        t.ok(st["running"] is True and "exit_code" not in st and "finished_at" not in st,
             "while running: running true, no exit_code, no finished_at", st)
        t.eq(st.get("content"), "printf 'line1\\nline2\\n'; echo err >&2; sleep 0.5; echo late",
             "status carries the command text")
        done = wait_for(lambda: not d.json("GET", "/command/status/" + cid)[2]["running"], 10)
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
        wait_for(lambda: not d.json("GET", "/command/status/" + cid)[2]["running"], 10)
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
        start = time.time()
        s, h, body = d.request("DELETE", "/command?id=" + cid)
        took = time.time() - start
        t.eq((s, body, h.get("content-length"), h.get("content-type")), (200, b"", "0", None),
             "interrupt answers an empty 200")
        t.ok(took < 3, "a command that handles TERM is interrupted promptly (%.2fs)" % took)
        ev = st.finish()
        t.ok("got-term" in texts(ev, "stdout"), "the command received SIGTERM", texts(ev, "stdout"))
        err = [e for e in ev if e["type"] == "error"]
        t.eq(err[0]["error"]["evalue"] if err else None, "143", "its stream ends with its exit status")
        s, _, body = d.json("DELETE", "/command?id=" + cid)
        t.eq((s, body.get("message")),
             (500, "error interruptting code context. command session %s is not running" % cid),
             "interrupting a finished command is the contract's 500")

        st = Stream(d, "/command", {"command": "trap '' TERM; echo ready; sleep 60"})
        cid = st.init_id()
        st.wait(lambda ev: "ready" in texts(ev, "stdout"))
        start = time.time()
        s, _, _ = d.request("DELETE", "/command?id=" + cid)
        took = time.time() - start
        ev = st.finish()
        t.ok(s == 200 and 2.5 < took < 5, "a command ignoring TERM is killed after the 3 s grace (%.2fs)" % took)
        err = [e for e in ev if e["type"] == "error"]
        t.eq(err[0]["error"]["traceback"] if err else None, ["signal: killed"], "it died of SIGKILL")


run_tests([test_background, test_background_outlives_parent_group, test_unknown_ids, test_interrupt])
