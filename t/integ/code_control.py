"""Code contexts under stress: interrupts (signal and message modes), a kernel killed mid-run, a
worker killed mid-run (its kernels are adopted), client disconnects, 20 contexts in parallel,
reload, shutdown and restart leave no kernel behind."""
import json
import os
import signal
import socket
import tempfile
import threading
import time

from code_common import (HAVE_IPYKERNEL, SLEEPER, CodeStream, create_context, kernel_of,
                         kernel_pids, of_type, parent_of, run_code, stdout_text)
from execd_test import Daemon, cmdline, processes_with, run_tests, wait_for, without_pings


def test_interrupt_signal(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "kept = 'yes'", ctx_id=cid)
        s = CodeStream(d, SLEEPER % 60, cid)
        t.ok(s.wait_started(), "a long cell runs")
        start = time.time()
        status, hdrs, body = d.request("DELETE", "/code?id=" + cid)
        t.eq((status, body, hdrs.get("content-length"), hdrs.get("content-type")), (200, b"", "0", None),
             "DELETE /code?id=: empty 200")
        ev = without_pings(s.finish(10))
        took = time.time() - start
        errs = of_type(ev, "error")
        t.ok(errs and errs[0]["error"]["ename"] == "KeyboardInterrupt",
             "the run ends with the kernel's KeyboardInterrupt", ev[-3:])
        t.ok(of_type(ev, "status") and ev[-1]["type"] == "execution_complete",
             "preceded by status error, followed by execution_complete")
        t.ok(took < 3, "promptly (%.2fs)" % took)
        _, _, ev, _ = run_code(d, "kept", ctx_id=cid)
        t.eq(of_type(ev, "result")[0]["results"], {"text": "'yes'"}, "the context keeps its state")
        status, _, _ = d.request("DELETE", "/code?id=" + cid)
        t.eq(status, 200, "interrupting an idle context: 200")
        status, _, body = d.json("DELETE", "/code?id=unknown-context")
        t.eq((status, body.get("message")), (500, "error interruptting code context. no such session"),
             "an unknown id: the contract's 500")
        status, _, body = d.json("DELETE", "/code")
        t.eq((status, body.get("code")), (400, "MISSING_QUERY"), "no id: 400 MISSING_QUERY")
        s = CodeStream(d, SLEEPER % 60, cid)
        s.wait_started()
        status, _, _ = d.request("DELETE", "/command?id=" + cid)
        ev = s.finish(10)
        t.ok(status == 200 and of_type(ev, "error")[0]["error"]["ename"] == "KeyboardInterrupt",
             "DELETE /command?id= interrupts a context too (one handler, as the Go daemon)")
        s = CodeStream(d, "import subprocess\nprint('started', flush=True)\n"
                          "subprocess.run(['sleep', '60'])", cid)
        s.wait_started()
        time.sleep(0.3)
        d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(10)
        t.ok(of_type(ev, "error") and ev[-1]["type"] == "execution_complete",
             "a cell waiting on a subprocess is interrupted as well (the group gets SIGINT)")


def message_mode_spec():
    root = tempfile.mkdtemp(prefix="execd-kspec-")
    os.makedirs(os.path.join(root, "kernels", "pymsg"))
    with open(os.path.join(root, "kernels", "pymsg", "kernel.json"), "w") as f:
        json.dump({"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "Python (message interrupts)", "language": "pymsg",
                   "interrupt_mode": "message", "env": {"EXECD_SPEC_ENV": "from-spec"}}, f)
    return root


def test_interrupt_message(t):
    root = message_mode_spec()
    with Daemon(env={"JUPYTER_PATH": root}) as d:
        status, _, ctx = create_context(d, language="pymsg")
        t.eq((status, ctx.get("language")), (200, "pymsg"), "a context on a JUPYTER_PATH kernelspec")
        cid = ctx["id"]
        _, _, ev, _ = run_code(d, "import os; print(os.environ.get('EXECD_SPEC_ENV'))", ctx_id=cid)
        t.eq(stdout_text(ev), "from-spec\n", "the kernelspec's env reaches the kernel")
        s = CodeStream(d, SLEEPER % 60, cid)
        t.ok(s.wait_started(), "a long cell runs")
        status, _, _ = d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(10)
        errs = of_type(ev, "error")
        t.ok(status == 200 and errs and errs[0]["error"]["ename"] == "KeyboardInterrupt",
             "interrupt_mode message: interrupt_request ends the cell with KeyboardInterrupt", ev[-3:])
        _, _, ev, _ = run_code(d, "print('alive')", language="pymsg")
        t.eq(stdout_text(ev), "alive\n", "a stateless run of that language works too")
    os.system("rm -rf " + root)


def test_kernel_killed(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "x = 41", ctx_id=cid)
        pid = kernel_of(d, cid)
        s = CodeStream(d, SLEEPER % 60, cid)
        t.ok(s.wait_started(), "a long cell runs")
        start = time.time()
        os.kill(pid, signal.SIGKILL)
        ev = without_pings(s.finish(10))
        took = time.time() - start
        t.ok(took < 2, "the run ends within 2 s of the kernel's death (%.2fs)" % took)
        t.eq(ev[-1]["type"], "error", "with an error event")
        err = ev[-1].get("error", {})
        t.ok(err.get("ename") == "DeadKernelError" and "killed" in err.get("evalue", ""),
             "saying the kernel died and how", err)
        status, _, got = d.json("GET", "/code/contexts/" + cid)
        t.eq(status, 200, "the context stays")
        _, _, ev, _ = run_code(d, "print('restarted')", ctx_id=cid)
        t.eq(stdout_text(ev), "restarted\n", "the next run starts a new kernel and works")
        t.ok(kernel_of(d, cid) not in (None, pid), "a new kernel process")
        _, _, ev, _ = run_code(d, "x", ctx_id=cid)
        t.eq(of_type(ev, "error")[0]["error"]["ename"], "NameError", "(its state is new)")

        # An idle kernel that dies is replaced on the next run as well.
        pid = kernel_of(d, cid)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        _, _, ev, _ = run_code(d, "1 + 1", ctx_id=cid)
        t.eq(of_type(ev, "result")[0]["results"], {"text": "2"}, "an idle dead kernel is restarted too")

        # A warm pool kernel that dies is replaced.
        wait_for(lambda: len(kernel_pids(d)) >= 2, 10)
        pool = [p for p in kernel_pids(d) if p != kernel_of(d, cid)]
        for p in pool:
            os.kill(p, signal.SIGKILL)
        refilled = wait_for(lambda: len([p for p in kernel_pids(d) if p not in pool]) >= 2, 15)
        t.ok(refilled, "the warm pool refills after its kernel died")


def test_worker_killed(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "x = 41", ctx_id=cid)
        _, _, ev, _ = run_code(d, "d = 'default'")
        default_id = ev[0]["text"]
        pid = kernel_of(d, cid)
        worker = parent_of(pid)
        t.ok(b"execd: worker" in cmdline(worker), "the kernel is the worker's child")
        s = CodeStream(d, SLEEPER % 2 + "y = 1", cid)
        t.ok(s.wait_started(), "a cell runs")
        start = time.time()
        os.kill(worker, signal.SIGKILL)
        ev = without_pings(s.finish(10))
        t.ok(time.time() - start < 2 and ev[-1]["type"] == "error", "the stream ends with an error event")
        t.ok(os.path.exists("/proc/%d" % pid), "the kernel survives its worker")
        respawned = wait_for(lambda: len(d.workers()) == 2 and worker not in d.workers(), 10)
        t.ok(respawned, "the worker is respawned")
        _, _, ev, _ = run_code(d, "print(x + 1, y)", ctx_id=cid)
        t.eq(stdout_text(ev), "42 1\n", "the respawned worker adopted the kernel: state survives")
        t.eq(kernel_of(d, cid), pid, "same kernel process")
        _, _, ev, _ = run_code(d, "d")
        t.eq((ev[0]["text"], of_type(ev, "result")[0]["results"]["text"] if of_type(ev, "result") else None),
             (default_id, "'default'"), "the default context was adopted too")
        status, _, listing = d.json("GET", "/code/contexts")
        t.eq(sorted(c["id"] for c in listing), sorted([cid, default_id]), "both are still listed")
        s = CodeStream(d, SLEEPER % 60, cid)
        s.wait_started()
        d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(10)
        t.ok(of_type(ev, "error") and of_type(ev, "error")[0]["error"]["ename"] == "KeyboardInterrupt",
             "an adopted kernel can be interrupted")
        status, _, _ = d.request("DELETE", "/code/contexts/" + cid)
        t.ok(status == 200 and wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5),
             "and deleted (its process is gone)")


def test_client_disconnect(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        s = CodeStream(d, SLEEPER % 1.5 + "z = 5\nprint('x' * 100000)", cid)
        t.ok(s.wait_started(), "a cell runs")
        s.close()
        _, _, ev, _ = run_code(d, "1", ctx_id=cid)
        t.eq(of_type(ev, "error")[0]["error"]["evalue"] if of_type(ev, "error") else None,
             "error running codes session is busy", "the kernel keeps working: the context is busy")
        time.sleep(1.8)
        _, _, ev, _ = run_code(d, "print(z)", ctx_id=cid)
        t.eq(stdout_text(ev), "5\n", "the cell completed and the next run succeeds")
        for _ in range(10):
            c = socket.create_connection(("127.0.0.1", d.port))
            body = json.dumps({"context": {"id": cid, "language": "python"},
                               "code": "for i in range(20000): print(i)"}).encode()
            c.sendall(b"POST /code HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            c.recv(100)
            c.close()
            time.sleep(0.2)
        ok = wait_for(lambda: of_type(run_code(d, "'free'", ctx_id=cid)[2], "result"), 20, 0.5)
        t.ok(ok, "after abandoned streams the context is usable again")
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "the daemon is healthy")


def test_parallel_contexts(t):
    with Daemon() as d:
        created = []

        def make():
            created.append(create_context(d))

        threads = [threading.Thread(target=make) for _ in range(20)]
        start = time.time()
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        took = time.time() - start
        ids = [c[2]["id"] for c in created if c[0] == 200]
        t.ok(len(set(ids)) == 20, "20 contexts created in parallel (%.1fs)" % took, created[:3])
        runs = {}

        def run(cid, i):
            runs[cid] = run_code(d, "import os, time\nn = %d\ntime.sleep(0.5)\nprint(os.getpid(), n * 2)"
                                 % i, ctx_id=cid)

        threads = [threading.Thread(target=run, args=(cid, i)) for i, cid in enumerate(ids)]
        start = time.time()
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        took = time.time() - start
        outs = [stdout_text(runs[cid][2]).split() for cid in ids if cid in runs]
        t.eq(sorted(int(o[1]) for o in outs if len(o) == 2), [2 * i for i in range(20)],
             "20 runs in parallel, each in its own context")
        t.eq(len({o[0] for o in outs if o}), 20, "on 20 different kernels")
        t.ok(took < 8, "really in parallel (%.1fs for 20 x 0.5 s)" % took)
        status, _, _ = d.request("DELETE", "/code/contexts?language=python")
        gone = wait_for(lambda: len(kernel_pids(d)) <= 1, 10)
        t.ok(status == 200 and gone, "all deleted, only the warm kernel is left")


def test_reload_keeps_kernels(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "x = 41", ctx_id=cid)
        pid = kernel_of(d, cid)
        old = d.workers()
        d.send(signal.SIGHUP)
        replaced = wait_for(lambda: len(d.workers()) == 2 and not set(old) & set(d.workers()), 20)
        t.ok(replaced, "SIGHUP replaced both workers")
        _, _, ev, _ = run_code(d, "print(x + 1)", ctx_id=cid)
        t.eq(stdout_text(ev), "42\n", "the context survived the reload")
        t.eq(kernel_of(d, cid), pid, "on the same kernel")
        t.ok(wait_for(lambda: len(kernel_pids(d)) == 2, 10), "and the warm pool is not duplicated (%d kernels)"
             % len(kernel_pids(d)))


def test_shutdown_leaves_nothing(t):
    d = Daemon()
    try:
        ids = [create_context(d)[2]["id"] for _ in range(3)]
        s = CodeStream(d, SLEEPER % 60, ids[0])
        s.wait_started()
        t.ok(len(kernel_pids(d)) >= 4, "kernels are running")
        d.send(signal.SIGTERM)
        code = d.proc.wait(20)
        t.eq(code, 0, "SIGTERM: exit 0")
        ev = s.finish(5)
        t.ok(ev and ev[-1]["type"] == "error", "the running cell's stream ended with an error event")
        time.sleep(0.2)
        t.eq(processes_with(d.runtime_dir), [], "no kernel (or worker) is left")
    finally:
        d.stop()
        os.system("rm -rf " + d.tmp)


def test_restart_cleans_leftovers(t):
    d = Daemon()
    rt = d.runtime_dir
    try:
        _, _, ctx = create_context(d)
        kernels = kernel_pids(d)
        t.ok(len(kernels) >= 2, "kernels are running")
        for p in d.pids():  # the whole daemon dies at once: nobody shuts the kernels down
            os.kill(p, signal.SIGKILL)
        d.proc.wait(5)
        time.sleep(0.3)
        t.ok(all(os.path.exists("/proc/%d" % p) for p in kernels), "its kernels are orphaned")
        d2 = Daemon("-runtime-dir", rt)
        try:
            gone = wait_for(lambda: not any(os.path.exists("/proc/%d" % p) for p in kernels), 5)
            t.ok(gone, "the next instance kills the previous instance's kernels at start")
            status, _, _ = d2.json("GET", "/code/contexts/" + ctx["id"])
            t.eq(status, 404, "and forgets their contexts")
        finally:
            d2.stop()
            os.system("rm -rf " + d2.tmp)
    finally:
        d.stop()
        os.system("rm -rf " + d.tmp)


if __name__ == "__main__":
    if not HAVE_IPYKERNEL:
        print("1..0 # SKIP /usr/bin/python3 has no ipykernel")
    else:
        run_tests([test_interrupt_signal, test_interrupt_message, test_kernel_killed, test_worker_killed,
                   test_client_disconnect, test_parallel_contexts, test_reload_keeps_kernels,
                   test_shutdown_leaves_nothing, test_restart_cleans_leftovers])
