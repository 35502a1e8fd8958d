"""The master's limits and timeouts (issue 9, part A): connections after a stream time out
again, a client that never reads is dropped."""
import json
import socket
import time

from execd_test import Daemon, run_tests, wait_for


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


run_tests([test_keepalive_after_stream, test_write_timeout])
