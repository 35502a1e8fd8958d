"""Code contexts under stress: interrupts (signal and message modes), a kernel killed mid-run, a
worker killed mid-run (its kernels are adopted), client disconnects, 20 contexts in parallel,
reload, shutdown and restart leave no kernel behind."""
import json
import os
import signal
import threading

from code_common import (SLEEPER, CodeStream, create_context, gate, kernel_of, kernel_pids, of_type,
                         parent_of, release, run_code, stdout_text)
from execd_test import (Daemon, alive, raw_request, require_ipykernel, run_tests,
                        temp_dir, wait_for, without_pings)


def test_interrupt_signal(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "kept = 'yes'", ctx_id=cid)
        s = CodeStream(d, SLEEPER % 600, cid)
        t.ok(s.wait_started(), "a long cell runs")
        status, hdrs, body = d.request("DELETE", "/code?id=" + cid)
        t.eq((status, body, hdrs.get("content-length"), hdrs.get("content-type")), (200, b"", "0", None),
             "DELETE /code?id=: empty 200")
        ev = without_pings(s.finish(60))
        errs = of_type(ev, "error")
        t.ok(errs and errs[0]["error"]["ename"] == "KeyboardInterrupt",
             "the 600 s run ends with the kernel's KeyboardInterrupt", ev[-3:])
        t.ok(of_type(ev, "status") and ev[-1]["type"] == "execution_complete",
             "preceded by status error, followed by execution_complete")
        _, _, ev, _ = run_code(d, "kept", ctx_id=cid)
        t.eq(of_type(ev, "result")[0]["results"], {"text": "'yes'"}, "the context keeps its state")
        status, _, _ = d.request("DELETE", "/code?id=" + cid)
        t.eq(status, 200, "interrupting an idle context: 200")
        status, _, body = d.json("DELETE", "/code?id=unknown-context")
        t.eq((status, body.get("message")), (500, "error interruptting code context. no such session"),
             "an unknown id: the contract's 500")
        status, _, body = d.json("DELETE", "/code")
        t.eq((status, body.get("code")), (400, "MISSING_QUERY"), "no id: 400 MISSING_QUERY")
        s = CodeStream(d, SLEEPER % 600, cid)
        s.wait_started()
        status, _, _ = d.request("DELETE", "/command?id=" + cid)
        ev = s.finish(60)
        errs = of_type(ev, "error")
        t.ok(status == 200 and errs and errs[0]["error"]["ename"] == "KeyboardInterrupt",
             "DELETE /command?id= interrupts a context too (one handler, as the Go daemon)")
        # The child records SIGINT itself: subprocess.run kills its child on KeyboardInterrupt
        # whether the child got SIGINT or not.
        armed, got = os.path.join(d.tmp, "child-armed"), os.path.join(d.tmp, "child-got-sigint")
        child = ("import signal, sys, time\n"
                 "def on_int(*a):\n    open(%r, 'w').close()\n    sys.exit(0)\n"
                 "signal.signal(signal.SIGINT, on_int)\nopen(%r, 'w').close()\ntime.sleep(600)\n"
                 % (got, armed))
        s = CodeStream(d, "import subprocess, sys\nprint('started', flush=True)\n"
                          "subprocess.run([sys.executable, '-c', %r])" % child, cid)
        s.wait_started()
        t.ok(wait_for(lambda: os.path.exists(armed), 30), "the cell's subprocess runs")
        d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(60)
        t.ok(of_type(ev, "error") and ev[-1]["type"] == "execution_complete",
             "a cell waiting on a subprocess is interrupted as well")
        t.ok(os.path.exists(got), "the subprocess itself got SIGINT (the kernel's group is signalled)")


def message_mode_spec(root):
    os.makedirs(os.path.join(root, "kernels", "pymsg"))
    with open(os.path.join(root, "kernels", "pymsg", "kernel.json"), "w") as f:
        json.dump({"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "Python (message interrupts)", "language": "pymsg",
                   "interrupt_mode": "message", "env": {"EXECD_SPEC_ENV": "from-spec"}}, f)
    return root


def test_interrupt_message(t):
    with temp_dir("execd-kspec-") as root, Daemon(env={"JUPYTER_PATH": message_mode_spec(root)}) as d:
        status, _, ctx = create_context(d, language="pymsg")
        t.eq((status, ctx.get("language")), (200, "pymsg"), "a context on a JUPYTER_PATH kernelspec")
        cid = ctx["id"]
        _, _, ev, _ = run_code(d, "import os; print(os.environ.get('EXECD_SPEC_ENV'))", ctx_id=cid)
        t.eq(stdout_text(ev), "from-spec\n", "the kernelspec's env reaches the kernel")
        s = CodeStream(d, SLEEPER % 600, cid)
        t.ok(s.wait_started(), "a long cell runs")
        status, _, _ = d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(60)
        errs = of_type(ev, "error")
        t.ok(status == 200 and errs and errs[0]["error"]["ename"] == "KeyboardInterrupt",
             "interrupt_mode message: interrupt_request ends the cell with KeyboardInterrupt", ev[-3:])
        _, _, ev, _ = run_code(d, "print('alive')", language="pymsg")
        t.eq(stdout_text(ev), "alive\n", "a stateless run of that language works too")


def kernel_deaths(d):
    return d.logs().count("kernel died: ")


def test_kernel_killed(t):
    with Daemon(expect_kernel_deaths=True) as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "x = 41", ctx_id=cid)
        pid = kernel_of(d, cid)
        s = CodeStream(d, SLEEPER % 600, cid)
        t.ok(s.wait_started(), "a long cell runs")
        os.kill(pid, signal.SIGKILL)
        ev = without_pings(s.finish(60))
        t.eq(ev[-1]["type"] if ev else None, "error", "the 600 s run ends with an error event")
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
        deaths = kernel_deaths(d)
        os.kill(pid, signal.SIGKILL)
        t.ok(wait_for(lambda: kernel_deaths(d) > deaths, 30), "the worker notices an idle kernel's death")
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
    with Daemon(expect_worker_deaths=True) as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "x = 41", ctx_id=cid)
        _, _, ev, _ = run_code(d, "d = 'default'")
        default_id = ev[0]["text"]
        pid = kernel_of(d, cid)
        worker = parent_of(pid)
        t.ok(worker in d.workers(), "the kernel is the worker's child")
        go, wait_go = gate(d, "go")
        s = CodeStream(d, "print('started', flush=True)\n" + wait_go + "y = 1", cid)
        t.ok(s.wait_started(), "a cell runs")
        os.kill(worker, signal.SIGKILL)
        ev = without_pings(s.finish(60))
        t.ok(ev and ev[-1]["type"] == "error", "the stream of the running cell ends with an error event")
        t.ok(alive(pid), "the kernel survives its worker")
        release(go)
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
        s = CodeStream(d, SLEEPER % 600, cid)
        s.wait_started()
        d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(60)
        t.ok(of_type(ev, "error") and of_type(ev, "error")[0]["error"]["ename"] == "KeyboardInterrupt",
             "an adopted kernel can be interrupted")
        status, _, _ = d.request("DELETE", "/code/contexts/" + cid)
        t.ok(status == 200 and wait_for(lambda: not alive(pid), 10),
             "and deleted (its process is gone)")


def test_client_disconnect(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        go, wait_go = gate(d, "go")
        s = CodeStream(d, "print('started', flush=True)\n" + wait_go + "z = 5\nprint('x' * 100000)", cid)
        t.ok(s.wait_started(), "a cell runs")
        s.close()
        _, _, ev, _ = run_code(d, "1", ctx_id=cid)
        t.eq(of_type(ev, "error")[0]["error"]["evalue"] if of_type(ev, "error") else None,
             "error running codes session is busy", "the kernel keeps working: the context is busy")
        release(go)

        def z_printed():
            return stdout_text(run_code(d, "print(z)", ctx_id=cid)[2]) == "5\n"

        t.ok(wait_for(z_printed, 30, 0.1), "the cell completed and the next run succeeds")
        for _ in range(10):
            c = raw_request(d, "POST", "/code", {"context": {"id": cid, "language": "python"},
                                                 "code": "for i in range(20000): print(i)"})
            c.recv(100)
            c.close()
        ok = wait_for(lambda: of_type(run_code(d, "'free'", ctx_id=cid)[2], "result"), 30, 0.5)
        t.ok(ok, "after abandoned streams the context is usable again")
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "the daemon is healthy")


def test_parallel_contexts(t):
    with Daemon() as d:
        created = []

        def make():
            created.append(create_context(d))

        threads = [threading.Thread(target=make) for _ in range(20)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
        ids = [c[2]["id"] for c in created if c[0] == 200]
        t.ok(len(set(ids)) == 20, "20 contexts created in parallel", created[:3])
        runs = {}
        # A barrier: each cell announces itself, then waits until all 20 did (or gives up
        # after 120 s). Cells run one after another would never all arrive.
        barrier = os.path.join(d.tmp, "barrier")
        os.mkdir(barrier)

        def run(cid, i):
            runs[cid] = run_code(d, "import os, time\nn = %d\nopen(%r + '/%%d' %% n, 'w').close()\n"
                                    "end = time.time() + 120\n"
                                    "while len(os.listdir(%r)) < 20 and time.time() < end:\n"
                                    "    time.sleep(0.02)\n"
                                    "print(os.getpid(), n * 2, len(os.listdir(%r)))"
                                 % (i, barrier, barrier, barrier), ctx_id=cid, timeout=300)

        threads = [threading.Thread(target=run, args=(cid, i)) for i, cid in enumerate(ids)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
        outs = [stdout_text(runs[cid][2]).split() for cid in ids if cid in runs]
        t.eq(sorted(int(o[1]) for o in outs if len(o) == 3), [2 * i for i in range(20)],
             "20 runs in parallel, each in its own context")
        t.eq(len({o[0] for o in outs if o}), 20, "on 20 different kernels")
        t.ok(all(o[2] == "20" for o in outs if len(o) == 3) and len(outs) == 20,
             "all 20 cells were running at the same time (each saw the 20 others arrive)")
        status, _, _ = d.request("DELETE", "/code/contexts?language=python")
        gone = wait_for(lambda: len(kernel_pids(d)) <= 1, 30)
        t.ok(status == 200 and gone, "all deleted, only the warm kernel is left")


def test_reload_keeps_kernels(t):
    with Daemon() as d:
        _, _, ctx = create_context(d)
        cid = ctx["id"]
        run_code(d, "x = 41", ctx_id=cid)
        pid = kernel_of(d, cid)
        old = d.workers()
        d.send(signal.SIGHUP)
        replaced = wait_for(lambda: len(d.workers()) == 2 and not set(old) & set(d.workers()), 30)
        t.ok(replaced, "SIGHUP replaced both workers")
        _, _, ev, _ = run_code(d, "print(x + 1)", ctx_id=cid)
        t.eq(stdout_text(ev), "42\n", "the context survived the reload")
        t.eq(kernel_of(d, cid), pid, "on the same kernel")
        t.ok(wait_for(lambda: len(kernel_pids(d)) == 2, 30), "and the warm pool is not duplicated (%d kernels)"
             % len(kernel_pids(d)))


def test_shutdown_leaves_nothing(t):
    with Daemon() as d:
        ids = [create_context(d)[2]["id"] for _ in range(3)]
        s = CodeStream(d, SLEEPER % 600, ids[0])
        s.wait_started()
        kernels, workers = kernel_pids(d), d.workers()
        t.ok(len(kernels) >= 4, "kernels are running")
        d.send(signal.SIGTERM)
        code = d.proc.wait(60)
        t.eq(code, 0, "SIGTERM: exit 0")
        ev = s.finish(30)
        t.ok(ev and ev[-1]["type"] == "error", "the running cell's stream ended with an error event")
        t.ok(wait_for(lambda: not [p for p in kernels + workers if alive(p)], 10),
             "no kernel or worker is left", [p for p in kernels + workers if alive(p)])


def test_restart_cleans_leftovers(t):
    with Daemon() as d:
        rt = d.runtime_dir
        _, _, ctx = create_context(d)
        kernels = kernel_pids(d)
        t.ok(len(kernels) >= 2, "kernels are running")
        workers = d.workers()
        for p in d.pids():  # the whole daemon dies at once: nobody shuts the kernels down
            os.kill(p, signal.SIGKILL)
        d.proc.wait(10)
        wait_for(lambda: not [w for w in workers if alive(w)], 10)
        t.ok(all(alive(p) for p in kernels), "its kernels are orphaned")
        with Daemon("-runtime-dir", rt) as d2:
            gone = wait_for(lambda: not any(alive(p) for p in kernels), 10)
            t.ok(gone, "the next instance kills the previous instance's kernels at start")
            status, _, _ = d2.json("GET", "/code/contexts/" + ctx["id"])
            t.eq(status, 404, "and forgets their contexts")


if __name__ == "__main__":
    require_ipykernel()
    run_tests([test_interrupt_signal, test_interrupt_message, test_kernel_killed, test_worker_killed,
               test_client_disconnect, test_parallel_contexts, test_reload_keeps_kernels,
               test_shutdown_leaves_nothing, test_restart_cleans_leftovers])
