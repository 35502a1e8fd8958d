"""POST /code on Jupyter kernels: events, state, streams, results, rich output, errors, busy
contexts, shell mode, request errors."""
import base64
import hashlib
import os
import re
import threading
import time

from code_common import CodeStream, create_context, gate, of_type, release, run_code, stdout_text
from execd_test import Daemon, python_has, require_ipykernel, run_tests, texts, wait_for, without_pings

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_events_and_state(t):
    with Daemon() as d:
        status, hdrs, ev, raw = run_code(d, 'print("Hello")\nx = 2 + 2\nx')
        t.eq(status, 200, "a stateless run streams")
        t.eq(hdrs.get("content-type"), "text/event-stream", "as text/event-stream")
        t.ok(raw.endswith(b"\n\n") and b"data:" not in raw, "events are <json>\\n\\n")
        t.eq(ev[0]["type"], "init", "init first")
        t.ok(re.fullmatch(UUID, ev[0]["text"]) is not None, "init names the context (a dashed uuid)")
        t.eq(ev[1]["type"], "ping", "a ping right after init")
        ev = without_pings(ev)
        # ipykernel may flush print's "Hello" and "\n" as two stream messages (its flush
        # timer can fire between the writes on a loaded machine): one event per message.
        outs = [e for e in ev if e["type"] == "stdout"]
        rest = [e for e in ev if e["type"] != "stdout"]
        kinds = [e["type"] for i, e in enumerate(ev)
                 if not (e["type"] == "stdout" and ev[i - 1]["type"] == "stdout")]
        t.eq(kinds, ["init", "stdout", "execution_count", "result", "execution_complete"],
             "the contract's sequence for print + value")
        t.eq("".join(e["text"] for e in outs), "Hello\n", "stdout is the kernel's raw text")
        t.ok(rest[1].get("execution_count", 0) >= 1, "execution_count is positive")
        t.eq(rest[2].get("results"), {"text": "4"}, "results: text/plain renamed to text")
        t.ok(isinstance(rest[3].get("execution_time"), int) and rest[3]["execution_time"] >= 0,
             "execution_time is an integer (ms)", rest[3])
        t.ok(all(isinstance(e["timestamp"], int) and e["timestamp"] > 1.7e12 for e in ev),
             "every event has a millisecond timestamp")
        default_id = ev[0]["text"]

        _, _, ev, _ = run_code(d, "x * 10")
        t.eq(ev[0]["text"], default_id, "stateless runs share the default context")
        t.eq(of_type(ev, "result")[0]["results"], {"text": "40"}, "state survives between runs")
        t.ok(of_type(ev, "execution_count")[0]["execution_count"] > 1, "the cell counter advances")

        _, _, ev, _ = run_code(d, "print('only output')")
        t.eq(of_type(ev, "execution_count"), [], "a print-only cell has no execution_count event")
        t.eq(ev[-1]["type"], "execution_complete", "and completes")

        _, _, ev, _ = run_code(d, "import sys\nprint('to err', file=sys.stderr)\nprint('to out')")
        t.eq(texts(ev, "stderr"), ["to err\n"], "stderr is a stderr event")
        t.eq(stdout_text(ev), "to out\n", "stdout beside it")

        _, _, ev, _ = run_code(d, "print('h\u00e9llo \u20ac <&>')")
        t.eq(stdout_text(ev), "h\u00e9llo \u20ac <&>\n", "unicode and HTML characters survive")

        _, _, ev, _ = run_code(d, "{'a': [1, 2]}")
        t.eq(of_type(ev, "result")[0]["results"]["text"], "{'a': [1, 2]}", "a repr result")

        _, _, ev, _ = run_code(d, "from IPython.display import display, HTML, JSON\n"
                                  "display(HTML('<b>bold</b>'))\n"
                                  "h = display(HTML('<i>one</i>'), display_id=True)\n"
                                  "h.update(HTML('<i>two</i>'))\n")
        results = [e["results"] for e in of_type(ev, "result")]
        t.eq([r.get("text/html") for r in results], ["<b>bold</b>", "<i>one</i>", "<i>two</i>"],
             "display_data and update_display_data are result events")
        t.ok(all("text" in r and "text/plain" not in r for r in results), "with text/plain renamed")
        t.eq(of_type(ev, "execution_count"), [], "display output has no execution_count")


def test_errors(t):
    with Daemon() as d:
        _, _, ev, _ = run_code(d, "def f():\n    return 1/0\nf()")
        ev = without_pings(ev)
        t.eq([e["type"] for e in ev], ["init", "status", "error", "execution_complete"],
             "a failing cell: status, error, then execution_complete (as the Go daemon)")
        t.eq(ev[1]["text"], "error", "the status event says error")
        err = ev[2]["error"]
        t.eq((err["ename"], err["evalue"]), ("ZeroDivisionError", "division by zero"),
             "ename and evalue from the kernel")
        t.ok(isinstance(err["traceback"], list) and any("ZeroDivisionError" in x for x in err["traceback"])
             and any("return 1/0" in x for x in err["traceback"]), "the traceback names the line",
             err["traceback"])
        _, _, ev, _ = run_code(d, "print('before')\nraise ValueError('bad value')")
        t.eq(stdout_text(ev), "before\n", "output before the error is delivered")
        t.eq(of_type(ev, "error")[0]["error"]["ename"], "ValueError", "then the error")
        _, _, ev, _ = run_code(d, "print('after the errors')")
        t.eq(stdout_text(ev), "after the errors\n", "the context works on after errors")
        _, _, ev, _ = run_code(d, "def broken(:\n  pass")
        t.eq(of_type(ev, "error")[0]["error"]["ename"], "SyntaxError", "syntax errors are errors too")


def test_png(t):
    if not python_has("matplotlib"):
        t.skip("a matplotlib figure is a result with image/png", "no python3-matplotlib")
        return
    with Daemon() as d:
        _, _, ev, _ = run_code(d, "import matplotlib.pyplot as plt\n"
                                  "plt.plot([1, 2, 3], [4, 1, 9])\nplt.show()")
        res = [e["results"] for e in of_type(ev, "result")]
        t.ok(len(res) == 1 and "image/png" in res[0], "a matplotlib figure is a result with image/png",
             ev)
        png = base64.b64decode(res[0]["image/png"]) if res and "image/png" in res[0] else b""
        t.ok(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, "a real PNG (%d bytes)" % len(png))
        t.ok(res and res[0].get("text", "").startswith("<Figure"), "with its text/plain as text")

        # A 10 MB image arrives intact (a single event, base64 ~13.3 MB).
        _, _, ev, _ = run_code(d, "import os, hashlib\nfrom IPython.display import Image, display\n"
                                  "blob = b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom(10 * 1024 * 1024)\n"
                                  "display(Image(data=blob, format='png'))\n"
                                  "print(hashlib.sha256(blob).hexdigest())", timeout=180)
        res = [e["results"] for e in of_type(ev, "result")]
        blob = base64.b64decode(res[0]["image/png"]) if res and "image/png" in res[0] else b""
        t.eq(hashlib.sha256(blob).hexdigest() + "\n", stdout_text(ev), "a 10 MB image arrives intact")
        t.eq(ev[-1]["type"], "execution_complete", "and the run completes")


def test_busy(t):
    with Daemon() as d:
        status, _, ctx = create_context(d)
        t.eq(status, 200, "context created")
        cid = ctx["id"]
        go, wait_go = gate(d, "go")
        s = CodeStream(d, "print('started', flush=True)\n" + wait_go + "done = 1", cid)
        t.ok(s.wait_started(), "a long cell runs")
        status, _, ev, raw = run_code(d, "1 + 1", ctx_id=cid)
        release(go)
        ev = without_pings(ev)
        t.eq(status, 200, "a second run on the busy context: 200 stream (as the Go daemon)")
        t.eq([e["type"] for e in ev], ["init", "error"], "init, then an error event")
        t.eq(ev[0]["text"], cid, "init names the context")
        t.eq((ev[1]["error"]["ename"], ev[1]["error"]["evalue"]),
             ("RUNTIME_ERROR", "error running codes session is busy"), "the contract's busy rejection")
        first = s.finish()
        t.eq(first[-1]["type"], "execution_complete", "the running cell was not disturbed")
        _, _, ev, _ = run_code(d, "done", ctx_id=cid)
        t.eq(of_type(ev, "result")[0]["results"], {"text": "1"}, "and the context is free afterwards")

        # Different contexts run in parallel: each cell waits for the other to start.
        _, _, other = create_context(d)
        a, wait_a = gate(d, "a")
        b, wait_b = gate(d, "b")
        s1 = CodeStream(d, "open(%r, 'w').close()\n" % a + wait_b, cid)
        s2 = CodeStream(d, "open(%r, 'w').close()\n" % b + wait_a, other["id"])
        e1, e2 = s1.finish(120), s2.finish(120)
        t.ok(e1 and e2 and e1[-1]["type"] == e2[-1]["type"] == "execution_complete",
             "two contexts run at the same time (each cell waited for the other)")


def test_contexts_are_separate(t):
    with Daemon() as d:
        _, _, a = create_context(d)
        _, _, b = create_context(d)
        run_code(d, "secret = 'a'", ctx_id=a["id"])
        _, _, ev, _ = run_code(d, "secret", ctx_id=b["id"])
        t.eq(of_type(ev, "error")[0]["error"]["ename"], "NameError", "contexts do not share state")
        _, _, ev, _ = run_code(d, "secret", ctx_id=a["id"])
        t.eq(of_type(ev, "result")[0]["results"], {"text": "'a'"}, "each keeps its own")
        _, _, ev, _ = run_code(d, "secret")
        t.eq(of_type(ev, "error")[0]["error"]["ename"], "NameError",
             "the default context is separate too")
        _, _, ev, _ = run_code(d, "1", language="javascript", ctx_id=a["id"])
        t.eq(of_type(ev, "result")[0]["results"], {"text": "1"},
             "with an id, the context's kernel is used whatever the language says")


def test_shell_mode(t):
    with Daemon() as d:
        _, _, ev, _ = run_code(d, "echo hi; echo oops >&2; exit 3", language=None)
        ev = without_pings(ev)
        t.ok(re.fullmatch(r"[0-9a-f]{32}", ev[0]["text"]) is not None,
             "no language: a shell command (command id in init)")
        t.eq((texts(ev, "stdout"), texts(ev, "stderr")), (["hi"], ["oops"]), "line events as /command")
        t.eq(ev[-1]["error"], {"ename": "CommandExecError", "evalue": "3", "traceback": ["exit status 3"]},
             "CommandExecError with the exit code")
        _, _, ev, _ = d.stream("/code", {"code": "echo no-context"})
        t.eq(texts(ev, "stdout"), ["no-context"], "a body without context is a shell run too")
        _, _, ev, _ = run_code(d, "echo cmd", language="command")
        t.eq(texts(ev, "stdout"), ["cmd"], "language command is a shell run")
        t.eq(ev[-1]["type"], "execution_complete", "that completes")
        go = os.path.join(d.tmp, "go")
        command = "echo bg-out; while [ ! -e %s ]; do sleep 0.02; done" % go
        _, _, ev, _ = run_code(d, command, language="background-command")
        t.eq([e["type"] for e in without_pings(ev)], ["init", "execution_complete"],
             "background-command: init and complete at once")
        cid = ev[0]["text"]
        status, _, st = d.json("GET", "/command/status/" + cid)
        t.eq((status, st.get("running"), st.get("content")), (200, True, command),
             "and /command/status knows it, running")
        release(go)
        t.ok(wait_for(lambda: d.json("GET", "/command/status/" + cid)[2].get("exit_code") == 0, 10),
             "it finishes")
        t.eq(d.request("GET", "/command/%s/logs" % cid)[2], b"bg-out\n", "its output is in its logs")


def test_request_errors(t):
    with Daemon() as d:
        for body, desc in [({"context": {"language": "python"}}, "missing code"),
                           ({"code": ""}, "empty code"),
                           ({"code": 5}, "code not a string"),
                           ({"code": "1", "context": "python"}, "context not an object"),
                           ({"code": "1", "context": {"id": 7}}, "id not a string")]:
            status, hdrs, resp = d.json("POST", "/code", body)
            t.ok(status == 400 and resp.get("code") == "INVALID_REQUEST_BODY" and
                 hdrs.get("content-type", "").startswith("application/json"),
                 "%s: 400 INVALID_REQUEST_BODY as JSON" % desc, (status, resp))
        status, _, resp = d.json("POST", "/code", "{not json")
        t.eq((status, resp.get("code")), (400, "INVALID_REQUEST_BODY"), "bad JSON: 400")
        status, _, resp = d.json("POST", "/code", {"code": "1", "context": {"language": "python",
                                                                          "id": "nope"}})
        t.eq((status, resp), (500, {"code": "RUNTIME_ERROR", "message": "error running codes context not found"}),
             "unknown context id: the contract's 500 JSON")
        start = time.time()
        status, hdrs, resp = d.json("POST", "/code", {"code": "1", "context": {"language": "cobol"}},
                                    timeout=120)
        took = time.time() - start
        t.ok(status == 500 and resp.get("code") == "RUNTIME_ERROR" and "cobol" in resp.get("message", "")
             and hdrs.get("content-type", "").startswith("application/json"),
             "a language without a kernel: 500 JSON naming it", (status, resp))
        t.ok(took >= 1.9, "after waiting -kernelspec-wait (2 s) for its kernelspec (%.1fs)" % took)
        status, _, ev, _ = run_code(d, "SELECT 1", language="sql")
        t.eq((status, ev[0]["type"]), (200, "init"),
             "sql goes to the SQL executor (t/integ/sql_*.py test it)")
        status, _, ev, _ = run_code(d, "1 + 1")
        t.eq(of_type(ev, "result")[0]["results"], {"text": "2"}, "the daemon serves on after errors")


def test_concurrent_first_runs(t):
    with Daemon() as d:
        results = []

        def one():
            results.append(run_code(d, "import time; time.sleep(0.1); 7"))

        threads = [threading.Thread(target=one) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        ids = {r[2][0]["text"] for r in results if r[0] == 200 and r[2]}
        t.eq(len(ids), 1, "concurrent first stateless runs share one default context (%s)" % ids)
        ok = [r for r in results if of_type(r[2], "execution_complete")]
        busy = [r for r in results if any(e.get("error", {}).get("evalue", "").endswith("session is busy")
                                          for e in r[2])]
        t.ok(ok and len(ok) + len(busy) == 6, "each ran or got the busy rejection (%d ran)" % len(ok))
        status, _, listing = d.json("GET", "/code/contexts?language=python")
        t.eq(len([c for c in listing if c["id"] in ids]), 1, "one default context is listed")


if __name__ == "__main__":
    require_ipykernel()
    run_tests([test_events_and_state, test_errors, test_png, test_busy, test_contexts_are_separate,
               test_shell_mode, test_request_errors, test_concurrent_first_runs])
