"""POST /command foreground behaviour: events, line rules, exit codes, env, cwd, uid, timeout."""
import os
import pwd
import re
import signal
import threading
import time

from execd_test import (Daemon, Stream, processes_with, raw_post_stream, read_all,
                        run_tests, texts, wait_for, without_pings)


def test_stream_shape(t):
    with Daemon() as d:
        status, hdrs, events, raw = d.run("echo hello; echo errline 1>&2")
        t.eq(status, 200, "stream status is 200")
        t.eq(hdrs.get("content-type"), "text/event-stream", "content type is text/event-stream")
        t.eq(hdrs.get("cache-control"), "no-cache", "Cache-Control: no-cache")
        t.eq(hdrs.get("x-accel-buffering"), "no", "X-Accel-Buffering: no")
        t.eq(hdrs.get("transfer-encoding"), "chunked", "the stream is chunked")
        t.ok(raw.endswith(b"\n\n") and b"data:" not in raw, "events are <json>\\n\\n, no SSE prefixes")
        t.eq(events[0]["type"], "init", "init comes first")
        t.ok(re.fullmatch(r"[0-9a-f]{32}", events[0]["text"]) is not None, "command id is 32 hex chars")
        t.eq(events[1]["type"], "ping", "a ping follows init at once")
        t.ok(all(isinstance(e.get("timestamp"), int) and e["timestamp"] > 1.7e12 for e in events),
             "every event has a millisecond timestamp")
        t.eq(texts(events, "stdout"), ["hello"], "stdout lines")
        t.eq(texts(events, "stderr"), ["errline"], "stderr lines")
        term = [e for e in events if e["type"] in ("execution_complete", "error")]
        t.eq([e["type"] for e in term], ["execution_complete"], "exactly one terminal event on success")
        t.eq(events[-1]["type"], "execution_complete", "the terminal event is last")


def test_line_rules(t):
    with Daemon() as d:
        _, _, ev, _ = d.run("printf 'a\\n\\nb\\n\\n\\nc\\n'")
        t.eq(texts(ev, "stdout"), ["a", "\n", "b", "\n", "\n", "c"], "blank lines become \"\\n\" events")
        _, _, ev, _ = d.run("printf 'line1\\nprog 10%%\\rprog 20%%\\rprog 30%%\\nlast\\n'")
        t.eq(texts(ev, "stdout"), ["line1", "prog 10%", "prog 20%", "prog 30%", "last"],
             "CR ends a line like LF")
        _, _, ev, _ = d.run("printf 'a\\r'; sleep 0.2; printf '\\nb\\n'")
        t.eq(texts(ev, "stdout"), ["a", "b"], "CRLF split across writes is one terminator")
        _, _, ev, _ = d.run("printf 'line1\\nno-newline-at-end'")
        t.eq(texts(ev, "stdout"), ["line1", "no-newline-at-end"], "the trailing partial line is flushed")
        _, _, ev, _ = d.run("head -c 262144 /dev/zero | tr '\\0' x; echo")
        t.eq([len(x) for x in texts(ev, "stdout")], [262144], "a 256 KiB line is one event")
        _, _, ev, _ = d.run("printf '\\xff\\xfeok \\xe2\\x82\\xac\\n'")
        t.eq(texts(ev, "stdout"), ["\ufffd\ufffdok \u20ac"], "invalid UTF-8 becomes U+FFFD, valid is kept")
        _, _, ev, _ = d.run("printf '<a href=\"x\">&</a>\\ttab\\n'")
        t.eq(texts(ev, "stdout"), ['<a href="x">&</a>\ttab'], "special characters survive escaping")


def test_exit_codes(t):
    with Daemon() as d:
        _, _, ev, _ = d.run("echo before; exit 3")
        ev = without_pings(ev)
        t.eq(texts(ev, "stdout"), ["before"], "output before a failure")
        errs = [e for e in ev if e["type"] == "error"]
        t.eq(len(errs), 1, "one error event")
        t.eq(errs[0]["error"], {"ename": "CommandExecError", "evalue": "3", "traceback": ["exit status 3"]},
             "exit 3 is CommandExecError / \"3\" / [\"exit status 3\"]")
        t.ok(not any(e["type"] == "execution_complete" for e in ev), "no execution_complete after an error")
        _, _, ev, _ = d.run("kill -9 $$")
        err = [e for e in ev if e["type"] == "error"][0]["error"]
        t.eq((err["evalue"], err["traceback"]), ("-1", ["signal: killed"]), "death by signal is -1")
        _, _, ev, _ = d.run("echo start; ls /nonexistent")
        err = [e for e in ev if e["type"] == "error"][0]["error"]
        t.eq(err["evalue"], "2", "the contract's example: ls on a missing path gives 2")
        t.ok("No such file" in " ".join(texts(ev, "stderr")), "its stderr is reported")


def test_environment(t):
    envfile = "/tmp/execd-test-envs-%d" % os.getpid()
    with open(envfile, "w") as f:
        f.write("# comment\nFROM_FILE=file-value\nMALFORMED\n  SPACED = trimmed  \nEXPANDED=$HOME/x\n"
                "OVERRIDDEN=file\nEMPTY=\n")
    try:
        with Daemon("-envs-file", envfile, env={"EXECD_ENVS": "/nonexistent/envs"}) as d:
            _, _, ev, _ = d.run("echo $FROM_FILE")
            t.eq(texts(ev, "stdout"), ["file-value"], "-envs-file names the file (and beats EXECD_ENVS)")
        with Daemon(env={"EXECD_ENVS": envfile, "FROM_DAEMON": "daemon-value"}) as d:
            _, _, ev, _ = d.run("echo $FROM_DAEMON $FROM_FILE $SPACED $EXPANDED $OVERRIDDEN "
                                "${EMPTY-unset} $FROM_REQUEST",
                                envs={"OVERRIDDEN": "request", "FROM_REQUEST": "req"})
            t.eq(texts(ev, "stdout"),
                 ["daemon-value file-value trimmed %s/x request req" % os.environ["HOME"]],
                 "env = daemon env + EXECD_ENVS file + request envs (request wins)")
            with open(envfile, "a") as f:
                f.write("LATER=added\n")
            _, _, ev, _ = d.run("echo $LATER")
            t.eq(texts(ev, "stdout"), ["added"], "the EXECD_ENVS file is re-read for every command")
    finally:
        os.unlink(envfile)


def test_cwd(t):
    with Daemon() as d:
        base = os.path.join(d.tmp, "dir with space")
        os.makedirs(base)
        _, _, ev, _ = d.run("pwd", cwd=base)
        t.eq(texts(ev, "stdout"), [base], "cwd is honoured")
        _, _, ev, _ = d.run("pwd", cwd="~")
        t.eq(texts(ev, "stdout"), [os.path.realpath(os.environ["HOME"])], "~ expands to HOME")
        _, _, ev, _ = d.run("pwd", cwd="$WORKDIR/..", envs={"WORKDIR": base})
        t.eq(texts(ev, "stdout"), [d.tmp], "$VAR in cwd resolves from the request envs")


def test_identity(t):
    if os.geteuid() != 0:
        t.skip("uid/gid switching", "needs root")
        return
    nobody = pwd.getpwnam("nobody")
    with Daemon() as d:
        _, _, ev, _ = d.run("id -u; id -g", uid=nobody.pw_uid, cwd="/")
        t.eq(texts(ev, "stdout"), [str(nobody.pw_uid), str(nobody.pw_gid)], "uid and its primary gid")
        _, _, ev, _ = d.run("id -u; id -g", uid=nobody.pw_uid, gid=4, cwd="/")
        t.eq(texts(ev, "stdout"), [str(nobody.pw_uid), "4"], "explicit gid wins")
        _, _, ev, _ = d.run("id -u; id -g; id -G", uid=54321, cwd="/")
        t.eq(texts(ev, "stdout"), ["54321", "54321", "54321"],
             "a uid without passwd entry gets gid = uid and no extra groups")
        _, _, ev, _ = d.run("true", uid=nobody.pw_uid, cwd="/root")
        evs = without_pings(ev)
        t.eq([e["type"] for e in evs], ["init", "error"], "a start failure is init then error")
        err = evs[1]["error"]
        t.ok("permission denied" in err["evalue"] and err["traceback"] == [err["evalue"]],
             "start failure: evalue is the error text, traceback[0] == evalue", err)


def test_timeout(t):
    with Daemon() as d:
        # An unusual duration marks our sleeps among the machine's processes.
        _, _, ev, _ = d.run("sleep 300.25 & sleep 300.25; echo never", timeout=300)
        err = [e for e in ev if e["type"] == "error"]
        t.eq(err[0]["error"]["evalue"] if err else None, "-1",
             "a timed-out command ends, reported as a signal death")
        t.eq(err[0]["error"]["traceback"] if err else None, ["signal: killed"], "the group got SIGKILL")
        t.ok("never" not in texts(ev, "stdout"), "before its end")
        t.ok(wait_for(lambda: processes_with("sleep\x00300.25") == [], 10),
             "the whole process group is gone, background child included")


def test_concurrent(t):
    import threading
    with Daemon() as d:
        results = [None] * 100

        def one(i):
            _, _, ev, _ = d.run("echo n%d; sleep 0.2" % i)
            results[i] = (texts(ev, "stdout"), ev[-1]["type"])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        good = sum(1 for i, r in enumerate(results) if r == (["n%d" % i], "execution_complete"))
        t.eq(good, 100, "100 concurrent commands all complete with their own output")


def test_no_tail_sleep(t):
    """The stream ends right after its terminal event (Go sleeps 1 s before closing)."""
    with Daemon() as d:
        for command, last in (("echo done", "execution_complete"), ("exit 3", "error")):
            s = raw_post_stream(d, "/command", {"command": command})
            seen = {}

            def until(data):
                if b'"type":"%s"' % last.encode() in data and "terminal" not in seen:
                    seen["terminal"] = time.monotonic()
                return data.endswith(b"\r\n0\r\n\r\n")

            data = read_all(s, until)
            ended = time.monotonic()
            s.close()
            gap = ended - seen.get("terminal", 0)
            t.ok(data.endswith(b"\r\n0\r\n\r\n") and gap < 0.5,
                 "%s: the last chunk follows the terminal event at once (%.3f s)" % (last, gap))


def test_output_order(t):
    """stdout and stderr lines reach the client in the order they were written: each line
    here is written only once the previous one was received."""
    with Daemon() as d:
        steps = [("stdout", "o1"), ("stderr", "e1"), ("stdout", "o2"), ("stderr", "e2"),
                 ("stderr", "e3"), ("stdout", "o3")]
        script = []
        for i, (kind, text) in enumerate(steps):
            gate = os.path.join(d.tmp, "gate%d" % i)
            script.append("while [ ! -e %s ]; do sleep 0.01; done; echo %s%s"
                          % (gate, text, " >&2" if kind == "stderr" else ""))
        s = Stream(d, "/command", {"command": "; ".join(script)})
        for i, (kind, text) in enumerate(steps):
            open(os.path.join(d.tmp, "gate%d" % i), "w").close()
            s.wait(lambda ev: text in texts(ev, kind), 30)
        ev = [e for e in without_pings(s.finish()) if e["type"] in ("stdout", "stderr")]
        t.eq([(e["type"], e["text"]) for e in ev], steps, "interleaved stdout and stderr keep their order")


def test_background_child_holds_pipes(t):
    """A foreground command that leaves a background child holding its stdout and stderr
    still ends: the drain stops once no data comes."""
    marker = "300.75"
    with Daemon() as d:
        result = {}
        th = threading.Thread(target=lambda: result.update(r=d.run("sleep %s & echo leader-done" % marker)))
        th.start()
        th.join(120)
        t.ok(not th.is_alive(), "the stream ends although the child holds the pipes for 300 s")
        ev = result.get("r", (None, None, [], b""))[2]
        t.eq((texts(ev, "stdout"), ev[-1]["type"] if ev else None), (["leader-done"], "execution_complete"),
             "with the leader's output and its exit status")
        t.ok(processes_with("sleep\x00" + marker), "the background child keeps running (no group kill)")
        for p in processes_with("sleep\x00" + marker):
            os.kill(p, signal.SIGKILL)


def test_max_line(t):
    with Daemon("-max-line", "1K") as d:
        _, _, ev, _ = d.run("head -c 3000 /dev/zero | tr '\\0' x; echo; echo short")
        out = texts(ev, "stdout")
        t.eq([len(x) for x in out], [1024, 1024, 952, 5], "-max-line 1K: a 3000-byte line is split at 1024 bytes")
        t.eq("".join(out[:3]), "x" * 3000, "nothing is lost")
        _, _, ev, _ = d.run("for i in $(seq 600); do printf '\\xe2\\x82\\xac'; done; echo")
        out = texts(ev, "stdout")
        t.ok(len(out) >= 2 and all(len(x.encode()) <= 1024 for x in out) and "".join(out) == "\u20ac" * 600,
             "a split never cuts a UTF-8 character", [len(x.encode()) for x in out])


run_tests([test_stream_shape, test_line_rules, test_exit_codes, test_environment, test_cwd,
           test_identity, test_timeout, test_concurrent, test_no_tail_sleep, test_output_order,
           test_background_child_holds_pipes, test_max_line])
