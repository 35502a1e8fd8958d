"""The master's limits and timeouts (issue 9, part A): connections after a stream time out
again, a client that never reads is dropped."""
import json
import os
import shutil
import socket
import tempfile
import time

import execd_test
from execd_test import Daemon, Stream, run_tests, texts, wait_for


def connect(d, timeout=10):
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(timeout)
    return s


def post(path, body):
    data = json.dumps(body).encode()
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(data))
            + data)


def read_until(s, marker, timeout):
    deadline = time.time() + timeout
    data = b""
    while marker not in data and time.time() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def closed_within(s, timeout):
    """Whether the server closes s within timeout (everything it sends is read and dropped)."""
    s.settimeout(0.2)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def test_keepalive_after_stream(t):
    with Daemon("-keepalive-timeout", "1s") as d:
        s = connect(d)
        s.sendall(post("/command", {"command": "echo streamed"}))
        data = read_until(s, b"0\r\n\r\n", 10)
        t.ok(b"execution_complete" in data and data.endswith(b"0\r\n\r\n"), "the stream ends",
             data[-300:])
        t.ok(closed_within(s, 4), "the kept-alive connection times out after the stream")
        s.close()
        s = connect(d)
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        t.ok(closed_within(s, 4), "as after any other answer")
        s.close()


def test_write_timeout(t):
    with Daemon("-write-timeout", "1s") as d:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.port))
        s.sendall(post("/command", {"command": "timeout 8 yes"}))
        time.sleep(4)
        s.settimeout(0.5)
        data, closed, deadline = b"", False, time.time() + 6
        while time.time() < deadline and not closed:
            try:
                chunk = s.recv(1 << 16)
                closed = not chunk
                data += chunk
            except socket.timeout:
                continue
            except OSError:
                closed = True
        s.close()
        t.ok(closed and b"execution_complete" not in data,
             "a client that reads nothing is dropped after the write timeout (%d bytes)" % len(data))
        t.ok(wait_for(lambda: "read nothing for the write timeout" in d.logs(), 5),
             "and that is logged", d.logs()[-600:])
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")


class LowFdLimit:
    """Daemons started inside get RLIMIT_NOFILE soft = hard = n (prlimit(1) execs execd)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="execd-nofile-")
        self.real = execd_test.EXECD_BIN
        wrapper = os.path.join(self.dir, "execd")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec prlimit --nofile=%d:%d -- "%s" "$@"\n' % (self.n, self.n, self.real))
        os.chmod(wrapper, 0o755)
        execd_test.EXECD_BIN = wrapper
        return self

    def __exit__(self, *exc):
        execd_test.EXECD_BIN = self.real
        shutil.rmtree(self.dir, True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_idle(d, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        s.connect(("127.0.0.1", d.port))
        socks.append(s)
    return socks


def test_out_of_descriptors(t):
    if shutil.which("prlimit") is None:
        t.skip("out of descriptors", "prlimit not installed")
        return
    with LowFdLimit(64):
        d = Daemon("-max-connections", "1000", log_file=True)
    with d:
        flood = open_idle(d, 150)
        time.sleep(0.5)
        logs = lambda: os.path.getsize(d.log_path) + os.path.getsize(d.stdout_path)
        cpu, size = cpu_seconds(d.proc.pid), logs()
        time.sleep(3)
        spent = cpu_seconds(d.proc.pid) - cpu
        grown = logs() - size
        t.ok(spent < 0.5, "out of descriptors the master does not spin (%.2f s CPU in 3 s)" % spent)
        t.ok(grown < 4096, "nor does its log grow without bound (+%d bytes in 3 s)" % grown)
        t.ok("cannot accept connections: Too many open files" in d.logs(),
             "the condition is logged", d.logs()[-1000:])
        for s in flood:
            s.close()
        t.ok(wait_for(lambda: d.request("GET", "/ping", timeout=2)[0] == 200, 10),
             "once the connections close it answers /ping again")


def test_connection_cap(t):
    with Daemon("-max-connections", "5") as d:
        held = open_idle(d, 5)
        wait_for(lambda: "connection limit reached" in d.logs(), 5)
        t.ok("connection limit reached (5 open" in d.logs(), "the cap is logged when reached",
             d.logs()[-600:])
        extra = socket.create_connection(("127.0.0.1", d.port))
        extra.settimeout(1)
        extra.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            early = extra.recv(4096)
        except socket.timeout:
            early = b""
        t.eq(early, b"", "a connection over the cap waits")
        held.pop().close()
        extra.settimeout(5)
        answer = extra.recv(4096)
        t.ok(answer.startswith(b"HTTP/1.1 200 "), "and is served once one closes", answer[:100])
        extra.close()
        for s in held:
            s.close()
    if shutil.which("prlimit") is None:
        t.skip("the default cap follows the descriptor limit", "prlimit not installed")
        return
    with LowFdLimit(100):
        d = Daemon()
    with d:
        t.ok("at most 32 client connections (descriptor limit 100)" in d.logs(),
             "the default cap follows the descriptor limit", d.logs()[:1500])


def test_execution_limit(t):
    with Daemon("-max-executions", "2") as d:
        streams = [Stream(d, "/command", {"command": "sleep 3"}) for _ in range(2)]
        t.ok(all(s.init_id() for s in streams), "two commands run")
        status, hdrs, body = d.json("POST", "/command", {"command": "true"})
        t.eq(status, 503, "-max-executions 2: a third gets 503")
        t.ok(isinstance(body, dict) and body.get("code") == "TOO_MANY_REQUESTS",
             "TOO_MANY_REQUESTS in the contract's error shape", body)
        t.eq(hdrs.get("retry-after"), "1", "with Retry-After")
        status, _, _ = d.json("POST", "/code", {"code": "echo x"})
        t.eq(status, 503, "a shell-mode code run counts too")
        t.eq(d.request("GET", "/files/info?path=/")[0], 200, "other requests are not limited")
        for s in streams:
            s.finish()
        status, _, ev, _ = d.run("echo again")
        t.eq(texts(ev, "stdout"), ["again"], "once they end, commands run again")
        for _ in range(2):
            d.run("sleep 1.5", background=True)
        wait_for(lambda: d.json("POST", "/command", {"command": "true"})[0] == 503, 5)
        status, _, body = d.json("POST", "/command", {"command": "true"})
        t.eq(status, 503, "running background commands count too")
        t.ok(wait_for(lambda: d.json("POST", "/command", {"command": "true"})[0] == 200, 10),
             "until they end")


run_tests([test_keepalive_after_stream, test_write_timeout, test_out_of_descriptors,
           test_connection_cap, test_execution_limit])
