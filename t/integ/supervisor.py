"""Supervision and signals: worker crashes, respawn, crash loops, shutdown, drain, reload, log reopen,
signal forwarding, no leftovers."""
import json
import os
import signal
import socket
import threading
import time

from execd_test import Daemon, children_of, cmdline, processes_with, run_tests, texts, wait_for


def bash_running(marker):
    return [p for p in processes_with(marker) if b"bash" in cmdline(p).split(b"\0")[0]]


def parent_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def test_worker_crash_midstream(t):
    with Daemon() as d:
        marker = "crashmark%d" % time.time_ns()
        result = {}
        th = threading.Thread(target=lambda: result.setdefault("r", d.run("echo %s; sleep 30; true" % marker)))
        th.start()
        pids = wait_for(lambda: bash_running(marker), 5)
        t.ok(pids, "the command runs")
        worker = parent_of(pids[0])
        t.ok(b"execd: worker" in cmdline(worker), "found the worker running it")
        start = time.time()
        os.kill(worker, signal.SIGKILL)
        th.join(10)
        took = time.time() - start
        ev = result["r"][2]
        t.ok(took < 2, "the client's stream ended promptly (%.2fs)" % took)
        t.eq(ev[-1]["type"] if ev else None, "error", "it ends with a terminal error event")
        t.ok("worker" in ev[-1].get("error", {}).get("evalue", ""), "naming the worker's death", ev[-1:])
        respawned = wait_for(lambda: len(d.workers()) == 2 and worker not in d.workers(), 5)
        t.ok(respawned, "a new worker replaced the dead one")
        _, _, ev, _ = d.run("echo after")
        t.eq(texts(ev, "stdout"), ["after"], "the next request is served")
        t.ok(wait_for(lambda: len(d.workers()) == 2 and d.ready_workers() >= 3, 5),
             "the new worker is ready")
        for _ in range(4):
            _, _, ev, _ = d.run("echo again")
        t.eq(ev[-1]["type"], "execution_complete", "requests keep working on every worker")


def test_crash_loop_breaker(t):
    with Daemon() as d:
        for i in range(5):
            wait_for(lambda: len(d.workers()) == 2, 10)
            victim = [w for w in d.workers() if cmdline(w).startswith(b"execd: worker 0\x00")][0]
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: victim not in d.workers(), 5)
            time.sleep(0.1)
        logged = wait_for(lambda: "CRASH LOOP" in d.logs(), 10)
        t.ok(logged, "repeated crashes trip the breaker and log loudly", d.logs()[-1500:])
        _, _, ev, _ = d.run("echo still-serving")
        t.eq(texts(ev, "stdout"), ["still-serving"], "the daemon keeps serving with the healthy workers")


def start_stream(d, command):
    s = socket.create_connection(("127.0.0.1", d.port))
    body = json.dumps({"command": command}).encode()
    auth = b"X-EXECD-ACCESS-TOKEN: %s\r\n" % d.token.encode() if d.token else b""
    s.sendall(b"POST /command HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n" % (auth, len(body))
              + body)
    return s


def read_until_end(s, timeout=20):
    s.settimeout(timeout)
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_leaves_nothing(t):
    marker = "termmark%d" % time.time_ns()
    d = Daemon("-shutdown-timeout", "1s")
    try:
        streams = [start_stream(d, "sleep 100; true # %s-a" % marker),
                   start_stream(d, "trap '' TERM; sleep 100; true # %s-b" % marker),
                   start_stream(d, "setsid sleep 100.5 & sleep 100; true # %s-c" % marker)]
        d.run("sleep 100; true # %s-d" % marker, background=True)
        wait_for(lambda: len(processes_with(marker)) >= 4, 5)
        t.ok(len(processes_with(marker)) >= 4, "commands are running")
        start = time.time()
        d.send(signal.SIGTERM)
        code = d.proc.wait(15)
        took = time.time() - start
        t.eq(code, 0, "SIGTERM: exit code 0")
        t.ok(took < 5, "shutdown within grace + slack (%.1fs)" % took)
        bodies = [read_until_end(s) for s in streams]
        t.ok(all(b'"type":"error"' in b for b in bodies), "running streams got a terminal error event")
        time.sleep(0.2)
        t.eq(processes_with(marker) + processes_with("sleep\x00100.5"), [],
             "no command process is left, setsid escapee included")
        t.eq([w for w in processes_with(d.runtime_dir)], [], "no worker is left")
    finally:
        d.stop()


def test_sigquit_drains(t):
    d = Daemon()
    try:
        s = start_stream(d, "sleep 1; echo drained-ok")
        time.sleep(0.3)
        d.send(signal.SIGQUIT)
        time.sleep(0.3)
        refused = False
        try:
            c = socket.create_connection(("127.0.0.1", d.port), timeout=1)
            c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            c.settimeout(1)
            refused = c.recv(100) == b""
            c.close()
        except OSError:
            refused = True
        t.ok(refused, "during a drain new connections are not served")
        body = read_until_end(s)
        t.ok(b"drained-ok" in body and b"execution_complete" in body, "the running stream completes")
        code = d.proc.wait(10)
        t.eq(code, 0, "then the daemon exits 0")
    finally:
        d.stop()


def test_sighup_reload(t):
    conf = "[server]\naccess_token = first-token\n"
    d = Daemon(config=conf, token="first-token", token_flag=False)
    try:
        old_workers = sorted(d.workers())
        s = start_stream(d, "sleep 1.5; echo survived-reload")
        time.sleep(0.3)
        with open(os.path.join(d.tmp, "execd.conf"), "w") as f:
            f.write("[server]\naccess_token = second-token\n")
        d.send(signal.SIGHUP)
        body = read_until_end(s)
        t.ok(b"survived-reload" in body and b"execution_complete" in body,
             "a command running across the reload completes")
        d.token = "second-token"
        status = wait_for(lambda: d.request("GET", "/ping")[0] == 200, 5)
        t.ok(status, "the new token is accepted after SIGHUP")
        d.token = "first-token"
        t.eq(d.request("GET", "/ping")[0], 401, "the old token is refused")
        d.token = "second-token"
        replaced = wait_for(lambda: len(d.workers()) == 2 and not set(d.workers()) & set(old_workers), 10)
        t.ok(replaced, "every worker was replaced", (old_workers, d.workers()))
        _, _, ev, _ = d.run("echo new-worker")
        t.eq(texts(ev, "stdout"), ["new-worker"], "the new workers serve")
        t.ok("reload: all workers replaced" in d.logs(), "the reload is logged")
    finally:
        d.stop()


def test_sigusr1_reopens_log(t):
    d = Daemon(log_file=True)
    log = d.log_path
    try:
        d.request("GET", "/ping")
        rotated = log + ".1"
        os.rename(log, rotated)
        d.send(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(log), 5)
        d.request("GET", "/command/status/after-rotation")
        ok = wait_for(lambda: os.path.exists(log) and "after-rotation" in open(log).read(), 5)
        t.ok(ok, "after SIGUSR1 the log goes to a new file at the configured path")
        t.ok("after-rotation" not in open(rotated).read(), "and no longer to the rotated one")
    finally:
        d.stop()


def test_signal_forwarding(t):
    with Daemon() as d:
        results = []
        cmd = "trap 'echo got-usr2; exit 0' USR2; echo armed; sleep 20 & wait"
        ths = [threading.Thread(target=lambda: results.append(d.run(cmd))) for _ in range(3)]
        for th in ths:
            th.start()
        wait_for(lambda: len(bash_running("got-usr2")) >= 3, 5)
        time.sleep(0.3)
        d.send(signal.SIGUSR2)
        for th in ths:
            th.join(10)
        got = sum(1 for r in results if "got-usr2" in texts(r[2], "stdout"))
        t.eq(got, 3, "SIGUSR2 reaches every running foreground command")


def test_master_killed(t):
    marker = "orphanmark%d" % time.time_ns()
    d = Daemon()
    try:
        start_stream(d, "sleep 100; true # %s" % marker)
        wait_for(lambda: processes_with(marker), 5)
        workers = d.workers()
        d.proc.kill()
        d.proc.wait()
        gone = wait_for(lambda: not [w for w in workers if os.path.exists("/proc/%d" % w)
                                     and b"execd: worker" in cmdline(w)], 10)
        t.ok(gone, "workers exit when the master dies")
        gone = wait_for(lambda: not processes_with(marker), 10)
        t.ok(gone, "and stop their commands")
    finally:
        d.stop()


def test_no_zombies(t):
    with Daemon() as d:
        for i in range(20):
            d.run("true & true; echo %d" % i)
        d.run("sleep 0.1", background=True)
        time.sleep(0.5)
        zombies = []
        for p in [d.proc.pid] + d.workers():
            for c in children_of(p):
                with open("/proc/%d/stat" % c) as f:
                    if f.read().split(") ")[1].startswith("Z"):
                        zombies.append(c)
        t.eq(zombies, [], "no zombies under the master or the workers")


run_tests([test_worker_crash_midstream, test_crash_loop_breaker, test_sigterm_leaves_nothing,
           test_sigquit_drains, test_sighup_reload, test_sigusr1_reopens_log, test_signal_forwarding,
           test_master_killed, test_no_zombies])
