"""PTY sessions across the daemon's life: a worker SIGKILLed while a client is attached
(the shell survives, a reconnect with since= resumes), a reload, -pty-idle-timeout, and a
daemon SIGTERM (every shell ends, every client gets 1001)."""
import os
import re
import signal
import time

from execd_test import Daemon, run_tests, wait_for
from wsclient import Closed, PtyClient, new_session


def shell_pid(c, tag):
    c.type("echo %s_pid_$$_end" % tag)
    pat = ("%s_pid_(\\d+)_end" % tag).encode()
    c.until(lambda c: re.search(pat, c.out))
    return int(re.search(pat, c.out).group(1))


def worker_of(d, pid):
    """The worker whose child pid is."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def offset_of(d, sid):
    return d.json("GET", "/pty/" + sid)[2]["output_offset"]


def test_worker_killed(t):
    with Daemon(expect_worker_deaths=True) as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        c.type("KEEP=alive_$((3*7))")
        pid = shell_pid(c, "a")
        worker = worker_of(d, pid)
        t.ok(worker in d.workers(), "the shell is a worker's child")
        os.kill(worker, signal.SIGKILL)
        try:
            c.until(lambda c: False, 10)
            code = "no close"
        except Closed as e:
            code = e.code
        t.eq(code, 1011, "the client is closed with 1011 when its worker dies")
        t.eq(c.errors()[-1]["code"] if c.errors() else None, "RUNTIME_ERROR",
             "after an error frame saying why")
        t.ok(os.path.exists("/proc/%d" % pid), "the shell survives")
        t.ok(wait_for(lambda: len(d.workers()) == 2 and worker not in d.workers(), 10),
             "the worker is replaced")
        seen = len(c.out)  # everything the client got, from offset 0 (it attached first)
        r = PtyClient(d, sid)
        t.ok(r.connected(), "a reconnect attaches to the same session")
        t.eq(r.replay and r.replay[1][:seen], c.out,
             "the adopted ring holds what the client saw, at the same offsets")
        r.close()
        r.wait_close()
        r = PtyClient(d, sid, "?since=%d" % seen)
        t.ok(r.replay is None or r.replay[0] == seen,
             "since= at what the client saw: nothing of it is replayed again")
        r.type("echo $KEEP")
        t.ok(r.until(lambda c: b"alive_21" in c.out), "the same shell, its state intact")
        t.eq(shell_pid(r, "b"), pid, "the same process")
        t.eq(d.json("GET", "/pty/" + sid)[2]["running"], True, "running")

        # Output produced while no worker reads is not lost: it waits in the terminal.
        before = offset_of(d, sid)
        r.type("sleep 1; echo late_$((50+5))")
        time.sleep(0.3)
        t.eq(worker_of(d, pid), d.proc.pid, "the adopted shell's parent is the master now")
        old = set(d.workers())
        for w in old:  # whichever adopted it
            os.kill(w, signal.SIGKILL)
        try:
            r.until(lambda c: False, 10)
        except Closed:
            pass
        t.ok(wait_for(lambda: not (set(d.workers()) & old) and len(d.workers()) == 2, 10),
             "replaced again")
        time.sleep(1.5)
        r2 = PtyClient(d, sid, "?since=%d" % before)
        r2.until(lambda c: b"late_55" in (c.replay[1] if c.replay else b"") + c.out, 5)
        got = (r2.replay[1] if r2.replay else b"") + r2.out
        t.ok(b"late_55" in got, "what the shell wrote while its worker was dead is replayed",
             got[-300:])
        t.eq(r2.replay and r2.replay[0], before, "from the offset asked for")
        r2.close()
        r2.wait_close()
        t.ok(offset_of(d, sid) >= before + len(got), "offsets continue across the crash")

        status, _, _ = d.request("DELETE", "/pty/" + sid)
        t.eq(status, 200, "the adopted session can be deleted")
        t.ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5), "its shell is gone")


def test_reload(t):
    with Daemon() as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        c.type("R=reload_$((4*4))")
        pid = shell_pid(c, "r")
        old = set(d.workers())
        d.send(signal.SIGHUP)
        t.ok(wait_for(lambda: not (set(d.workers()) & old) and len(d.workers()) == 2, 20),
             "SIGHUP replaces both workers")
        try:
            c.until(lambda c: False, 5)
        except Closed:
            pass
        r = PtyClient(d, sid, "?since=%d" % offset_of(d, sid))
        r.type("echo $R")
        t.ok(r.until(lambda c: b"reload_16" in c.out), "the session and its shell survive a reload")
        t.eq(shell_pid(r, "s"), pid, "the same shell")
        r.close()


def test_idle_timeout(t):
    with Daemon("-pty-idle-timeout", "1s") as d:
        lonely = new_session(d)
        held = new_session(d)
        c = PtyClient(d, held)
        t.ok(wait_for(lambda: d.json("GET", "/pty/" + lonely)[0] == 404, 5),
             "a session nobody attaches to is deleted after -pty-idle-timeout")
        time.sleep(1.5)
        t.eq(d.json("GET", "/pty/" + held)[0], 200, "an attached one is kept")
        pid = shell_pid(c, "i")
        c.close()
        c.wait_close()
        t.ok(wait_for(lambda: d.json("GET", "/pty/" + held)[0] == 404, 5),
             "and deleted once its client left for that long")
        t.ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5), "with its shell")
    with Daemon() as d:
        sid = new_session(d)
        time.sleep(1.5)
        t.eq(d.json("GET", "/pty/" + sid)[0], 200, "without the flag sessions stay (Go's default)")


def test_sigterm(t):
    d = Daemon()
    sessions = [new_session(d) for _ in range(3)]
    clients = [PtyClient(d, sid) for sid in sessions]
    pids = [shell_pid(c, "t%d" % i) for i, c in enumerate(clients)]
    detached = new_session(d)
    c = PtyClient(d, detached)
    pids.append(shell_pid(c, "det"))
    c.close()
    c.wait_close()
    d.send(signal.SIGTERM)
    codes = []
    for c in clients:
        try:
            c.until(lambda c: False, 10)
            codes.append("none")
        except Closed as e:
            codes.append(e.code)
    t.eq(codes, [1001, 1001, 1001], "every client is closed with 1001")
    rc = d.proc.wait(20)
    t.eq(rc, 0, "the daemon exits 0")
    t.ok(wait_for(lambda: not any(os.path.exists("/proc/%d" % p) for p in pids), 5),
         "every shell has ended, attached or not")
    d.stop()


def test_restart_cleans_leftovers(t):
    d = Daemon()
    try:
        sid = new_session(d)
        c = PtyClient(d, sid, "?pty=0")  # pipe mode: no terminal hangup ends it
        c.stdin(b"echo leftover_pid_$$_end; exec sleep 600\n")
        c.until(lambda c: re.search(rb"leftover_pid_(\d+)_end", c.out))
        pid = int(re.search(rb"leftover_pid_(\d+)_end", c.out).group(1))
        # The whole daemon dies at once (one signal to its process group; killed one by one,
        # a worker could see its master gone and end its shells): nobody ends the shell.
        t.eq({os.getpgid(p) for p in d.pids()}, {d.proc.pid}, "master and workers share a group")
        os.killpg(d.proc.pid, signal.SIGKILL)
        d.proc.wait(5)
        time.sleep(0.3)
        t.ok(os.path.exists("/proc/%d" % pid), "its shell is orphaned")
        d2 = Daemon("-runtime-dir", d.runtime_dir)
        try:
            t.ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5),
                 "the next instance kills the previous instance's shells at start")
            t.eq(d2.json("GET", "/pty/" + sid)[0], 404, "and forgets their sessions")
        finally:
            d2.stop()
    finally:
        d.stop()


run_tests([test_worker_killed, test_reload, test_idle_timeout, test_sigterm,
           test_restart_cleans_leftovers])
