"""Bash sessions: POST /session, POST /session/{id}/run, DELETE /session/{id}, and bash code
contexts served by session shells (/code with language bash, no bash kernelspec)."""
import json
import os
import re
import signal
import tempfile
import threading
import time

from execd_test import (Daemon, Stream, cmdline, processes_with, run_tests, texts, wait_for,
                        without_pings)


def create(d, body=None):
    status, _, data = d.json("POST", "/session", body if body is not None else "")
    return status, data


def new_session(d, body=None):
    status, data = create(d, body)
    assert status == 200, (status, data)
    return data["session_id"]


def run(d, sid, command, wait=60, **fields):
    """POST /session/{sid}/run; returns (status, events without pings)."""
    body = dict(fields)
    body["command"] = command
    status, _, events, raw = d.stream("/session/%s/run" % sid, body, timeout=wait)
    if status != 200:
        return status, json.loads(raw)
    return status, without_pings(events)


def out(events):
    return texts(events, "stdout")


def terminal(events):
    return events[-1] if events else None


def exit_code(events):
    """What an SDK infers: 0 on execution_complete, the evalue on a CommandExecError."""
    last = terminal(events)
    if last is None:
        return None
    if last["type"] == "execution_complete":
        return 0
    if last["type"] == "error":
        return last["error"]["evalue"]
    return None


def shell_pid(d, sid):
    """The session's bash: its command line names the session's directory."""
    pids = [p for p in processes_with(sid) if b"--norc" in cmdline(p)]
    return pids[0] if pids else None


def owner(d, sid):
    """The worker whose slot holds session sid."""
    for w in d.workers():
        slot = cmdline(w).split(b"\0")[0].rsplit(b" ", 1)[-1].decode()
        if os.path.isdir(os.path.join(d.runtime_dir, "w" + slot, "sessions", sid)):
            return w
    return None


def parent_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def test_basics(t):
    with Daemon() as d:
        status, data = create(d)
        t.ok(status == 200 and re.fullmatch(r"[0-9a-f-]{36}", data.get("session_id", "")),
             "POST /session with an empty body: 200 {session_id} (dashed uuid)", data)
        sid = data["session_id"]
        status, ev = run(d, sid, "echo hi; echo err 1>&2; printf 'a\\n\\n\\nb\\r\\n'")
        t.eq(status, 200, "a run streams")
        t.eq(ev[0], {"type": "init", "text": sid, "timestamp": ev[0]["timestamp"]},
             "init carries the session id")
        t.eq(out(ev), ["hi", "err", "a", "b"],
             "stderr is merged into stdout events, empty lines dropped, \\r\\n ends a line")
        t.eq([e["type"] for e in ev[1:]], ["stdout"] * 4 + ["execution_complete"],
             "no stderr events; execution_complete ends a run that exits 0")
        _, ev = run(d, sid, "echo before; exit 7")
        t.eq((out(ev), terminal(ev)["error"]),
             (["before"], {"ename": "CommandExecError", "evalue": "7", "traceback": ["exit status 7"]}),
             "exit 7: CommandExecError 7 and no execution_complete")
        t.ok(all(e["type"] != "execution_complete" for e in ev), "error XOR complete")
        _, ev = run(d, sid, "printf '{\"foo\":1}'")
        t.eq(out(ev), ['{"foo":1}'], "output without a final newline is exactly one line")
        _, ev = run(d, sid, "true")
        t.eq(out(ev), [], "no output, no stdout event")

        status, body = run(d, sid, "")
        t.eq((status, body.get("code")), (400, "INVALID_REQUEST_BODY"), "an empty command: 400")
        status, body = run(d, sid, "true", timeout=-1)
        t.eq(status, 400, "a negative timeout: 400")
        status, body = run(d, sid, "true", cwd="/no/such/dir")
        t.eq((status, body.get("code")), (400, "INVALID_REQUEST_BODY"),
             "a run cwd that does not exist: 400 before the stream")
        status, body = run(d, "no-such-session", "true")
        t.eq((status, body), (500, {"code": "RUNTIME_ERROR",
                                    "message": "error running in session. context not found"}),
             "an unknown session: 500 JSON before the stream")
        status, _, data = d.json("POST", "/session", "{not json")
        t.eq((status, data.get("code")), (400, "INVALID_REQUEST_BODY"), "a malformed body: 400")
        status, data = create(d, {"cwd": 5})
        t.eq(status, 400, "cwd must be a string")

        scratch = tempfile.mkdtemp(prefix="execd-session-")
        where = os.path.join(scratch, "made", "here")
        sid2 = new_session(d, {"cwd": where})
        t.ok(os.path.isdir(where), "the creation's cwd is created (mkdir -p)")
        _, ev = run(d, sid2, "pwd")
        t.eq(out(ev), [where], "and the shell starts there")

        status, _, body = d.request("DELETE", "/session/" + sid)
        t.eq((status, body), (200, b""), "DELETE /session/{id}: empty 200")
        status, _, data = d.json("DELETE", "/session/" + sid)
        t.eq((status, data), (404, {"code": "CONTEXT_NOT_FOUND",
                                    "message": "session %s not found" % sid}),
             "a second delete: 404 CONTEXT_NOT_FOUND")
        status, body = run(d, sid, "true")
        t.eq(status, 500, "a run on a deleted session: 500")
        os.system("rm -rf " + scratch)


def test_state(t):
    with Daemon() as d:
        sid = new_session(d)
        _, ev = run(d, sid, "\n".join([
            "plain=unexported; export EXP=exported",
            "greet() { echo \"hello $1\"; }",
            "alias ll='echo aliased'",
            "shopt -s extglob; set -o pipefail",
            "cd /tmp; umask 027; arr=(one 'two words')",
            "trap 'echo on-exit' EXIT",
        ]))
        t.eq(exit_code(ev), 0, "a multi-line run setting state")
        _, ev = run(d, sid, "echo $plain $EXP; greet world; ll; shopt -q extglob && echo extglob; "
                    "[[ -o pipefail ]] && echo pipefail; pwd; umask; echo \"${arr[1]}\"")
        t.eq(out(ev), ["unexported exported", "hello world", "aliased", "extglob", "pipefail",
                       "/tmp", "0027", "two words"],
             "unexported and exported variables, functions, aliases, options, cwd, umask, arrays persist")
        _, ev = run(d, sid, "false")
        _, ev = run(d, sid, "echo \"last=$?\"")
        t.eq(out(ev), ["last=1"], "$? is the previous run's exit code, as at a prompt")
        _, ev = run(d, sid, "pwd", cwd="/usr")
        _, ev2 = run(d, sid, "pwd")
        t.eq((out(ev), out(ev2)), (["/usr"], ["/usr"]),
             "a run's cwd applies to it and stays the session's cwd")
        _, ev = run(d, sid, "echo $$")
        pid1 = out(ev)
        _, ev = run(d, sid, "echo $$")
        t.eq(out(ev), pid1, "the same shell serves every run")
        _, ev = run(d, sid, "cat; read -r x; echo \"[$x] $?\"", wait=10)
        t.eq(out(ev), ["[] 1"], "commands read stdin from /dev/null (cat ends at once, read gets EOF)")
        _, ev = run(d, sid, "ls /proc/self/fd | sort -n | tr '\\n' ' '")
        t.eq(out(ev), ["0 1 2 3 "], "user commands see only stdin, stdout and stderr")
        _, ev = run(d, sid, "set -x; echo traced")
        _, ev2 = run(d, sid, "echo still; set +x")
        joined = out(ev) + out(ev2)
        t.ok("traced" in joined and any("echo traced" in x for x in out(ev)) and
             any("echo still" in x for x in out(ev2)) and not any("__execd" in x for x in joined),
             "set -x traces the user's commands in later runs too, never the driver's", joined)
        _, ev = run(d, sid, "for i in 1 2; do :; done; break; echo not-reached")
        _, ev2 = run(d, sid, "continue")
        _, ev3 = run(d, sid, "echo $plain")
        t.eq((exit_code(ev), exit_code(ev2), out(ev3)), (0, 0, ["unexported"]),
             "a top-level break or continue ends the run, not the session")


def test_forged_markers(t):
    with Daemon() as d:
        sid = new_session(d)
        _, ev = run(d, sid, "echo __EXIT_CODE__:0; echo __ENV_DUMP_START__; echo '__PWD__:/x'; "
                    "echo 0123456789abcdef 0; echo 0123456789abcdef saved 1; "
                    "printf 'x %.0s' 1 >&2; echo; exit 5")
        t.eq(out(ev), ["__EXIT_CODE__:0", "__ENV_DUMP_START__", "__PWD__:/x", "0123456789abcdef 0",
                       "0123456789abcdef saved 1", "x "],
             "marker lines and status-like lines printed by the user are plain output")
        t.eq(exit_code(ev), "5", "and the exit code is the real one")
        _, ev = run(d, sid, "echo 1>&60; echo 1>&61", wait=10)
        t.eq(exit_code(ev), "1", "the driver's descriptors are closed for user commands")
        _, ev = run(d, sid, "echo ok")
        t.eq(out(ev), ["ok"], "the session is unharmed")


def test_shell_ends(t):
    with Daemon() as d:
        sid = new_session(d)
        run(d, sid, "v=kept; export E=kept2; f() { echo fn; }; cd /tmp")
        _, ev = run(d, sid, "echo $$")
        pid1 = out(ev)[0]
        _, ev = run(d, sid, "v=lost; echo bye; exit 3")
        t.eq((out(ev), exit_code(ev)), (["bye"], "3"), "exit 3 ends the run with code 3")
        _, ev = run(d, sid, "echo $v $E; f; pwd; echo $$")
        t.eq(out(ev)[:4], ["kept kept2", "fn", "/tmp"][:3] + out(ev)[3:4],
             "a fresh shell has the state of the last run that returned")
        t.ok(out(ev)[3] != pid1, "(it is a new shell)")
        _, ev = run(d, sid, "unset E; exit 0")
        t.eq(exit_code(ev), 0, "exit 0: execution_complete")
        _, ev = run(d, sid, "echo \"[${E-unset}]\"")
        t.eq(out(ev), ["[kept2]"], "the exiting run's own changes are lost")
        run(d, sid, "unset E")
        _, ev = run(d, sid, "exit 9")
        _, ev = run(d, sid, "echo \"[${E-unset}]\"")
        t.eq(out(ev), ["[unset]"], "an unset variable stays unset in the fresh shell")
        _, ev = run(d, sid, "exec true")
        t.eq(exit_code(ev), 0, "exec true: complete")
        _, ev = run(d, sid, "exec sh -c 'echo from-sh; exit 4'")
        t.eq((out(ev), exit_code(ev)), (["from-sh"], "4"), "exec replacing the shell: its exit code")
        _, ev = run(d, sid, "kill -9 $$")
        t.eq((exit_code(ev), terminal(ev)["error"]["traceback"]), ("-1", ["signal: killed"]),
             "a killed shell: -1, signal: killed")
        _, ev = run(d, sid, "set -e; false; echo not-reached")
        t.eq((out(ev), exit_code(ev)), ([], "1"), "set -e and a failing command: code 1")
        _, ev = run(d, sid, "echo $v; f")
        t.eq(out(ev), ["kept", "fn"], "the session is usable after each of them")


def test_timeout_kills_group(t):
    with Daemon() as d:
        sid = new_session(d)
        run(d, sid, "keep=yes")
        marker = "sess-grandchild-%d" % os.getpid()
        start = time.time()
        _, ev = run(d, sid, "(bash -c 'sleep 300 # %s' & sleep 300 # %s\n) ; sleep 300" % (marker, marker),
                    wait=30, timeout=1000)
        took = time.time() - start
        t.ok(took < 5, "a 1 s timeout ends the run promptly (%.2fs)" % took)
        t.eq(terminal(ev).get("error"), {"ename": "RUNTIME_ERROR",
                                         "evalue": "error running in session. timeout after 1s",
                                         "traceback": []},
             "the timeout's error")
        t.ok(wait_for(lambda: not processes_with(marker), 5),
             "children and grandchildren of the run are killed", processes_with(marker))
        _, ev = run(d, sid, "echo $keep")
        t.eq(out(ev), ["yes"], "the next run has the state")


def test_concurrent_runs_queue(t):
    scratch = tempfile.mkdtemp(prefix="execd-session-queue-")
    with Daemon() as d:
        sid = new_session(d, {"cwd": scratch})
        results = {}

        def go(name, command):
            results[name] = run(d, sid, command)

        threads = []
        for name, command in (("a", "sleep 0.5; echo A >> order"), ("b", "echo B >> order"),
                              ("c", "echo C >> order; cat order; rm order")):
            th = threading.Thread(target=go, args=(name, command))
            th.start()
            threads.append(th)
            time.sleep(0.15)
        for th in threads:
            th.join(30)
        t.eq(out(results["c"][1]), ["A", "B", "C"], "concurrent runs are queued and run in order")
        t.ok(all(exit_code(results[k][1]) == 0 for k in "abc"), "each completes")

        def slow():
            results["slow"] = run(d, sid, "sleep 1.5")

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.2)
        start = time.time()
        _, ev = run(d, sid, "touch never-ran", timeout=500)
        took = time.time() - start
        th.join(30)
        t.ok(took < 2.5 and "timeout after 500ms" in terminal(ev)["error"]["evalue"],
             "a queued run's timeout counts from its arrival (%.2fs)" % took, ev)
        _, ev = run(d, sid, "ls never-ran")
        t.eq((exit_code(results["slow"][1]), exit_code(ev) != 0), (0, True),
             "it never ran; the run before it was left alone")
    os.system("rm -rf " + scratch)


def test_delete_running(t):
    with Daemon() as d:
        sid = new_session(d)
        s = Stream(d, "/session/%s/run" % sid, {"command": "echo started; sleep 30"})
        t.ok(s.wait(lambda ev: "started" in texts(ev, "stdout"), 10), "a long run is going")
        start = time.time()
        status, _, _ = d.request("DELETE", "/session/" + sid)
        took = time.time() - start
        ev = s.finish(10)
        t.ok(status == 200 and took < 3, "DELETE kills it (%.2fs)" % took)
        t.eq(exit_code(ev), "-1", "the run ends with -1")
        t.ok(wait_for(lambda: shell_pid(d, sid) is None, 5), "the shell is gone")

        sid = new_session(d)
        s = Stream(d, "/session/%s/run" % sid, {"command": "echo started; sleep 30"})
        s.wait(lambda ev: "started" in texts(ev, "stdout"), 10)
        status, _, _ = d.request("DELETE", "/command?id=" + sid)
        ev = s.finish(10)
        t.eq((status, exit_code(ev)), (200, "-1"), "DELETE /command?id=<session> closes it")
        status, _ = run(d, sid, "true")
        t.eq(status, 500, "the session is deleted")
        status, _, _ = d.request("DELETE", "/code?id=" + sid)
        t.eq(status, 500, "an unknown id: 500")


def test_worker_killed(t):
    with Daemon(expect_worker_deaths=True) as d:
        sid = new_session(d)
        run(d, sid, "secret=unexported; helper() { echo helped; }; cd /tmp")
        _, ev = run(d, sid, "echo $$")
        pid = int(out(ev)[0])
        worker = owner(d, sid)
        t.eq(parent_of(pid), worker, "the shell is a child of its worker")
        os.kill(worker, signal.SIGKILL)
        t.ok(wait_for(lambda: len(d.workers()) == 2 and worker not in d.workers(), 10),
             "the worker is replaced")
        _, ev = run(d, sid, "echo $secret $$; helper; pwd")
        t.eq(out(ev), ["unexported %d" % pid, "helped", "/tmp"],
             "the shell survived its worker: unexported state is all there")

        s = Stream(d, "/session/%s/run" % sid, {"command": "echo started; sleep 1.5; mark=after"})
        s.wait(lambda ev: "started" in texts(ev, "stdout"), 10)
        worker = owner(d, sid)
        os.kill(worker, signal.SIGKILL)
        ev = s.finish(10)
        t.eq(terminal(ev)["type"] if ev else None, "error",
             "a run going when its worker dies ends with an error")
        wait_for(lambda: len(d.workers()) == 2 and worker not in d.workers(), 10)
        start = time.time()
        _, ev = run(d, sid, "echo $mark $secret")
        t.eq(out(ev), ["after unexported"],
             "the next run waits for the orphaned one to finish, then sees its state (%.1fs)" %
             (time.time() - start))


def test_reload(t):
    with Daemon() as d:
        sid = new_session(d)
        run(d, sid, "x=before-reload")
        d.send(signal.SIGHUP)
        time.sleep(0.5)
        t.ok(wait_for(lambda: "reload: all workers replaced" in d.logs(), 15), "reloaded")
        _, ev = run(d, sid, "echo $x")
        t.eq(out(ev), ["before-reload"], "a session survives a reload (its shell is adopted)")


def test_envs(t):
    scratch = tempfile.mkdtemp(prefix="execd-session-envs-")
    envs_file = os.path.join(scratch, "envs")
    with open(envs_file, "w") as f:
        f.write("FROM_FILE=file-value\n")
    with Daemon(env={"EXECD_ENVS": envs_file}) as d:
        sid = new_session(d, {"envs": {"FROM_REQ": "req-value"}})
        _, ev = run(d, sid, "echo $FROM_FILE $FROM_REQ; env | grep -c ^EXECD_")
        t.eq(out(ev), ["file-value req-value", "0"],
             "EXECD_ENVS and the creation's envs reach the shell (and no EXECD_* variable)")
        status, _ = create(d, {"envs": {"A": 1}})
        t.eq(status, 400, "envs must be strings")
    os.system("rm -rf " + scratch)


def test_limits_count_session_runs(t):
    with Daemon("-max-executions", "1", workers=1) as d:
        sid = new_session(d)
        s = Stream(d, "/session/%s/run" % sid, {"command": "echo started; sleep 2"})
        s.wait(lambda ev: "started" in texts(ev, "stdout"), 10)
        status, _, _ = d.request("POST", "/command", {"command": "true"})
        t.eq(status, 503, "a running session run counts against -max-executions")
        s.finish(10)


def test_stop_kills_shells(t):
    d = Daemon()
    sid = new_session(d)
    run(d, sid, "true")
    pid = shell_pid(d, sid)
    t.ok(pid is not None, "the session's shell runs")
    d.stop()
    t.ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5), "stopping the daemon ends it")
    os.system("rm -rf " + d.tmp)


def test_bash_code_contexts(t):
    with Daemon() as d:
        status, _, ctx = d.json("POST", "/code/context", {"language": "bash"})
        t.eq((status, ctx.get("language")), (200, "bash"),
             "POST /code/context bash without a bash kernelspec")
        cid = ctx["id"]
        sid = new_session(d)
        status, _, lst = d.json("GET", "/code/contexts?language=bash")
        t.eq(lst, [{"id": cid, "language": "bash"}], "listed by language")
        status, _, lst = d.json("GET", "/code/contexts")
        t.ok({"id": cid, "language": "bash"} in lst and all(c["id"] != sid for c in lst),
             "listed among all contexts; /session sessions are not contexts", lst)
        status, _, got = d.json("GET", "/code/contexts/" + cid)
        t.eq((status, got), (200, {"id": cid, "language": "bash"}), "GET /code/contexts/{id}")
        status, _, _ = d.json("GET", "/code/contexts/" + sid)
        t.eq(status, 404, "a /session session is no code context")
        body = {"context": {"id": cid, "language": "bash"}, "code": "x=41; echo $((x+1))"}
        status, _, ev, _ = d.stream("/code", body)
        ev = without_pings(ev)
        t.eq((ev[0]["text"], out(ev), exit_code(ev)), (cid, ["42"], 0), "a run on the context")
        body["code"] = "echo $x"
        _, _, ev, _ = d.stream("/code", body)
        t.eq(out(without_pings(ev)), ["41"], "its state persists")

        _, _, ev, _ = d.stream("/code", {"context": {"language": "bash"}, "code": "d=default"})
        did = ev[0]["text"]
        _, _, ev, _ = d.stream("/code", {"context": {"language": "bash"}, "code": "echo $d"})
        t.eq((ev[0]["text"], out(ev)), (did, ["default"]),
             "runs without a context id share the default bash context")

        s = Stream(d, "/code", {"context": {"id": cid, "language": "bash"},
                                "code": "echo started; sleep 30"})
        s.wait(lambda ev: "started" in texts(ev, "stdout"), 10)
        status, _, _ = d.request("DELETE", "/code?id=" + cid)
        ev = s.finish(10)
        t.eq((status, exit_code(ev)), (200, "-1"), "DELETE /code?id= interrupts the running code")
        _, _, ev, _ = d.stream("/code", {"context": {"id": cid, "language": "bash"}, "code": "echo $x"})
        t.eq(out(ev), ["41"], "the context stays, with its state")

        status, _, _ = d.request("DELETE", "/code/contexts/" + cid)
        t.eq(status, 200, "DELETE /code/contexts/{id}")
        status, _, _ = d.request("DELETE", "/code/contexts/" + cid)
        t.eq(status, 404, "then it is gone")
        status, _, _ = d.request("DELETE", "/code/contexts?language=bash")
        status2, _, lst = d.json("GET", "/code/contexts?language=bash")
        t.eq((status, lst), (200, []), "DELETE /code/contexts?language=bash removes the default one too")
        _, _, ev, _ = d.stream("/code", {"context": {"language": "bash"}, "code": "echo ${d-new}"})
        t.eq(out(ev), ["new"], "a new default context afterwards")
        status, _ = run(d, sid, "true")
        t.eq(status, 200, "/session sessions are left alone")


def test_bash_kernelspec_wins(t):
    if os.system("/usr/bin/python3 -c 'import ipykernel' >/dev/null 2>&1") != 0:
        t.skip("an installed bash kernelspec wins", "no ipykernel")
        return
    root = tempfile.mkdtemp(prefix="execd-kspec-bash-")
    os.makedirs(os.path.join(root, "kernels", "fakebash"))
    with open(os.path.join(root, "kernels", "fakebash", "kernel.json"), "w") as f:
        json.dump({"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "not really bash", "language": "bash"}, f)
    Daemon.kernel_pool = None
    try:
        with Daemon(env={"JUPYTER_PATH": root}) as d:
            status, _, ctx = d.json("POST", "/code/context", {"language": "bash"}, timeout=120)
            t.eq(status, 200, "a bash context with a bash kernelspec installed")
            _, _, ev, _ = d.stream("/code", {"context": {"id": ctx["id"], "language": "bash"},
                                             "code": "print(6*7)"}, timeout=120)
            t.eq(texts(ev, "stdout"), ["42\n"], "it runs on the kernelspec's kernel, not a shell")
    finally:
        Daemon.kernel_pool = ""
        os.system("rm -rf " + root)


def test_leftover_shells(t):
    d = Daemon()
    sid = new_session(d)
    run(d, sid, "true")
    pid = shell_pid(d, sid)
    for p in reversed(d.pids()):  # workers first: none sees its master go and stops the shells
        os.kill(p, signal.SIGKILL)
    d.proc.wait(5)
    time.sleep(0.3)
    t.ok(os.path.exists("/proc/%d" % pid), "a shell outlives a killed daemon")
    d2 = Daemon("-runtime-dir", d.runtime_dir)
    t.ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5),
         "the next instance on that runtime dir kills it")
    d2.stop()
    os.system("rm -rf %s %s" % (d.tmp, d2.tmp))


run_tests([test_basics, test_state, test_forged_markers, test_shell_ends, test_timeout_kills_group,
           test_concurrent_runs_queue, test_delete_running, test_worker_killed, test_reload,
           test_envs, test_limits_count_session_runs, test_stop_kills_shells,
           test_bash_code_contexts, test_bash_kernelspec_wins, test_leftover_shells])
