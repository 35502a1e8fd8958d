"""Kernels other than ipykernel, with the real tslab (TypeScript and JavaScript, over tcp):
context creation, stdout, last expressions, display data, type and runtime errors, state,
interrupts, a killed kernel, a killed worker (adoption), the warm pool, deletion, a transport
the kernel does not serve (fails fast, naming it) and the kernelspec's transport override.
The whole file is a TAP skip when tslab is not installed (packaging/deps.sh installs it
through npm)."""
import glob
import json
import os
import shutil
import signal
import tempfile
import time

import code_common  # noqa: F401 (its Daemon settings)
from code_common import CodeStream, create_context, of_type, parent_of, run_code, stdout_text
from execd_test import Daemon, cmdline, processes_with, run_tests, wait_for, without_pings

# tslab starts in 2 s on an idle machine, in 10 s on a loaded one.
START_TIMEOUT = 120


def kernelspec_dirs():
    dirs = [p + "/kernels" for p in os.environ.get("JUPYTER_PATH", "").split(":") if p]
    data = os.environ.get("JUPYTER_DATA_DIR")
    xdg = os.environ.get("XDG_DATA_HOME")
    if data:
        dirs.append(data + "/kernels")
    elif xdg:
        dirs.append(xdg + "/jupyter/kernels")
    else:
        dirs.append(os.path.expanduser("~/.local/share/jupyter/kernels"))
    return dirs + ["/usr/local/share/jupyter/kernels", "/usr/share/jupyter/kernels"]


def find_spec(name):
    for d in kernelspec_dirs():
        path = os.path.join(d, name, "kernel.json")
        if os.path.exists(path):
            return os.path.dirname(path)
    return None


TSLAB_SPEC = find_spec("tslab")
HAVE_TSLAB = shutil.which("tslab") is not None and TSLAB_SPEC is not None


def ts(d, src, cid, timeout=120, language="typescript"):
    return run_code(d, src, language=language, ctx_id=cid, timeout=timeout)


def new_context(d, t, language="typescript"):
    start = time.time()
    status, _, ctx = create_context(d, language, timeout=START_TIMEOUT)
    ok = t.ok(status == 200 and ctx.get("language") == language,
              "POST /code/context %s: 200 (%.1fs)" % (language, time.time() - start), ctx)
    return ctx["id"] if ok else None


def tslab_pids(d, marker=None):
    """tslab kernel processes of daemon d (their connection file is in its runtime dir)."""
    return [p for p in processes_with(marker or d.runtime_dir)
            if b"tslab" in cmdline(p) and d.runtime_dir.encode() in cmdline(p)]


def kernel_of(d, cid):
    pids = tslab_pids(d, cid)
    return pids[0] if pids else None


def connection_of(d, cid):
    paths = glob.glob(os.path.join(d.runtime_dir, "w*", "kernels", cid, "connection.json"))
    with open(paths[0]) as f:
        return json.load(f)


def test_basics(t):
    with Daemon() as d:
        cid = new_context(d, t)
        conn = connection_of(d, cid)
        t.eq((conn["transport"], conn["ip"]), ("tcp", "127.0.0.1"),
             "tslab runs over tcp on 127.0.0.1 (it does not serve ipc)")

        _, _, ev, _ = ts(d, "console.log('Hello from TypeScript!')", cid)
        ev = without_pings(ev)
        t.eq([e["type"] for e in ev], ["init", "stdout", "execution_complete"],
             "console.log: init, stdout, execution_complete")
        t.eq(stdout_text(ev), "Hello from TypeScript!\n", "console.log is stdout")
        t.eq(ev[0]["text"], cid, "init names the context")

        _, _, ev, _ = ts(d, "const n: number = 20;\nn * 2 + 2", cid)
        t.eq(stdout_text(ev), "42\n",
             "a last expression: tslab prints its value on stdout (it sends no execute_result)")

        _, _, ev, _ = ts(d, "const { display } = require('tslab');\ndisplay.html('<b>bold</b>')", cid)
        results = [e["results"] for e in of_type(ev, "result")]
        t.eq([r.get("text/html") for r in results], ["<b>bold</b>"],
             "display data is a result event")

        _, _, ev, _ = ts(d, "let x: number = 'a string';", cid)
        ev = without_pings(ev)
        t.eq([e["type"] for e in ev], ["init", "stderr", "status", "error", "execution_complete"],
             "a type error: stderr, status, error, execution_complete")
        err = of_type(ev, "error")[0]["error"]
        t.ok("Type 'string' is not assignable to type 'number'" in err["evalue"],
             "the error event carries the kernel's message", err)
        t.eq(err["ename"], "Error", "named Error (tslab names none)")

        # Right after a failed cell tslab aborts requests for 200 ms: the daemon sends again.
        _, _, ev, _ = ts(d, "let y = 41;", cid)
        t.eq([e["type"] for e in without_pings(ev)], ["init", "execution_complete"],
             "the next cell, sent at once, runs (not aborted)")
        _, _, ev, _ = ts(d, "console.log(y + 1, n)", cid)
        t.eq(stdout_text(ev), "42 20\n", "state is kept between runs")

        _, _, ev, _ = ts(d, "throw new Error('ts-runtime-error');", cid)
        errs = of_type(ev, "error")
        t.ok(errs and "Error: ts-runtime-error" in errs[0]["error"]["evalue"],
             "a runtime error is an error event with its message", ev[-3:])
        t.ok(errs and any("ts-runtime-error" in line for line in errs[0]["error"]["traceback"]),
             "and its lines as traceback")

        _, _, ev, _ = ts(d, "await new Promise(r => setTimeout(r, 50)); 'awaited'", cid)
        t.eq(stdout_text(ev), "awaited\n", "top-level await")

        pid = kernel_of(d, cid)
        t.ok(pid is not None and parent_of(pid) in d.workers(), "the kernel is a worker's child")
        status, _, _ = d.request("DELETE", "/code/contexts/" + cid)
        t.ok(status == 200 and wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5),
             "deleting the context stops its kernel")


def test_interrupt(t):
    with Daemon() as d:
        cid = new_context(d, t)
        ts(d, "const kept = 'yes';", cid)
        s = CodeStream(d, "console.log('started');\nwhile (true) {}", cid, language="typescript")
        t.ok(s.wait_started(), "while (true) {} runs")
        start = time.time()
        status, _, _ = d.request("DELETE", "/code?id=" + cid)
        ev = without_pings(s.finish(10))
        took = time.time() - start
        t.eq(status, 200, "DELETE /code?id=: 200")
        errs = of_type(ev, "error")
        t.ok(errs and "interrupted" in errs[0]["error"]["evalue"] and
             ev[-1]["type"] == "execution_complete",
             "the loop ends with the kernel's interruption error, then execution_complete", ev[-3:])
        t.ok(took < 3, "promptly (%.2fs)" % took)
        _, _, ev, _ = ts(d, "console.log(kept)", cid)
        t.eq(stdout_text(ev), "yes\n", "the context keeps its state")


def test_kernel_killed(t):
    with Daemon(expect_kernel_deaths=True) as d:
        cid = new_context(d, t)
        pid = kernel_of(d, cid)
        s = CodeStream(d, "console.log('started');\nwhile (true) {}", cid, language="typescript")
        t.ok(s.wait_started(), "a cell runs")
        start = time.time()
        os.kill(pid, signal.SIGKILL)
        ev = without_pings(s.finish(10))
        took = time.time() - start
        t.ok(took < 2, "the run ends within 2 s of the kernel's death (%.2fs)" % took)
        err = ev[-1].get("error", {}) if ev else {}
        t.ok(ev and ev[-1]["type"] == "error" and err.get("ename") == "DeadKernelError" and
             "killed" in err.get("evalue", ""), "with an error event saying how it died", ev[-2:])
        _, _, ev, _ = ts(d, "console.log('restarted')", cid, timeout=START_TIMEOUT)
        t.eq(stdout_text(ev), "restarted\n", "the next run starts a new kernel")
        t.ok(kernel_of(d, cid) not in (None, pid), "a new kernel process")


def test_worker_killed(t):
    with Daemon(expect_worker_deaths=True) as d:
        cid = new_context(d, t)
        ts(d, "const x = 41;", cid)
        pid = kernel_of(d, cid)
        worker = parent_of(pid)
        s = CodeStream(d, "console.log('started');\nawait new Promise(r => setTimeout(r, 1500));\n"
                          "const y = 1;", cid, language="typescript")
        t.ok(s.wait_started(), "a cell runs")
        os.kill(worker, signal.SIGKILL)
        ev = without_pings(s.finish(10))
        t.ok(ev and ev[-1]["type"] == "error", "the stream ends with an error event")
        t.ok(os.path.exists("/proc/%d" % pid), "the kernel survives its worker")
        t.ok(wait_for(lambda: len(d.workers()) == 2 and worker not in d.workers(), 10),
             "the worker is respawned")
        time.sleep(2)  # the cell finishes in the kernel
        _, _, ev, _ = ts(d, "console.log(x + 1, y)", cid)
        t.eq(stdout_text(ev), "42 1\n", "the new worker adopted the tcp kernel: state survives")
        t.eq(kernel_of(d, cid), pid, "same kernel process")
        s = CodeStream(d, "console.log('started');\nwhile (true) {}", cid, language="typescript")
        s.wait_started()
        d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(10)
        t.ok(of_type(ev, "error") and ev[-1]["type"] == "execution_complete",
             "an adopted tslab kernel can be interrupted")


def test_pool_and_default(t):
    with Daemon("-kernel-pool", "typescript:1") as d:
        ready = wait_for(lambda: "(pid" in d.logs() and "tslab) ready" in d.logs(), START_TIMEOUT)
        t.ok(ready, "-kernel-pool typescript:1 starts a warm tslab kernel")
        time.sleep(0.3)  # the pool report reaches the master
        start = time.time()
        status, _, ctx = create_context(d, "typescript")
        took = time.time() - start
        t.ok(status == 200 and took < 1.0, "a creation takes the warm kernel (%.3fs)" % took, ctx)
        _, _, ev, _ = ts(d, "console.log('warm')", ctx["id"])
        t.eq(stdout_text(ev), "warm\n", "and runs code")
        _, _, ev, _ = run_code(d, "console.log('stateless')", language="typescript",
                               timeout=START_TIMEOUT)
        t.eq(stdout_text(ev), "stateless\n", "a run without a context uses the default context")


def test_javascript(t):
    if find_spec("jslab") is None:
        t.skip("javascript -> jslab", "no jslab kernelspec")
        return
    with Daemon() as d:
        cid = new_context(d, t, "javascript")
        _, _, ev, _ = ts(d, "const a = [1, 2, 3];\nconsole.log(a.map(v => v * 2).join(','))", cid,
                         language="javascript")
        t.eq(stdout_text(ev), "2,4,6\n", "javascript runs on jslab (the spec whose language it is)")


def test_unserved_transport_fails_fast(t):
    with Daemon("-kernel-transport", "ipc") as d:
        start = time.time()
        status, _, body = create_context(d, "typescript", timeout=60)
        took = time.time() - start
        msg = body.get("message", "") if isinstance(body, dict) else str(body)
        t.eq(status, 500, "tslab forced onto ipc: 500")
        t.ok(took < 20, "long before the 30 s startup timeout (%.1fs)" % took)
        t.ok("kernel tslab (typescript) over ipc" in msg and "does not seem to serve ipc" in msg,
             "the error names the kernel and the transport", msg)
        log = msg.split("its log: ", 1)[-1].split(":", 1)[0]
        t.ok(log.startswith(d.runtime_dir) and os.path.exists(log),
             "and the kernel's log, which is kept (%s)" % log)
        t.eq(tslab_pids(d), [], "the kernel was stopped")


def test_kernelspec_transport_override(t):
    tmp = tempfile.mkdtemp(prefix="execd-kspec-")
    try:
        os.makedirs(os.path.join(tmp, "kernels"))
        shutil.copytree(TSLAB_SPEC, os.path.join(tmp, "kernels", "tslab"))
        path = os.path.join(tmp, "kernels", "tslab", "kernel.json")
        with open(path) as f:
            spec = json.load(f)
        spec.setdefault("metadata", {})["execd"] = {"transport": "tcp"}
        with open(path, "w") as f:
            json.dump(spec, f)
        with Daemon("-kernel-transport", "ipc", env={"JUPYTER_PATH": tmp}) as d:
            cid = new_context(d, t)
            t.eq(connection_of(d, cid)["transport"], "tcp",
                 "metadata.execd.transport in the kernelspec wins over -kernel-transport")
            _, _, ev, _ = ts(d, "console.log('over tcp')", cid)
            t.eq(stdout_text(ev), "over tcp\n", "and the kernel works")
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    if not HAVE_TSLAB:
        print("1..0 # SKIP tslab is not installed (npm install -g tslab && "
              "tslab install --python=/usr/bin/python3; packaging/deps.sh does it)")
    else:
        Daemon.kernel_pool = ""
        run_tests([test_basics, test_interrupt, test_kernel_killed, test_worker_killed,
                   test_pool_and_default, test_javascript, test_unserved_transport_fails_fast,
                   test_kernelspec_transport_override], timeout=900)
