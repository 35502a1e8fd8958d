"""The daemon as a system service: systemd notifications (READY, STATUS, WATCHDOG gated on
the workers' heartbeat, RELOADING/READY around SIGHUP, STOPPING), socket activation,
`execd -t` and `-v`, process titles, children's OOM scores and the startup line."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import execd_test
from execd_test import EXECD_BIN, Daemon, children_of, cmdline, run_tests, wait_for


class Notify:
    """The service manager's end of $NOTIFY_SOCKET: collects every datagram."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="execd-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []  # (monotonic time, {key: value})
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def env(self, watchdog_usec=None):
        env = {"NOTIFY_SOCKET": self.path}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def since(self, start=0.0):
        with self.lock:
            return [f for t, f in self.messages if t >= start]

    def wait(self, pred, start=0.0, timeout=10):
        """The first message after start for which pred holds, or None."""
        found = wait_for(lambda: next((f for f in self.since(start) if pred(f)), None), timeout)
        return found

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
        subprocess.run(["rm", "-rf", self.dir])


def count(messages, key):
    return sum(1 for f in messages if key in f)


def status_of(messages):
    return [f["STATUS"] for f in messages if "STATUS" in f]


# A wrapper started in the daemon's place: it execs the real daemon after doing what
# systemd would (EXECD_TEST_LISTEN: a listening socket as fd 3 with LISTEN_FDS=1 and
# LISTEN_PID=its own pid, which stays the daemon's across exec; EXECD_TEST_OOM: its own OOM
# score, as OOMScoreAdjust= does).
WRAPPER = r'''
import os, socket, sys
listen = os.environ.pop("EXECD_TEST_LISTEN", None)
if listen == "/dev/null":
    fd = os.open(listen, os.O_RDONLY)
    if fd != 3:
        os.dup2(fd, 3)
elif listen:
    host, port = listen.rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(64)
    if s.fileno() != 3:
        os.dup2(s.fileno(), 3)
if listen:
    os.set_inheritable(3, True)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
oom = os.environ.pop("EXECD_TEST_OOM", None)
if oom:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(oom)
os.execv(os.environ["EXECD_TEST_REAL_BIN"], sys.argv)
'''


class Wrapped:
    """Daemons started through WRAPPER while in use (a `with` block)."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="execd-wrap-")
        self.path = os.path.join(self.dir, "execd")
        with open(self.path, "w") as f:
            f.write("#!%s\n%s" % (sys.executable, WRAPPER))
        os.chmod(self.path, 0o755)
        self.saved = execd_test.EXECD_BIN
        execd_test.EXECD_BIN = self.path
        return {"EXECD_TEST_REAL_BIN": os.path.abspath(self.saved)}

    def __exit__(self, *exc):
        execd_test.EXECD_BIN = self.saved
        subprocess.run(["rm", "-rf", self.dir])


def oom_score_adj(pid):
    with open("/proc/%d/oom_score_adj" % pid) as f:
        return int(f.read())


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().rstrip("\n")


def test_ready_status_watchdog(t):
    n = Notify()
    try:
        with Daemon(env=n.env(watchdog_usec=1000000)) as d:
            ready = n.wait(lambda f: f.get("READY") == "1")
            t.ok(ready is not None, "READY=1 once the listener and the workers are up", n.since())
            # wait_ready's first command may still run when the second worker is ready.
            t.ok(ready is not None and re.match(r"2 workers, \d+ running executions?, \d+ kernels?$",
                                                ready.get("STATUS", "")),
                 "READY=1 comes with a STATUS= line (workers, executions, kernels)", ready)
            t.ok("execd: master" == comm(d.proc.pid), "the master's name is execd: master")

            _, _, ev, _ = d.run("env")
            out = "".join(e.get("text", "") for e in ev if e.get("type") == "stdout")
            t.ok(out and not re.search(r"^(NOTIFY_SOCKET|WATCHDOG_|LISTEN_)", out, re.M),
                 "commands do not see NOTIFY_SOCKET or WATCHDOG_USEC", out)

            start = time.monotonic()
            time.sleep(1.6)
            t.ok(count(n.since(start), "WATCHDOG") >= 2,
                 "WATCHDOG=1 every half of WATCHDOG_USEC", n.since(start))

            s = execd_test.Stream(d, "/command", {"command": "sleep 3"})
            t.ok(s.init_id() is not None, "a command runs")
            busy = n.wait(lambda f: "1 running execution," in f.get("STATUS", ""), start, 5)
            t.ok(busy is not None, "STATUS= follows the running executions",
                 status_of(n.since(start)))
            s.finish()
            idle = n.wait(lambda f: "0 running executions" in f.get("STATUS", ""), time.monotonic(),
                          5)
            t.ok(idle is not None, "and drops back when the command ends",
                 status_of(n.since(start)))

            worker = d.workers()[0]
            os.kill(worker, signal.SIGSTOP)
            try:
                time.sleep(1.2)  # a keep-alive already on its way may still arrive
                start = time.monotonic()
                time.sleep(2)
                t.eq(count(n.since(start), "WATCHDOG"), 0,
                     "no WATCHDOG=1 while a worker is stopped (its heartbeat is missing)")
                t.ok("has not answered the heartbeat" in d.logs(), "the silent worker is logged")
            finally:
                os.kill(worker, signal.SIGCONT)
            start = time.monotonic()
            t.ok(n.wait(lambda f: "WATCHDOG" in f, start, 3) is not None,
                 "keep-alives resume once the worker answers again")

            start = time.monotonic()
            d.send(signal.SIGTERM)
            stopping = n.wait(lambda f: f.get("STOPPING") == "1", start, 5)
            t.ok(stopping is not None, "STOPPING=1 on SIGTERM", n.since(start))
            t.eq(d.proc.wait(20), 0, "and the daemon exits 0")
    finally:
        n.close()


def test_reload(t):
    n = Notify()
    conf = "[commands]\nmax_line = 1M\n"
    try:
        with Daemon("-max-line", "2K", env=n.env(), config=conf) as d:
            t.ok(n.wait(lambda f: f.get("READY") == "1") is not None, "READY=1 at start")
            pids = d.workers()
            start = time.monotonic()
            d.send(signal.SIGHUP)
            reloading = n.wait(lambda f: f.get("RELOADING") == "1", start, 5)
            t.ok(reloading is not None and re.fullmatch(r"\d+", reloading.get("MONOTONIC_USEC", "")),
                 "SIGHUP: RELOADING=1 with MONOTONIC_USEC", reloading)
            ready = n.wait(lambda f: f.get("READY") == "1", start, 15)
            t.ok(ready is not None, "READY=1 once the workers are replaced", n.since(start))
            t.ok(not set(pids) & set(d.workers()), "by then every worker is a new one")
            t.ok(re.search(r"configuration reloaded \(.*-max-line=2K ", d.logs()),
                 "the flags are read again on reload (the title did not eat them)")
            t.eq(d.run("echo after")[0], 200, "the daemon serves after the reload")

            with open(os.path.join(d.tmp, "execd.conf"), "w") as f:
                f.write("[commands]\nmax_line = lots\n")
            start = time.monotonic()
            d.send(signal.SIGHUP)
            t.ok(n.wait(lambda f: f.get("RELOADING") == "1", start, 5) is not None,
                 "a reload with a broken file: RELOADING=1")
            ready = n.wait(lambda f: f.get("READY") == "1", start, 5)
            t.ok(ready is not None, "then READY=1 at once (the old configuration stays)")

            start = time.monotonic()
            d.send(signal.SIGQUIT)
            t.ok(n.wait(lambda f: f.get("STOPPING") == "1", start, 5) is not None,
                 "STOPPING=1 on SIGQUIT (drain)")
            t.eq(d.proc.wait(20), 0, "the drained daemon exits 0")
    finally:
        n.close()


def test_socket_activation(t):
    port, unused = execd_test.free_port(), execd_test.free_port()
    with Wrapped() as env:
        env["EXECD_TEST_LISTEN"] = "127.0.0.1:%d" % port
        with Daemon("-port", str(unused), env=env, port=port) as d:
            t.eq(d.request("GET", "/ping")[0], 200, "serves on the inherited socket")
            t.ok("socket activation: fd 3" in d.logs(), "and says so", d.logs())
            c = socket.socket()
            c.settimeout(2)
            t.ok(c.connect_ex(("127.0.0.1", unused)) != 0, "-port is not bound as well")
            c.close()
            _, _, ev, _ = d.run("env; ls -l /proc/$$/fd")
            out = "".join(e.get("text", "") + "\n" for e in ev if e.get("type") == "stdout")
            t.ok("LISTEN_" not in out and "socket:" not in out,
                 "commands get neither LISTEN_* nor the listener", out)
            listener = os.readlink("/proc/%d/fd/3" % d.proc.pid)
            held = [w for w in d.workers() for fd in os.listdir("/proc/%d/fd" % w)
                    if os.readlink("/proc/%d/fd/%s" % (w, fd)) == listener]
            t.eq(held, [], "workers do not hold the listener")
    with Wrapped() as env:
        env["EXECD_TEST_LISTEN"] = "/dev/null"
        d = Daemon(env=env, wait=False)
        try:
            t.eq(d.proc.wait(20), 1, "an inherited fd 3 that is no listening socket: exit 1")
            t.ok("fd 3 is not a listening stream socket" in d.logs(), "saying why", d.logs())
        finally:
            d.stop()
    # Someone else's sockets (LISTEN_PID names another process) are not ours.
    with Daemon(env={"LISTEN_FDS": "1", "LISTEN_PID": "1"}) as d:
        t.eq(d.request("GET", "/ping")[0], 200,
             "LISTEN_FDS for another pid is ignored: the daemon binds its port")


def test_titles_and_oom(t):
    own = oom_score_adj(os.getpid())
    with Daemon(env={}) as d:
        wait_for(lambda: d.ready_workers() == 2)  # each worker titles itself as it starts
        t.ok(cmdline(d.proc.pid).rstrip(b"\0") == b"execd: master",
             "the master's command line is its title", cmdline(d.proc.pid))
        workers = sorted(d.workers(), key=lambda p: comm(p))
        t.eq([comm(w) for w in workers], ["execd: worker 0", "execd: worker 1"],
             "workers are named execd: worker N")
        t.eq([cmdline(w).rstrip(b"\0") for w in workers],
             [b"execd: worker 0", b"execd: worker 1"], "and titled so in ps")
        t.eq(oom_score_adj(d.proc.pid), own, "the master keeps its OOM score")
        t.eq([oom_score_adj(w) for w in workers], [own, own], "so do the workers")
        _, _, ev, _ = d.run("cat /proc/self/oom_score_adj")
        want = str(max(300, own))
        t.eq(execd_test.texts(ev, "stdout"), [want], "commands run with OOM score 300 (default)")
        _, _, ev, _ = d.run("cat /proc/self/oom_score_adj", background=True)
        cid = ev[0]["text"] if ev else None
        logs = wait_for(lambda: d.request("GET", "/command/%s/logs" % cid)[2].strip(), 5)
        t.eq(logs, want.encode(), "so do background commands")
    with Daemon("-child-oom-score-adj", "700", "-workers", "1") as d:
        _, _, ev, _ = d.run("cat /proc/self/oom_score_adj")
        t.eq(execd_test.texts(ev, "stdout"), [str(max(700, own))], "-child-oom-score-adj sets it")
    with Wrapped() as env:
        env["EXECD_TEST_OOM"] = "500"
        with Daemon(env=env) as d:
            t.eq(oom_score_adj(d.proc.pid), 500, "a daemon started with OOM score 500")
            _, _, ev, _ = d.run("cat /proc/self/oom_score_adj")
            t.eq(execd_test.texts(ev, "stdout"), ["500"],
                 "gives its commands no lower score than its own")
            t.ok("below the daemon's own OOM score 500" in d.logs(), "and says why")


def test_kernel_oom(t):
    saved = Daemon.kernel_pool
    Daemon.kernel_pool = "python:1"
    try:
        with Daemon("-workers", "1") as d:
            def kernel():
                for w in d.workers():
                    for c in children_of(w):
                        if b"ipykernel" in cmdline(c):
                            return c
                return None
            pid = wait_for(kernel, 20)
            if pid is None:
                t.skip("warm kernels run with OOM score 300", "no python kernel started")
                return
            t.eq(oom_score_adj(pid), max(300, oom_score_adj(os.getpid())),
                 "warm kernels run with OOM score 300")
    finally:
        Daemon.kernel_pool = saved


def test_startup_line(t):
    with Daemon(token="t0ken-xyz") as d:
        line = wait_for(lambda: next((l for l in d.logs().splitlines() if " ready (pid " in l), None))
        t.ok(line and re.search(r"execd \d+\.\d+\.\d+\S* ready \(pid %d, 2 workers, listening on "
                                r"127\.0\.0\.1:%d\): " % (d.proc.pid, d.port), line),
             "the startup line: version, pid, workers, address", line)
        t.ok(line and "-access-token=*** " in line and "t0ken-xyz" not in d.logs(),
             "it lists the configuration with the token masked", line)
        t.ok(line and "-port=%d " % d.port in line and "-kernel-pool=\"\"" in line,
             "with the effective values", line)


def execd(*args, env=None):
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run([EXECD_BIN] + list(args), capture_output=True, text=True, env=full,
                       timeout=10)
    return p.returncode, p.stdout, p.stderr


def test_t_and_v(t):
    version = re.search(r"AC_INIT\(\[execd\], \[([^]]+)\]",
                        open(os.path.join(execd_test.SRCDIR, "configure.ac")).read()).group(1)
    t.eq(execd("-v"), (0, "execd %s\n" % version, ""), "execd -v prints configure.ac's version")
    t.eq(execd("--version")[:2], (0, "execd %s\n" % version), "so does --version")

    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.conf")
        with open(good, "w") as f:
            f.write("[server]\nport = 8080\n[runtime]\nchild_oom_score_adj = 100\n")
        code, out, err = execd("-t", "-c", good)
        t.ok(code == 0 and out == "" and "%s is valid" % good in err,
             "execd -t -c good.conf: exit 0 and says so on stderr", (code, out, err))
        code, _, err = execd("-t", "-c", os.path.join(execd_test.SRCDIR, "conf", "execd.conf"))
        t.eq(code, 0, "the shipped configuration passes -t")

        bad = os.path.join(tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("[server]\nport = 8080\nprot = 1\n")
        code, out, err = execd("-t", "-c", bad)
        t.ok(code == 2 and "unknown setting [server] prot" in err and "test failed" in err,
             "execd -t -c bad.conf: exit 2 with the reason", (code, out, err))
        code, _, err = execd("-t", env={"EXECD_PORT": "x"})
        t.ok(code == 2 and "EXECD_PORT" in err, "-t checks the environment too", err)
        code, _, err = execd("-t", "-c", os.path.join(tmp, "missing.conf"))
        t.ok(code == 2 and "cannot open config file" in err, "-t on a missing file: exit 2", err)
        rt = os.path.join(tmp, "rt")
        code, _, _ = execd("-t", "-runtime-dir", rt, "-port", str(execd_test.free_port()))
        t.ok(code == 0 and not os.path.exists(rt), "-t starts nothing (no runtime dir made)")


run_tests([test_ready_status_watchdog, test_reload, test_socket_activation, test_titles_and_oom,
           test_kernel_oom, test_startup_line, test_t_and_v])
