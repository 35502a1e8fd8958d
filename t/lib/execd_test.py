"""Integration-test helpers: start the real execd on a free port, talk HTTP to
it, parse its event streams, and report results as TAP.

Only the Python standard library is used so the suite runs on a fresh Debian
machine with /usr/bin/python3.
"""
import atexit
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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

    def below(self, value, limit, desc):
        """value < limit, or a SKIP where the limit is meaningless (a memory ceiling under
        a sanitizer, whose shadow memory counts in RSS)."""
        if SANITIZED:
            self.skip(desc, "sanitizer build: RSS includes shadow memory (%d)" % value)
            return True
        return self.ok(value < limit, desc, "%r is not below %r" % (value, limit))

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


class TestTimeout(BaseException):
    """A test ran past its deadline. Not an OSError (as TimeoutError is): the helpers that
    swallow connection errors while they retry must not swallow this."""


def _on_alarm(signum, frame):
    raise TestTimeout("the test ran past its deadline")


def run_tests(tests, timeout=300):
    """Runs test functions (each takes a Tap); an exception fails that test. Each test has
    its own deadline of timeout seconds (three times that under a sanitizer). After each
    test, the daemons it left running are stopped, and a worker or kernel death the test
    did not declare fails it (see Daemon)."""
    tap = Tap()
    signal.signal(signal.SIGALRM, _on_alarm)
    limit = timeout * (3 if SANITIZED else 1)
    for fn in tests:
        signal.alarm(limit)
        try:
            fn(tap)
        except TestTimeout:
            tap.ok(False, "%s finished within its %d s deadline" % (fn.__name__, limit),
                   traceback.format_exc())
        except Exception:
            tap.ok(False, "%s raised" % fn.__name__, traceback.format_exc())
        finally:
            signal.alarm(0)
        _after_test(tap, fn.__name__)
    if SANITIZED:
        tap.ok(not sanitizer_reports, "no sanitizer report in any daemon log",
               "\n\n".join(sanitizer_reports)[:6000])
    sys.exit(tap.done())


def _after_test(tap, name):
    for d in list(Daemon.running):
        d.stop()
    if unexpected_deaths:
        tap.ok(False, "%s: no worker or kernel died unexpectedly" % name,
               "\n".join(unexpected_deaths))
        del unexpected_deaths[:]


def require_ipykernel():
    """Ends the script with a TAP skip when /usr/bin/python3 has no ipykernel."""
    if not HAVE_IPYKERNEL:
        print("1..0 # SKIP /usr/bin/python3 has no ipykernel")
        sys.exit(0)


def python_has(module):
    return subprocess.run(["/usr/bin/python3", "-c", "import " + module],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


HAVE_IPYKERNEL = python_has("ipykernel")


# ---- the daemon ------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Log lines of deaths: a worker's (master/pool/children.c) and a kernel's (worker/jupyter).
WORKER_DIED = re.compile(r"worker \d+ \(pid \d+\) died: .*")
KERNEL_DIED = re.compile(r".*kernel died: .*")
unexpected_deaths = []


class Daemon:
    """One execd process with its own port, runtime dir and log file."""

    # Warm kernels cost a python process per daemon: only the code tests want the
    # daemon's default pool (they set this to None); others start without one.
    kernel_pool = ""
    # Daemons started and not stopped yet (run_tests stops them after each test).
    running = []

    def __init__(self, *args, env=None, workers=2, token=None, token_flag=True, wait=True,
                 config=None, log_file=False, port=None, cwd=None, expect_worker_deaths=False,
                 expect_kernel_deaths=False):
        """token: sent with every request (and passed as -access-token when token_flag);
        config: ini text written to a file passed with -c; log_file: log through -log-file;
        port: the port the daemon is expected on without a -port flag (env or config);
        cwd: the daemon's working directory (relative paths resolve there);
        expect_worker_deaths / expect_kernel_deaths: the test kills workers / kernels on
        purpose; otherwise a "died:" line in the log fails the test when the daemon stops."""
        self.expect_worker_deaths = expect_worker_deaths
        self.expect_kernel_deaths = expect_kernel_deaths
        self.stopped = False
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
        Daemon.running.append(self)
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
        return [self.proc.pid] + self.workers()

    def workers(self):
        """The worker processes: the master's children that run the master's own binary
        (its other children are orphans it reaped as subreaper: commands, kernels). Found
        by parent and executable, so a process title does not matter."""
        exe = exe_of(self.proc.pid)
        if exe is None:
            return []
        return [c for c in children_of(self.proc.pid) if exe_of(c) == exe]

    def worker_slot(self, pid):
        """The slot of worker pid, from the log's "worker N started (pid P)"; None if unknown."""
        m = re.findall(r"worker (\d+) started \(pid %d\)" % pid, self.logs())
        return int(m[-1]) if m else None

    def worker_of_slot(self, slot):
        """The live worker of slot, or None."""
        return next((w for w in self.workers() if self.worker_slot(w) == slot), None)

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the daemon (if it still runs) and checks its log, once."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * (3 if SANITIZED else 1))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self in Daemon.running:
            Daemon.running.remove(self)
        self.log.close()
        text = self.logs()
        if self.stdout_path != self.log_path and os.path.exists(self.stdout_path):
            with open(self.stdout_path, "rb") as f:
                text += f.read().decode("utf-8", "replace")
        deaths = [] if self.expect_worker_deaths else WORKER_DIED.findall(text)
        deaths += [] if self.expect_kernel_deaths else KERNEL_DIED.findall(text)
        unexpected_deaths.extend(deaths)
        if SANITIZED and any(m in text for m in SANITIZER_MARKERS):
            sanitizer_reports.append(text[-4000:])
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        remove_tree(self.tmp)


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


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def parent_of(pid):
    """The parent pid of pid (ValueError/OSError when it is gone)."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def state_of(pid):
    """The process state letter (R, S, Z, ...), or None when pid is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid):
    """pid exists and is not a zombie."""
    return state_of(pid) not in (None, "Z")


def zombies_of(pid):
    return [c for c in children_of(pid) if state_of(c) == "Z"]


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


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
    """Polls pred until it is true or timeout passes (three times longer under a
    sanitizer): a deadline for an event, never a speed claim."""
    deadline = time.time() + timeout * (3 if SANITIZED else 1)
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


class RssSampler:
    """Peak RSS (KiB) of some processes while it runs."""

    def __init__(self, pids, interval=0.005):
        self.pids = list(pids)
        self.interval = interval
        self.peak = {p: rss_kb(p) for p in self.pids}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            for p in self.pids:
                self.peak[p] = max(self.peak[p], rss_kb(p))
            time.sleep(self.interval)

    def stop(self):
        """Returns {pid: peak KiB}."""
        self.running = False
        self.thread.join()
        return self.peak

    finish = stop


# ---- temporary directories --------------------------------------------------

def remove_tree(path):
    """rm -rf path (rm, not shutil.rmtree: trees may be deeper than Python's recursion
    limit, or hold files of other users)."""
    if path:
        subprocess.run(["rm", "-rf", "--", path], check=False)


@contextlib.contextmanager
def temp_dir(prefix="execd-test-"):
    """A temporary directory, removed when the block ends however it ends."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        remove_tree(path)


# ---- raw HTTP ---------------------------------------------------------------

def raw_connect(port, data=b"", timeout=30):
    """A connection to the daemon on port with data sent; the caller closes it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if data:
        s.sendall(data)
    return s


def raw_request(d, method, path, body=b"", headers=None, timeout=30):
    """Sends one request by hand (token included); returns the socket. body: bytes, str or
    a JSON value."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    h = {"Host": "x"}
    h.update(d.headers(headers))
    if body or method in ("POST", "PUT"):
        h["Content-Length"] = str(len(body))
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items())
    return raw_connect(d.port, head.encode() + b"\r\n" + body, timeout)


def raw_post_stream(d, path, body, timeout=60):
    """POSTs a JSON body to a streaming route; returns the socket (read with read_to_end)."""
    return raw_request(d, "POST", path, body, timeout=timeout)


def read_to_end(sock, on_chunk=None, pause=0.0):
    """Reads a chunked response until its last chunk (or the connection's end); returns
    (bytes read, the last 4 KiB). on_chunk(total) runs after each read; pause slows the
    reader down (a slow client). The socket's timeout bounds each read."""
    total, tail = 0, b""
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        total += len(chunk)
        tail = (tail + chunk)[-4096:]
        if on_chunk:
            on_chunk(total)
        if tail.endswith(b"\r\n0\r\n\r\n"):
            break
        if pause:
            time.sleep(pause)
    return total, tail


def read_all(sock, until=None):
    """Everything received until the peer closes, the socket times out, or until(data)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:  # socket.timeout included
            break
        if not chunk:
            break
        data += chunk
        if until is not None and until(data):
            break
    return data


def raw_exchange(port, payload, read_timeout=5):
    """Sends payload on a new connection; returns all it receives until the daemon closes it
    (or read_timeout passes without data)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        try:
            s.sendall(payload)
        except OSError:
            pass  # the daemon may close early (e.g. 431); its answer is still readable
        return read_all(s)
    finally:
        s.close()
