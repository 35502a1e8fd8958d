"""Supervision and signals: worker crashes, respawn backoff and the crash-loop breaker,
shutdown (a second SIGTERM), drain, reload, log reopen, signal forwarding, background work
across a crash and a reload, what commands inherit, a previous instance's leftovers."""
import os
import re
import signal
import threading
import time

from execd_test import (Daemon, Stream, alive, cmdline, parent_of, processes_with,
                        raw_connect, raw_post_stream, read_all, run_tests, texts, wait_for,
                        without_pings, zombies_of)

# Signals the master forwards to every running foreground command (README, Operations).
FORWARDED = ["USR2", "WINCH", "CONT", "ALRM", "TSTP", "TTIN", "TTOU", "PWR", "VTALRM"]

# A command that records every forwarded signal it gets, then runs until a file exists.
RECORDER = """import os, signal, sys, time
def on(signo, frame):
    print("got-" + signal.Signals(signo).name[3:], flush=True)
for name in %r:
    signal.signal(getattr(signal, "SIG" + name), on)
print("armed", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
""" % (FORWARDED,)


def bash_running(marker):
    return [p for p in processes_with(marker) if b"bash" in cmdline(p).split(b"\0")[0]]


def gated(d, name):
    """(path, shell loop) that waits until the test creates path."""
    path = os.path.join(d.tmp, name)
    return path, "while [ ! -e %s ]; do sleep 0.02; done" % path


def touch(path):
    open(path, "w").close()


def read_stream_text(s):
    """The whole chunked answer on raw socket s (until its last chunk or close)."""
    return read_all(s, until=lambda data: data.endswith(b"0\r\n\r\n"))


def test_worker_crash_midstream(t):
    with Daemon(expect_worker_deaths=True) as d:
        marker = "crashmark%d" % time.time_ns()
        result = {}
        th = threading.Thread(target=lambda: result.setdefault("r", d.run("echo %s; sleep 600; true"
                                                                          % marker)))
        th.start()
        pids = wait_for(lambda: bash_running(marker), 10)
        t.ok(pids, "the command runs")
        worker = parent_of(pids[0])
        t.ok(worker in d.workers(), "found the worker running it")
        os.kill(worker, signal.SIGKILL)
        th.join(60)
        t.ok(not th.is_alive(), "the client's stream ended (the command would run 600 s)")
        status, _, ev, raw = result.get("r", (None, None, [], b""))
        t.ok(status == 200 and ev and ev[-1]["type"] == "error", "it ends with a terminal error event",
             (status, raw[-300:]))
        t.ok(ev and "worker" in ev[-1].get("error", {}).get("evalue", ""), "naming the worker's death",
             ev[-1:])
        respawned = wait_for(lambda: len(d.workers()) == 2 and worker not in d.workers(), 10)
        t.ok(respawned, "a new worker replaced the dead one")
        _, _, ev, _ = d.run("echo after")
        t.eq(texts(ev, "stdout"), ["after"], "the next request is served")
        t.ok(wait_for(lambda: len(d.workers()) == 2 and d.ready_workers() >= 3, 10),
             "the new worker is ready")
        for _ in range(4):
            _, _, ev, _ = d.run("echo again")
        t.eq(ev[-1]["type"], "execution_complete", "requests keep working on every worker")
        for p in processes_with(marker):
            os.kill(p, signal.SIGKILL)


def respawn_delays(log):
    return [int(x) for x in re.findall(r"respawning worker slot 0 in (\d+) ms", log)]


def test_backoff_and_breaker(t):
    """Each crash of a slot doubles its respawn delay (100 ms, 200 ms, ... plus up to 50 %
    jitter); the fifth within a minute trips the breaker: 30 s (+ up to 25 %) and CRASH LOOP."""
    with Daemon(expect_worker_deaths=True) as d:
        observed = []
        for i in range(4):
            victim = wait_for(lambda: d.worker_of_slot(0), 20)
            t.ok(victim, "slot 0 has a worker (crash %d)" % (i + 1))
            if not victim:
                return
            killed_at = time.time()
            os.kill(victim, signal.SIGKILL)
            new = wait_for(lambda: d.worker_of_slot(0) not in (None, victim), 20, 0.005)
            observed.append((time.time() - killed_at) * 1000)
            t.ok(new, "slot 0 is respawned after crash %d" % (i + 1))
        delays = respawn_delays(d.logs())
        t.eq(len(delays), 4, "each crash schedules one respawn, logged with its delay")
        bases = [100, 200, 400, 800]
        t.ok(all(b <= x <= b * 1.5 for b, x in zip(bases, delays)),
             "the delay doubles from 100 ms, jitter at most half of it", delays)
        t.ok(all(o >= x - 20 for o, x in zip(observed, delays)),
             "no respawn comes before its delay (observed %s ms)" % [round(o) for o in observed])
        victim = d.worker_of_slot(0)
        os.kill(victim, signal.SIGKILL)
        logged = wait_for(lambda: "CRASH LOOP" in d.logs(), 10)
        t.ok(logged, "the fifth crash within a minute trips the breaker and logs loudly",
             d.logs()[-1500:])
        m = re.search(r"CRASH LOOP: worker slot 0 died 5 times within 60 s; next attempt in (\d+) ms",
                      d.logs())
        t.ok(m and 30000 <= int(m.group(1)) <= 37500, "retries slow down to 30 s (+ jitter)",
             m.group(0) if m else None)
        wait_for(lambda: victim not in d.workers(), 10)
        t.eq(d.worker_of_slot(0), None, "the slot stays empty meanwhile")
        _, _, ev, _ = d.run("echo still-serving")
        t.eq(texts(ev, "stdout"), ["still-serving"], "the daemon keeps serving with the healthy worker")


def test_sigterm_leaves_nothing(t):
    marker = "termmark%d" % time.time_ns()
    d = Daemon("-shutdown-timeout", "1s")
    try:
        streams = [raw_post_stream(d, "/command", {"command": "sleep 100; true # %s-a" % marker}),
                   raw_post_stream(d, "/command", {"command": "trap '' TERM; sleep 100; true # %s-b"
                                                   % marker}),
                   raw_post_stream(d, "/command", {"command": "setsid sleep 100.5 & sleep 100; true # %s-c"
                                                   % marker})]
        d.run("sleep 100; true # %s-d" % marker, background=True)
        t.ok(wait_for(lambda: len(processes_with(marker)) >= 4, 10), "commands are running")
        workers = d.workers()
        d.send(signal.SIGTERM)
        code = d.proc.wait(60)
        t.eq(code, 0, "SIGTERM: exit code 0 (before the 100 s commands could end)")
        bodies = [read_stream_text(s) for s in streams]
        t.ok(all(b'"type":"error"' in b for b in bodies), "running streams got a terminal error event")
        t.ok(wait_for(lambda: processes_with(marker) + processes_with("sleep\x00100.5") == [], 10),
             "no command process is left, setsid escapee included",
             processes_with(marker) + processes_with("sleep\x00100.5"))
        t.eq([w for w in workers if alive(w)], [], "no worker is left")
    finally:
        d.stop()


def test_second_sigterm_kills_at_once(t):
    marker = "secondterm%d" % time.time_ns()
    d = Daemon("-shutdown-timeout", "300s")
    try:
        s = Stream(d, "/command", {"command": "trap '' TERM; echo armed; sleep 600; true # " + marker})
        t.ok(s.wait(lambda ev: "armed" in texts(ev, "stdout")), "a command ignoring TERM runs")
        workers = d.workers()
        d.send(signal.SIGTERM)
        t.ok(wait_for(lambda: "SIGTERM: stopping" in d.logs(), 10),
             "the first SIGTERM starts the shutdown (a 300 s grace)")
        d.send(signal.SIGTERM)
        try:
            code = d.proc.wait(60)
        except Exception:
            code = None
        t.ok(code is not None, "a second SIGTERM ends the daemon without waiting for the grace")
        t.ok("second stop signal: killing everything now" in d.logs(), "and says so")
        t.ok(wait_for(lambda: processes_with(marker) == [], 10), "the command is gone",
             processes_with(marker))
        t.eq([w for w in workers if alive(w)], [], "so are the workers")
        s.close()
    finally:
        d.stop()


def test_sigquit_drains(t):
    d = Daemon()
    try:
        go, wait_go = gated(d, "go")
        s = Stream(d, "/command", {"command": "echo running; %s; echo drained-ok" % wait_go})
        t.ok(s.wait(lambda ev: "running" in texts(ev, "stdout")), "a command runs")
        d.send(signal.SIGQUIT)

        def refused():
            try:
                c = raw_connect(d.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2)
            except OSError:
                return True
            try:
                return c.recv(100) == b""
            except OSError:
                return True
            finally:
                c.close()

        t.ok(wait_for(refused, 10), "during a drain new connections are not served")
        touch(go)
        ev = s.finish()
        t.ok("drained-ok" in texts(ev, "stdout") and ev and ev[-1]["type"] == "execution_complete",
             "the running stream completes", ev[-3:])
        code = d.proc.wait(30)
        t.eq(code, 0, "then the daemon exits 0")
    finally:
        d.stop()


def test_sighup_reload(t):
    conf = "[server]\naccess_token = first-token\n"
    d = Daemon(config=conf, token="first-token", token_flag=False)
    try:
        old_workers = sorted(d.workers())
        go, wait_go = gated(d, "go")
        s = Stream(d, "/command", {"command": "echo running; %s; echo survived-reload" % wait_go})
        t.ok(s.wait(lambda ev: "running" in texts(ev, "stdout")), "a command runs")
        with open(os.path.join(d.tmp, "execd.conf"), "w") as f:
            f.write("[server]\naccess_token = second-token\n")
        d.send(signal.SIGHUP)
        d.token = "second-token"
        t.ok(wait_for(lambda: d.request("GET", "/ping")[0] == 200, 10),
             "the new token is accepted after SIGHUP")
        touch(go)
        ev = s.finish()
        t.ok("survived-reload" in texts(ev, "stdout") and ev[-1]["type"] == "execution_complete",
             "a command running across the reload completes")
        d.token = "first-token"
        t.eq(d.request("GET", "/ping")[0], 401, "the old token is refused")
        d.token = "second-token"
        replaced = wait_for(lambda: len(d.workers()) == 2 and not set(d.workers()) & set(old_workers), 20)
        t.ok(replaced, "every worker was replaced", (old_workers, d.workers()))
        _, _, ev, _ = d.run("echo new-worker")
        t.eq(texts(ev, "stdout"), ["new-worker"], "the new workers serve")
        t.ok(wait_for(lambda: "reload: all workers replaced" in d.logs(), 10), "the reload is logged")
    finally:
        d.stop()


def background_across(t, d, event, disrupt):
    """A background command started before disrupt() (a crash, a reload) keeps its record,
    status and logs, and its exit is recorded afterwards."""
    go, wait_go = gated(d, "go-%d" % time.time_ns())
    _, _, ev, _ = d.run("echo before; %s; echo after; exit 3" % wait_go, background=True)
    cid = ev[0]["text"]
    t.ok(wait_for(lambda: b"before" in d.request("GET", "/command/%s/logs" % cid)[2], 10),
         "%s: a background command runs" % event)
    disrupt()
    st, _, body = d.json("GET", "/command/status/" + cid)
    t.ok(st == 200 and body.get("running") is True, "%s: its status is still known, running" % event,
         (st, body))
    touch(go)
    done = wait_for(lambda: d.json("GET", "/command/status/" + cid)[2].get("running") is False, 20)
    st, _, body = d.json("GET", "/command/status/" + cid)
    t.ok(done and (body.get("exit_code"), body.get("error")) == (3, "exit status 3"),
         "%s: its exit is recorded by the new worker" % event, body)
    st, _, logs = d.request("GET", "/command/%s/logs" % cid)
    t.eq((st, logs), (200, b"before\nafter\n"), "%s: its logs hold the output of both sides" % event)


def test_background_across_crash_and_reload(t):
    with Daemon(workers=1, expect_worker_deaths=True) as d:
        def crash():
            w = d.workers()[0]
            os.kill(w, signal.SIGKILL)
            wait_for(lambda: d.workers() not in ([], [w]) and d.ready_workers() >= 2, 20)

        def reload():
            w = d.workers()[0]
            d.send(signal.SIGHUP)
            wait_for(lambda: d.workers() not in ([], [w]) and "reload: all workers replaced" in d.logs(),
                     20)

        background_across(t, d, "after a worker crash", crash)
        background_across(t, d, "after SIGHUP", reload)


def test_sigusr1_reopens_log(t):
    d = Daemon(log_file=True)
    log = d.log_path
    try:
        d.request("GET", "/ping")
        rotated = log + ".1"
        os.rename(log, rotated)
        d.send(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(log), 10)
        d.request("GET", "/command/status/after-rotation")
        ok = wait_for(lambda: os.path.exists(log) and "after-rotation" in open(log).read(), 10)
        t.ok(ok, "after SIGUSR1 the log goes to a new file at the configured path")
        t.ok("after-rotation" not in open(rotated).read(), "and no longer to the rotated one")
    finally:
        d.stop()


def test_signal_forwarding(t):
    with Daemon() as d:
        script = os.path.join(d.tmp, "recorder.py")
        with open(script, "w") as f:
            f.write(RECORDER)
        done = os.path.join(d.tmp, "done")
        cmd = "exec /usr/bin/python3 %s %s" % (script, done)
        _, _, ev, _ = d.run(cmd, background=True)
        bg = ev[0]["text"]
        streams = [Stream(d, "/command", {"command": cmd}) for _ in range(3)]
        armed = all(s.wait(lambda ev: "armed" in texts(ev, "stdout")) for s in streams)
        armed = armed and wait_for(lambda: b"armed" in d.request("GET", "/command/%s/logs" % bg)[2])
        t.ok(armed, "three foreground commands and a background one handle the signals")
        for name in FORWARDED:
            d.send(getattr(signal, "SIG" + name))
            got = all(s.wait(lambda ev: "got-" + name in texts(ev, "stdout"), 30) for s in streams)
            t.ok(got, "SIG%s reaches every running foreground command" % name,
                 [texts(s.events, "stdout") for s in streams])
        touch(done)
        ends = [without_pings(s.finish()) for s in streams]
        t.ok(all(e and e[-1]["type"] == "execution_complete" for e in ends), "the commands end normally")
        wait_for(lambda: d.json("GET", "/command/status/" + bg)[2].get("running") is False, 10)
        _, _, logs = d.request("GET", "/command/%s/logs" % bg)
        t.eq(logs, b"armed\n", "background commands are left alone")


def test_master_killed(t):
    marker = "orphanmark%d" % time.time_ns()
    d = Daemon()
    try:
        s = raw_post_stream(d, "/command", {"command": "sleep 100; true # %s" % marker})
        wait_for(lambda: processes_with(marker), 10)
        workers = d.workers()
        d.proc.kill()
        d.proc.wait()
        t.ok(wait_for(lambda: not [w for w in workers if alive(w)], 10), "workers exit when the master dies")
        t.ok(wait_for(lambda: not processes_with(marker), 10), "and stop their commands")
        s.close()
    finally:
        d.stop()


def test_no_zombies(t):
    with Daemon() as d:
        for i in range(20):
            d.run("true & true; echo %d" % i)
        _, _, ev, _ = d.run("sleep 0.1", background=True)
        cid = ev[0]["text"]
        wait_for(lambda: d.json("GET", "/command/status/" + cid)[2].get("running") is False, 10)

        def zombies():
            return [z for p in [d.proc.pid] + d.workers() for z in zombies_of(p)]

        t.ok(wait_for(lambda: zombies() == [], 10), "no zombies under the master or the workers",
             zombies())


def signal_masks(lines):
    """{"SigBlk": mask, "SigIgn": mask} from /proc status lines, without signals 32 and 33:
    glibc reserves them (libc's sigaction refuses them) and installs its own handlers when
    it needs them, so a daemon started ignoring them (GNU make does) cannot reset them."""
    masks = {}
    for line in lines:
        name, _, value = line.partition(":")
        masks[name] = int(value, 16) & ~((1 << 31) | (1 << 32))
    return masks


def test_what_commands_inherit(t):
    """A command gets stdin, stdout and stderr only (no client connection, listener or channel
    socket) and default signal handling (nothing ignored or blocked: the worker ignores
    SIGPIPE, SIGHUP, SIGINT, ...), in the foreground and in the background."""
    with Daemon() as d:
        probe = ("ls -l /proc/$$/fd | grep -c socket: ; "
                 "exec grep -E '^Sig(Blk|Ign):' /proc/self/status")
        _, _, ev, _ = d.run(probe)
        out = texts(ev, "stdout")
        t.eq((out[:1], signal_masks(out[1:])), (["0"], {"SigBlk": 0, "SigIgn": 0}),
             "foreground: no socket descriptor, no signal blocked or ignored")
        _, _, ev, _ = d.run(probe, background=True)
        cid = ev[0]["text"]
        wait_for(lambda: d.json("GET", "/command/status/" + cid)[2].get("running") is False, 10)
        _, _, logs = d.request("GET", "/command/%s/logs" % cid)
        lines = logs.decode().splitlines()
        t.eq((lines[:1], signal_masks(lines[1:])), (["0"], {"SigBlk": 0, "SigIgn": 0}),
             "background: the same")


def test_previous_state_removed(t):
    """A new instance removes the per-slot state directories (w<N>) a previous one left in
    the runtime directory, whatever their number, and leaves other files alone."""
    d = Daemon(wait=False)
    d.stop()
    rt = d.runtime_dir
    os.makedirs(os.path.join(rt, "w0", "commands"), exist_ok=True)
    stale = os.path.join(rt, "w0", "commands", "0" * 32 + ".json")
    with open(stale, "w") as f:
        f.write('{"id":"%s","running":false,"exit_code":0}' % ("0" * 32))
    os.makedirs(os.path.join(rt, "w7", "kernels", "gone"))
    other = os.path.join(rt, "keep-me")
    touch(other)
    with Daemon("-runtime-dir", rt) as d2:
        t.ok(not os.path.exists(stale), "w0's old records are gone")
        t.ok(not os.path.exists(os.path.join(rt, "w7")), "a slot the new instance does not have is gone")
        t.ok(os.path.exists(other), "a file that is no slot state is kept")
        st, _, _ = d2.json("GET", "/command/status/" + "0" * 32)
        t.eq(st, 404, "the old command is unknown")
        t.ok("removing state of a previous instance" in d2.logs(), "the removal is logged")


run_tests([test_worker_crash_midstream, test_backoff_and_breaker, test_sigterm_leaves_nothing,
           test_second_sigterm_kills_at_once, test_sigquit_drains, test_sighup_reload,
           test_background_across_crash_and_reload, test_sigusr1_reopens_log, test_signal_forwarding,
           test_master_killed, test_no_zombies, test_what_commands_inherit,
           test_previous_state_removed])
