"""Integration-test helpers: start the real execd on a free port, talk HTTP to
it, parse its event streams, and report results as TAP.

Only the Python standard library is used so the suite runs on a fresh Debian
machine with /usr/bin/python3.
"""
import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

EXECD_BIN = os.environ.get("EXECD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "execd")
SRCDIR = os.environ.get("EXECD_SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")


# ---- TAP -------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, detail=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if detail is not None:
                for line in str(detail).splitlines()[:40]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, why))
        sys.stdout.flush()

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 1 if self.failed else 0


# Under a sanitizer build, memory ceilings do not apply (shadow memory) and every
# daemon log is checked for sanitizer reports when the daemon stops.
SANITIZED = os.environ.get("EXECD_SANITIZED") == "1"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
sanitizer_reports = []


def run_tests(tests, timeout=600):
    """Runs test functions (each takes a Tap); an exception fails that test."""
    tap = Tap()
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("test timed out")))
    signal.alarm(timeout * (3 if SANITIZED else 1))
    for fn in tests:
        try:
            fn(tap)
        except Exception:
            tap.ok(False, "%s raised" % fn.__name__, traceback.format_exc())
    signal.alarm(0)
    if SANITIZED:
        tap.ok(not sanitizer_reports, "no sanitizer report in any daemon log",
               "\n\n".join(sanitizer_reports)[:6000])
    sys.exit(tap.done())


# ---- the daemon ------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """One execd process with its own port, runtime dir and log file."""

    # Warm kernels cost a python process per daemon: only the code tests want the
    # daemon's default pool (they set this to None); others start without one.
    kernel_pool = ""

    def __init__(self, *args, env=None, workers=2, token=None, token_flag=True, wait=True,
                 config=None, log_file=False, port=None, cwd=None):
        """token: sent with every request (and passed as -access-token when token_flag);
        config: ini text written to a file passed with -c; log_file: log through -log-file;
        port: the port the daemon is expected on without a -port flag (env or config);
        cwd: the daemon's working directory (relative paths resolve there)."""
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="execd-test-")
        # Tests that stop a daemon themselves still read its log afterwards: the
        # directory goes when the test script ends (or in __exit__).
        atexit.register(shutil.rmtree, self.tmp, True)
        self.runtime_dir = os.path.join(self.tmp, "rt")
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.log_path = os.path.join(self.tmp, "execd.log") if log_file else self.stdout_path
        self.token = token
        argv = [EXECD_BIN, "-runtime-dir", self.runtime_dir, "-workers", str(workers),
                "-listen", "127.0.0.1"]
        if port is None:
            argv += ["-port", str(self.port)]
        if Daemon.kernel_pool is not None and "-kernel-pool" not in args:
            argv += ["-kernel-pool", Daemon.kernel_pool]
        if config is not None:
            path = os.path.join(self.tmp, "execd.conf")
            with open(path, "w") as f:
                f.write(config)
            argv += ["-c", path]
        if token is not None and token_flag:
            argv += ["-access-token", token]
        if log_file:
            argv += ["-log-file", self.log_path]
        argv += list(args)
        full_env = dict(os.environ)
        full_env.pop("EXECD_ACCESS_TOKEN", None)
        if env:
            full_env.update(env)
        self.log = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True, cwd=cwd)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("execd exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                # A worker is ready once a trivial command runs (503 until then).
                status, _, _ = self.request("POST", "/command", {"command": "true"}, timeout=5)
                if status in (200, 401):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("execd did not become ready:\n" + self.logs())

    def ready_workers(self):
        return self.logs().count(") ready")

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def headers(self, extra=None):
        h = {}
        if self.token is not None:
            h["X-EXECD-ACCESS-TOKEN"] = self.token
        if extra:
            h.update(extra)
        return h

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        c = self.conn(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            c.request(method, path, body=body, headers=self.headers(headers))
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None, timeout=30):
        status, hdrs, data = self.request(method, path, body, headers, timeout)
        try:
            return status, hdrs, json.loads(data) if data else None
        except ValueError:
            return status, hdrs, data

    def stream(self, path, body, headers=None, timeout=60):
        """POSTs body and reads the whole response; returns (status, headers, events, raw)."""
        status, hdrs, raw = self.request("POST", path, body, headers, timeout)
        events = parse_events(raw) if status == 200 else []
        return status, hdrs, events, raw

    def run(self, command, **fields):
        body = dict(fields)
        body["command"] = command
        return self.stream("/command", body)

    def pids(self):
        """pid of the master and of every worker."""
        out = [self.proc.pid]
        for child in children_of(self.proc.pid):
            if b"execd: worker" in cmdline(child):
                out.append(child)
        return out

    def workers(self):
        return self.pids()[1:]

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if SANITIZED:
            text = self.logs()
            if self.stdout_path != self.log_path and os.path.exists(self.stdout_path):
                with open(self.stdout_path, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            if any(m in text for m in SANITIZER_MARKERS):
                sanitizer_reports.append(text[-4000:])
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        subprocess.run(["rm", "-rf", self.tmp])


class Stream:
    """A streaming POST whose events are read as they arrive."""

    def __init__(self, d, path, body, timeout=120):
        self.conn = d.conn(timeout)
        self.conn.request("POST", path, json.dumps(body), headers=d.headers())
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.buf = b""
        self.events = []
        self.done = False

    def _read(self):
        chunk = self.resp.read1(1 << 16)
        if not chunk:
            self.done = True
            return
        self.buf += chunk
        while b"\n\n" in self.buf:
            one, self.buf = self.buf.split(b"\n\n", 1)
            self.events.extend(parse_events(one + b"\n\n"))

    def wait(self, pred, timeout=60):
        """Reads until pred(events) holds or the stream ends; returns whether pred holds."""
        deadline = time.time() + timeout
        while not pred(self.events) and not self.done and time.time() < deadline:
            self._read()
        return pred(self.events)

    def init_id(self, timeout=60):
        """The id carried by the stream's `init` event."""
        self.wait(lambda ev: any(e.get("type") == "init" for e in ev), timeout)
        return next((e["text"] for e in self.events if e.get("type") == "init"), None)

    def finish(self, timeout=60):
        deadline = time.time() + timeout
        while not self.done and time.time() < deadline:
            self._read()
        self.close()
        return self.events

    def close(self):
        self.conn.close()


def parse_events(raw):
    """Splits a stream body into events; raises on anything that is not <json>\\n\\n."""
    text = raw.decode("utf-8")
    events = []
    for chunk in text.split("\n\n"):
        if chunk == "":
            continue
        if "\n" in chunk:
            raise ValueError("event spans several lines: %r" % chunk[:200])
        events.append(json.loads(chunk))
    if text and not text.endswith("\n\n"):
        raise ValueError("stream does not end with a blank line: %r" % text[-200:])
    return events


def without_pings(events):
    return [e for e in events if e.get("type") != "ping"]


def texts(events, kind):
    return [e.get("text") for e in events if e.get("type") == kind]


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes_with(marker):
    """pids whose command line or environment contains marker (leftover checks)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        if marker.encode() in cmdline(int(entry)):
            found.append(int(entry))
    return found


def read_to_close(s, limit=1 << 30):
    """Everything the server sends on socket s until it closes (or s's timeout)."""
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


def wait_for(pred, timeout=10, interval=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()
