"""Code contexts: create (warm pool, cwd), list, get, delete by id and by language, 404s,
default contexts, languages without kernels."""
import json
import os
import re
import time

from code_common import (SLEEPER, CodeStream, create_context, kernel_of, kernel_pids, of_type, run_code,
                         stdout_text)
from execd_test import Daemon, alive, processes_with, require_ipykernel, run_tests, temp_dir, wait_for

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def warm(d, n=1):
    """Waits until n python kernels have been ready (the warm pool starts with the daemon)."""
    return wait_for(lambda: d.logs().count("python3) ready") >= n, 60)


def test_crud(t):
    with Daemon() as d:
        t.ok(warm(d), "the warm pool's kernel is ready")
        pool = kernel_pids(d)
        status, hdrs, ctx = create_context(d)
        t.eq(status, 200, "POST /code/context: 200")
        t.ok(hdrs.get("content-type", "").startswith("application/json"), "JSON answer")
        t.ok(re.fullmatch(UUID, ctx.get("id", "")) is not None and ctx.get("language") == "python"
             and set(ctx) == {"id", "language"}, "{id, language} with a dashed uuid", ctx)
        cid = ctx["id"]
        pid = kernel_of(d, cid)
        t.ok(pid is not None, "its kernel process runs")
        t.ok(pid in pool, "on the warm pool's kernel (%s, pool %s)" % (pid, pool))
        t.eq(os.getsid(pid) if pid else None, pid, "in its own session")
        kdir = [os.path.join(d.runtime_dir, w, "kernels", cid) for w in ("w0", "w1")
                if os.path.isdir(os.path.join(d.runtime_dir, w, "kernels", cid))]
        modes = (oct(os.stat(kdir[0]).st_mode & 0o777),
                 oct(os.stat(os.path.join(kdir[0], "connection.json")).st_mode & 0o777)) if kdir else None
        t.eq(modes, ("0o700", "0o600"), "its directory is 0700, its connection file 0600")
        conn = json.load(open(os.path.join(kdir[0], "connection.json"))) if kdir else {}
        t.ok(conn.get("transport") == "ipc" and conn.get("signature_scheme") == "hmac-sha256" and
             len(conn.get("key", "")) >= 32, "ipc transport, HMAC-SHA256 with a random key")
        log = os.path.join(kdir[0], "kernel.log") if kdir else ""
        t.ok(os.path.exists(log), "the kernel's output goes to its log file")

        status, _, got = d.json("GET", "/code/contexts/" + cid)
        t.eq((status, got), (200, {"id": cid, "language": "python"}), "GET by id")
        status, _, listing = d.json("GET", "/code/contexts")
        t.ok(status == 200 and {"id": cid, "language": "python"} in listing, "listed without a filter")
        status, _, listing = d.json("GET", "/code/contexts?language=python")
        t.ok(status == 200 and {"id": cid, "language": "python"} in listing, "listed for python")
        status, _, listing = d.json("GET", "/code/contexts?language=bash")
        t.eq((status, listing), (200, []), "another language: []")
        status, _, listing = d.json("GET", "/code/contexts?language=nonexistent")
        t.eq((status, listing), (200, []), "an unknown language: []")
        for lang in ("command", "background-command", "sql"):
            status, _, body = d.json("GET", "/code/contexts?language=" + lang)
            t.eq((status, body.get("code")), (500, "RUNTIME_ERROR"), "listing %s: 500" % lang)

        _, _, ev, _ = run_code(d, "v = 'kept'", ctx_id=cid)
        t.eq(ev[-1]["type"], "execution_complete", "runs in the new context")

        pid = kernel_of(d, cid)
        status, hdrs, body = d.request("DELETE", "/code/contexts/" + cid)
        t.eq((status, body, hdrs.get("content-length")), (200, b"", "0"), "DELETE by id: empty 200")
        t.ok(wait_for(lambda: not alive(pid), 10), "its kernel is gone")
        t.ok(not any(cid in x for x in os.listdir(os.path.join(d.runtime_dir, "w0", "kernels")) +
                     os.listdir(os.path.join(d.runtime_dir, "w1", "kernels"))), "and its files")
        status, _, body = d.json("GET", "/code/contexts/" + cid)
        t.eq((status, body), (404, {"code": "CONTEXT_NOT_FOUND", "message": "context %s not found" % cid}),
             "GET after delete: 404 CONTEXT_NOT_FOUND")
        status, _, body = d.json("DELETE", "/code/contexts/" + cid)
        t.eq((status, body.get("code")), (404, "CONTEXT_NOT_FOUND"), "DELETE again: 404")
        status, _, body = d.json("POST", "/code", {"code": "v", "context": {"id": cid, "language": "python"}})
        t.eq((status, body.get("message")), (500, "error running codes context not found"),
             "running on a deleted context: 500")
        status, _, listing = d.json("GET", "/code/contexts")
        t.ok(all(c["id"] != cid for c in listing), "no longer listed")
        status, _, body = d.json("GET", "/code/contexts/nonexistent-id")
        t.eq(status, 404, "GET unknown: 404")


def test_create_errors(t):
    with Daemon() as d:
        status, _, body = d.json("POST", "/code/context", "")
        t.eq((status, body.get("code")), (400, "INVALID_REQUEST_BODY"), "empty body: 400")
        status, _, body = d.json("POST", "/code/context", {"language": 3})
        t.eq((status, body.get("code")), (400, "INVALID_REQUEST_BODY"), "language not a string: 400")
        for lang in ("", "sql", "command"):
            status, _, body = d.json("POST", "/code/context", {"language": lang})
            t.eq((status, body.get("code")), (500, "RUNTIME_ERROR"), "language %r: 500" % lang)
        start = time.time()
        status, hdrs, body = d.json("POST", "/code/context", {"language": "klingon"}, timeout=120)
        took = time.time() - start
        t.ok(status == 500 and "klingon" in body.get("message", "") and
             body["message"].startswith("error creating code context."),
             "no kernelspec: 500 naming the language (no endless retry)", body)
        t.ok(took >= 1.9, "after waiting -kernelspec-wait (2 s) for it to appear (%.1fs)" % took)
        status, _, listing = d.json("GET", "/code/contexts")
        t.eq(listing, [], "nothing half-created is listed")


def test_cwd(t):
    with Daemon() as d, temp_dir("execd-cwd-") as base:
        want = os.path.join(base, "made", "by", "execd")
        status, _, ctx = create_context(d, cwd=want)
        t.eq(status, 200, "create with a cwd that does not exist yet")
        t.eq(ctx.get("cwd"), want, "cwd is echoed")
        t.ok(os.path.isdir(want), "and created")
        _, _, ev, _ = run_code(d, "import os; print(os.getcwd())", ctx_id=ctx["id"])
        t.eq(stdout_text(ev), want + "\n", "the kernel runs in it")
        status, _, got = d.json("GET", "/code/contexts/" + ctx["id"])
        t.eq(set(got), {"id", "language"}, "GET does not report cwd (as the Go daemon)")
        status, _, ctx = create_context(d, cwd="$HOME")
        _, _, ev, _ = run_code(d, "import os; print(os.getcwd())", ctx_id=ctx["id"])
        t.eq(stdout_text(ev), os.path.realpath(os.environ["HOME"]) + "\n", "$VAR is expanded")
        before = len(d.json("GET", "/code/contexts")[2])
        status, _, body = create_context(d, cwd="$EXECD_SURELY_UNDEFINED/x")
        t.ok(status == 500 and body.get("code") == "RUNTIME_ERROR"
             and "EXECD_SURELY_UNDEFINED" in body.get("message", ""),
             "an undefined variable in cwd: 500 naming it", (status, body))
        t.eq(len(d.json("GET", "/code/contexts")[2]), before, "and nothing half-created is listed")


def test_delete_by_language(t):
    with Daemon() as d:
        ids = [create_context(d)[2]["id"] for _ in range(3)]
        _, _, ev, _ = run_code(d, "1")
        default_id = ev[0]["text"]
        _, _, listing = d.json("GET", "/code/contexts?language=python")
        t.eq(sorted(c["id"] for c in listing), sorted(ids + [default_id]),
             "the default context is listed with the others")
        status, _, body = d.json("DELETE", "/code/contexts")
        t.eq((status, body), (400, {"code": "MISSING_QUERY", "message": "missing query parameter 'language'"}),
             "DELETE without language: 400 MISSING_QUERY")
        pids = [kernel_of(d, i) for i in ids + [default_id]]
        status, _, body = d.request("DELETE", "/code/contexts?language=python")
        t.eq((status, body), (200, b""), "DELETE ?language=python: empty 200")
        _, _, listing = d.json("GET", "/code/contexts")
        t.eq(listing, [], "every python context is gone, the default included")
        t.ok(wait_for(lambda: not any(p and alive(p) for p in pids), 10), "with their kernels")
        status, _, body = d.request("DELETE", "/code/contexts?language=python")
        t.eq(status, 200, "nothing left to delete: 200")
        _, _, ev, _ = run_code(d, "print('fresh')")
        t.ok(ev[0]["text"] != default_id and stdout_text(ev) == "fresh\n",
             "the next stateless run gets a new default context")


def test_default_deleted_by_id(t):
    with Daemon() as d:
        _, _, ev, _ = run_code(d, "x = 1")
        first = ev[0]["text"]
        status, _, _ = d.request("DELETE", "/code/contexts/" + first)
        t.eq(status, 200, "the default context can be deleted by id")
        _, _, ev, _ = run_code(d, "x")
        t.ok(ev[0]["text"] != first, "then a new default is made")
        t.eq(of_type(ev, "error")[0]["error"]["ename"], "NameError", "with fresh state")


def test_contexts_across_workers(t):
    with Daemon(workers=3) as d:
        ids = [create_context(d)[2]["id"] for _ in range(4)]
        owners = set()
        for cid in ids:
            pid = kernel_of(d, cid)
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
            owners.add(int(stat[stat.rindex(")") + 2:].split()[1]))
        t.ok(len(owners) >= 2, "contexts are spread over workers (%d used)" % len(owners))
        for i, cid in enumerate(ids):
            run_code(d, "n = %d" % i, ctx_id=cid)
        got = [of_type(run_code(d, "n", ctx_id=cid)[2], "result")[0]["results"]["text"] for cid in ids]
        t.eq(got, [str(i) for i in range(4)], "each run is routed to its context's worker")
        status, _, _ = d.request("DELETE", "/code/contexts?language=python")
        _, _, listing = d.json("GET", "/code/contexts")
        t.eq((status, listing), (200, []), "delete by language reaches every worker")


def test_delete_running(t):
    """Deleting a context whose cell runs ends that cell with KernelShutdown (Go blocks)."""
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        pid = kernel_of(d, cid)
        s = CodeStream(d, SLEEPER % 600, cid)
        t.ok(s.wait_started(), "a long cell runs")
        status, _, _ = d.request("DELETE", "/code/contexts/" + cid, timeout=120)
        t.eq(status, 200, "DELETE of the busy context: 200")
        ev = s.finish(60)
        err = ev[-1].get("error", {}) if ev else {}
        t.ok(ev and ev[-1]["type"] == "error" and err.get("ename") == "KernelShutdown",
             "the running cell's stream ends with a KernelShutdown error", ev[-2:])
        t.ok(wait_for(lambda: not alive(pid), 10), "its kernel is gone")
        t.eq(d.json("GET", "/code/contexts/" + cid)[0], 404, "and so is the context")


def slow_spec(root):
    os.makedirs(os.path.join(root, "kernels", "slow"))
    with open(os.path.join(root, "kernels", "slow", "kernel.json"), "w") as f:
        json.dump({"argv": ["/bin/sleep", "600.125"], "display_name": "never ready",
                   "language": "slowlang"}, f)
    return root


def test_startup_timeout(t):
    with temp_dir("execd-kspec-") as root, \
            Daemon("-kernel-startup-timeout", "1s", env={"JUPYTER_PATH": slow_spec(root)}) as d:
        start = time.time()
        status, _, body = d.json("POST", "/code/context", {"language": "slowlang"}, timeout=120)
        took = time.time() - start
        t.ok(status == 500 and "did not become ready within 1000 ms" in body.get("message", ""),
             "-kernel-startup-timeout 1s: a kernel not ready by then is a 500", body)
        t.ok(took >= 1, "after the timeout (%.1fs)" % took)
        t.ok(wait_for(lambda: processes_with("600.125") == [], 10), "the kernel process is killed")
        t.eq(d.json("GET", "/code/contexts")[2], [], "no context is left")


def test_pool_sizes(t):
    """-kernel-pool python:3 keeps three warm kernels over the workers; contexts take them and
    the pool refills."""
    with Daemon("-kernel-pool", "python:3") as d:
        t.ok(wait_for(lambda: len(kernel_pids(d)) == 3 and d.logs().count("python3) ready") >= 3, 120),
             "three warm kernels start", kernel_pids(d))
        pool = set(kernel_pids(d))
        ids = [create_context(d)[2].get("id") for _ in range(3)]
        used = {kernel_of(d, cid) for cid in ids}
        t.eq(used, pool, "three contexts take the three warm kernels")
        t.ok(wait_for(lambda: len(kernel_pids(d)) == 6, 120), "the pool refills to three",
             kernel_pids(d))


if __name__ == "__main__":
    require_ipykernel()
    run_tests([test_crud, test_create_errors, test_cwd, test_delete_by_language, test_default_deleted_by_id,
               test_contexts_across_workers, test_delete_running, test_startup_timeout, test_pool_sizes])
