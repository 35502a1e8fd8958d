"""PTY sessions (api-contract §10, runtime-behavior §6): REST, the handshake's answers, the
connected frame after the replay, replay with and without since, clamping, takeover,
resize, signals, pipe mode, the command field, exit and the next attach, DELETE while
attached, the text frames, START_FAILED and STDIN_WRITE_FAILED."""
import json
import os
import re
import socket
import threading
import time

from execd_test import Daemon, run_tests, wait_for
from wsclient import OP_TEXT, Closed, HandshakeError, PtyClient, WsClient, new_session

RING = 1024 * 1024


def status_of(d, sid):
    return d.json("GET", "/pty/" + sid)[2]


def handshake_error(d, path, headers=None):
    """(status, headers, body) of a handshake the daemon refuses."""
    h = dict(d.headers())
    h.update(headers or {})
    try:
        c = WsClient(d.port, path, headers=h)
    except HandshakeError as e:
        return e.status, e.headers, e.body
    c.shutdown()
    return 101, {}, b""


def test_rest(t):
    with Daemon() as d:
        status, hdrs, body = d.json("POST", "/pty", None)
        t.eq(status, 201, "POST /pty with an empty body creates a session (201)")
        sid = body["session_id"]
        t.ok(len(sid) == 36 and sid.count("-") == 4, "its id is a dashed UUID", sid)
        t.eq(hdrs.get("content-type"), "application/json; charset=utf-8", "as JSON")
        t.eq(status_of(d, sid), {"session_id": sid, "running": False, "output_offset": 0},
             "a fresh session: not running, offset 0 (no process before the first attach)")
        raw = d.request("GET", "/pty/" + sid)[2]
        t.eq(raw, ('{"session_id":"%s","running":false,"output_offset":0}' % sid).encode(),
             "keys in the Go daemon's order")

        cwd = os.path.join(d.tmp, "made", "here")
        sid2 = new_session(d, {"cwd": cwd})
        t.ok(os.path.isdir(cwd), "cwd is created at POST")
        c = PtyClient(d, sid2)
        c.type("pwd")
        t.ok(c.until(lambda c: (cwd + "\r\n").encode() in c.out), "the shell runs in it",
             c.out[-300:])
        c.close()

        status, _, body = d.json("POST", "/pty", "{not json")
        t.eq((status, body.get("code")), (400, "INVALID_REQUEST_BODY"), "a malformed body is 400")
        t.ok(body.get("message", "").startswith("error parsing request: "), "Go's message", body)
        status, _, body = d.json("POST", "/pty", {"cwd": 7})
        t.eq((status, body.get("code")), (400, "INVALID_REQUEST_BODY"), "a mistyped cwd is 400")
        status, _, body = d.json("POST", "/pty", {"cwd": "/proc/nope/x"})
        t.eq((status, body.get("code")), (500, "RUNTIME_ERROR"), "a cwd that cannot be made: 500")
        t.ok(body.get("message", "").startswith("error creating pty session: "), "its message", body)

        status, _, body = d.json("GET", "/pty/nope")
        t.eq((status, body), (404, {"code": "CONTEXT_NOT_FOUND",
                                    "message": "pty session nope not found"}), "unknown: 404")
        status, hdrs, body = d.request("DELETE", "/pty/" + sid)
        t.eq((status, body, hdrs.get("content-length")), (200, b"", "0"), "DELETE: empty 200")
        t.eq(d.json("GET", "/pty/" + sid)[0], 404, "then it is gone")
        t.eq(d.json("DELETE", "/pty/" + sid)[0], 404, "and a second DELETE is 404")


def test_handshake_errors(t):
    with Daemon() as d:
        status, hdrs, body = handshake_error(d, "/pty/nope/ws")
        t.eq((status, json.loads(body)),
             (404, {"code": "CONTEXT_NOT_FOUND", "message": "pty session nope not found"}),
             "an unknown session: 404 before any upgrade")
        sid = new_session(d)
        holder = PtyClient(d, sid)
        status, _, body = handshake_error(d, "/pty/%s/ws" % sid)
        t.eq((status, json.loads(body)),
             (409, {"code": "ALREADY_CONNECTED",
                    "message": "another client is already connected to pty session %s" % sid}),
             "a second client: 409")
        status, _, body = d.json("GET", "/pty/%s/ws?takeover=1" % sid)
        t.eq((status, body.get("code")), (409, "ALREADY_CONNECTED"),
             "a plain GET with takeover=1 is 409 too")
        holder.type("echo holder_$((2+3))")
        t.ok(holder.until(lambda c: b"holder_5" in c.out), "and the holder is not disturbed")
        holder.close()
        t.eq(holder.wait_close(), 1000, "a client's close is echoed with its code")

        sid2 = new_session(d)
        status, hdrs, body = d.request("GET", "/pty/%s/ws" % sid2)
        t.eq((status, body), (400, b"Bad Request\n"), "a plain GET without a holder: 400")
        t.eq(hdrs.get("sec-websocket-version"), "13", "naming the version it speaks")
        status, _, _ = handshake_error(d, "/pty/%s/ws" % sid2, {"Sec-WebSocket-Version": "8"})
        t.eq(status, 400, "another protocol version: 400")
        status, _, _ = handshake_error(d, "/pty/%s/ws" % sid2, {"Sec-WebSocket-Key": "c2hvcnQ="})
        t.eq(status, 400, "a key that is not 16 bytes: 400")
        c = PtyClient(d, sid2, headers={"Origin": "http://evil.example"})
        t.ok(c.connected(), "any Origin is accepted")
        c.close()

    with Daemon(token="s3cret") as d:
        sid = new_session(d)
        try:
            WsClient(d.port, "/pty/%s/ws" % sid)
            got = 101
        except HandshakeError as e:
            got = (e.status, json.loads(e.body))
        t.eq(got, (401, {"error": "Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN"}),
             "a missing token: 401 before the upgrade")
        c = PtyClient(d, sid)
        t.ok(c.connected(), "with the token the upgrade happens")
        c.close()


def test_frames(t):
    with Daemon(env={"TERM": "execd-test-term"}) as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        t.eq(c.texts[0], {"type": "connected", "session_id": sid, "mode": "pty"},
             "connected names the session and the mode")
        t.eq(c.order, ["connected"], "no replay frame for an empty session")
        c.type("stty size; echo term_$TERM")
        t.ok(c.until(lambda c: b"term_execd-test-term" in c.out), "TERM is the daemon's, untouched")
        t.ok(b"24 80\r\n" in c.out, "the terminal starts at 80x24", c.out[-300:])
        c.stdin(b"echo bin_$((3*3))\n")
        t.ok(c.until(lambda c: b"bin_9" in c.out), "stdin as binary 0x00 reaches the shell")
        c.send_json({"type": "stdin", "data": "echo json_$((4*4))\n"})
        t.ok(c.until(lambda c: b"json_16" in c.out), "stdin as a JSON frame too")
        c.send_json({"type": "ping"})
        t.ok(c.until(lambda c: {"type": "pong"} in c.texts), "ping is answered with pong")
        c.send_json({"type": "bogus"})
        t.ok(c.until(lambda c: c.errors()), "an unknown type is answered")
        t.eq(c.errors()[0], {"type": "error", "error": 'unknown frame type "bogus"',
                             "code": "INVALID_FRAME"}, "with INVALID_FRAME")
        c.send_text("{this is not json")
        c.send_binary(b"\x07ignored")
        c.send_binary(b"")
        c.send_json({"type": "signal", "signal": "SIGUSR1"})
        c.send_json({"type": "resize", "cols": 0, "rows": 10})
        c.type("echo alive_$((5*5))")
        t.ok(c.until(lambda c: b"alive_25" in c.out),
             "unparsable JSON, other channel bytes, empty frames, other signals and a resize "
             "with a zero are ignored")
        t.eq(len(c.errors()), 1, "without errors")
        c.send_json({"type": "resize", "cols": 120, "rows": 40})
        c.type("stty size")
        t.ok(c.until(lambda c: b"40 120\r\n" in c.out), "resize shows in stty size",
             c.out[-200:])
        c.type("printf '\\033[31mred\\033[0m\\n'")
        t.ok(c.until(lambda c: b"\x1b[31mred\x1b[0m" in c.out), "escape sequences pass as they are")
        c.type("tty")
        t.ok(c.until(lambda c: b"/dev/pts/" in c.out), "the shell has a terminal")
        c.close()


def test_replay(t):
    with Daemon() as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        c.type("echo first_$((10+1))")
        c.until(lambda c: b"first_11" in c.out)
        time.sleep(0.2)
        c.close()
        c.wait_close()
        total = status_of(d, sid)["output_offset"]
        t.ok(total >= len(c.out) > 0, "output_offset counts every byte (%d)" % total)

        c = PtyClient(d, sid)
        t.eq(c.order, ["replay", "connected"], "a reconnect without since: replay, then connected")
        t.eq(c.replay[0], 0, "replayed from offset 0 (the default)")
        t.ok(b"first_11" in c.replay[1] and len(c.replay[1]) == total, "everything buffered")
        c.type("echo second_$((20+2))")
        c.until(lambda c: b"second_22" in c.out)
        time.sleep(0.2)
        c.close()
        c.wait_close()

        c = PtyClient(d, sid, "?since=%d" % total)
        t.eq(c.replay[0], total, "since=N replays from N")
        t.ok(b"second_22" in c.replay[1] and b"first_11" not in c.replay[1],
             "only what came after", c.replay)
        c.close()
        c.wait_close()
        end = status_of(d, sid)["output_offset"]
        c = PtyClient(d, sid, "?since=%d" % end)
        t.eq(c.order, ["connected"], "since at the end: no replay frame")
        c.close()
        c.wait_close()
        c = PtyClient(d, sid, "?since=bogus")
        t.eq(c.replay and c.replay[0], 0, "an unparsable since is 0")

        # Output goes on into the ring while nobody is attached: the shell prints only once
        # the client is gone (the gate file), then 5000 more bytes; the offset passing them
        # means the worker read the marker before anybody attached again.
        gate = os.path.join(d.tmp, "gate")
        c.type("(while [ ! -e %s ]; do sleep 0.05; done; echo while_away_$((6*6));"
               " head -c 5000 /dev/zero | tr '\\0' w) &" % gate)
        c.until(lambda c: b"\r\n" in c.out)
        c.close()
        c.wait_close()
        away = status_of(d, sid)["output_offset"]
        open(gate, "w").close()
        t.ok(wait_for(lambda: status_of(d, sid)["output_offset"] >= away + 5000),
             "the shell's output is read while nobody is attached")
        c = PtyClient(d, sid, "?since=%d" % end)
        t.ok(c.replay and b"while_away_36" in c.replay[1],
             "output produced while nobody was attached is replayed")

        # More than the ring holds: the oldest is dropped and an old offset is clamped.
        c.type("head -c 3000000 /dev/zero | tr '\\0' a; echo; echo done_$((7*6))")
        t.ok(c.until(lambda c: b"done_42" in c.out, 60), "3 MB of output went by")
        t.ok(0 < c.largest <= 32768, "in output frames of at most 32 KiB (largest %d)" % c.largest)
        time.sleep(0.3)
        c.close()
        c.wait_close()
        end = status_of(d, sid)["output_offset"]
        c = PtyClient(d, sid, "?since=5")
        t.eq(c.replay[0], end - RING, "an offset older than the ring is clamped to the oldest byte")
        t.eq(len(c.replay[1]), RING, "the ring holds 1 MiB")
        t.ok(c.replay[1].endswith(c.replay[1][-200:]) and b"done_42" in c.replay[1],
             "ending with the newest output")
        c.close()


def test_takeover(t):
    with Daemon() as d:
        sid = new_session(d)
        a = PtyClient(d, sid)
        a.type("SECRET=kept_$((8*8))")
        a.type("echo set")
        a.until(lambda c: b"\r\nset\r\n" in c.out)
        b = PtyClient(d, sid, "?takeover=1")
        t.eq(a.wait_close(), 4001, "the holder is closed with 4001")
        t.eq(b.order[-1], "connected", "the new client gets connected")
        t.eq(b.order[0], "replay", "after the replay")
        b.type("echo $SECRET")
        t.ok(b.until(lambda c: b"kept_64" in c.out), "in the same shell")
        b.close()
        b.wait_close()

        sid2 = new_session(d)
        c = PtyClient(d, sid2, "?takeover=1")
        t.ok(c.connected(), "takeover=1 on a free session just connects")
        c.close()
        c.wait_close()

        # Six clients take over at once: at least one ends up connected, and then the
        # session can still be reclaimed.
        results = []

        def grab():
            try:
                x = PtyClient(d, sid, "?takeover=1")
                results.append(x)
            except Exception as e:  # 4001 before connected, or a closed socket
                results.append(e)

        threads = [threading.Thread(target=grab) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        connected = [x for x in results if isinstance(x, PtyClient)]
        t.ok(len(connected) >= 1, "concurrent takeovers: %d of 6 connected" % len(connected))
        for x in connected:
            x.shutdown()
        last = PtyClient(d, sid, "?takeover=1")
        last.type("echo again_$SECRET")
        t.ok(last.until(lambda c: b"again_kept_64" in c.out), "the session is still reclaimable")
        last.close()


def test_close_message_reason(t):
    with Daemon() as d:
        sid = new_session(d)
        a = PtyClient(d, sid)
        PtyClient(d, sid, "?takeover=1")
        try:
            while True:
                a.recv(5)
        except Closed as e:
            t.eq((e.code, e.reason), (4001, b"TAKEN_OVER"), "4001 carries the reason TAKEN_OVER")


def sleep_then(c, n):
    """Starts a foreground sleep in the shell, then echo of a computed marker (its typed
    form, echoed by the terminal, does not contain it)."""
    c.type("sleep 30; echo after_$((%d+1))" % n)
    time.sleep(0.5)
    return ("after_%d" % (n + 1)).encode()


def test_signals(t):
    with Daemon() as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        for n, name in enumerate(("SIGINT", "SIGTERM", "SIGQUIT")):
            sleep_then(c, 100 + n)
            start = time.time()
            c.send_json({"type": "signal", "signal": name})
            c.type("echo back_$((%d*2))" % (300 + n))
            back = ("back_%d" % ((300 + n) * 2)).encode()
            ok = c.until(lambda c: back in c.out, 10)
            t.ok(ok and time.time() - start < 5,
                 "%s stops the foreground sleep (the prompt is back in %.1fs)"
                 % (name, time.time() - start))
        c.type("echo shell_$((6+6))")
        t.ok(c.until(lambda c: b"shell_12" in c.out), "and the shell keeps running", c.out[-300:])
        t.ok(status_of(d, sid)["running"], "running")
        for n, name in enumerate(("SIGHUP", "SIGKILL")):
            sleep_then(c, 200 + n)
            c.send_json({"type": "signal", "signal": name})
            t.ok(c.until(lambda c: c.exit_code is not None, 10), "%s ends the shell" % name)
            t.eq(c.exit_code, -1, "exit_code -1 for a death by signal")
            t.eq(c.wait_close(), 1000, "then close 1000")
            t.ok(not status_of(d, sid)["running"], "not running")
            c = PtyClient(d, sid)


def test_pipe_mode(t):
    with Daemon() as d:
        sid = new_session(d)
        c = PtyClient(d, sid, "?pty=0")
        t.eq(c.texts[0]["mode"], "pipe", "pty=0 starts a pipe mode shell")
        c.stdin(b"echo to_out; echo to_err >&2; tty; echo\n")
        t.ok(c.until(lambda c: b"to_err" in c.err and b"not a tty" in c.out), "output arrives")
        t.ok(b"to_out" in c.out and b"to_out" not in c.err, "stdout on 0x01")
        t.ok(b"to_err" not in c.out, "stderr on 0x02 only")
        c.send_json({"type": "resize", "cols": 100, "rows": 30})
        c.stdin(b"echo after_resize\n")
        t.ok(c.until(lambda c: b"after_resize" in c.out), "resize is a no-op in pipe mode")
        c.close()
        c.wait_close()
        c = PtyClient(d, sid)
        t.eq(c.texts[-1]["mode"], "pipe", "the mode is the running shell's, whatever pty= says")
        c.stdin(b"sleep 30; echo after_int\n")
        time.sleep(0.3)
        c.send_json({"type": "signal", "signal": "SIGINT"})
        t.ok(c.until(lambda c: c.exit_code is not None or b"after_int" in c.out, 10),
             "SIGINT reaches the shell's group in pipe mode")
        c.shutdown()


def test_command(t):
    with Daemon() as d:
        sid = new_session(d, {"command": "echo hello_command; exit 7"})
        c = PtyClient(d, sid, "?pty=0")
        t.ok(c.until(lambda c: c.exit_code is not None), "the command runs and exits")
        t.ok(b"hello_command" in c.out, "its output", c.out)
        t.eq(c.exit_code, 7, "its exit code")
        t.eq(c.wait_close(), 1000, "close 1000 after the exit frame")
        t.eq(c.order[-1], "exit", "exit is the last frame")
        t.ok(not status_of(d, sid)["running"], "the session stops running")


def test_exit_and_next_shell(t):
    with Daemon() as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        c.type("echo one; exit 42")
        t.ok(c.until(lambda c: c.exit_code is not None), "exit ends the shell")
        t.eq(c.exit_code, 42, "exit 42 -> exit_code 42")
        code = c.wait_close()
        t.eq((code, c.close_code), (1000, 1000), "then close 1000")
        t.ok(c.eof(), "and the connection ends")
        first = status_of(d, sid)["output_offset"]
        c = PtyClient(d, sid)
        t.eq(c.replay and (c.replay[0], len(c.replay[1])), (0, first),
             "the next attach replays the old shell's output")
        c.type("echo next_$((9*9))")
        c.until(lambda c: b"next_81" in c.out)
        t.ok(status_of(d, sid)["running"], "a new shell runs")
        t.ok(status_of(d, sid)["output_offset"] > first, "offsets continue")
        c.close()


def test_delete_attached(t):
    with Daemon() as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        c.type("echo pid_$$_end")
        c.until(lambda c: re.search(rb"pid_(\d+)_end", c.out))
        pid = int(re.search(rb"pid_(\d+)_end", c.out).group(1))
        status, _, _ = d.request("DELETE", "/pty/" + sid)
        t.eq(status, 200, "DELETE of an attached session")
        t.ok(c.until(lambda c: c.exit_code is not None), "the client gets exit")
        t.eq(c.exit_code, -1, "with -1")
        t.eq(c.wait_close(), 1000, "and close 1000")
        t.ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid), 3), "the shell is killed")


def test_start_and_stdin_failures(t):
    with Daemon() as d:
        cwd = os.path.join(d.tmp, "gone")
        sid = new_session(d, {"cwd": cwd})
        os.rmdir(cwd)
        c = PtyClient(d, sid, wait_connected=False)
        t.ok(c.until(lambda c: c.errors()), "a shell that cannot start: an error frame")
        t.eq(c.errors() and c.errors()[0].get("code"), "START_FAILED", "with START_FAILED")
        t.ok(c.wait_close() is not None and not c.connected(), "then the close, no connected")
        t.ok(not status_of(d, sid)["running"], "nothing runs")

        sid = new_session(d, {"command": "exec 0<&-; echo stdin_closed; sleep 30"})
        c = PtyClient(d, sid, "?pty=0")
        t.ok(c.until(lambda c: b"stdin_closed" in c.out), "the shell closed its stdin")
        c.stdin(b"anything\n")
        t.ok(c.until(lambda c: c.errors()), "a failed stdin write: an error frame")
        t.eq(c.errors() and c.errors()[0].get("code"), "STDIN_WRITE_FAILED",
             "with STDIN_WRITE_FAILED")
        t.ok(c.wait_close() is not None, "and the connection ends")
        t.ok(status_of(d, sid)["running"], "the shell keeps running")


run_tests([test_rest, test_handshake_errors, test_frames, test_replay, test_takeover,
           test_close_message_reason, test_signals, test_pipe_mode, test_command,
           test_exit_and_next_shell, test_delete_attached, test_start_and_stdin_failures])
